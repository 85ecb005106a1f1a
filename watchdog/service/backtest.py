"""Backtest a policy on a history: what would have fired, when, on which evidence, and how well.

The history is replayed through the real engine (the same detectors, micro-batches and rule evaluator as
``watchdog run``) with no chain and no store, so nothing is sent or written; cooldowns and budgets apply as
they would live. With ground truth (a JSON list of change points) every fire is classed as a true alarm
(the first change point of its model at or before it, within ``max_delay_records`` predictions if given) or a
false alarm, each change point gets its detection delay in records and seconds, and undetected ones are
reported as missed.

Ground truth file::

    [{"model": "lending-risk", "at_line": 4012, "kind": "volatility regime"},
     {"model": "lending-risk", "at_ts": "2026-11-16T20:00:00Z"}]
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import rules
from watchdog.engine.engine import Engine
from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc
from watchdog.ingest.records import Prediction
from watchdog.ingest.sources.base import RawBatch
from watchdog.ingest.sources.jsonl import JsonlSource
from watchdog.service.compose import compose_offline
from watchdog.service.feed import FeedResult, feed
from watchdog.service.runner import BATCH_BYTES, COLUMNAR, Progress

__all__ = ["BacktestResult", "ChangePoint", "Detection", "Firing", "backtest", "load_truth"]


@dataclass
class ChangePoint:
    """A known change in a model's data; ``line`` and ``ts`` are resolved against the log during the replay."""

    model: str
    kind: str = "change"
    at_line: int | None = None
    at_ts: float | None = None
    line: int | None = None
    ts: float | None = None
    predictions: int | None = None
    """The model's prediction count when the change began (for delays in records)."""


@dataclass
class Firing:
    """One decision the policy would have made, with its evidence."""

    kind: str
    rule: str
    model: str
    tier: str
    line: int
    ts: str
    detector: str
    statistic: str
    op: str
    threshold: float
    value: float | None
    n: int
    actions: list[str]
    suppressed: str | None
    dry_run: bool
    predictions: int
    """The model's prediction count at the decision."""
    verdict: str | None = None
    """With ground truth: "true" or "false" alarm (fires only)."""
    change: int | None = None
    """Index of the change point a true alarm belongs to."""
    began_records_before: int | None = None
    """Where the detector places the change's start: this many of the model's predictions before the decision."""

    @property
    def evidence(self) -> str:
        value = "nan" if self.value is None else f"{self.value:.4g}"
        return f"{self.detector}.{self.statistic} = {value} {self.op} {self.threshold:g}"


@dataclass
class Detection:
    change: ChangePoint
    rule: str | None = None
    line: int | None = None
    ts: str | None = None
    delay_records: int | None = None
    delay_seconds: float | None = None
    location_error_records: int | None = None
    """Where the detector placed the change's start minus where it began, in predictions (None: not estimated)."""

    @property
    def detected(self) -> bool:
        return self.rule is not None


