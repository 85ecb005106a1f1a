"""Checks that relate one part of a policy to another.

They run on plain data shaped like the policy (the parsed YAML, or ``Policy.model_dump(by_alias=True)``) and
are lenient: a part that is malformed (wrong type, missing) is skipped here, because the schema already
reports it, and a reference is only called unknown when every candidate it could have meant was readable. That
is what lets the loader report every mistake of a file at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rules.kinds import KINDS
from rules.vocabulary import ACTIONS, TIER_ACTIONS, TIERS, duration_seconds

__all__ = ["Loc", "Problem", "did_you_mean", "find_problems", "format_loc"]

Loc = tuple[str | int, ...]


def format_loc(loc: Loc) -> str:
    """``("groups", 0, "rules", 1, "for")`` -> ``"groups[0].rules[1].for"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "policy"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known(names: Sequence[str], empty: str) -> str:
    return f"known: {', '.join(names)}" if names else empty


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str

    @property
    def field(self) -> str:
        return format_loc(self.loc)


def _items(container: Any, key: str) -> list[tuple[int, Mapping[str, Any]]]:
    value = container.get(key) if isinstance(container, Mapping) else None
    if not isinstance(value, list | tuple):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _all_mappings(container: Any, key: str) -> bool:
    value = container.get(key) if isinstance(container, Mapping) else None
    return isinstance(value, list | tuple) and all(isinstance(item, Mapping) for item in value)


def _text(container: Any, key: str) -> str | None:
    value = container.get(key) if isinstance(container, Mapping) else None
    return value if isinstance(value, str) and value else None


