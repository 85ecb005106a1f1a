"""The words a policy is written in: severity tiers, actions, comparison operators and durations.

The ground floor of `rules`: it imports nothing from the package, so the schema (`rules.schema`) and the
cross-reference checks (`rules.checks`) can both build on it without importing each other both ways.

Examples
--------
>>> TIER_ACTIONS["medium"]
('alert', 'pause')
>>> duration_seconds("1h30m"), duration_seconds("15m"), duration_seconds("0s")
(5400.0, 900.0, 0.0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

__all__ = [
    "ACTIONS",
    "DURATION_HELP",
    "DURATION_PATTERN",
    "TIERS",
    "TIER_ACTIONS",
    "Action",
    "Correction",
    "Op",
    "Tier",
    "duration_seconds",
]

Tier = Literal["routine", "medium", "critical"]
Action = Literal["alert", "pause", "rollback"]
Op = Literal["<", "<=", ">", ">="]
Correction = Literal["none", "bonferroni", "benjamini_hochberg"]
"""A compound condition's multiple-testing correction (`rules.thresholds` computes what each one means)."""

TIERS: tuple[str, ...] = ("routine", "medium", "critical")
ACTIONS: tuple[str, ...] = ("alert", "pause", "rollback")
TIER_ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"routine": ("alert",), "medium": ("alert", "pause"), "critical": ("alert", "pause", "rollback")}
)
"""What each severity tier may do. Routine: alert only; medium: act and notify; critical: may roll back."""

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_PATTERN = r"^(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$"
DURATION_HELP = "write a duration such as 30s, 15m, 1h30m or 2d (data time)"


def duration_seconds(text: str) -> float:
    """Seconds in a duration such as ``"1h30m"`` (units d, h, m, s, largest first).

    Raises `ValueError` for anything else, with a sentence that says how to write one.

    Examples
    --------
    >>> duration_seconds("2d")
    172800.0
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) and text else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration; {DURATION_HELP}")
    d, h, m, s = (int(g) if g else 0 for g in match.groups())
    return float(((d * 24 + h) * 60 + m) * 60 + s)
