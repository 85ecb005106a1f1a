"""The rule engine: detector signals in, fire / resolve decisions out.

Deterministic: time is passed in (``now``), never read, and the same calls give the same decisions. The caller
decides when a group is due (every ``interval_records`` records of the model) and passes the signals of the
model's detectors; `Evaluator.evaluate` runs that model's rules (optionally only some groups) in file order.

Each rule is a small state machine, as a Prometheus alert:

    inactive --true--> pending --true, `for` reached--> firing --false--> inactive   (emits "resolve")
        ^                 |                               (emits "fire" once per episode)
        +------false------+

With ``for: 1`` a true condition goes straight from inactive to firing. *No data* -- the detector's signal is
missing, the statistic is missing or NaN, or the window holds fewer than the rule's ``min_samples`` values --
counts as "condition false" for a rule that is inactive or pending (a pending rule drops back to inactive),
but it never resolves a firing rule: a firing rule holds until a real observation says the condition is over.
Missing data is not evidence of recovery (a detector reset after a restart must not unpause a module).

A resolve decision carries no actions: a pause or a rollback is never undone by the watchdog (the council
unpauses); the service uses a resolve to close the incident and resolve the alert.

Beyond that machine, as in Prometheus: ``for`` may be a duration of data time (fire once the condition has
held that long, counted from the first true evaluation); ``keep_firing_for`` keeps a firing rule firing until
its condition has been over for that long; ``clear_threshold`` (hysteresis) makes a firing rule compare with a
second level. A compound condition (``all`` / ``any`` / ``k_of_n``) is three-valued: a comparison without data
is unknown, and an unknown result neither fires a rule nor resolves one.

Actions are rationed: after a rule acted, its ``cooldown`` suppresses its next on-chain actions, and each
module has a budget of on-chain actions per period (its own, or the chain's rate limit). A suppressed fire
still alerts and says why (``suppressed="cooldown"`` or ``"budget"``). Shadow (dry-run) actions spend a budget
of their own, so a rule in shadow mode can never starve a live one. A medium-tier action carries
``veto_seconds``: the time a steward has to cancel it before it is sent.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> from rules import EXAMPLES_DIR, load_policy
>>> policy = load_policy(EXAMPLES_DIR / "lending.yaml")
>>> ev = Evaluator(policy)
>>> t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> drifted = {"ks_utilization": Signal({"statistic": 0.4, "p_value": 1e-9}, n=500)}
>>> for i in range(3):
...     for d in ev.evaluate("lending-risk", drifted, t0 + timedelta(minutes=i), record_index=100 * (i + 1)):
...         print(d.kind, d.rule, d.actions, d.consecutive)
fire UtilizationDrift ('alert', 'pause') 3
>>> ev.state("UtilizationDrift").state
'firing'
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from rules.schema import AllOf, AnyCondition, AnyOf, Condition, Group, KOfN, Policy, Rule
from rules.thresholds import EffectiveThreshold, benjamini_hochberg, effective_thresholds

__all__ = [
    "SNAPSHOT_FORMAT",
    "ConditionResult",
    "Decision",
    "Evaluator",
    "RuleState",
    "Signal",
    "SnapshotError",
]

SNAPSHOT_FORMAT = 1

_COMPARE: Mapping[str, Callable[[float, float], bool]] = MappingProxyType(
    {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
)

StateName = Literal["inactive", "pending", "firing"]


def _step_up(
    cond: AnyCondition, by_leaf: dict[int, ConditionResult], levels: Mapping[int, EffectiveThreshold]
) -> None:
    """Apply Benjamini-Hochberg to the p-value comparisons of the compound conditions asking for it, in place.

    The comparisons with data are true when the step-up procedure (`rules.thresholds.benjamini_hochberg`)
    rejects their p-values, false otherwise; Bonferroni needs no step: its comparisons already compare with
    their effective thresholds.
    """
    if isinstance(cond, Condition):
        return
    children = cond.children
    for child in children:
        _step_up(child, by_leaf, levels)
    if cond.correction != "benjamini_hochberg":
        return
    first = levels[id(children[0])]  # one level for all: the schema asks BH for the same threshold on each
    known = [id(leaf) for leaf in children if by_leaf[id(leaf)].fire is not None]
    values = [by_leaf[key].value for key in known]
    fire = benjamini_hochberg(values, first.threshold, first.m)
    hold = benjamini_hochberg(values, first.hold_threshold, first.m)
    for key, f, h in zip(known, fire, hold, strict=True):
        by_leaf[key] = replace(by_leaf[key], fire=f, hold=h)


class SnapshotError(ValueError):
    """A snapshot given to `Evaluator.restore` is not one `Evaluator.snapshot` could have written."""


@dataclass(frozen=True)
class Signal:
    """What one detector reports at an evaluation: its statistics and how many values its window holds."""

    values: Mapping[str, float] = field(hash=False)
    n: int

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 0:
            raise ValueError(f"n must be a whole number of at least 0, got {self.n!r}")


@dataclass(frozen=True)
class RuleState:
    """Where a rule stands. ``since`` is when it entered ``state`` (None: never changed since start)."""

    rule: str
    state: StateName
    since: datetime | None = None
    since_index: int | None = None
    consecutive: int = 0
    """Consecutive true evaluations in the current episode (0 when inactive)."""
    pending_since: datetime | None = None
    """When the current episode began (first true evaluation); None when inactive."""
    pending_since_index: int | None = None
    last_value: float | None = None
    last_n: int | None = None
    last_at: datetime | None = None
    clear_since: datetime | None = None
    """keep_firing_for: the first evaluation at which a firing rule's condition was over; None otherwise."""
    last_action_at: datetime | None = None
    """When the rule last acted on-chain (starts its cooldown)."""


