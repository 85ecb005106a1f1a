"""The rule engine: the for/pending/firing state machine, holds on missing data, and its snapshots."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules import Decision, Evaluator, Policy, Signal, SnapshotError, load_policy_text
from tests.rules.policies import BASE

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_policy(
    op: str = "<",
    threshold: float = 0.01,
    for_: int = 3,
    min_samples: int | None = None,
    rule_dry_run: bool = False,
    policy_dry_run: bool = False,
    statistic: str = "p_value",
) -> Policy:
    extra = f"\n        min_samples: {min_samples}" if min_samples is not None else ""
    return load_policy_text(
        f"""\
version: 1
name: eval-policy
dry_run: {str(policy_dry_run).lower()}
models:
  - id: m
    module: m-module
    prediction: {{type: numeric}}
    features: [{{name: x, type: numeric}}]
    reference: {{first_n: 10}}
    detectors:
      - {{name: d, kind: ks, feature: x, window: 10}}
      - {{name: e, kind: mae, window: 10}}
groups:
  - name: g
    rules:
      - name: R
        model: m
        condition: {{detector: d, statistic: {statistic}, op: "{op}", threshold: {threshold!r}}}
        for: {for_}{extra}
        labels: {{severity: critical}}
        annotations: {{summary: x drifted, runbook_url: "https://runbooks.example.org/r"}}
        actions: [alert, pause, rollback]
        dry_run: {str(rule_dry_run).lower()}
  - name: perf
    rules:
      - name: E
        model: m
        condition: {{detector: e, op: ">", threshold: 1.0}}
        labels: {{severity: routine}}
        annotations: {{summary: error high}}
        actions: [alert]
