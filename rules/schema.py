"""The policy schema (version 1) as frozen pydantic models.

A policy names models (their features, prediction, reference data and detectors) and groups of rules. Every
mapping forbids unknown keys. Structural checks (types, enums, patterns) live on the models; the checks that
relate one part of the policy to another (references, duplicates, tier permissions, feature types) live in
`rules.checks` so that the loader can run them even when other parts failed, and report every mistake at once.
Building a `Policy` directly (``Policy.model_validate(data)``) runs both.

Detector entries are derived from `rules.kinds.KINDS` when a policy is validated: each kind becomes a model
whose extra keys are exactly that kind's parameters (`detector_model`), in a union discriminated by ``kind``,
so a kind added with `rules.kinds.register` is validated as a built-in one.

Imports go one way: `rules.vocabulary` (tiers, actions, durations) <- `rules.checks` <- this module. The
vocabulary is re-exported here for the callers that know it from this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    PrivateAttr,
    Strict,
    Tag,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from rules.checks import find_problems
from rules.ids import check_module, module_id_bytes32
from rules.kinds import KINDS, DetectorKind, ValueType
from rules.vocabulary import (
    ACTIONS,
    DURATION_HELP,
    DURATION_PATTERN,
    TIER_ACTIONS,
    TIERS,
    Action,
    Correction,
    Op,
    Tier,
    duration_seconds,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_VETO_WINDOW",
    "DEFER_CHECKS",
    "DETECTOR_MODELS",
    "TIERS",
    "TIER_ACTIONS",
    "AllOf",
    "Annotations",
    "AnyCondition",
    "AnyOf",
    "Budget",
    "Chain",
    "Condition",
    "DetectorSpec",
    "Feature",
    "Group",
    "KOfN",
    "Labels",
    "ModelSpec",
    "Policy",
    "Prediction",
    "RateLimit",
    "Reference",
    "Rule",
    "TierSettings",
    "Tiers",
    "detector_model",
    "duration_seconds",
]

DEFER_CHECKS = "rules.defer_checks"
"""Validation context key: when true, `Policy` skips the cross-reference checks (the loader runs them)."""


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


def _shown(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _duration(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("duration", f"expected a duration, got {_shown(value)}; {DURATION_HELP}")
    try:
        duration_seconds(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None
    return value


def _for(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise PydanticCustomError(
                "for_count",
                f"a count of evaluations must be at least 1, got {value}; or give a duration (15m)",
            )
        return value
    if isinstance(value, str):
        try:
            duration_seconds(value)
        except ValueError as exc:
            raise PydanticCustomError(
                "for_value", f"{exc}, or a whole number of consecutive evaluations (3)"
            ) from None
        return value
    shown = str(value).lower() if isinstance(value, bool) else _shown(value)
    raise PydanticCustomError(
        "for_value",
        f"expected a whole number of consecutive evaluations (3) or a duration (15m), got {shown}",
    )


Duration = Annotated[
    str,
    PlainValidator(_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "description": DURATION_HELP}),
]
ForSpec = Annotated[
    int | str,
    PlainValidator(_for),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "integer", "minimum": 1, "description": "consecutive evaluations"},
                {"type": "string", "pattern": DURATION_PATTERN, "description": DURATION_HELP},
            ]
        }
    ),
]

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
    """The watched feature; None: the prediction (drift kinds) or (prediction, label) pairs (performance)."""

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


_MODELS: dict[str, tuple[DetectorKind, type[DetectorSpec]]] = {}
_UNION: list[tuple[tuple[type[DetectorSpec], ...], TypeAdapter[DetectorSpec]]] = []


def detector_model(kind: str) -> type[DetectorSpec]:
    """The model of a detector entry of a kind in `rules.kinds.KINDS` (KeyError for a kind not in it).

    Made when first asked for and kept while the kind is registered, so a kind added with
    `rules.kinds.register` gets its model as a built-in one does.
    """
    spec = KINDS[kind]
    cached = _MODELS.get(kind)
    if cached is None or cached[0] is not spec:
        cached = _MODELS[kind] = (spec, _detector_model(spec))
    return cached[1]


class _DetectorModels(Mapping[str, type[DetectorSpec]]):
    """A read-only live mapping: kind name -> its entry model, for every kind registered now."""

    def __getitem__(self, kind: str) -> type[DetectorSpec]:
        return detector_model(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


DETECTOR_MODELS: Mapping[str, type[DetectorSpec]] = _DetectorModels()
"""Kind name -> the model of its detector entries (fields: name, kind, feature and the kind's parameters)."""


def _detector_union() -> TypeAdapter[DetectorSpec]:
    """The union of every registered kind's model, discriminated by ``kind``; remade when the kinds change."""
    models = tuple(detector_model(kind) for kind in KINDS)
    if not _UNION or _UNION[0][0] != models:
        union: Any = Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
        adapter: TypeAdapter[DetectorSpec] = TypeAdapter(union)
        _UNION[:] = [(models, adapter)]
    return _UNION[0][1]


def _validate_detector(value: Any) -> DetectorSpec:
    # A ValidationError raised here keeps its own locations (models.0.detectors.1.ks.window), as the union did
    # when it was built into the field at import time.
    return _detector_union().validate_python(value)


class _RegisteredKind:
    """Marks a detector entry: validated against the kinds registered when a policy is validated, not when
    this module was imported (a static union would not see a kind added later with `rules.kinds.register`)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(_validate_detector)

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(_detector_union().core_schema)


AnyDetector = Annotated[DetectorSpec, _RegisteredKind()]


class Budget(_Spec):
    """At most ``max_actions`` on-chain actions (pause, rollback) per sliding ``period`` of data time."""

    max_actions: Annotated[Int, Field(ge=1)]
    period: Duration

    @property
    def period_seconds(self) -> float:
        return duration_seconds(self.period)


class RateLimit(_Spec):
    """The limit the ModelMonitor contract enforces on the watchdog role, per module: ``max_actions`` per
    sliding ``window``. Stated in the policy so the loader can check every model's budget against it."""

    max_actions: Annotated[Int, Field(ge=1)]
    window: Duration

    @property
    def window_seconds(self) -> float:
        return duration_seconds(self.window)


class Chain(_Spec):
    rate_limit: RateLimit | None = None


DEFAULT_VETO_WINDOW = "15m"


class TierSettings(_Spec):
    veto_window: Duration | None = None
    """medium only: how long a steward may cancel a pending action before it is sent."""


class Tiers(_Spec):
    """Per-tier settings. Only ``medium`` has a veto window (default 15m); routine never acts and critical acts
    at once, so a veto window there is an error."""

    routine: TierSettings = TierSettings()
    medium: TierSettings = TierSettings()
    critical: TierSettings = TierSettings()

    @model_validator(mode="after")
    def _veto_only_medium(self) -> Tiers:
        if self.routine.veto_window is not None:
            raise PydanticCustomError(
                "veto_window", "routine rules only alert, so there is nothing to veto; remove "
                "tiers.routine.veto_window"
            )
        crit = self.critical.veto_window
        if crit is not None and duration_seconds(crit) > 0:
            raise PydanticCustomError(
                "veto_window",
                f"critical rules pause at once; a veto window of {crit} would delay the pause. "
                "Remove tiers.critical.veto_window, or move the rules that may wait to the medium tier",
            )
        return self

    def veto_window(self, tier: str) -> str | None:
        """The veto window in force for ``tier`` as written (``medium``: the default 15m when unset;
        other tiers: None, they never wait)."""
        if tier != "medium":
            return None
        return self.medium.veto_window or DEFAULT_VETO_WINDOW

    def veto_seconds(self, tier: str) -> float:
        """Seconds an action of ``tier`` waits for a veto before it is sent (0: at once)."""
        window = self.veto_window(tier)
        return 0.0 if window is None else duration_seconds(window)


class ModelSpec(_Spec):
    """A monitored model: its on-chain module, inputs, prediction, reference data and detectors."""

    id: ModelId
    module: Module
    prediction: Prediction
    features: tuple[Feature, ...] = ()
    reference: Reference
    detectors: Annotated[tuple[AnyDetector, ...], NonEmpty]
    budget: Budget | None = None
    """On-chain actions allowed on this model's module per period (checked against ``chain.rate_limit``)."""

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
    """``<detector>.<statistic> <op> <threshold>``; with ``clear_threshold`` the rule, once firing, holds until
    the statistic is past that second level (hysteresis: fire above one level, clear only below another)."""

    detector: DetectorName
    statistic: Text = "statistic"
    op: Op
    threshold: Finite
    clear_threshold: Finite | None = None

    @model_validator(mode="after")
    def _hysteresis_side(self) -> Condition:
        c = self.clear_threshold
        if c is None:
            return self
        if self.op in (">", ">=") and c > self.threshold:
            raise PydanticCustomError(
                "clear_threshold",
                f"clear_threshold {c:g} is above threshold {self.threshold:g}; the rule fires when "
                f"{self.statistic} {self.op} {self.threshold:g} and should clear only once it falls back "
                f"below a lower level, so give a clear_threshold at most {self.threshold:g}",
            )
        if self.op in ("<", "<=") and c < self.threshold:
            raise PydanticCustomError(
                "clear_threshold",
                f"clear_threshold {c:g} is below threshold {self.threshold:g}; the rule fires when "
                f"{self.statistic} {self.op} {self.threshold:g} and should clear only once it rises back "
                f"above a higher level, so give a clear_threshold at least {self.threshold:g}",
            )
        return self

    @property
    def leaves(self) -> tuple[Condition, ...]:
        """The single conditions in this condition, in file order (here: itself)."""
        return (self,)

    @property
    def hold_threshold(self) -> float:
        """The level a firing rule compares with: ``clear_threshold``, or without hysteresis ``threshold``."""
        return self.threshold if self.clear_threshold is None else self.clear_threshold

    def describe(self, leaf_text: Callable[[Condition], str] | None = None) -> str:
        """The comparison as written (``ks_a.p_value < 0.01``), or as ``leaf_text`` renders it."""
        if leaf_text is not None:
            return leaf_text(self)
        clear = f" (clears past {self.clear_threshold:g})" if self.clear_threshold is not None else ""
        return f"{self.detector}.{self.statistic} {self.op} {self.threshold:g}{clear}"


class _Compound(_Spec):
    """Shared by ``all``, ``any`` and ``k_of_n``: the first single condition stands for the whole one where a
    single detector is expected (dashboards, metrics); the evaluator reports the decisive one.

    ``correction`` corrects for testing several features at once when the listed conditions are p-values
    (``statistic: p_value``, ``op: "<"``): ``bonferroni`` holds each p-value to the threshold divided by the
    number of conditions listed; ``benjamini_hochberg`` counts as true the p-values the BH step-up procedure
    rejects at false-discovery rate ``threshold`` (the same threshold on every condition). The levels
    themselves are computed in one place, `rules.thresholds`.
    """

    correction: Correction = "none"

    @model_validator(mode="after")
    def _correctable(self) -> _Compound:
        if self.correction == "none":
            return self
        for child in self.children:
            if isinstance(child, _Compound) or child.statistic != "p_value" or child.op not in ("<", "<="):
                raise PydanticCustomError(
                    "correction",
                    f"correction {self.correction} applies to p-values: every condition it lists must be a "
                    "single comparison 'statistic: p_value' with op '<' or '<='",
                )
        if self.correction == "benjamini_hochberg":
            levels = {(c.threshold, c.clear_threshold) for c in self.children}
            if len(levels) > 1:
                raise PydanticCustomError(
                    "correction",
                    "benjamini_hochberg controls one false-discovery rate: give every condition it lists the "
                    "same threshold (and the same clear_threshold, if any)",
                )
        return self

    @property
    def children(self) -> tuple[Any, ...]:
        raise NotImplementedError

    @property
    def leaves(self) -> tuple[Condition, ...]:
        return tuple(leaf for child in self.children for leaf in child.leaves)

    @property
    def detector(self) -> str:
        return self.leaves[0].detector

    @property
    def statistic(self) -> str:
        return self.leaves[0].statistic

    @property
    def op(self) -> str:
        return self.leaves[0].op

    @property
    def threshold(self) -> float:
        return self.leaves[0].threshold

    @property
    def clear_threshold(self) -> float | None:
        return self.leaves[0].clear_threshold

    def _parts(self, leaf_text: Callable[[Condition], str] | None) -> list[str]:
        return [
            f"({c.describe(leaf_text)})" if isinstance(c, _Compound) else c.describe(leaf_text)
            for c in self.children
        ]

    def describe(self, leaf_text: Callable[[Condition], str] | None = None) -> str:
        """The condition as written, each comparison as `Condition.describe` (or ``leaf_text``) renders it."""
        raise NotImplementedError


class AllOf(_Compound):
    """True when every condition listed is true."""

    all_: Annotated[tuple[AnyCondition, ...], NonEmpty] = Field(alias="all")

    @property
    def children(self) -> tuple[Any, ...]:
        return self.all_

    def describe(self, leaf_text: Callable[[Condition], str] | None = None) -> str:
        return " and ".join(self._parts(leaf_text))


class AnyOf(_Compound):
    """True when at least one condition listed is true."""

    any_: Annotated[tuple[AnyCondition, ...], NonEmpty] = Field(alias="any")

    @property
    def children(self) -> tuple[Any, ...]:
        return self.any_

    def describe(self, leaf_text: Callable[[Condition], str] | None = None) -> str:
        return " or ".join(self._parts(leaf_text))


class KOfNSpec(_Spec):
    k: Annotated[Int, Field(ge=1)]
    of: Annotated[tuple[AnyCondition, ...], NonEmpty]

    @model_validator(mode="after")
    def _k_fits(self) -> KOfNSpec:
        if self.k > len(self.of):
            raise PydanticCustomError(
                "k_of_n", f"k is {self.k} but only {len(self.of)} condition(s) are listed under 'of'; "
                "k must be at most the number of conditions"
            )
        return self


class KOfN(_Compound):
    """True when at least ``k`` of the conditions listed are true (e.g. 2 of 3 drift tests agree)."""

    k_of_n: KOfNSpec

    @property
    def children(self) -> tuple[Any, ...]:
        return self.k_of_n.of

    def describe(self, leaf_text: Callable[[Condition], str] | None = None) -> str:
        return f"at least {self.k_of_n.k} of [{', '.join(self._parts(leaf_text))}]"


_FORMS = ("all", "any", "k_of_n")


def _condition_form(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {AllOf: "cond:all", AnyOf: "cond:any", KOfN: "cond:k_of_n"}.get(type(value), "cond:leaf")
    if not isinstance(value, Mapping):
        return "cond:leaf"
    forms = [f for f in _FORMS if f in value]
    if len(forms) > 1 or (forms and "detector" in value):
        return None  # several forms at once: one clear error instead of one per form
    return f"cond:{forms[0]}" if forms else "cond:leaf"


AnyCondition = Annotated[
    Union[  # noqa: UP007
        Annotated[Condition, Tag("cond:leaf")],
        Annotated[AllOf, Tag("cond:all")],
        Annotated[AnyOf, Tag("cond:any")],
        Annotated[KOfN, Tag("cond:k_of_n")],
    ],
    Discriminator(
        _condition_form,
        custom_error_type="condition_form",
        custom_error_message=(
            "a condition is either one comparison (detector, statistic, op, threshold) or exactly one of "
            "all, any, k_of_n over a list of conditions; this one mixes several"
        ),
    ),
]
for _model in (AllOf, AnyOf, KOfNSpec, KOfN):
    _model.model_rebuild()


class Labels(_Spec):
    severity: Tier


class Annotations(_Spec):
    """What the steward on call reads."""

    summary: Text
    description: Text | None = None
    runbook_url: Url | None = None


class Rule(_Spec):
    """An alerting rule: a condition on detector statistics, held for ``for`` (evaluations or data time), and
    what it does; ``keep_firing_for`` and ``cooldown`` are durations of data time."""

    name: RuleName
    model: ModelId
    condition: AnyCondition
    for_: ForSpec = Field(default=1, alias="for")
    keep_firing_for: Duration | None = None
    cooldown: Duration | None = None
    min_samples: Annotated[Int, Field(ge=1)] | None = None
    labels: Labels
    annotations: Annotations
    actions: Annotated[tuple[Action, ...], NonEmpty]
    dry_run: Bool = False

    @property
    def tier(self) -> str:
        return self.labels.severity

    @property
    def for_count(self) -> int | None:
        """``for`` as a count of consecutive evaluations; None when it is a duration."""
        return self.for_ if isinstance(self.for_, int) else None

    @property
    def for_seconds(self) -> float | None:
        """``for`` as seconds of data time; None when it is a count."""
        return duration_seconds(self.for_) if isinstance(self.for_, str) else None

    @property
    def keep_firing_seconds(self) -> float:
        return duration_seconds(self.keep_firing_for) if self.keep_firing_for else 0.0

    @property
    def cooldown_seconds(self) -> float:
        return duration_seconds(self.cooldown) if self.cooldown else 0.0

    @property
    def onchain_actions(self) -> tuple[str, ...]:
        """The actions that go on-chain (all but ``alert``)."""
        return tuple(a for a in self.actions if a != "alert")


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
    chain: Chain = Chain()
    tiers: Tiers = Tiers()
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
        problems = find_problems(self.model_dump(by_alias=True))
        if problems:
            listing = "; ".join(f"{p.field}: {p.message}" for p in problems)
            raise ValueError(f"{len(problems)} problem(s) in policy {self.name!r}: {listing}")
        return self

    # -- identity --------------------------------------------------------------------------------------------

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

    # -- where it came from ----------------------------------------------------------------------------------

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

    # -- lookups ---------------------------------------------------------------------------------------------

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

    def detector_of(self, rule: Rule, leaf: Condition | None = None) -> DetectorSpec:
        """The detector a rule's condition reads (of ``leaf`` when given, else of its first comparison)."""
        return self.model(rule.model).detector((leaf or rule.condition.leaves[0]).detector)

    def min_samples_of(self, rule: Rule, leaf: Condition | None = None) -> int:
        """The window count a rule needs before a comparison counts: its ``min_samples`` or the detector's
        window (of ``leaf`` when given, else of the first comparison)."""
        if rule.min_samples is not None:
            return rule.min_samples
        detector = self.detector_of(rule, leaf)
        if KINDS[detector.kind].input == "time":  # an age or a rate is defined from the first record on
            return 1
        window = detector.params.get("window")
        return int(window) if window is not None else 1

    def budget_of(self, model_id: str) -> Budget | None:
        """The action budget of a model's module: its own, else the chain's rate limit, else None."""
        own = self.model(model_id).budget
        if own is not None:
            return own
        limit = self.chain.rate_limit
        return Budget(max_actions=limit.max_actions, period=limit.window) if limit is not None else None

    def veto_seconds(self, tier: str) -> float:
        """Seconds an action of ``tier`` waits for a steward's veto (medium only; 0 means at once)."""
        return self.tiers.veto_seconds(tier)