@dataclass(frozen=True)
class ConditionResult:
    """One comparison of a rule's condition at an evaluation.

    ``fire`` / ``hold``: the comparison with ``threshold`` / with the hold level (``clear_threshold`` or
    ``threshold``); None when there was no data (no signal, NaN, or fewer than the rule's ``min_samples``).
    ``threshold`` and ``clear_threshold`` are the effective levels (`rules.thresholds`): divided by the number
    of comparisons under Bonferroni, the false-discovery rate under Benjamini-Hochberg, as written otherwise.
    """

    detector: str
    statistic: str
    op: str
    threshold: float
    clear_threshold: float | None
    value: float
    n: int
    fire: bool | None
    hold: bool | None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            out["value"] = None
        return out


@dataclass(frozen=True)
class Decision:
    """A rule started firing (``kind="fire"``) or stopped (``kind="resolve"``).

    ``dry_run`` is true when the rule or the whole policy is in shadow mode: record it, send nothing.
    ``actions`` is what the rule does on fire, and empty on resolve. When a cooldown or the module's budget
    holds the on-chain actions back, ``suppressed`` says which and ``actions`` is just ``("alert",)``.
    ``detector`` .. ``value`` name the decisive comparison (the first true one on fire, the first that is over
    on resolve); ``conditions`` has every comparison with its value.
    """

    kind: Literal["fire", "resolve"]
    rule: str
    group: str
    model: str
    module: str
    tier: str
    actions: tuple[str, ...]
    dry_run: bool
    detector: str
    statistic: str
    op: str
    threshold: float
    value: float
    n: int
    at: datetime
    record_index: int
    pending_since: datetime
    pending_since_index: int
    consecutive: int
    summary: str
    annotations: Mapping[str, str] = field(hash=False)
    policy_hash: str
    rule_source: str | None = None
    """``file:line`` of the rule in the policy, when it was loaded from a file."""
    conditions: tuple[ConditionResult, ...] = ()
    clear_threshold: float | None = None
    suppressed: Literal["cooldown", "budget"] | None = None
    suppressed_actions: tuple[str, ...] = ()
    """The on-chain actions the rule would have taken but for ``suppressed``."""
    veto_seconds: float = 0.0
    """medium tier: seconds a steward may veto the on-chain actions before they are sent (0: at once)."""

    @property
    def episode_key(self) -> str:
        """Same for the fire and the resolve of one episode; a deterministic base for an incident id."""
        return f"{self.policy_hash[:16]}:{self.model}:{self.rule}:{self.pending_since_index}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (datetimes as ISO 8601)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [v.to_dict() if isinstance(v, ConditionResult) else v for v in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            out[name] = value
        return out