@dataclass
class BacktestResult:
    policy: str
    policy_hash: str
    log: str
    lines: int
    predictions: int
    quarantined: int
    seconds: float
    firings: list[Firing]
    detections: list[Detection] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else math.inf

    @property
    def fires(self) -> list[Firing]:
        return [f for f in self.firings if f.kind == "fire"]

    @property
    def true_alarms(self) -> int:
        return sum(f.verdict == "true" for f in self.fires)

    @property
    def false_alarms(self) -> int:
        return sum(f.verdict == "false" for f in self.fires)

    @property
    def missed(self) -> list[Detection]:
        return [d for d in self.detections or [] if not d.detected]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "policy": self.policy, "policy_hash": self.policy_hash, "log": self.log, "lines": self.lines,
            "predictions": self.predictions, "quarantined": self.quarantined, "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
            "decisions": [asdict(f) | {"evidence": f.evidence} for f in self.firings],
        }
        if self.detections is not None:
            out["truth"] = {
                "change_points": len(self.detections), "detected": sum(d.detected for d in self.detections),
                "missed": len(self.missed), "true_alarms": self.true_alarms, "false_alarms": self.false_alarms,
                "detections": [asdict(d.change) | {k: v for k, v in asdict(d).items() if k != "change"}
                               for d in self.detections],
            }
        return out

    def render(self) -> str:
        out = [f"backtest of policy {self.policy} (sha256 {self.policy_hash[:16]}...) on {self.log}",
               (f"read {self.lines:,} lines ({self.predictions:,} predictions, {self.quarantined:,} quarantined) "
                f"in {self.seconds:.2f} s: {self.lines_per_second:,.0f} lines/s")]
        if not self.firings:
            out.append("no rule would have fired")
        else:
            head = ("line", "time", "model", "rule", "tier", "decision", "evidence", "actions")
            rows = []
            for f in self.firings:
                actions = ", ".join(f.actions) if f.actions else "-"
                if f.suppressed:
                    actions += f" ({f.suppressed})"
                if f.dry_run:
                    actions += " [dry run]"
                decision = f.kind + (f" ({f.verdict} alarm)" if f.verdict else "")
                rows.append((str(f.line), f.ts, f.model, f.rule, f.tier, decision, f.evidence, actions))
            widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
            for r in [head, *rows]:
                out.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if self.detections is not None:
            out.append("")
            out.append(f"ground truth: {len(self.detections)} change point(s), "
                       f"{sum(d.detected for d in self.detections)} detected, {len(self.missed)} missed; "
                       f"{self.true_alarms} true alarm(s), {self.false_alarms} false alarm(s)")
            for d in self.detections:
                c = d.change
                where = f"line {c.line}" if c.line is not None else "beyond the end of the log"
                stamp = f" ({iso_utc(c.ts)})" if c.ts is not None else ""
                head_ = f"  {c.model} {c.kind} at {where}{stamp}: "
                if d.detected:
                    where = ("" if d.location_error_records is None
                             else f"; placed its start {d.location_error_records:+d} records from where it began")
                    out.append(head_ + f"detected by {d.rule} at line {d.line} after {d.delay_records} records, "
                                       f"{d.delay_seconds:g} s{where}")
                else:
                    out.append(head_ + "MISSED")
        return "\n".join(out)


def load_truth(path: str | Path, models: tuple[str, ...] | None = None) -> list[ChangePoint]:
    """Read a ground-truth file: a JSON list of {model, at_line | at_ts, kind?}. Raises ConfigError on mistakes."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"The ground truth {path} could not be read: {e.strerror}.") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"The ground truth {path} is not JSON: {e.msg} at line {e.lineno}.") from None
    if not isinstance(data, list):
        raise ConfigError(f"The ground truth {path} must be a JSON list of change points, got {type(data).__name__}.")
    out: list[ChangePoint] = []
    for i, item in enumerate(data):
        where = f"The ground truth {path}, entry {i}"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} is not an object with model and at_line or at_ts.")
        unknown = set(item) - {"model", "at_line", "at_ts", "kind"}
        if unknown:
            raise ConfigError(f"{where} has unknown key(s) {', '.join(sorted(unknown))}; "
                              "allowed: model, at_line, at_ts, kind.")
        model = item.get("model")
        if not isinstance(model, str) or (models is not None and model not in models):
            known = f"; the policy's models: {', '.join(models)}" if models else ""
            raise ConfigError(f"{where} names model {model!r}, which the policy does not monitor{known}.")
        at_line, at_ts = item.get("at_line"), item.get("at_ts")
        if (at_line is None) == (at_ts is None):
            raise ConfigError(f"{where} must give exactly one of at_line (a line number) or at_ts (a time).")
        ts: float | None = None
        if at_line is not None and (not isinstance(at_line, int) or isinstance(at_line, bool) or at_line < 1):
            raise ConfigError(f"{where}: at_line must be a line number of at least 1, got {at_line!r}.")
        if at_ts is not None:
            try:
                parsed = datetime.fromisoformat(str(at_ts))
            except ValueError:
                raise ConfigError(f"{where}: at_ts {at_ts!r} is not an ISO 8601 time.") from None
            if parsed.tzinfo is None:
                raise ConfigError(f"{where}: at_ts {at_ts!r} must carry a time zone (e.g. Z).")
            ts = parsed.timestamp()
        kind = item.get("kind", "change")
        out.append(ChangePoint(model=model, kind=str(kind), at_line=at_line, at_ts=ts))
    return out


def backtest(policy_path: str | Path, log_path: str | Path, truth: list[ChangePoint] | None = None, *,
             max_delay_records: int | None = None, progress: Progress | None = None) -> BacktestResult:
    """Replay ``log_path`` through the policy's detectors and rules; nothing is sent or stored."""
    policy_path, log_path = Path(policy_path), Path(log_path)
    firings: list[Firing] = []
    # a decision carries the model's prediction count at that moment (the delays in records are counted in them)
    def on_decision(_engine: Engine, rt: Any, d: rules.Decision) -> None:
        change = rt.change_location(rt.detectors[d.detector]) if d.kind == "fire" else None
        firings.append(_firing(d, rt.n_predictions, change))

    policy, engine = compose_offline(policy_path, keep_decisions=0, on_decision=on_decision)
    if not log_path.is_file():
        raise ConfigError(f"The log {log_path} does not exist or is not a file.")
    pending = sorted(truth or [], key=lambda c: (c.at_line or 0, c.at_ts or 0.0))
    lines = predictions = quarantined = done = 0
    t0 = time.perf_counter()
    source = JsonlSource(log_path, read_bytes=BATCH_BYTES, max_line_bytes=engine.parser.max_line_bytes)
    for batch in source.batches():
        before = {m: rt.n_predictions for m, rt in engine.runtimes.items()}
        res = feed(engine, batch, columnar=COLUMNAR)
        lines += res.records
        predictions += res.predictions
        quarantined += len(res.quarantined)
        if pending:
            pending = _locate(engine, batch, res, before, pending)
        done = batch.position.offset
        if progress is not None:
            progress.update(done, lines)
    engine.finish()
    if progress is not None:
        progress.update(done, lines, force=True)
    seconds = time.perf_counter() - t0
    result = BacktestResult(str(policy_path), policy.hash, str(log_path), lines, predictions, quarantined,
                            seconds, firings)
    if truth is not None:
        result.detections = _score(firings, truth, max_delay_records)
    return result


