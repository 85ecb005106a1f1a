"""Policy as code: the watchdog's policy schema, its loader with line-numbered errors, and the rule engine.

>>> from rules import EXAMPLES_DIR, load_policy
>>> policy = load_policy(EXAMPLES_DIR / "lending.yaml")
>>> [r.name for r in policy.rules_for("liquidation-classifier")]
['LiquidationClassMixShift', 'LiquidationAccuracyLow']

``rules`` imports neither the service (``watchdog``) nor ``detectors``; the detector kinds a policy may name
are the table `rules.kinds.KINDS`, to which `rules.kinds.register` adds a kind from outside.
"""

from __future__ import annotations

from pathlib import Path

from rules.errors import PolicyError, PolicyIssue
from rules.evaluator import ConditionResult, Decision, Evaluator, RuleState, Signal, SnapshotError
from rules.ids import module_id_bytes32, module_id_hex
from rules.kinds import KINDS, DetectorKind, Param
from rules.loader import load_policy, load_policy_text
from rules.report import format_summary
from rules.schema import (
    TIER_ACTIONS,
    TIERS,
    AllOf,
    AnyOf,
    Budget,
    Condition,
    DetectorSpec,
    Feature,
    Group,
    KOfN,
    ModelSpec,
    Policy,
    RateLimit,
    Rule,
    duration_seconds,
)
from rules.thresholds import EffectiveThreshold, benjamini_hochberg, describe_condition, effective_thresholds

EXAMPLES_DIR = Path(__file__).parent / "examples"
"""Example policies shipped with the package: ``lending.yaml``, ``oracle.yaml`` and ``withdrawals.yaml`` (each
with its policy tests, ``*.test.yaml``), and ``bad.yaml`` (many mistakes)."""

__all__ = [
    "EXAMPLES_DIR",
    "KINDS",
    "TIERS",
    "TIER_ACTIONS",
    "AllOf",
    "AnyOf",
    "Budget",
    "Condition",
    "ConditionResult",
    "Decision",
    "DetectorKind",
    "DetectorSpec",
    "EffectiveThreshold",
    "Evaluator",
    "Feature",
    "Group",
    "KOfN",
    "ModelSpec",
    "Param",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "RateLimit",
    "Rule",
    "RuleState",
    "Signal",
    "SnapshotError",
    "benjamini_hochberg",
    "describe_condition",
    "duration_seconds",
    "effective_thresholds",
    "format_summary",
    "load_policy",
    "load_policy_text",
    "module_id_bytes32",
    "module_id_hex",
]