def _saved(kind: str, default: Any = None) -> Any:
    """A rule-state field and how a snapshot writes and reads it (``kind``: state, time, int, count, number):
    one list of fields, so snapshot and restore cannot disagree."""
    return field(default=default, metadata={"kind": kind})


@dataclass
class _Runtime:
    state: StateName = _saved("state", "inactive")
    since: datetime | None = _saved("time")
    since_index: int | None = _saved("int")
    consecutive: int = _saved("count", 0)
    pending_since: datetime | None = _saved("time")
    pending_since_index: int | None = _saved("int")
    last_value: float | None = _saved("number")
    last_n: int | None = _saved("int")
    last_at: datetime | None = _saved("time")
    clear_since: datetime | None = _saved("time")
    last_action_at: datetime | None = _saved("time")

    def go(self, state: StateName, now: datetime, index: int) -> None:
        self.state, self.since, self.since_index = state, now, index
        self.clear_since = None
        if state == "inactive":
            self.consecutive = 0
            self.pending_since = self.pending_since_index = None


def _fingerprint(policy: Policy, rule: Rule) -> str:
    """What a rule's state depends on: its model, condition, ``for``, ``min_samples`` and the detector's spec.

    Labels, annotations, actions and dry_run may change without forgetting a pending or firing episode.
    """
    leaves = rule.condition.leaves
    data: dict[str, Any] = {
        "model": rule.model,
        "condition": rule.condition.model_dump(mode="json", by_alias=True, exclude_none=True),
        "for": rule.for_,
        "min_samples": [policy.min_samples_of(rule, leaf) for leaf in leaves],
        "detector": [policy.detector_of(rule, leaf).model_dump(mode="json") for leaf in leaves],
    }
    if len(leaves) == 1:  # the form of version 1 snapshots, so their saved states stay valid
        data["min_samples"], data["detector"] = data["min_samples"][0], data["detector"][0]
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SnapshotError(f"snapshot field {what} must be an ISO 8601 time or null, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SnapshotError(f"snapshot field {what} is not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise SnapshotError(f"snapshot field {what} must carry a time zone, got {value!r}")
    return parsed


def _write(kind: str, value: Any) -> Any:
    if kind == "time":
        return _iso(value)
    if kind == "number":
        return value if value is not None and math.isfinite(value) else None
    return value


def _read(kind: str, value: Any, what: str, rule: str) -> Any:
    if kind == "time":
        return _time(value, what)
    if kind == "number":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise SnapshotError(f"snapshot field {what} of rule {rule!r} must be a number or null")
        return float(value) if value is not None else None
    if kind == "count":
        return _opt_int(value, what) or 0
    return _opt_int(value, what)


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"snapshot field {what} must be a whole number or null, got {value!r}")
    return value


