"""The policy schema (version 1) as frozen pydantic models.

A policy names models (their features, prediction, reference data and detectors) and groups of rules. Every
mapping forbids unknown keys. Structural checks (types, enums, patterns) live on the models; the checks that
relate one part of the policy to another (references, duplicates, tier permissions, feature types) live in
`rules.checks` so that the loader can run them even when other parts failed, and report every mistake at once.
Building a `Policy` directly (``Policy.model_validate(data)``) runs both.

Detector entries are generated from `rules.kinds.KINDS`: each kind becomes a model whose extra keys are exactly
that kind's parameters, in a union discriminated by ``kind``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from rules.ids import check_module, module_id_bytes32
from rules.kinds import KINDS, DetectorKind

__all__ = [
    "ACTIONS",
    "DEFER_CHECKS",
    "DETECTOR_MODELS",
    "TIERS",
    "TIER_ACTIONS",
    "Annotations",
    "Condition",
    "DetectorSpec",
    "Feature",
    "Group",
    "Labels",
    "ModelSpec",
    "Policy",
    "Prediction",
    "Reference",
    "Rule",
]

Tier = Literal["routine", "medium", "critical"]
Action = Literal["alert", "pause", "rollback"]
Op = Literal["<", "<=", ">", ">="]
ValueType = Literal["numeric", "categorical"]

TIERS: tuple[str, ...] = ("routine", "medium", "critical")
ACTIONS: tuple[str, ...] = ("alert", "pause", "rollback")
TIER_ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"routine": ("alert",), "medium": ("alert", "pause"), "critical": ("alert", "pause", "rollback")}
)
"""What each severity tier may do. Routine: alert only; medium: act and notify; critical: may roll back."""

DEFER_CHECKS = "rules.defer_checks"
"""Validation context key: when true, `Policy` skips the cross-reference checks (the loader runs them itself)."""


def _named(regex: str, what: str, advice: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("name_pattern", f"{value!r} is not a valid {what}: {advice}")
        return value

    return AfterValidator(check)


def _trimmed(value: str) -> str:
    if value != value.strip():
        raise PydanticCustomError("text_spaces", f"{value!r} has leading or trailing spaces; remove them")
    return value


def _module(value: str) -> str:
    problem = check_module(value)
    if problem is not None:
        raise PydanticCustomError("module_id", problem)
    return value


def _non_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    # An after-validator rather than Field(min_length=1): pydantic checks min_length against the items that
    # validated, so a list whose only item has a mistake would also be called empty.
    if not value:
        raise PydanticCustomError("empty_list", "must list at least one entry")
    return value


NonEmpty = AfterValidator(_non_empty)


def _url(value: str) -> str:
    if not re.match(r"https?://\S+$", value):
        raise PydanticCustomError(
            "url", f"{value!r} is not a web address; give a full http:// or https:// URL"
        )
    return value


Text = Annotated[str, Strict(), Field(min_length=1)]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Finite = Annotated[float, Strict(), AllowInfNan(False)]
ModelId = Annotated[
    Text,
    _named(
        r"[a-z0-9][a-z0-9_.-]*",
        "model id",
        "use lowercase letters, digits, '_', '.' and '-', "
        "starting with a letter or digit (e.g. lending-risk)",
    ),
]
RuleName = Annotated[
    Text,
    _named(
        r"[A-Za-z][A-Za-z0-9_]*",
        "rule name",
        "use letters, digits and '_', starting with a letter (e.g. UtilizationDrift)",
    ),
]
DetectorName = Annotated[
    Text,
    _named(
        r"[A-Za-z0-9][A-Za-z0-9_.-]*",
        "detector name",
        "use letters, digits, '_', '.' and '-' (e.g. ks_utilization)",
    ),
]
FeatureName = Annotated[Text, AfterValidator(_trimmed)]
GroupName = Annotated[Text, AfterValidator(_trimmed)]
Module = Annotated[Text, AfterValidator(_module)]
Url = Annotated[Text, AfterValidator(_url)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prediction(_Spec):
    """What the model outputs: a numeric score/value or a categorical class."""

    type: ValueType


class Feature(_Spec):
    """One input feature; ``range`` (numeric only) is the [low, high] it is expected to stay in."""

    name: FeatureName
    type: ValueType
    range: tuple[Finite, Finite] | None = None

    @field_validator("range", mode="before")
    @classmethod
    def _two_numbers(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)) and len(value) != 2:
            raise PydanticCustomError(
                "range_shape", f"range must be two numbers [low, high], got {len(value)} value(s)"
            )
        return value

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise PydanticCustomError(
                "range_order",
                f"range [{value[0]:g}, {value[1]:g}] is empty; the low end must be below the high end",
            )
        return value


class Reference(_Spec):
    """Where the reference data comes from: the model's first N records, or a JSONL file next to the policy."""

    first_n: Annotated[Int, Field(ge=1)] | None = None
    file: Text | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Reference:
        if (self.first_n is None) == (self.file is None):
            got = "both" if self.first_n is not None else "neither"
            raise PydanticCustomError(
                "reference_choice",
                f"give exactly one of first_n (use the model's first N records as the reference) or file "
                f"(a JSONL file of reference records, relative to the policy file); got {got}",
            )
        return self


