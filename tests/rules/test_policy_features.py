"""Compound conditions, `for` as a duration, keep_firing_for, hysteresis, cooldown, budgets, veto windows, and
the loader's checks of all of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rules import Decision, Evaluator, Policy, Signal, format_summary, load_policy_text
from tests.rules.policies import issues_of

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def policy_text(rules_yaml: str, *, head: str = "", budget: str = "") -> str:
    """A policy with one model ``m`` (detectors ``a``, ``b``: ks; ``c``: psi) and ``rules_yaml`` (group g)"""
    return f"""\
version: 1
name: features
{head}models:
  - id: m
    module: m-module
    prediction: {{type: numeric}}
    features: [{{name: x, type: numeric}}, {{name: y, type: numeric}}, {{name: z, type: numeric}}]
    reference: {{first_n: 10}}
    detectors:
      - {{name: a, kind: ks, feature: x, window: 10}}
      - {{name: b, kind: ks, feature: y, window: 10}}
      - {{name: c, kind: psi, feature: z, window: 10}}
{budget}groups:
  - name: g
    rules:
{rules_yaml}"""


def policy(rules_yaml: str, *, head: str = "", budget: str = "", dry_run: bool = False) -> Policy:
    text = policy_text(rules_yaml, head=f"dry_run: {str(dry_run).lower()}\n{head}", budget=budget)
    return load_policy_text(text, "features.yaml")


def rule(name: str = "R", condition: str = '{detector: c, op: ">", threshold: 0.2}', tier: str = "critical",
         actions: str = "[alert, pause]", **extra: str) -> str:
    lines = [f"      - name: {name}", "        model: m", f"        condition: {condition}"]
    lines += [f"        {key}: {value}" for key, value in extra.items()]
    lines += [f"        labels: {{severity: {tier}}}", "        annotations: {summary: s}",
              f"        actions: {actions}"]
    return "\n".join(lines).replace("for_:", "for:") + "\n"


class Feed:
    """One evaluation per call, ``minutes`` apart; values per detector name (None: no signal)."""

    def __init__(self, ev: Evaluator, minutes: float = 1.0) -> None:
        self.ev, self.minutes, self.i = ev, minutes, -1

    def at(self, i: int) -> datetime:
        return T0 + timedelta(minutes=self.minutes * i)

    def __call__(self, **values: float | None) -> list[Decision]:
        self.i += 1
        signals = {}
        for name, v in values.items():
            if v is not None:
                stat = "statistic" if name == "c" else "p_value"
                signals[name] = Signal({stat: v, "statistic": v}, n=10)
        return self.ev.evaluate("m", signals, self.at(self.i), record_index=100 * (self.i + 1))

    def run(self, values: list[float | None], name: str = "c") -> str:
        """'f' / 'r' / '.' per step."""
        out = ""
        for v in values:
            ds = self(**{name: v})
            out += "".join(d.kind[0] for d in ds) or "."
        return out


# -- hysteresis ----------------------------------------------------------------------------------------------


def test_hysteresis_holds_between_the_two_levels_and_clears_below_the_lower() -> None:
    ev = Evaluator(policy(rule(condition='{detector: c, op: ">", threshold: 0.2, clear_threshold: 0.1}')))
    feed = Feed(ev)
    # fires above 0.2; 0.15 and exactly 0.1 are not below the clear level (op > : holds while > 0.1 ... at 0.1
    # the hold comparison 0.1 > 0.1 is false, so it clears)
    assert feed.run([0.25, 0.15, 0.11, 0.19, 0.1]) == "f...r"
    # inactive again: 0.15 is below the firing level, so it does not fire though it is above the clear level
    assert feed.run([0.15, 0.2, 0.21]) == "..f"


def test_hysteresis_for_a_lower_is_worse_statistic() -> None:
    ev = Evaluator(policy(rule(condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01, '
                                         'clear_threshold: 0.05}')))
    feed = Feed(ev)
    assert feed.run([0.001, 0.03, 0.049, 0.05], name="a") == "f..r"
    [fire] = [d for d in ev.evaluate("m", {"a": Signal({"p_value": 0.001}, n=10)}, feed.at(9), 1000)]
    assert fire.clear_threshold == 0.05 and fire.threshold == 0.01


def test_without_clear_threshold_it_resolves_at_the_firing_level() -> None:
    ev = Evaluator(policy(rule()))
    assert Feed(ev).run([0.25, 0.2]) == "fr"  # 0.2 > 0.2 is false


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{detector: c, op: ">", threshold: 0.2, clear_threshold: 0.3}',
         "clear_threshold 0.3 is above threshold 0.2"),
        ('{detector: a, statistic: p_value, op: "<=", threshold: 0.01, clear_threshold: 0.001}',
         "clear_threshold 0.001 is below threshold 0.01"),
    ],
)
def test_clear_threshold_on_the_wrong_side_is_refused(condition: str, message: str) -> None:
    found = _issues(rule(condition=condition))
    assert len(found) == 1 and found[0].field == "groups[0].rules[0].condition"
    assert message in found[0].problem


def test_clear_threshold_equal_to_threshold_is_allowed() -> None:
    ev = Evaluator(policy(rule(condition='{detector: c, op: ">", threshold: 0.2, clear_threshold: 0.2}')))
    assert Feed(ev).run([0.3, 0.2]) == "fr"


# -- for: count and duration ---------------------------------------------------------------------------------


def test_for_duration_fires_when_the_condition_has_held_that_long_of_data_time() -> None:
    ev = Evaluator(policy(rule(for_="15m")))
    feed = Feed(ev, minutes=5)
    # true at 0, 5, 10 (10 min held: not yet), 15 -> fires exactly at 15 minutes
    assert feed.run([0.3, 0.3, 0.3, 0.3, 0.3]) == "...f."
    assert ev.state("R").pending_since == feed.at(0)


def test_for_duration_restarts_after_a_false_evaluation_and_after_no_data() -> None:
    ev = Evaluator(policy(rule(for_="10m")))
    feed = Feed(ev, minutes=5)
    assert feed.run([0.3, 0.3, 0.1, 0.3, 0.3, None, 0.3, 0.3, 0.3]) == "........f"


def test_for_duration_counts_data_time_not_evaluations() -> None:
    ev = Evaluator(policy(rule(for_="1h")))
    feed = Feed(ev, minutes=1)
    assert feed.run([0.3] * 60) == "." * 60
    assert feed.run([0.3]) == "f"  # the 61st evaluation is 60 minutes after the first


def test_for_zero_duration_fires_at_once_and_count_one_too() -> None:
    assert Feed(Evaluator(policy(rule(for_="0s")))).run([0.3]) == "f"
    assert Feed(Evaluator(policy(rule(for_=1)))).run([0.3]) == "f"


def test_for_count_edge_one_short_never_fires() -> None:
    assert Feed(Evaluator(policy(rule(for_=3)))).run([0.3, 0.3, 0.1, 0.3, 0.3, 0.3]) == ".....f"


# -- keep_firing_for -----------------------------------------------------------------------------------------


def test_keep_firing_for_holds_until_the_condition_has_been_over_that_long() -> None:
    ev = Evaluator(policy(rule(keep_firing_for="10m")))
    feed = Feed(ev, minutes=5)
    # fire at 0; over at 5 and 10 (5 min over: holds); true again at 15 resets; over at 20, 25, 30;
    # resolve at 30
    assert feed.run([0.3, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1]) == "f.....r"
    assert ev.state("R").state == "inactive"


def test_keep_firing_for_is_not_cut_short_by_missing_data() -> None:
    ev = Evaluator(policy(rule(keep_firing_for="10m")))
    feed = Feed(ev, minutes=5)
    assert feed.run([0.3, 0.1, None, 0.1]) == "f..r"  # over since 5, still over at 15: 10 minutes


def test_keep_firing_for_with_hysteresis_measures_from_the_clear_level() -> None:
    ev = Evaluator(policy(rule(condition='{detector: c, op: ">", threshold: 0.2, clear_threshold: 0.1}',
                               keep_firing_for="5m")))
    feed = Feed(ev, minutes=5)
    assert feed.run([0.3, 0.15, 0.05, 0.15, 0.05, 0.05]) == "f....r"


# -- compound conditions -------------------------------------------------------------------------------------


ALL = (
    '{all: [{detector: a, statistic: p_value, op: "<", threshold: 0.01}, '
    '{detector: c, op: ">", threshold: 0.2}]}'
)
ANY = (
    '{any: [{detector: a, statistic: p_value, op: "<", threshold: 0.01}, '
    '{detector: c, op: ">", threshold: 0.2}]}'
)
K2 = (
    '{k_of_n: {k: 2, of: [{detector: a, statistic: p_value, op: "<", threshold: 0.01}, '
    '{detector: b, statistic: p_value, op: "<", threshold: 0.01}, {detector: c, op: ">", threshold: 0.2}]}}'
)


def test_all_needs_every_comparison_and_reports_all_with_values() -> None:
    ev = Evaluator(policy(rule(condition=ALL)))
    feed = Feed(ev)
    assert feed(a=0.001, c=0.1) == []
    [fire] = feed(a=0.001, c=0.3)
    assert (fire.detector, fire.statistic, fire.value) == ("a", "p_value", 0.001)  # the first true one
    assert [(r.detector, r.value, r.fire) for r in fire.conditions] == [("a", 0.001, True), ("c", 0.3, True)]
    [resolve] = feed(a=0.001, c=0.1)
    # the first one that is over
    assert (resolve.kind, resolve.detector, resolve.value) == ("resolve", "c", 0.1)


def test_any_fires_on_one_and_names_it() -> None:
    ev = Evaluator(policy(rule(condition=ANY)))
    [fire] = Feed(ev)(a=0.5, c=0.3)
    assert (fire.detector, fire.value) == ("c", 0.3)
    assert json.loads(json.dumps(fire.to_dict()))["conditions"][0] == {
        "detector": "a", "statistic": "p_value", "op": "<", "threshold": 0.01, "clear_threshold": None,
        "value": 0.5, "n": 10, "fire": False, "hold": False}


def test_k_of_n_counts_true_comparisons() -> None:
    ev = Evaluator(policy(rule(condition=K2)))
    feed = Feed(ev)
    assert feed(a=0.001, b=0.5, c=0.1) == []
    [fire] = feed(a=0.5, b=0.001, c=0.3)
    assert fire.detector == "b"


def test_unknown_comparisons_neither_fire_nor_resolve() -> None:
    ev = Evaluator(policy(rule(condition=K2)))
    feed = Feed(ev)
    assert feed(a=0.001) == []  # one true, two without data: cannot reach 2
    [fire] = feed(a=0.001, b=0.001)
    assert fire.kind == "fire"
    assert feed(a=0.001) == []  # one true, two unknown: could still be 2 -> holds
    assert feed(c=0.1) == []  # one false, two unknown: could still be 2 -> holds
    [resolve] = feed(a=0.5, c=0.1)  # two false: at most 1 -> over
    assert resolve.kind == "resolve"


def test_nested_compound_conditions() -> None:
    nested = (
        '{any: [{all: [{detector: a, statistic: p_value, op: "<", threshold: 0.01}, '
        '{detector: b, statistic: p_value, op: "<", threshold: 0.01}]}, '
        '{detector: c, op: ">", threshold: 0.5}]}'
    )
    p = policy(rule(condition=nested))
    assert p.rule("R").condition.describe() == (
        "(a.p_value < 0.01 and b.p_value < 0.01) or c.statistic > 0.5")
    feed = Feed(Evaluator(p))
    assert feed(a=0.001, b=0.5, c=0.3) == []
    assert [d.kind for d in feed(a=0.001, b=0.001, c=0.3)] == ["fire"]


def test_compound_condition_stands_for_its_first_comparison() -> None:
    cond = policy(rule(condition=ALL)).rule("R").condition
    assert (cond.detector, cond.statistic, cond.op, cond.threshold) == ("a", "p_value", "<", 0.01)
    assert [leaf.detector for leaf in cond.leaves] == ["a", "c"]


# -- cooldown, budget, veto ----------------------------------------------------------------------------------


def test_cooldown_suppresses_on_chain_actions_but_still_alerts() -> None:
    ev = Evaluator(policy(rule(cooldown="1h")))
    feed = Feed(ev, minutes=20)
    [first] = feed(c=0.3)
    assert (first.actions, first.suppressed) == (("alert", "pause"), None)
    assert feed(c=0.1)[0].kind == "resolve"
    [second] = feed(c=0.3)  # 40 minutes after the action
    assert (second.actions, second.suppressed) == (("alert",), "cooldown")
    assert second.suppressed_actions == ("pause",)
    feed(c=0.1)
    [third] = feed(c=0.3)  # 80 minutes after the first action: the suppressed one did not restart the clock
    assert (third.actions, third.suppressed) == (("alert", "pause"), None)


def test_cooldown_boundary_is_exclusive() -> None:
    ev = Evaluator(policy(rule(cooldown="40m")))
    feed = Feed(ev, minutes=20)
    assert [d.suppressed for d in feed(c=0.3) + feed(c=0.1) + feed(c=0.3)] == [None, None, None]


BUDGET = "    budget: {max_actions: 2, period: 1h}\n"


def test_budget_is_per_module_across_rules_and_frees_up_after_the_period() -> None:
    rules_yaml = (
        rule("R1")
        + rule("R2", condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}')
        + rule("R3", condition='{detector: b, statistic: p_value, op: "<", threshold: 0.01}')
    )
    ev = Evaluator(policy(rules_yaml, budget=BUDGET))
    feed = Feed(ev, minutes=20)
    fired = feed(a=0.001, b=0.001, c=0.3)
    assert [(d.rule, d.actions, d.suppressed) for d in fired] == [
        ("R1", ("alert", "pause"), None), ("R2", ("alert", "pause"), None), ("R3", ("alert",), "budget")]
    assert [d.kind for d in feed(a=0.5, b=0.5, c=0.1)] == ["resolve"] * 3
    # 40 minutes later both actions are still in the hour
    assert [d.suppressed for d in feed(c=0.3)] == ["budget"]
    feed(c=0.1)
    # 80 minutes after the first actions: the budget is free again
    assert [(d.actions, d.suppressed) for d in feed(c=0.3)] == [(("alert", "pause"), None)]


def test_a_decision_needing_more_actions_than_left_is_held_back_whole() -> None:
    r2 = rule(
        "R2",
        condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}',
        actions="[alert, pause, rollback]",
    )
    ev = Evaluator(policy(rule("R1") + r2, budget=BUDGET))
    fired = Feed(ev)(a=0.001, c=0.3)
    assert [(d.rule, d.suppressed) for d in fired] == [("R1", None), ("R2", "budget")]


def test_chain_rate_limit_is_the_default_budget() -> None:
    head = "chain:\n  rate_limit: {max_actions: 1, window: 24h}\n"
    r2 = rule("R2", condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}')
    p = policy(rule("R1") + r2, head=head)
    assert p.budget_of("m").max_actions == 1
    fired = Feed(Evaluator(p))(a=0.001, c=0.3)
    assert [d.suppressed for d in fired] == [None, "budget"]


def test_dry_run_actions_spend_a_budget_of_their_own() -> None:
    rules_yaml = rule("Shadow", dry_run="true") + rule(
        "Live", condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}')
    ev = Evaluator(policy(rules_yaml, budget="    budget: {max_actions: 1, period: 1h}\n"))
    fired = Feed(ev)(a=0.001, c=0.3)
    assert [(d.rule, d.dry_run, d.suppressed) for d in fired] == [
        ("Shadow", True, None),
        ("Live", False, None),
    ]


def test_alert_only_rules_never_spend_budget_or_cooldown() -> None:
    rules_yaml = rule("A", tier="routine", actions="[alert]", cooldown="1h") + rule(
        "P", condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}'
    )
    ev = Evaluator(policy(rules_yaml, budget="    budget: {max_actions: 1, period: 1h}\n"))
    feed = Feed(ev)
    fired = feed(a=0.001, c=0.3)
    assert [(d.rule, d.actions, d.suppressed) for d in fired] == [("A", ("alert",), None),
                                                                  ("P", ("alert", "pause"), None)]
    feed(a=0.5, c=0.1)
    assert [(d.actions, d.suppressed) for d in feed(c=0.3)] == [(("alert",), None)]


def test_veto_window_only_for_medium_actions() -> None:
    head = "tiers:\n  medium: {veto_window: 30m}\n"
    rules_yaml = rule("Med", tier="medium") + rule(
        "Crit", condition='{detector: a, statistic: p_value, op: "<", threshold: 0.01}') + rule(
        "MedAlert", condition='{detector: b, statistic: p_value, op: "<", threshold: 0.01}', tier="medium",
        actions="[alert]")
    fired = Feed(Evaluator(policy(rules_yaml, head=head)))(a=0.001, b=0.001, c=0.3)
    assert {d.rule: d.veto_seconds for d in fired} == {"Med": 1800.0, "Crit": 0.0, "MedAlert": 0.0}


def test_default_veto_window_is_fifteen_minutes() -> None:
    [fire] = Feed(Evaluator(policy(rule(tier="medium"))))(c=0.3)
    assert fire.veto_seconds == 900.0


def test_suppressed_medium_action_has_no_veto_window() -> None:
    ev = Evaluator(policy(rule(tier="medium", cooldown="1h")))
    feed = Feed(ev)
    feed(c=0.3)
    feed(c=0.1)
    [again] = feed(c=0.3)
    assert (again.suppressed, again.veto_seconds) == ("cooldown", 0.0)


def test_policy_dry_run_marks_every_decision() -> None:
    fired = Feed(Evaluator(policy(rule(), dry_run=True)))(c=0.3)
    assert [d.dry_run for d in fired] == [True]


# -- snapshots keep the new state ----------------------------------------------------------------------------


def test_snapshot_keeps_cooldown_budget_and_keep_firing_state() -> None:
    budget = "    budget: {max_actions: 1, period: 2h}\n"
    p = policy(rule(cooldown="1h", keep_firing_for="30m"), budget=budget)
    ev = Evaluator(p)
    feed = Feed(ev, minutes=10)
    feed(c=0.3)
    feed(c=0.1)  # over, kept firing
    snap = json.loads(json.dumps(ev.snapshot()))
    ev2 = Evaluator(p)
    assert ev2.restore(snap) == ()
    assert ev2.state("R").clear_since == feed.at(1) and ev2.state("R").last_action_at == feed.at(0)
    feed2 = Feed(ev2, minutes=10)
    feed2.i = feed.i
    assert feed2.run([0.1, 0.1, 0.1]) == "..r"  # resolves 30 minutes after it cleared (at 10m)
    [again] = feed2(c=0.3)
    assert again.suppressed == "cooldown"


def test_budget_survives_a_changed_rule_on_restore() -> None:
    budget = "    budget: {max_actions: 1, period: 2h}\n"
    ev = Evaluator(policy(rule(), budget=budget))
    Feed(ev)(c=0.3)
    changed = Evaluator(policy(rule(condition='{detector: c, op: ">", threshold: 0.25}'), budget=budget))
    assert changed.restore(ev.snapshot()) == ("R",)
    [fire] = changed.evaluate("m", {"c": Signal({"statistic": 0.3}, n=10)}, T0 + timedelta(minutes=5), 200)
    assert fire.suppressed == "budget"


# -- validation of the new fields ----------------------------------------------------------------------------


def _issues(rules_yaml: str, head: str = "", budget: str = "") -> list:
    return issues_of(policy_text(rules_yaml, head=head, budget=budget))


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ({"for_": "15 minutes"}, "for", "'15 minutes' is not a duration; write a duration such as 30s, 15m"),
        ({"for_": '"0"'}, "for", "'0' is not a duration"),
        ({"for_": 0}, "for", "a count of evaluations must be at least 1, got 0"),
        (
            {"for_": "[1]"},
            "for",
            "expected a whole number of consecutive evaluations (3) or a duration (15m)",
        ),
        ({"keep_firing_for": 10}, "keep_firing_for", "expected a duration, got the number 10"),
        ({"cooldown": "1w"}, "cooldown", "'1w' is not a duration"),
        ({"cooldown": "30m1h"}, "cooldown", "'30m1h' is not a duration"),
    ],
)
def test_bad_durations_name_the_field(extra: dict, field: str, problem: str) -> None:
    [issue] = _issues(rule(**{k: str(v) for k, v in extra.items()}))
    assert issue.field == f"groups[0].rules[0].{field}"
    assert problem in issue.problem


@pytest.mark.parametrize(
    ("condition", "field", "problem"),
    [
        (K2.replace("k: 2", "k: 4"), "condition.k_of_n", "k is 4 but only 3 condition(s) are listed"),
        (K2.replace("k: 2", "k: 0"), "condition.k_of_n.k", "must be at least 1"),
        ("{all: []}", "condition.all", "must list at least one entry"),
        ('{all: [{detector: nope, op: ">", threshold: 1}]}', "condition.all[0].detector",
         "unknown detector 'nope' in model 'm'"),
        (
            '{any: [{detector: c, op: ">", threshold: 1}, '
            '{detector: a, statistic: pvalue, op: "<", threshold: 1}]}',
            "condition.any[1].statistic", "has no statistic 'pvalue' (did you mean 'p_value'?)"),
        ('{k_of_n: {k: 1, of: [{detector: c, op: ">", threshold: 1, clear_threshold: 2}]}}',
         "condition.k_of_n.of[0]", "clear_threshold 2 is above threshold 1"),
        ('{all: [{detector: c, op: ">", threshold: 1}], any: [{detector: c, op: ">", threshold: 1}]}',
         "condition", "exactly one of all, any, k_of_n"),
        ('{detector: c, op: ">", threshold: 1, all: [{detector: c, op: ">", threshold: 1}]}',
         "condition", "mixes several"),
        ('{all: [{detector: c, op: ">", treshold: 1}]}', "condition.all[0].treshold",
         "unknown key 'treshold' (did you mean 'threshold'?)"),
        ('{k_of_n: {k: 1, off: []}}', "condition.k_of_n.off", "unknown key 'off' (did you mean 'of'?)"),
    ],
)
def test_compound_condition_mistakes(condition: str, field: str, problem: str) -> None:
    found = _issues(rule(condition=condition))
    assert any(i.field == f"groups[0].rules[0].{field}" and problem in i.problem for i in found), \
        "\n".join(map(str, found))


def test_budget_above_the_chain_rate_limit_is_refused() -> None:
    head = "chain:\n  rate_limit: {max_actions: 3, window: 24h}\n"
    [issue] = _issues(rule(), head=head, budget="    budget: {max_actions: 2, period: 6h}\n")
    assert issue.field == "models[0].budget"
    assert "allows up to 8 actions within the on-chain rate limit window of 24h" in issue.problem
    assert "the contract allows only 3" in issue.problem
    # exactly at the limit is fine, and a longer period than the window too
    policy(rule(), head=head, budget="    budget: {max_actions: 3, period: 24h}\n")
    policy(rule(), head=head, budget="    budget: {max_actions: 3, period: 48h}\n")
    [issue] = _issues(rule(), head=head, budget="    budget: {max_actions: 4, period: 48h}\n")
    assert "allows up to 4 actions" in issue.problem


def test_budget_with_a_zero_period_is_unlimited_and_refused() -> None:
    head = "chain:\n  rate_limit: {max_actions: 3, window: 24h}\n"
    [issue] = _issues(rule(), head=head, budget="    budget: {max_actions: 1, period: 0s}\n")
    assert "allows up to unlimited actions" in issue.problem


@pytest.mark.parametrize(
    ("head", "problem"),
    [
        ("tiers:\n  routine: {veto_window: 5m}\n", "routine rules only alert, so there is nothing to veto"),
        ("tiers:\n  critical: {veto_window: 5m}\n", "critical rules pause at once"),
        ("tiers:\n  medium: {veto_window: soon}\n", "'soon' is not a duration"),
        ("tiers:\n  urgent: {}\n", "unknown key 'urgent'"),
        ("chain:\n  rate_limit: {max_actions: 0, window: 1h}\n", "must be at least 1"),
        ("chain:\n  rate_limit: {max_actions: 1}\n", "required field is missing"),
    ],
)
def test_tier_and_chain_settings_mistakes(head: str, problem: str) -> None:
    found = _issues(rule(), head=head)
    assert any(problem in i.problem for i in found), "\n".join(map(str, found))


def test_critical_veto_window_of_zero_is_allowed() -> None:
    p = policy(rule(), head="tiers:\n  critical: {veto_window: 0s}\n  medium: {veto_window: 0s}\n")
    assert p.veto_seconds("critical") == 0.0 and p.veto_seconds("medium") == 0.0


@pytest.mark.parametrize(
    ("tier", "actions", "bad"),
    [("routine", "[alert, pause]", "pause"), ("routine", "[rollback]", "rollback"),
     ("medium", "[alert, rollback]", "rollback")],
)
def test_tier_action_conflicts(tier: str, actions: str, bad: str) -> None:
    [issue] = _issues(rule(tier=tier, actions=actions))
    assert issue.field.startswith("groups[0].rules[0].actions[")
    assert f"a {tier} rule may not {bad!r}" in issue.problem


def test_all_mistakes_are_reported_at_once_with_lines() -> None:
    r2 = rule(
        "R2", condition='{all: [{detector: nope, op: ">", threshold: 1}]}', tier="routine", actions="[pause]"
    )
    found = _issues(rule(for_="soon", cooldown="5") + r2, head="tiers:\n  routine: {veto_window: 5m}\n")
    assert len(found) == 5
    assert [i.line for i in found] == sorted(i.line for i in found)


# -- summary -------------------------------------------------------------------------------------------------


def test_summary_says_what_each_tier_may_do_and_how_actions_are_rationed() -> None:
    head = "chain:\n  rate_limit: {max_actions: 3, window: 24h}\ntiers:\n  medium: {veto_window: 30m}\n"
    p = policy(rule(condition=K2, for_="15m", cooldown="2h", keep_firing_for="10m")
               + rule("M", tier="medium") + rule("Shadow", tier="routine", actions="[alert]", dry_run="true"),
               head=head, budget="    budget: {max_actions: 1, period: 8h}\n")
    text = format_summary(p)
    assert "action budget: 1 on-chain action(s) per 8h (its own)" in text
    assert "on-chain rate limit: 3 action(s) per 24h per module" in text
    assert "routine   may alert; alerts only, never acts" in text
    assert "medium    may alert, pause; on-chain actions wait 30m for a steward's veto" in text
    assert "critical  may alert, pause, rollback; acts at once" in text
    assert (
        "- R  m: at least 2 of [a.p_value < 0.01, b.p_value < 0.01, c.statistic > 0.2] held for 15m of data "
        "time, min 10 samples, keeps firing 10m after it clears, cooldown 2h after an action -> alert, pause"
    ) in text
    assert "- Shadow  m: c.statistic > 0.2 for 1 evaluation, min 10 samples -> alert  [dry run]" in text


def test_summary_without_budget_says_actions_are_not_rationed() -> None:
    assert "action budget: none" in format_summary(policy(rule()))