class Evaluator:
    """Evaluates a policy's rules on detector signals; holds each rule's state between calls.

    Parameters
    ----------
    policy
        A validated policy (from `rules.load_policy`).
    """

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._policy_hash = policy.hash
        self._placed: dict[str, tuple[Group, Rule]] = {r.name: (g, r) for g in policy.groups for r in g.rules}
        self._min_samples = {
            name: {id(leaf): policy.min_samples_of(rule, leaf) for leaf in rule.condition.leaves}
            for name, (_, rule) in self._placed.items()
        }
        self._levels = {
            name: {id(t.leaf): t for t in effective_thresholds(rule)}
            for name, (_, rule) in self._placed.items()
        }
        self._fingerprints = {name: _fingerprint(policy, rule) for name, (_, rule) in self._placed.items()}
        self._state: dict[str, _Runtime] = {name: _Runtime() for name in self._placed}
        self._spent: dict[tuple[str, bool], list[datetime]] = {}
        """(module, dry_run) -> data times of the on-chain actions taken (budget ledger)."""

    # -- evaluation ------------------------------------------------------------------------------------------

    def evaluate(
        self,
        model_id: str,
        signals: Mapping[str, Signal],
        now: datetime,
        record_index: int,
        *,
        groups: Collection[str] | None = None,
        rules: Collection[str] | None = None,
    ) -> list[Decision]:
        """Evaluate the model's rules (only those in ``groups`` and ``rules``, if given); return what changed.

        ``signals`` maps detector names to their current `Signal`; a rule whose detector has no signal sees
        no data. ``now`` must be timezone-aware; ``record_index`` is the model's record count at this
        evaluation (it keys episodes, so it should grow).
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
        self.policy.model(model_id)  # KeyError naming the known models
        if groups is not None:
            unknown = sorted(set(groups) - {g.name for g in self.policy.groups})
            if unknown:
                raise ValueError(f"unknown group(s) {', '.join(unknown)} in policy {self.policy.name!r}")
        decisions: list[Decision] = []
        for group, rule in self._placed.values():
            if rule.model != model_id or (groups is not None and group.name not in groups):
                continue
            if rules is not None and rule.name not in rules:
                continue
            decision = self._step(group, rule, signals, now, record_index)
            if decision is not None:
                decisions.append(decision)
        return decisions

    def _leaf(self, rule: Rule, leaf: Condition, signals: Mapping[str, Signal]) -> ConditionResult:
        signal = signals.get(leaf.detector)
        raw = signal.values.get(leaf.statistic) if signal is not None else None
        value = float(raw) if raw is not None else math.nan
        n = signal.n if signal is not None else 0
        level = self._levels[rule.name][id(leaf)]
        if math.isnan(value) or n < self._min_samples[rule.name][id(leaf)]:
            fire = hold = None
        else:
            compare = _COMPARE[leaf.op]
            fire, hold = compare(value, level.threshold), compare(value, level.hold_threshold)
        clear = level.hold_threshold if leaf.clear_threshold is not None else None
        return ConditionResult(
            leaf.detector, leaf.statistic, leaf.op, level.threshold, clear, value, n, fire, hold
        )

    def _truth(self, cond: Any, results: Mapping[int, ConditionResult], mode: str) -> bool | None:
        """Three-valued: True, False, or None when the comparisons with data cannot decide."""
        if isinstance(cond, Condition):
            return getattr(results[id(cond)], mode)  # type: ignore[no-any-return]
        values = [self._truth(child, results, mode) for child in cond.children]
        trues, unknown = values.count(True), values.count(None)
        if isinstance(cond, AllOf):
            need = len(values)
        elif isinstance(cond, AnyOf):
            need = 1
        else:
            assert isinstance(cond, KOfN)
            need = cond.k_of_n.k
        if trues >= need:
            return True
        if trues + unknown < need:
            return False
        return None

    def _step(
        self, group: Group, rule: Rule, signals: Mapping[str, Signal], now: datetime, index: int
    ) -> Decision | None:
        st = self._state[rule.name]
        leaves = rule.condition.leaves
        by_leaf = {id(leaf): self._leaf(rule, leaf, signals) for leaf in leaves}
        _step_up(rule.condition, by_leaf, self._levels[rule.name])
        results = tuple(by_leaf[id(leaf)] for leaf in leaves)
        st.last_value, st.last_n, st.last_at = results[0].value, results[0].n, now

        if st.state == "firing":
            hold = self._truth(rule.condition, by_leaf, "hold")
            if hold is None:
                return None  # a firing rule holds: no data is not a recovery
            if hold:
                st.consecutive += 1
                st.clear_since = None
                return None
            keep = rule.keep_firing_seconds
            if keep > 0:
                if st.clear_since is None:
                    st.clear_since = now
                if (now - st.clear_since).total_seconds() < keep:
                    return None
            decisive = next((r for r in results if r.hold is False), results[0])
            decision = self._decision("resolve", group, rule, st, decisive, results, now, index)
            st.go("inactive", now, index)
            return decision

        if self._truth(rule.condition, by_leaf, "fire"):
            if st.state == "inactive":
                st.go("pending", now, index)
                st.pending_since, st.pending_since_index = now, index
            st.consecutive += 1
            assert st.pending_since is not None
            for_seconds = rule.for_seconds
            due = (
                (now - st.pending_since).total_seconds() >= for_seconds
                if for_seconds is not None
                else st.consecutive >= int(rule.for_)
            )
            if due:
                st.go("firing", now, index)
                decisive = next((r for r in results if r.fire), results[0])
                return self._decision("fire", group, rule, st, decisive, results, now, index)
            return None

        if st.state == "pending":
            st.go("inactive", now, index)
        return None

    def _ration(
        self, rule: Rule, st: _Runtime, dry_run: bool, now: datetime
    ) -> tuple[tuple[str, ...], Literal["cooldown", "budget"] | None, tuple[str, ...]]:
        """Apply the cooldown and the module's budget: (actions, suppressed, suppressed_actions)."""
        onchain = rule.onchain_actions
        if not onchain:
            return tuple(rule.actions), None, ()
        cooldown = rule.cooldown_seconds
        since = (now - st.last_action_at).total_seconds() if st.last_action_at is not None else None
        if cooldown > 0 and since is not None and since < cooldown:
            return ("alert",), "cooldown", onchain
        budget = self.policy.budget_of(rule.model)
        if budget is not None:  # without a budget nothing is counted, so no ledger grows
            module = self.policy.model(rule.model).module
            ledger = self._spent.setdefault((module, dry_run), [])
            period = budget.period_seconds
            ledger[:] = [t for t in ledger if (now - t).total_seconds() < period]
            if len(ledger) + len(onchain) > budget.max_actions:
                return ("alert",), "budget", onchain
            ledger.extend([now] * len(onchain))
        st.last_action_at = now
        return tuple(rule.actions), None, ()

    def _decision(
        self,
        kind: Literal["fire", "resolve"],
        group: Group,
        rule: Rule,
        st: _Runtime,
        decisive: ConditionResult,
        results: tuple[ConditionResult, ...],
        now: datetime,
        index: int,
    ) -> Decision:
        assert st.pending_since is not None and st.pending_since_index is not None
        annotations = {k: v for k, v in rule.annotations.model_dump().items() if v is not None}
        dry_run = rule.dry_run or self.policy.dry_run
        actions: tuple[str, ...] = ()
        suppressed: Literal["cooldown", "budget"] | None = None
        held: tuple[str, ...] = ()
        veto = 0.0
        if kind == "fire":
            actions, suppressed, held = self._ration(rule, st, dry_run, now)
            if any(a != "alert" for a in actions):
                veto = self.policy.veto_seconds(rule.tier)
        return Decision(
            kind=kind,
            rule=rule.name,
            group=group.name,
            model=rule.model,
            module=self.policy.model(rule.model).module,
            tier=rule.tier,
            actions=actions,
            dry_run=dry_run,
            detector=decisive.detector,
            statistic=decisive.statistic,
            op=decisive.op,
            threshold=decisive.threshold,
            value=decisive.value,
            n=decisive.n,
            at=now,
            record_index=index,
            pending_since=st.pending_since,
            pending_since_index=st.pending_since_index,
            consecutive=st.consecutive,
            summary=rule.annotations.summary,
            annotations=annotations,
            policy_hash=self._policy_hash,
            rule_source=self.policy.rule_source(rule.name),
            conditions=results,
            clear_threshold=decisive.clear_threshold,
            suppressed=suppressed,
            suppressed_actions=held,
            veto_seconds=veto,
        )

    # -- state -----------------------------------------------------------------------------------------------

    def state(self, rule: str) -> RuleState:
        """The current state of one rule (KeyError for an unknown rule)."""
        if rule not in self._state:
            raise KeyError(f"no rule {rule!r} in policy {self.policy.name!r}")
        st = self._state[rule]
        return RuleState(rule=rule, **{f.name: getattr(st, f.name) for f in fields(st)})

    def states(self) -> tuple[RuleState, ...]:
        """Every rule's state, in file order."""
        return tuple(self.state(name) for name in self._placed)

    def snapshot(self) -> dict[str, Any]:
        """The state of every rule as plain JSON data (``json.dumps`` works on it)."""
        rules: dict[str, Any] = {}
        for name, st in self._state.items():
            rules[name] = {"fingerprint": self._fingerprints[name]} | {
                f.name: _write(f.metadata["kind"], getattr(st, f.name)) for f in fields(_Runtime)}
        spent = [
            {"module": module, "dry_run": dry, "at": [_iso(t) for t in times]}
            for (module, dry), times in self._spent.items()
            if times
        ]
        return {
            "format": SNAPSHOT_FORMAT,
            "policy": self.policy.name,
            "policy_hash": self._policy_hash,
            "rules": rules,
            "spent": spent,
        }

    def restore(self, snapshot: Mapping[str, Any]) -> tuple[str, ...]:
        """Restore rule states from `snapshot` output, possibly taken under an older policy.

        A rule keeps its saved state only when its condition, ``for``, ``min_samples`` and detector are
        unchanged (compared by fingerprint); other rules, and rules the snapshot does not know, start
        inactive. Returns the names of the saved rules whose state was dropped. Raises `SnapshotError` (a
        ValueError) on a malformed snapshot, leaving the current state untouched.
        """
        if not isinstance(snapshot, Mapping) or snapshot.get("format") != SNAPSHOT_FORMAT:
            raise SnapshotError(f"not an evaluator snapshot of format {SNAPSHOT_FORMAT}")
        saved = snapshot.get("rules")
        if not isinstance(saved, Mapping):
            raise SnapshotError("snapshot has no 'rules' mapping")
        restored: dict[str, _Runtime] = {name: _Runtime() for name in self._placed}
        dropped: list[str] = []
        for name, data in saved.items():
            if not isinstance(data, Mapping):
                raise SnapshotError(f"snapshot entry for rule {name!r} is not a mapping")
            runtime = self._runtime_from(name, data)
            if name in restored and data.get("fingerprint") == self._fingerprints[name]:
                restored[name] = runtime
            else:
                dropped.append(str(name))
                if name in restored:  # a changed rule starts over, but its cooldown still runs
                    restored[name].last_action_at = runtime.last_action_at
        spent = self._spent_from(snapshot.get("spent", []))
        self._state = restored
        self._spent = spent
        return tuple(dropped)

    @staticmethod
    def _spent_from(data: Any) -> dict[tuple[str, bool], list[datetime]]:
        """The budget ledger of a snapshot: spending is per module, so it survives any change of rules."""
        if not isinstance(data, list):
            raise SnapshotError("snapshot field spent must be a list")
        out: dict[tuple[str, bool], list[datetime]] = {}
        for entry in data:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("module"), str):
                raise SnapshotError(f"snapshot entry of spent is malformed: {entry!r}")
            times = entry.get("at")
            if not isinstance(times, list):
                raise SnapshotError(f"snapshot entry of spent for {entry['module']!r} has no list 'at'")
            key = (entry["module"], bool(entry.get("dry_run")))
            out.setdefault(key, []).extend(t for t in (_time(x, "spent.at") for x in times) if t is not None)
        return out

    @staticmethod
    def _runtime_from(name: str, data: Mapping[str, Any]) -> _Runtime:
        state = data.get("state")
        if state not in ("inactive", "pending", "firing"):
            raise SnapshotError(
                f"snapshot state of rule {name!r} is {state!r}; expected inactive, pending or firing"
            )
        runtime = _Runtime(**{f.name: _read(f.metadata["kind"], data.get(f.name), f.name, name)
                              for f in fields(_Runtime) if f.name != "state"}, state=state)
        consecutive = runtime.consecutive
        if state != "inactive" and (
            runtime.pending_since is None or runtime.pending_since_index is None or consecutive < 1
        ):
            raise SnapshotError(f"snapshot of rule {name!r} is {state} but has no episode start or count")
        return runtime