class DetectorSpec(_Spec):
    """A detector entry; the concrete class per kind adds that kind's parameters as fields."""

    name: DetectorName
    kind: str
    feature: Text | None = None
    """The feature it watches; None: the prediction (drift kinds) or (prediction, label) pairs (performance)."""

    @property
    def spec(self) -> DetectorKind:
        """The kind's table entry."""
        return KINDS[self.kind]

    @property
    def params(self) -> dict[str, int | float]:
        """The kind's parameters that are set (unset ones mean "the detector's default")."""
        values = {name: getattr(self, name) for name in self.spec.params}
        return {k: v for k, v in values.items() if v is not None}


def _detector_model(kind: DetectorKind) -> type[DetectorSpec]:
    fields: dict[str, Any] = {"kind": (Literal[kind.name], ...)}
    for p in kind.params.values():
        base: Any = Int if p.type == "int" else Finite
        if p.minimum is not None:
            base = Annotated[base, Field(ge=p.minimum)]
        annotation = base if p.default is not None else base | None
        fields[p.name] = (annotation, Field(default=p.default, description=p.doc))
    camel = "".join(part.capitalize() for part in kind.name.split("_"))
    return create_model(f"{camel}Detector", __base__=DetectorSpec, __doc__=kind.doc, **fields)


DETECTOR_MODELS: Mapping[str, type[DetectorSpec]] = MappingProxyType(
    {name: _detector_model(kind) for name, kind in KINDS.items()}
)

if TYPE_CHECKING:
    AnyDetector = DetectorSpec
else:
    AnyDetector = Annotated[Union[tuple(DETECTOR_MODELS.values())], Field(discriminator="kind")]  # noqa: UP007


class ModelSpec(_Spec):
    """A monitored model: its on-chain module, inputs, prediction, reference data and detectors."""

    id: ModelId
    module: Module
    prediction: Prediction
    features: tuple[Feature, ...] = ()
    reference: Reference
    detectors: Annotated[tuple[AnyDetector, ...], NonEmpty]

    @property
    def module_id(self) -> bytes:
        """The module's 32-byte on-chain id."""
        return module_id_bytes32(self.module)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(
            f"no feature {name!r} in model {self.id!r}; known: {', '.join(f.name for f in self.features)}"
        )

    def detector(self, name: str) -> DetectorSpec:
        for d in self.detectors:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.detectors)
        raise KeyError(f"no detector {name!r} in model {self.id!r}; known: {known}")


class Condition(_Spec):
    """``<detector>.<statistic> <op> <threshold>``."""

    detector: DetectorName
    statistic: Text = "statistic"
    op: Op
    threshold: Finite


class Labels(_Spec):
    severity: Tier


class Annotations(_Spec):
    """What the steward on call reads."""

    summary: Text
    description: Text | None = None
    runbook_url: Url | None = None


class Rule(_Spec):
    """An alerting rule: a condition on one detector statistic, held for ``for`` evaluations, and what it does."""

    name: RuleName
    model: ModelId
    condition: Condition
    for_: Annotated[Int, Field(ge=1, alias="for")] = 1
    min_samples: Annotated[Int, Field(ge=1)] | None = None
    labels: Labels
    annotations: Annotations
    actions: Annotated[tuple[Action, ...], NonEmpty]
    dry_run: Bool = False

    @property
    def tier(self) -> str:
        return self.labels.severity


class Group(_Spec):
    """Rules evaluated together every ``interval_records`` records of a model."""

    name: GroupName
    interval_records: Annotated[Int, Field(ge=1)] = 100
    rules: Annotated[tuple[Rule, ...], NonEmpty]


