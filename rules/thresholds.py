"""Effective thresholds: the level each comparison is held to once its multiple-testing correction applies.

The one owner of that arithmetic. The evaluator compares with these levels and reports them in its decisions
(so in incidents), ``watchdog check``'s summary prints them, the dashboards draw them and the Prometheus rules
compare with them: a corrected rule shows the same number everywhere.

For a comparison with written threshold ``t`` in a compound condition of ``m`` comparisons::

    correction           effective threshold                      standalone=True (Prometheus)
    none                 t                                        t
    bonferroni           t / m                                    t / m
    benjamini_hochberg   t, the most lenient rank's level         t / m, its Bonferroni bound
                         (m/m * t); the step-up procedure
                         (`benjamini_hochberg`) says which
                         comparisons are true

Benjamini-Hochberg has no single fixed level: the i-th smallest of the p-values is held to ``i / m * t``. The
watchdog ranks them; an evaluator that looks at each comparison on its own (Prometheus) cannot, so
``standalone=True`` reports the bound that needs no ranking: a p-value below ``t / m`` is rejected whatever
the others are, and such an evaluator then fires no more often than the watchdog. A stateless evaluator has no
firing state either, so standalone descriptions leave ``clear_threshold`` out.

Examples
--------
>>> from rules import load_policy_text
>>> policy = load_policy_text('''
... version: 1
... name: p
... models:
...   - id: m
...     module: m
...     prediction: {type: numeric}
...     features: [{name: a, type: numeric}, {name: b, type: numeric}, {name: c, type: numeric}]
...     reference: {first_n: 100}
...     detectors:
...       - {name: ks_a, kind: ks, feature: a}
...       - {name: ks_b, kind: ks, feature: b}
...       - {name: ks_c, kind: ks, feature: c}
... groups:
...   - name: g
...     rules:
...       - name: AnyInput
...         model: m
...         condition:
...           correction: bonferroni
...           any:
...             - {detector: ks_a, statistic: p_value, op: "<", threshold: 1e-6}
...             - {detector: ks_b, statistic: p_value, op: "<", threshold: 1e-6}
...             - {detector: ks_c, statistic: p_value, op: "<", threshold: 1e-6}
...         labels: {severity: routine}
...         annotations: {summary: An input drifted.}
...         actions: [alert]
... ''')
>>> rule = policy.rule("AnyInput")
>>> for t in effective_thresholds(rule):
...     print(t.leaf.detector, t.threshold == 1e-6 / 3, t.description)
ks_a True < 3.33333e-07 (1e-06 / 3, Bonferroni)
ks_b True < 3.33333e-07 (1e-06 / 3, Bonferroni)
ks_c True < 3.33333e-07 (1e-06 / 3, Bonferroni)
>>> print(describe_condition(rule).replace(" or ", " or\\n"))
ks_a.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni) or
ks_b.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni) or
ks_c.p_value < 3.33333e-07 (1e-06 / 3, Bonferroni)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from rules.schema import AnyCondition, Condition, Rule
from rules.vocabulary import Correction

__all__ = ["EffectiveThreshold", "benjamini_hochberg", "describe_condition", "effective_thresholds"]


@dataclass(frozen=True)
class EffectiveThreshold:
    """One comparison of a condition and the levels it is held to.

    ``threshold`` is the level it fires at and ``hold_threshold`` the level a firing rule holds at
    (``clear_threshold``, corrected the same way, or ``threshold``); ``correction`` is that of the compound
    condition listing the comparison, over ``m`` comparisons (``none`` and 1 outside a corrected compound).
    """

    leaf: Condition
    threshold: float
    hold_threshold: float
    correction: Correction = "none"
    m: int = 1
    standalone: bool = False

    @property
    def description(self) -> str:
        """The comparison's operator and level, with how the level was found: ``< 3.33e-07 (1e-06 / 3,
        Bonferroni)``; ``clear_threshold``, when set and not ``standalone``, as ``(clears past ...)``."""
        leaf, m = self.leaf, self.m
        if self.correction == "bonferroni":
            text = f"{leaf.op} {self.threshold:g} ({leaf.threshold:g} / {m}, Bonferroni)"
        elif self.correction == "benjamini_hochberg" and self.standalone:
            how = f"{leaf.threshold:g} / {m}, Bonferroni bound of Benjamini-Hochberg"
            text = f"{leaf.op} {self.threshold:g} ({how})"
        elif self.correction == "benjamini_hochberg":
            text = f"{leaf.op} {self.threshold:g} (false-discovery rate, Benjamini-Hochberg)"
        else:
            text = f"{leaf.op} {self.threshold:g}"
        if leaf.clear_threshold is None or self.standalone:
            return text
        if self.correction == "bonferroni":
            return f"{text} (clears past {self.hold_threshold:g}, {leaf.clear_threshold:g} / {m})"
        return f"{text} (clears past {self.hold_threshold:g})"


def effective_thresholds(
    condition: Rule | AnyCondition, *, standalone: bool = False
) -> tuple[EffectiveThreshold, ...]:
    """The level each comparison of a rule (or of a condition) is held to, in the order of ``.leaves``.

    Parameters
    ----------
    condition
        A rule or its condition.
    standalone
        Report levels each comparison can be checked against on its own, without ranking the others and
        without a firing state (what Prometheus needs): Benjamini-Hochberg's Bonferroni bound ``t / m``, and
        descriptions without ``clear_threshold``. Otherwise Benjamini-Hochberg reports ``t``, the most lenient
        rank's level, which is what the evaluator reports in its decisions.

    Examples
    --------
    >>> from rules.schema import AnyOf
    >>> cond = AnyOf.model_validate({"correction": "benjamini_hochberg", "any": [
    ...     {"detector": "a", "statistic": "p_value", "op": "<", "threshold": 0.05},
    ...     {"detector": "b", "statistic": "p_value", "op": "<", "threshold": 0.05}]})
    >>> [(t.threshold, t.description) for t in effective_thresholds(cond)][0]
    (0.05, '< 0.05 (false-discovery rate, Benjamini-Hochberg)')
    >>> [(t.threshold, t.description) for t in effective_thresholds(cond, standalone=True)][0]
    (0.025, '< 0.025 (0.05 / 2, Bonferroni bound of Benjamini-Hochberg)')
    """
    cond = condition.condition if isinstance(condition, Rule) else condition
    return tuple(_walk(cond, "none", 1, standalone))


def _walk(
    cond: AnyCondition, correction: Correction, m: int, standalone: bool
) -> Iterator[EffectiveThreshold]:
    if isinstance(cond, Condition):
        t, hold = cond.threshold, cond.hold_threshold
        if correction == "bonferroni" or (correction == "benjamini_hochberg" and standalone):
            t, hold = t / m, hold / m
        yield EffectiveThreshold(cond, t, hold, correction, m, standalone)
        return
    m = len(cond.children) if cond.correction != "none" else 1
    for child in cond.children:
        yield from _walk(child, cond.correction, m, standalone)


def describe_condition(condition: Rule | AnyCondition, *, standalone: bool = False) -> str:
    """The condition as `Condition.describe` writes it, each comparison at its effective threshold.

    Without a correction this is the condition as written (``ks_a.p_value < 0.01 or ks_b.p_value < 0.01``);
    ``standalone`` as in `effective_thresholds`.
    """
    cond = condition.condition if isinstance(condition, Rule) else condition
    levels = {id(t.leaf): t for t in effective_thresholds(cond, standalone=standalone)}

    def leaf_text(leaf: Condition) -> str:
        return f"{leaf.detector}.{leaf.statistic} {levels[id(leaf)].description}"

    return cond.describe(leaf_text)


def benjamini_hochberg(p_values: Sequence[float], level: float, m: int) -> tuple[bool, ...]:
    """Which p-values the Benjamini-Hochberg step-up procedure rejects at false-discovery rate ``level``.

    With the p-values sorted, p(1) <= p(2) <= ..., the largest k with p(k) <= k / m * level; the k smallest
    are rejected. ``m`` counts every comparison of the condition, those without a p-value too (which keeps it
    conservative), so it may exceed ``len(p_values)``. Returns one flag per p-value, in the order given.

    Examples
    --------
    >>> benjamini_hochberg([0.03, 0.01, 0.5, 0.02], 0.05, 4)
    (True, True, False, True)
    >>> benjamini_hochberg([0.02, 0.2], 0.05, 4)
    (False, False)
    """
    if m < len(p_values):
        raise ValueError(f"m must count at least the {len(p_values)} p-values given, got {m}")
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    k = 0
    for rank, i in enumerate(order, 1):
        if p_values[i] <= rank / m * level:
            k = rank
    rejected = set(order[:k])
    return tuple(i in rejected for i in range(len(p_values)))