""",
        "eval.yaml",
    )


TRUE = 0.001  # p_value below the 0.01 threshold: condition holds
FALSE = 0.5


class Driver:
    """Feeds one value per evaluation, 100 records and one minute apart."""

    def __init__(self, evaluator: Evaluator, start: int = 0) -> None:
        self.ev = evaluator
        self.i = start

    def at(self, i: int) -> datetime:
        return T0 + timedelta(minutes=i)

    def step(
        self, value: float | None, n: int = 10, detector: str = "d", stat: str = "p_value"
    ) -> list[Decision]:
        self.i += 1
        signals = {} if value is None else {detector: Signal({stat: value, "statistic": 0.3}, n=n)}
        return self.ev.evaluate("m", signals, self.at(self.i), record_index=100 * self.i)

    def run(self, values: list[float | None], **kw: int) -> list[list[Decision]]:
        return [self.step(v, **kw) for v in values]  # type: ignore[arg-type]


def kinds(steps: list[list[Decision]]) -> list[str]:
    return ["".join(d.kind[0] for d in step) or "." for step in steps]


def test_one_short_of_for_then_false_never_fires() -> None:
    ev = Evaluator(make_policy(for_=3))
    d = Driver(ev)
    assert kinds(d.run([TRUE, TRUE])) == [".", "."]
    assert ev.state("R").state == "pending" and ev.state("R").consecutive == 2
    assert ev.state("R").pending_since == d.at(1) and ev.state("R").pending_since_index == 100
    assert kinds(d.run([FALSE])) == ["."]
    state = ev.state("R")
    assert (state.state, state.consecutive, state.pending_since, state.since) == (
        "inactive",
        0,
        None,
        d.at(3),
    )


def test_exactly_for_fires_once_and_holds_then_resolves_then_fires_again() -> None:
    ev = Evaluator(make_policy(for_=3))
    d = Driver(ev)
    steps = d.run([TRUE, TRUE, TRUE, TRUE, TRUE])
    assert kinds(steps) == [".", ".", "f", ".", "."]
    fire = steps[2][0]
    assert (fire.kind, fire.rule, fire.group, fire.model, fire.module) == ("fire", "R", "g", "m", "m-module")
    assert (fire.tier, fire.actions, fire.dry_run) == ("critical", ("alert", "pause", "rollback"), False)
    assert (fire.detector, fire.statistic, fire.op, fire.threshold) == ("d", "p_value", "<", 0.01)
    assert (fire.value, fire.n, fire.at, fire.record_index) == (TRUE, 10, d.at(3), 300)
    assert (fire.pending_since, fire.pending_since_index, fire.consecutive) == (d.at(1), 100, 3)
    assert fire.summary == "x drifted"
    assert fire.annotations == {"summary": "x drifted", "runbook_url": "https://runbooks.example.org/r"}
    assert fire.policy_hash == ev.policy.hash and fire.rule_source == "eval.yaml:16"
    assert ev.state("R").state == "firing" and ev.state("R").since == d.at(3)
    assert ev.state("R").consecutive == 5

    [resolve] = d.step(FALSE)
    assert (resolve.kind, resolve.actions, resolve.value, resolve.at) == ("resolve", (), FALSE, d.at(6))
    assert resolve.episode_key == fire.episode_key
    assert ev.state("R").state == "inactive"

    steps = d.run([TRUE, TRUE, TRUE])
    assert kinds(steps) == [".", ".", "f"]
    again = steps[2][0]
    assert again.pending_since == d.at(7) and again.episode_key != fire.episode_key


def test_for_one_fires_at_the_first_true_evaluation() -> None:
    ev = Evaluator(make_policy(for_=1))
    steps = Driver(ev).run([FALSE, TRUE, TRUE, FALSE, TRUE])
    assert kinds(steps) == [".", "f", ".", "r", "f"]
    assert steps[1][0].pending_since == steps[1][0].at and steps[1][0].consecutive == 1


@pytest.mark.parametrize("no_data", ["nan", "missing_signal", "missing_statistic", "few_samples"])
def test_no_data_holds_a_firing_rule_and_resets_a_pending_one(no_data: str) -> None:
    ev = Evaluator(make_policy(for_=2))
    d = Driver(ev)

    def blank() -> list[Decision]:
        if no_data == "nan":
            return d.step(math.nan)
        if no_data == "missing_signal":
            return d.step(None)
        if no_data == "missing_statistic":
            return d.step(TRUE, stat="other")
        return d.step(TRUE, n=9)  # window 10 is the default min_samples

    assert kinds(d.run([TRUE, TRUE])) == [".", "f"]
    assert [blank(), blank()] == [[], []]
    assert ev.state("R").state == "firing"  # not resolved by missing data
    assert kinds(d.run([TRUE])) == ["."]  # and no second fire when data returns
    assert kinds(d.run([FALSE])) == ["r"]  # a real observation resolves it

    assert kinds(d.run([TRUE])) == ["."]
    assert ev.state("R").state == "pending"
    assert blank() == []
    assert ev.state("R").state == "inactive"  # counts as false for a pending rule
    assert kinds(d.run([TRUE, TRUE])) == [".", "f"]


def test_explicit_min_samples() -> None:
    ev = Evaluator(make_policy(for_=1, min_samples=5))
    d = Driver(ev)
    assert kinds([d.step(TRUE, n=4), d.step(TRUE, n=5)]) == [".", "f"]


@pytest.mark.parametrize(
    "op, value, fires",
    [
        ("<", 0.09, True),
        ("<", 0.1, False),
        ("<", 0.11, False),
        ("<=", 0.09, True),
        ("<=", 0.1, True),
        ("<=", 0.11, False),
        (">", 0.09, False),
        (">", 0.1, False),
        (">", 0.11, True),
        (">=", 0.09, False),
        (">=", 0.1, True),
        (">=", 0.11, True),
        (">", math.inf, True),
        ("<", -math.inf, True),
    ],
)
def test_op_directions(op: str, value: float, fires: bool) -> None:
    ev = Evaluator(make_policy(op=op, threshold=0.1, for_=1))
    assert kinds([Driver(ev).step(value)]) == (["f"] if fires else ["."])


@pytest.mark.parametrize(
    "rule_dry, policy_dry, expected",
    [
        (False, False, False),
        (True, False, True),
        (False, True, True),
        (True, True, True),
    ],
)
def test_dry_run_propagates(rule_dry: bool, policy_dry: bool, expected: bool) -> None:
    ev = Evaluator(make_policy(for_=1, rule_dry_run=rule_dry, policy_dry_run=policy_dry))
    d = Driver(ev)
    [fire] = d.step(TRUE)
    [resolve] = d.step(FALSE)
    assert fire.dry_run is expected and resolve.dry_run is expected


def test_only_the_given_model_and_groups_are_evaluated() -> None:
    policy = load_policy_text(BASE)
    ev = Evaluator(policy)
    signals = {
        "ks_util": Signal({"p_value": 0.0}, n=50),
        "pred_psi": Signal({"statistic": 1.0}, n=50),
        "acc": Signal({"statistic": 0.1}, n=30),
    }
    assert [d.rule for d in ev.evaluate("risk", signals, T0, 1, groups=["drift"])] == ["ScoreShift"]
    assert ev.state("KeeperAccuracyLow").state == "inactive"
    assert ev.evaluate("risk", signals, T0, 2, groups=["performance"]) == []
    assert [d.rule for d in ev.evaluate("keeper", signals, T0, 3)] == ["KeeperAccuracyLow"]
    assert [d.rule for d in ev.evaluate("risk", signals, T0, 4)] == ["UtilDrift"]


def test_bad_calls() -> None:
    ev = Evaluator(make_policy())
    with pytest.raises(ValueError, match="timezone-aware"):
        ev.evaluate("m", {}, datetime(2025, 1, 1), 1)
    with pytest.raises(KeyError, match="no model 'x'"):
        ev.evaluate("x", {}, T0, 1)
    with pytest.raises(ValueError, match="unknown group"):
        ev.evaluate("m", {}, T0, 1, groups=["nope"])
    with pytest.raises(KeyError):
        ev.state("Nope")
    with pytest.raises(ValueError, match="n must be"):
        Signal({"statistic": 1.0}, n=-1)


def _random_run(seed: int, evaluator: Evaluator, steps: int = 60) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    driver = Driver(evaluator)
    out = []
    for _ in range(steps):
        value = rnd.choice([TRUE, FALSE, math.nan, None])
        n = rnd.choice([10, 10, 10, 3])
        out.extend(d.to_dict() for d in driver.step(value, n=n))
    return out


def test_determinism() -> None:
    policy = make_policy(for_=2)
    for seed in range(5):
        first = _random_run(seed, Evaluator(policy))
        assert first == _random_run(seed, Evaluator(policy))
        assert first  # the runs do decide something
    json.dumps(first)  # to_dict is JSON-ready


def _reference_fires(seq: list[str], for_: int) -> list[str]:
    """A plain restatement of the rule semantics, per step: 't' true, 'f' false, 'n' no data."""
    state, count, out = "inactive", 0, []
    for s in seq:
        if s == "n":
            if state == "pending":
                state, count = "inactive", 0
            out.append(".")
        elif s == "t":
            count += 1
            if state != "firing" and count >= for_:
                state = "firing"
                out.append("f")
            else:
                state = "firing" if state == "firing" else "pending"
                out.append(".")
        else:
            out.append("r" if state == "firing" else ".")
            state, count = "inactive", 0
    return out


@settings(max_examples=200, deadline=None)
@given(seq=st.lists(st.sampled_from("tfn"), max_size=40), for_=st.integers(1, 4))
def test_matches_the_reference_semantics(seq: list[str], for_: int) -> None:
    ev = Evaluator(make_policy(for_=for_))
    d = Driver(ev)
    got = kinds([d.step({"t": TRUE, "f": FALSE, "n": math.nan}[s]) for s in seq])
    assert got == _reference_fires(seq, for_)
    fires_and_resolves = [k for k in got if k != "."]
    assert fires_and_resolves == ["f", "r"] * (len(fires_and_resolves) // 2) + ["f"] * (
        len(fires_and_resolves) % 2
    )


def test_snapshot_restore_mid_pending_continues_exactly() -> None:
    policy = make_policy(for_=3)
    straight = Driver(Evaluator(policy))
    expected = straight.run([TRUE, TRUE, TRUE, TRUE, FALSE])

    first = Driver(Evaluator(policy))
    assert first.run([TRUE, TRUE]) == [[], []]
    snapshot = json.loads(json.dumps(first.ev.snapshot()))
    assert snapshot["rules"]["R"]["state"] == "pending" and snapshot["rules"]["R"]["consecutive"] == 2

    restarted = Evaluator(policy)
    assert restarted.restore(snapshot) == ()
    assert restarted.state("R") == first.ev.state("R")
    second = Driver(restarted, start=2)
    assert [[], [], *second.run([TRUE, TRUE, FALSE])] == expected
    assert expected[2][0].pending_since == T0 + timedelta(minutes=1)


def test_snapshot_restore_while_firing_does_not_fire_again() -> None:
    policy = make_policy(for_=1)
    first = Driver(Evaluator(policy))
    first.run([TRUE])
    restarted = Evaluator(policy)
    restarted.restore(first.ev.snapshot())
    assert kinds(Driver(restarted, start=1).run([TRUE, math.nan, FALSE])) == [".", ".", "r"]


def test_restore_drops_rules_whose_condition_changed() -> None:
    first = Driver(Evaluator(make_policy(for_=3)))
    first.run([TRUE, TRUE])
    changed = Evaluator(make_policy(for_=3, threshold=0.02))
    assert changed.restore(first.ev.snapshot()) == ("R",)
    assert changed.state("R").state == "inactive"
    # labels, annotations, actions and dry_run may change without forgetting the episode
    relabelled = Evaluator(make_policy(for_=3, rule_dry_run=True))
    assert relabelled.restore(first.ev.snapshot()) == ()
    assert relabelled.state("R").state == "pending"


def test_restore_rejects_malformed_snapshots_and_keeps_state() -> None:
    ev = Evaluator(make_policy(for_=3))
    d = Driver(ev)
    d.run([TRUE])
    good = ev.snapshot()
    bad_state = json.loads(json.dumps(good))
    bad_state["rules"]["R"]["state"] = "exploded"
    no_episode = json.loads(json.dumps(good))
    no_episode["rules"]["R"]["pending_since"] = None
    naive = json.loads(json.dumps(good))
    naive["rules"]["R"]["since"] = "2025-03-01T12:00:00"
    not_a_time = json.loads(json.dumps(good))
    not_a_time["rules"]["R"]["last_at"] = "yesterday"
    for bad in ({}, {"format": 99, "rules": {}}, {"format": 1}, bad_state, no_episode, naive, not_a_time):
        with pytest.raises(SnapshotError):
            ev.restore(bad)
        assert ev.state("R").state == "pending" and ev.state("R").consecutive == 1


def test_snapshot_of_unknown_rules_is_dropped() -> None:
    ev = Evaluator(make_policy())
    snapshot = ev.snapshot()
    snapshot["rules"]["Gone"] = dict(snapshot["rules"]["R"])
    assert ev.restore(snapshot) == ("Gone",)