def _locate(engine: Engine, batch: RawBatch, res: FeedResult, before: dict[str, int],
            pending: list[ChangePoint]) -> list[ChangePoint]:
    """Resolve the change points that begin in ``batch`` (just fed, ``before``: each model's prediction
    count before it) at the first accepted prediction of their model at or after ``at_line`` / ``at_ts``;
    returns those still pending."""
    rejected = {q.line for q in res.quarantined}
    counts = dict(before)
    for raw, lineno in zip(batch.lines, batch.line_numbers, strict=True):
        if lineno in rejected:
            continue
        rec = engine.parser.parse(raw, lineno)  # accepted by the engine: a Prediction or a Label
        if not isinstance(rec, Prediction):
            continue
        counts[rec.model] += 1
        for c in pending:
            if c.line is None and c.model == rec.model and ((c.at_line is not None and lineno >= c.at_line)
                                                            or (c.at_ts is not None and rec.ts >= c.at_ts)):
                c.line, c.ts, c.predictions = lineno, rec.ts, counts[rec.model] - 1
        pending = [c for c in pending if c.line is None]
        if not pending:
            break
    return pending


def _firing(d: rules.Decision, predictions: int, change: dict[str, Any] | None = None) -> Firing:
    value = d.value if math.isfinite(d.value) else None
    return Firing(kind=d.kind, rule=d.rule, model=d.model, tier=d.tier, line=d.record_index, ts=iso_utc(d.at),
                  detector=d.detector, statistic=d.statistic, op=d.op, threshold=d.threshold, value=value, n=d.n,
                  actions=list(d.actions), suppressed=d.suppressed, dry_run=d.dry_run, predictions=predictions,
                  began_records_before=None if change is None else int(change["values_since"]))


def _score(firings: list[Firing], truth: list[ChangePoint], max_delay: int | None) -> list[Detection]:
    detections = [Detection(c) for c in truth]
    for f in firings:
        if f.kind != "fire":
            continue
        owner: int | None = None
        for i, c in enumerate(truth):
            if c.model != f.model or c.line is None or c.line > f.line:
                continue
            if owner is None or (truth[owner].line or 0) <= c.line:
                owner = i  # the latest change at or before the fire
        change = truth[owner] if owner is not None else None
        delay = f.predictions - (change.predictions or 0) if change is not None else None
        if change is None or (max_delay is not None and delay is not None and delay > max_delay):
            f.verdict = "false"
            continue
        f.verdict, f.change = "true", owner
        det = detections[owner]  # type: ignore[index]
        if not det.detected:
            det.rule, det.line, det.ts = f.rule, f.line, f.ts
            det.delay_records = delay
            if f.began_records_before is not None and delay is not None:
                det.location_error_records = delay - f.began_records_before
            fired = datetime.fromisoformat(f.ts).timestamp()
            det.delay_seconds = round(fired - (change.ts or fired), 3)
    return detections
