"""Policy tests as data, in the spirit of ``promtool test rules``.

A test file names a policy and lists tests; each test gives one model's detector signals over a series of
evaluations and the decisions the policy must make, no more and no fewer::

    policy: lending.yaml            # relative to the test file
    tests:
      - name: utilization drift pauses after three evaluations
        model: lending-risk
        interval: 1m                # data time between evaluations (default 1m)
        series:                     # per detector: its window count n and statistics, one value per step
          ks_utilization:
            n: 500                  # a single value holds for every step
            p_value: 0.5 1e-9x3 0.5 # space separated; VALUExN repeats; _ means no value at that step
        expect:
          - {rule: UtilizationDrift, kind: fire, at: 3}       # at: step (0-based) or a duration from start

An expectation may also pin ``actions``, ``suppressed``, ``veto_seconds``, ``dry_run`` and ``detector``.
`run_file` returns a `FileResult` whose `render` prints PASS/FAIL per test and, for a failure, a diff of the
decisions expected (``-``) against those made (``+``).

Examples
--------
>>> from rules import EXAMPLES_DIR
>>> result = run_file(EXAMPLES_DIR / "lending.test.yaml")
>>> result.passed
True
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rules.checks import format_loc
from rules.errors import PolicyError, PolicyIssue
from rules.evaluator import Decision, Evaluator, Signal
from rules.loader import _clean_loc, _message, _parse, load_policy
from rules.schema import Duration, Policy, duration_seconds

__all__ = ["CaseResult", "FileResult", "PolicyTestError", "parse_series", "run_file"]

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)


def parse_series(value: Any, what: str) -> list[float | None] | float:
    """A series as written: a number (constant), a list of numbers/null, or text like ``"0.5 1e-9x3 _"``.

    Examples
    --------
    >>> parse_series("0.5 1e-9x3 _", "p_value")
    [0.5, 1e-09, 1e-09, 1e-09, None]
    >>> parse_series(500, "n")
    500.0
    """
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected numbers, got {str(value).lower()}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        out: list[float | None] = []
        for v in value:
            if v is None:
                out.append(None)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                out.append(float(v))
            else:
                raise ValueError(f"{what}: expected a number or null in the list, got {v!r}")
        return out
    if isinstance(value, str):
        out = []
        for token in value.split():
            base, sep, times = token.rpartition("x")
            if not sep:
                base, times = token, "1"
            if not times.isdigit() or int(times) < 1:
                raise ValueError(f"{what}: {token!r} is not VALUE or VALUExCOUNT (e.g. 0.5x3)")
            if base == "_":
                item = None
            else:
                try:
                    item = float(base)
                except ValueError:
                    raise ValueError(f"{what}: {token!r} is not a number (use _ for no value)") from None
            out.extend([item] * int(times))
        if not out:
            raise ValueError(f"{what}: the series is empty")
        return out
    raise ValueError(f"{what}: expected a number, a list or a series text like '0.5 1e-9x3', got {value!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(_Strict):
    rule: str
    kind: Literal["fire", "resolve"]
    at: int | str
    actions: tuple[str, ...] | None = None
    suppressed: Literal["cooldown", "budget", "none"] | None = None
    veto_seconds: float | None = None
    dry_run: bool | None = None
    detector: str | None = None

    @field_validator("at")
    @classmethod
    def _at(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"at must be a step of at least 0, got {value}")
        if isinstance(value, str):
            duration_seconds(value)
        return value


class Case(_Strict):
    name: Annotated[str, Field(min_length=1)]
    model: str
    start: datetime = DEFAULT_START
    interval: Duration = "1m"
    records_per_step: Annotated[int, Field(ge=1)] = 100
    steps: Annotated[int, Field(ge=1)] | None = None
    """How many evaluations; needed only when every series is a single value."""
    series: dict[str, dict[str, Any]]
    expect: tuple[Expectation, ...] = ()


class TestFile(_Strict):
    policy: str
    tests: tuple[Case, ...]


class PolicyTestError(PolicyError):
    """A policy test file is malformed; `errors` lists every issue with its line."""

    def _sentence(self) -> str:
        n = len(self.errors)
        what = "1 problem; fix it" if n == 1 else f"{n} problems; fix them"
        listing = "".join(f"\n  {i}" for i in self.errors)
        return f"{self.file} has {what} and run the policy tests again:{listing}"


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    error: str | None = None
    decisions: tuple[Decision, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class FileResult:
    file: str
    policy: str
    policy_hash: str
    cases: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.cases)

    def render(self) -> str:
        out = [f"{self.file}: policy {self.policy} (sha256 {self.policy_hash[:16]}...)"]
        for c in self.cases:
            out.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.name}")
            if c.error:
                out.append(f"        error: {c.error}")
            for line in c.missing:
                out.append(f"        - expected  {line}")
            for line in c.unexpected:
                out.append(f"        + got       {line}")
        failed = sum(not c.passed for c in self.cases)
        out.append(f"{len(self.cases)} test(s), {failed} failed")
        return "\n".join(out)


def _load(path: Path) -> TestFile:
    text = path.read_text(encoding="utf-8")
    parsed = _parse(text, str(path))
    if isinstance(parsed, PolicyIssue):
        raise PolicyTestError([parsed], str(path))
    try:
        spec = TestFile.model_validate(parsed.data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False):
            loc, message = _message(err, _clean_loc(err["loc"]), parsed)
            issues.append(PolicyIssue(str(path), parsed.line_of(loc), format_loc(loc), message))
        raise PolicyTestError(sorted(issues), str(path)) from None
    if not spec.tests:
        issue = PolicyIssue(str(path), parsed.line_of(("tests",)), "tests", "list at least one test")
        raise PolicyTestError([issue], str(path))
    return spec


def _step_of(at: int | str, interval: float, what: str) -> int:
    if isinstance(at, int):
        return at
    seconds = duration_seconds(at)
    steps = seconds / interval if interval > 0 else math.inf
    if not float(steps).is_integer():
        raise ValueError(f"{what}: at {at} is not a whole number of intervals")
    return int(steps)


def _signals(case: Case, policy: Policy) -> list[dict[str, Signal]]:
    model = policy.model(case.model)
    known = {d.name for d in model.detectors}
    columns: dict[tuple[str, str], list[float | None] | float] = {}
    length = 0
    for detector, stats in case.series.items():
        if detector not in known:
            raise ValueError(f"series: model {case.model!r} has no detector {detector!r}; known: "
                             f"{', '.join(sorted(known))}")
        if "n" not in stats:
            raise ValueError(f"series.{detector}: give n, the number of values in the detector's window")
        for stat, raw in stats.items():
            series = parse_series(raw, f"series.{detector}.{stat}")
            columns[(detector, stat)] = series
            if isinstance(series, list):
                length = max(length, len(series))
    if case.steps is not None:
        if length and case.steps != length:
            raise ValueError(
                f"steps is {case.steps} but the series have {length} values; drop steps or match it"
            )
        length = case.steps
    elif length == 0:
        raise ValueError("every series is a single value; say how many evaluations with steps: N")
    for (detector, stat), series in columns.items():
        if isinstance(series, list) and len(series) != length:
            raise ValueError(f"series.{detector}.{stat} has {len(series)} values but the longest series has "
                             f"{length}; give every series the same length (or a single value)")
    steps: list[dict[str, Signal]] = []
    for i in range(length):
        signals: dict[str, Signal] = {}
        for detector in case.series:
            values: dict[str, float] = {}
            n_value: float | None = None
            for (d, stat), series in columns.items():
                if d != detector:
                    continue
                v = series[i] if isinstance(series, list) else series
                if stat == "n":
                    n_value = v
                elif v is not None:
                    values[stat] = v
            if n_value is not None:
                if not isinstance(n_value, (int, float)) or not float(n_value).is_integer():
                    raise ValueError(f"series.{detector}.n must be a whole number, got {n_value!r}")
                signals[detector] = Signal(values, n=int(n_value))
        steps.append(signals)
    return steps


def _describe(step: int, at: datetime, rule: str, kind: str, extra: str = "") -> str:
    stamp = at.isoformat().replace("+00:00", "Z")
    return f"step {step} ({stamp}) {kind} {rule}{extra}"


def _run_case(case: Case, policy: Policy) -> CaseResult:
    try:
        interval = duration_seconds(case.interval)
        start = case.start if case.start.tzinfo else case.start.replace(tzinfo=UTC)
        steps = _signals(case, policy)
        expected = {}
        for k, e in enumerate(case.expect):
            policy.rule(e.rule)  # KeyError naming the policy
            expected[(_step_of(e.at, interval, f"expect[{k}]"), e.rule, e.kind)] = e
    except (ValueError, KeyError) as exc:
        return CaseResult(case.name, False, error=str(exc).strip('"'))
    ev = Evaluator(policy)
    made: list[tuple[int, Decision]] = []
    for i, signals in enumerate(steps):
        now = start + timedelta(seconds=interval * i)
        for d in ev.evaluate(case.model, signals, now, (i + 1) * case.records_per_step):
            made.append((i, d))
    got = {(i, d.rule, d.kind): d for i, d in made}
    missing, unexpected = [], []
    for key, e in expected.items():
        at = start + timedelta(seconds=interval * key[0])
        made_here = got.get(key)
        if made_here is None:
            missing.append(_describe(key[0], at, e.rule, e.kind))
            continue
        wrong = _mismatch(e, made_here)
        if wrong:
            missing.append(_describe(key[0], at, e.rule, e.kind, f" with {wrong[0]}"))
            unexpected.append(_describe(key[0], at, made_here.rule, made_here.kind, f" with {wrong[1]}"))
    for key, d in got.items():
        if key not in expected:
            unexpected.append(_describe(key[0], d.at, d.rule, d.kind, f" ({d.detector}.{d.statistic} = "
                                                                      f"{d.value:.4g})"))
    return CaseResult(case.name, not missing and not unexpected, tuple(missing), tuple(unexpected),
                      decisions=tuple(d for _, d in made))


def _mismatch(e: Expectation, d: Decision) -> tuple[str, str] | None:
    want: dict[str, Any] = {}
    have: dict[str, Any] = {}
    if e.actions is not None and tuple(e.actions) != d.actions:
        want["actions"], have["actions"] = list(e.actions), list(d.actions)
    if e.suppressed is not None and (None if e.suppressed == "none" else e.suppressed) != d.suppressed:
        want["suppressed"], have["suppressed"] = e.suppressed, d.suppressed or "none"
    if e.veto_seconds is not None and e.veto_seconds != d.veto_seconds:
        want["veto_seconds"], have["veto_seconds"] = e.veto_seconds, d.veto_seconds
    if e.dry_run is not None and e.dry_run != d.dry_run:
        want["dry_run"], have["dry_run"] = e.dry_run, d.dry_run
    if e.detector is not None and e.detector != d.detector:
        want["detector"], have["detector"] = e.detector, d.detector
    if not want:
        return None
    return _pairs(want), _pairs(have)


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def run_file(path: str | os.PathLike[str]) -> FileResult:
    """Run the tests of one file. Raises `PolicyError` for a malformed test file or policy."""
    path = Path(path)
    spec = _load(path)
    policy_path = Path(spec.policy)
    if not policy_path.is_absolute():
        policy_path = path.parent / policy_path
    policy = load_policy(policy_path)
    cases = tuple(_run_case(case, policy) for case in spec.tests)
    return FileResult(str(path), str(policy_path), policy.hash, cases)