class Policy(_Spec):
    """A whole policy file.

    `hash` is the sha256 of the canonical JSON of the validated policy (defaults filled in, sorted keys, no
    whitespace), so comments, key order, quoting and flow/block style do not change it.
    """

    version: Int
    name: Text
    dry_run: Bool = False
    models: Annotated[tuple[ModelSpec, ...], NonEmpty]
    groups: tuple[Group, ...] = ()

    _source: str | None = PrivateAttr(default=None)
    _base_dir: Path | None = PrivateAttr(default=None)
    _lines: Mapping[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _supported(cls, value: int) -> int:
        if value != 1:
            raise PydanticCustomError(
                "version", f"policy version {value} is not supported; this watchdog reads version 1"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Policy:
        if info.context and info.context.get(DEFER_CHECKS):
            return self
        from rules.checks import find_problems  # checks needs the constants above

        problems = find_problems(self.model_dump(by_alias=True))
        if problems:
            listing = "; ".join(f"{p.field}: {p.message}" for p in problems)
            raise ValueError(f"{len(problems)} problem(s) in policy {self.name!r}: {listing}")
        return self

    # -- identity ---------------------------------------------------------------------------------------------

    def canonical_json(self) -> str:
        """The validated policy as JSON with sorted keys and no whitespace (what `hash` digests)."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @property
    def hash(self) -> str:
        """sha256 hex digest of `canonical_json`.

        Computed on each access (a policy is small) rather than cached, so that ``model_copy(update=...)``
        can never carry a stale hash.
        """
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        # equal content is the same policy, wherever and however it was written
        if not isinstance(other, Policy):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    # -- where it came from -----------------------------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The file (or name) the policy was loaded from; None when built in code."""
        return self._source

    def line_of(self, *path: str | int) -> int | None:
        """The line where a field was written, e.g. ``policy.line_of("groups", 0, "rules", 1)``."""
        lines = self._lines
        for end in range(len(path), -1, -1):
            line = lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def rule_source(self, rule_name: str) -> str | None:
        """``file:line`` of a rule, so an action can be traced to the policy line that caused it."""
        for g, group in enumerate(self.groups):
            for r, rule in enumerate(group.rules):
                if rule.name == rule_name:
                    line = self._lines.get(("groups", g, "rules", r))
                    return f"{self._source}:{line}" if self._source and line else None
        raise KeyError(f"no rule {rule_name!r} in policy {self.name!r}")

    def reference_path(self, model_id: str) -> Path | None:
        """The reference file of a model resolved against the policy's folder; None for ``first_n``."""
        ref = self.model(model_id).reference
        if ref.file is None:
            return None
        return (self._base_dir or Path.cwd()) / ref.file

    # -- lookups ----------------------------------------------------------------------------------------------

    def model(self, model_id: str) -> ModelSpec:
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(f"no model {model_id!r} in policy {self.name!r}; known: {', '.join(self.model_ids)}")

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in file order."""
        return tuple(rule for group in self.groups for rule in group.rules)

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no rule {name!r} in policy {self.name!r}")

    def group_of(self, rule_name: str) -> Group:
        for group in self.groups:
            if any(rule.name == rule_name for rule in group.rules):
                return group
        raise KeyError(f"no rule {rule_name!r} in policy {self.name!r}")

    def rules_for(self, model_id: str) -> tuple[Rule, ...]:
        """The rules on a model, in file order (raises KeyError for an unknown model)."""
        self.model(model_id)
        return tuple(rule for rule in self.rules if rule.model == model_id)

    def groups_for(self, model_id: str) -> tuple[Group, ...]:
        """The groups with at least one rule on the model (their ``interval_records`` drive evaluation)."""
        self.model(model_id)
        return tuple(g for g in self.groups if any(rule.model == model_id for rule in g.rules))

    def detector_of(self, rule: Rule) -> DetectorSpec:
        """The detector a rule's condition reads."""
        return self.model(rule.model).detector(rule.condition.detector)

    def min_samples_of(self, rule: Rule) -> int:
        """The window count a rule needs before it may fire: its ``min_samples`` or its detector's window."""
        if rule.min_samples is not None:
            return rule.min_samples
        window = self.detector_of(rule).params.get("window")
        return int(window) if window is not None else 1