def _int(container: Any, key: str) -> int | None:
    value = container.get(key) if isinstance(container, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _choice(container: Any, key: str, choices: Sequence[str]) -> str | None:
    value = _text(container, key)
    return value if value in choices else None


@dataclass
class _Model:
    index: int
    prediction: str | None
    features: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    features_complete: bool = True
    detectors: dict[str, tuple[int, Mapping[str, Any]]] = field(default_factory=dict)
    detectors_complete: bool = True


def find_problems(data: Mapping[str, Any], where: Callable[[Loc], str] = format_loc) -> list[Problem]:
    """Every cross-reference problem in policy-shaped data.

    ``where(loc)`` names another place in the policy inside a message ("first used on line 12" from the
    loader; the field path by default).
    """
    problems: list[Problem] = []

    def report(loc: Loc, message: str) -> None:
        problems.append(Problem(loc, message))

    models: dict[str, _Model] = {}
    models_complete = _all_mappings(data, "models")
    for i, m in _items(data, "models"):
        mid = _text(m, "id")
        if mid is None:
            models_complete = False
            continue
        if mid in models:
            report(
                ("models", i, "id"),
                f"duplicate model id {mid!r}; it is already used at "
                f"{where(('models', models[mid].index, 'id'))}",
            )
            continue
        model = models[mid] = _Model(i, _choice(m.get("prediction"), "type", ("numeric", "categorical")))
        _check_features(m, i, model, report, where)
        _check_detectors(m, i, mid, model, report, where)

    _check_budgets(data, report)

    groups: dict[str, int] = {}
    rules: dict[str, Loc] = {}
    for g, group in _items(data, "groups"):
        gname = _text(group, "name")
        if gname is not None:
            if gname in groups:
                report(
                    ("groups", g, "name"),
                    f"duplicate group name {gname!r}; it is already used at "
                    f"{where(('groups', groups[gname], 'name'))}",
                )
            else:
                groups[gname] = g
        for r, rule in _items(group, "rules"):
            loc: Loc = ("groups", g, "rules", r)
            rname = _text(rule, "name")
            if rname is not None:
                if rname in rules:
                    report(
                        (*loc, "name"),
                        f"duplicate rule name {rname!r}; rule names must be unique across the "
                        f"policy and it is already used at {where(rules[rname] + ('name',))}",
                    )
                else:
                    rules[rname] = loc
            _check_rule(rule, loc, models, models_complete, report)
    return problems


def _seconds(value: Any) -> float | None:
    try:
        return duration_seconds(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_budgets(data: Mapping[str, Any], report: Callable[[Loc, str], None]) -> None:
    """A model's budget may not allow more actions in the chain's window than the contract does."""
    chain = data.get("chain")
    limit = chain.get("rate_limit") if isinstance(chain, Mapping) else None
    chain_max = _int(limit, "max_actions")
    window = _seconds(limit.get("window")) if isinstance(limit, Mapping) else None
    if chain_max is None or window is None or not isinstance(limit, Mapping):
        return
    for i, m in _items(data, "models"):
        budget = m.get("budget")
        most = _int(budget, "max_actions")
        period = _seconds(budget.get("period")) if isinstance(budget, Mapping) else None
        if most is None or period is None or not isinstance(budget, Mapping):
            continue
        # a sliding window of `window` overlaps at most ceil(window / period) budget periods
        periods = max(1, -(-int(window) // int(period))) if period > 0 else None
        worst = most * periods if periods is not None else None
        if worst is None or worst > chain_max:
            span = f"{worst} actions" if worst is not None else "unlimited actions"
            report(
                ("models", i, "budget"),
                f"budget of {most} action(s) per {budget.get('period')} allows up to {span} within the "
                f"on-chain rate limit window of {limit.get('window')}, but the contract allows only "
                f"{chain_max}; actions beyond it would revert. Lower max_actions or lengthen the period",
            )


def _check_features(
    m: Mapping[str, Any],
    i: int,
    model: _Model,
    report: Callable[[Loc, str], None],
    where: Callable[[Loc], str],
) -> None:
    model.features_complete = _all_mappings(m, "features") or m.get("features") is None
    for j, f in _items(m, "features"):
        name = _text(f, "name")
        ftype = _choice(f, "type", ("numeric", "categorical"))
        if name is None:
            model.features_complete = False
            continue
        if name in model.features:
            report(
                ("models", i, "features", j, "name"),
                f"duplicate feature {name!r}; it is already declared at "
                f"{where(('models', i, 'features', model.features[name][0], 'name'))}",
            )
            continue
        model.features[name] = (j, ftype)
        if ftype == "categorical" and f.get("range") is not None:
            report(
                ("models", i, "features", j, "range"),
                f"range only applies to numeric features, and {name!r} is categorical; remove it",
            )


def _check_detectors(
    m: Mapping[str, Any],
    i: int,
    mid: str,
    model: _Model,
    report: Callable[[Loc, str], None],
    where: Callable[[Loc], str],
) -> None:
    model.detectors_complete = _all_mappings(m, "detectors")
    for j, d in _items(m, "detectors"):
        loc: Loc = ("models", i, "detectors", j)
        name = _text(d, "name")
        if name is None:
            model.detectors_complete = False
            continue
        if name in model.detectors:
            report(
                (*loc, "name"),
                f"duplicate detector {name!r} in model {mid!r}; it is already declared at "
                f"{where(('models', i, 'detectors', model.detectors[name][0], 'name'))}",
            )
            continue
        model.detectors[name] = (j, d)
        kind_name = _text(d, "kind") or ""
        kind = KINDS.get(kind_name)
        if kind is None:
            continue  # the schema reports unknown kinds
        feature = d.get("feature")

        def fitting(value_type: str) -> str:
            fits = [k for k, s in KINDS.items() if not s.is_performance and s.value_type == value_type]
            return f"; use {' or '.join(fits)} instead" if fits else ""

        if kind.input in ("time", "records"):
            if feature is not None:
                what = "the records' timestamps" if kind.input == "time" else "the model's records as a whole"
                report(
                    (*loc, "feature"),
                    f"{kind_name} detectors watch {what} and take no feature; remove 'feature'",
                )
        elif kind.is_performance:
            if feature is not None:
                report(
                    (*loc, "feature"),
                    f"{kind_name} detectors compare the model's predictions with the true "
                    "labels and take no feature; remove 'feature' (use a drift kind to watch a feature)",
                )
            elif model.prediction is not None and model.prediction != kind.prediction_type:
                others = [
                    k for k, s in KINDS.items() if s.is_performance and s.prediction_type == model.prediction
                ]
                report(
                    (*loc, "kind"),
                    f"detector {name!r} is {kind_name}, which needs a {kind.prediction_type} "
                    f"prediction, but model {mid!r} predicts {model.prediction} values"
                    + (f"; use {' or '.join(others)} instead" if others else ""),
                )
        elif isinstance(feature, str) and feature:
            if feature not in model.features:
                if model.features_complete:
                    report(
                        (*loc, "feature"),
                        f"unknown feature {feature!r} in model {mid!r}"
                        f"{did_you_mean(feature, list(model.features))}; "
                        f"{_known(list(model.features), 'the model declares no features')}",
                    )
            else:
                ftype = model.features[feature][1]
                if ftype is not None and ftype != kind.value_type:
                    report(
                        (*loc, "feature"),
                        f"detector {name!r} is {kind_name}, which needs a {kind.value_type} "
                        f"feature, but {feature!r} is {ftype}" + fitting(ftype),
                    )
        elif feature is None and model.prediction is not None and model.prediction != kind.value_type:
            report(
                (*loc, "kind"),
                f"detector {name!r} has no feature, so it watches the prediction, which is "
                f"{model.prediction} in model {mid!r}; {kind_name} needs {kind.value_type} values"
                + fitting(model.prediction),
            )


def _leaves(cond: Any, loc: Loc) -> list[tuple[Mapping[str, Any], Loc]]:
    """The single comparisons in a (possibly compound) condition, with their locations."""
    if not isinstance(cond, Mapping):
        return []
    forms = [f for f in ("all", "any", "k_of_n") if f in cond]
    if len(forms) > 1 or (forms and "detector" in cond):
        return []  # the schema reports the mix
    if not forms:
        return [(cond, loc)]
    form = forms[0]
    if form == "k_of_n":
        inner = cond["k_of_n"]
        items = inner.get("of") if isinstance(inner, Mapping) else None
        base: Loc = (*loc, "k_of_n", "of")
    else:
        items = cond[form]
        base = (*loc, form)
    out: list[tuple[Mapping[str, Any], Loc]] = []
    for i, item in enumerate(items if isinstance(items, list | tuple) else []):
        out.extend(_leaves(item, (*base, i)))
    return out


def _check_leaf(
    rule: Mapping[str, Any],
    cond: Mapping[str, Any],
    cloc: Loc,
    loc: Loc,
    mref: str | None,
    model: _Model | None,
    report: Callable[[Loc, str], None],
) -> None:
    detector: Mapping[str, Any] | None = None
    dname = _text(cond, "detector")
    if model is not None and dname is not None:
        entry = model.detectors.get(dname)
        if entry is not None:
            detector = entry[1]
        elif model.detectors_complete:
            known = list(model.detectors)
            report(
                (*cloc, "detector"),
                f"unknown detector {dname!r} in model {mref!r}"
                f"{did_you_mean(dname, known)}; {_known(known, 'the model declares no detectors')}",
            )

    kind = KINDS.get(_text(detector, "kind") or "") if detector is not None else None
    if kind is not None and detector is not None:
        statistic = cond.get("statistic", "statistic")
        if isinstance(statistic, str) and statistic and statistic not in kind.statistics:
            known = list(kind.statistics)
            report(
                (*cloc, "statistic"),
                f"detector {dname!r} ({kind.name}) has no statistic "
                f"{statistic!r}{did_you_mean(statistic, known)}; it publishes: {', '.join(known)}",
            )
        min_samples = _int(rule, "min_samples")
        window = _int(detector, "window")
        if window is None and "window" in kind.params and "window" not in detector:
            default = kind.params["window"].default
            window = int(default) if default is not None else None
        if min_samples is not None and window is not None and min_samples > window:
            report(
                (*loc, "min_samples"),
                f"min_samples {min_samples} is more than detector {dname!r} can ever "
                f"hold (its window is {window}), so the rule could never fire; lower it or widen the window",
            )


def _check_rule(
    rule: Mapping[str, Any],
    loc: Loc,
    models: Mapping[str, _Model],
    models_complete: bool,
    report: Callable[[Loc, str], None],
) -> None:
    mref = _text(rule, "model")
    cond = rule.get("condition")
    model = models.get(mref) if mref is not None else None
    if mref is not None and model is None and models_complete:
        report(
            (*loc, "model"),
            f"unknown model {mref!r}{did_you_mean(mref, list(models))}; "
            f"{_known(list(models), 'the policy declares no models')}",
        )

    for leaf, leaf_loc in _leaves(cond, (*loc, "condition")):
        _check_leaf(rule, leaf, leaf_loc, loc, mref, model, report)

    tier = _choice(rule.get("labels"), "severity", TIERS)
    actions = rule.get("actions")
    if isinstance(actions, list | tuple):
        seen: set[str] = set()
        for k, action in enumerate(actions):
            if not isinstance(action, str) or action not in ACTIONS:
                continue  # the schema reports it
            if action in seen:
                report((*loc, "actions", k), f"action {action!r} is listed twice")
                continue
            seen.add(action)
            if tier is not None and action not in TIER_ACTIONS[tier]:
                allowed = [t for t in TIERS if action in TIER_ACTIONS[t]]
                report(
                    (*loc, "actions", k),
                    f"a {tier} rule may not {action!r}: the {tier} tier may only "
                    f"{', '.join(TIER_ACTIONS[tier])}; raise labels.severity to {' or '.join(allowed)} "
                    f"or remove {action!r}",
                )
