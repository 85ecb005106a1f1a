"""The engine: validated records in, column batches to detectors, signals to rules, decisions out.

Per model it keeps a :class:`~watchdog.engine.model.ModelRuntime` (detectors built from the policy, the
reference, a bounded join of predictions awaiting their late labels, a micro-batch of accepted records).
Every ``interval_records`` predictions a model's batch goes to its detectors as column arrays, their
statistics to the rule evaluator, its decisions to the handler. Time is data time (the records' ``ts``), so a
replay gives the same decisions as the live run did.

Records come in two ways, which meet here: one JSON line at a time (:meth:`Engine.process_line`: the
line parser of :mod:`watchdog.ingest.records`), or a table validated by :mod:`watchdog.ingest.columnar`
(:meth:`Engine.take_table`, walked in row order by :mod:`watchdog.engine.tables`). Both take their
verdicts from :mod:`watchdog.ingest.validate`.

The engine owns its state: :meth:`Engine.snapshot` / :meth:`Engine.restore` (what
:mod:`watchdog.engine.checkpoint` stores) and :meth:`Engine.swap_policy` (what a reload does, between
records) work through each model's runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules import Decision, Evaluator, Policy, Signal
from watchdog.engine import tables
from watchdog.engine.model import (
    PREDICTION_KEY,
    TS_KEY,
    Batch,
    CheckpointError,
    ModelRuntime,
    columns_digest,
    detector_class,
    model_fingerprint,
    schema_of,
)
from watchdog.ingest import validate as why
from watchdog.ingest.columnar import ValidTable, validate_table
from watchdog.ingest.records import Label, Prediction, Quarantined, RecordParser
from watchdog.ingest.validate import DEFAULT_FUTURE_SKEW, DEFAULT_MIN_TS, MAX_TS, Admission, iso_or_seconds
from watchdog.observe.metrics import Metrics

__all__ = [
    "DEFAULT_FUTURE_SKEW",
    "DEFAULT_INTERVAL",
    "DEFAULT_JOIN_CAPACITY",
    "DEFAULT_LABEL_WINDOW",
    "DEFAULT_MIN_TS",
    "FORMAT",
    "MAX_TS",
    "PREDICTION_KEY",
    "TS_KEY",
    "Batch",
    "CheckpointError",
    "Engine",
    "HandlerError",
    "ModelRuntime",
    "columns_digest",
    "detector_class",
    "evaluation_interval",
    "iso_or_seconds",
    "model_fingerprint",
    "schema_of",
]

log = logging.getLogger("watchdog.engine")

DEFAULT_JOIN_CAPACITY = 100_000
DEFAULT_LABEL_WINDOW = 7 * 86400.0
DEFAULT_INTERVAL = 100  # predictions between evaluations of a model no group names
FORMAT = 2  # of the engine's snapshot; 2: one window of recent predictions by id (duplicates and the label join)
TYPE_ERROR_CODES = ("wrong_type", "non_finite")  # quarantine reasons a "counts" detector counts


def evaluation_interval(policy: Policy, model_id: str) -> int:
    """Predictions of a model between two evaluations: the shortest ``interval_records`` of its groups."""
    return min((g.interval_records for g in policy.groups_for(model_id)), default=DEFAULT_INTERVAL)


class HandlerError(Exception):
    """A decision handler or evaluation observer failed (the store, the chain, the outbox): not the records'
    fault, so nothing is quarantined; the caller must not count the batch done. ``__cause__`` is the error."""


DecisionHandler = Callable[["Engine", ModelRuntime, Decision], None]
EvaluationObserver = Callable[["Engine", ModelRuntime, "dict[str, Signal]", datetime, int], None]
"""Called after every evaluation with the signals the rules saw, the data time and the decisive line."""


def _model_key(model: Any) -> str:
    """What a reload compares to keep a model's state: its definition without detectors, budget and module."""
    data = model.model_dump(mode="json", exclude={"detectors", "budget", "module"})
    return repr(sorted(data.items()))


class Engine:
    """Routes records to models, runs detectors in micro-batches and hands decisions to a handler."""

    def __init__(self, policy: Policy, *, base_dir: Path | None = None, metrics: Metrics | None = None,
                 on_decision: DecisionHandler | None = None, join_capacity: int = DEFAULT_JOIN_CAPACITY,
                 keep_decisions: int | None = 10_000,
                 label_window: float | None = DEFAULT_LABEL_WINDOW, clock: Callable[[], float] | None = None,
                 max_future_skew: float = DEFAULT_FUTURE_SKEW, min_ts: float = DEFAULT_MIN_TS):
        """``clock`` (seconds since the epoch) enables the ``future_timestamp`` check: a record whose
        ts is later than ``clock() + max_future_skew`` is quarantined; ``min_ts`` is the floor below
        which a ts is ``past_timestamp``; ``label_window`` bounds the label join in data time."""
        self.policy = policy
        self.metrics = metrics or Metrics()
        self.evaluator = Evaluator(policy)
        self.on_decision = on_decision
        self.last_evaluation_wall: float | None = None
        self.n_quarantined = 0
        self.quarantine_by_reason: dict[str, int] = {}
        self.decisions: list[Decision] = []  # the latest, at most keep_decisions (None: all, as a backtest wants)
        self.keep_decisions = keep_decisions
        self.observers: list[EvaluationObserver] = []
        self.tick_hooks: list[Callable[[Engine, datetime], None]] = []  # called by tick(now)
        self.join_capacity = join_capacity
        self.label_window = label_window
        self.admission = Admission(min_ts=min_ts, max_future_skew=max_future_skew, clock=clock)
        self.runtimes = self._runtimes(policy, base_dir or Path.cwd())
        self.parser = RecordParser({mid: rt.schema for mid, rt in self.runtimes.items()})

    def _runtimes(self, policy: Policy, base: Path) -> dict[str, ModelRuntime]:
        return {m.id: ModelRuntime(m, evaluation_interval(policy, m.id), self.join_capacity, base,
                                   list(policy.rules_for(m.id)), label_window=self.label_window)
                for m in policy.models}

    @property
    def clock(self) -> Callable[[], float] | None:
        return self.admission.clock

    @property
    def min_ts(self) -> float:
        return self.admission.min_ts

    @property
    def max_future_skew(self) -> float:
        return self.admission.max_future_skew

    # records ------------------------------------------------------------------------------------------

    def process_line(self, raw: bytes, line: int, source: str = "") -> Prediction | Label | Quarantined:
        """One JSON line: parsed and checked (:mod:`watchdog.ingest.records`), then taken by its model.

        A line whose processing fails (a bug meeting odd data) is quarantined as ``processing_error`` with the
        exception's sentence and the stream goes on; a failing decision handler (the store, the chain) is not
        the line's fault and raises :class:`HandlerError`."""
        self.metrics.records_read.labels(source or "stream").inc()
        try:
            return self._take_line(raw, line)
        except HandlerError:
            raise
        except Exception as e:
            log.exception("processing_error", extra={"line": line, "source": source})
            return self.quarantine(Quarantined(line, "processing_error", why.processing_error(e),
                                               raw[:2048].decode("utf-8", "replace")))

    def _take_line(self, raw: bytes, line: int) -> Prediction | Label | Quarantined:
        rec = self.parser.parse(raw, line)
        if isinstance(rec, Quarantined):
            return self.quarantine(rec)
        rt = self.runtimes[rec.model]
        if isinstance(rec, Prediction):
            bad = self.admit(rt, rec.ts, rec.id)
            if bad is not None:
                return self.quarantine(Quarantined(line, bad[0], bad[1], raw[:2048].decode("utf-8", "replace")))
        if isinstance(rec, Label):
            self.metrics.records_accepted.labels(rec.model, "label").inc()
            if not rt.add_label(rec):
                self.metrics.labels_unmatched.labels(rec.model).inc()
            return rec
        self.metrics.records_accepted.labels(rec.model, "prediction").inc()
        if rt.add_prediction(rec):
            self.evaluate(rt, rec.ts, rec.line)
        return rec

    def admit(self, rt: ModelRuntime, ts: float, rid: str) -> tuple[str, str] | None:
        """The checks that need a clock or state: (reason code, sentence) when the prediction is refused."""
        bad = self.admission.check(ts)
        if bad is None and rt.seen(rid):
            return "duplicate_id", why.duplicate_id(rid, rt.model_id)
        return bad

    def quarantine(self, rec: Quarantined, source: str = "") -> Quarantined:
        """Count a rejected record (the caller writes it to the quarantine file)."""
        if rec.model in self.runtimes and rec.reason_code in TYPE_ERROR_CODES:
            self.runtimes[rec.model].count_type_error()
        self.n_quarantined += 1
        self.quarantine_by_reason[rec.reason_code] = self.quarantine_by_reason.get(rec.reason_code, 0) + 1
        self.metrics.records_quarantined.labels(rec.reason_code).inc()
        return rec

    def validate(self, table: Any, first_line: int = 1, lines: Any = None, *, json: bool = False) -> ValidTable:
        """Validate a pyarrow table of records against this engine's models, clock and recent ids; ``json``: its
        rows were JSON lines (a string is never a number, an absent or null object is missing)."""
        return validate_table(table, self.parser.models, self.admission,
                              {mid: rt.recent_ids for mid, rt in self.runtimes.items()}, first_line, lines,
                              strings_are_numbers=not json, objects=json)

    def take_table(self, valid: ValidTable, source: str = "") -> tables.TableResult:
        """A validated table: its bad rows counted, its good rows run through the models in row order."""
        self.metrics.records_read.labels(source or "stream").inc(valid.rows)
        for q in valid.quarantined:
            self.quarantine(q, source)
        readers = [self.runtimes[mid] for mid in valid.per_model]
        for rt in readers:  # the evidence's window names its records by id
            rt.reading_table(valid.ids)
        try:
            res = tables.run(self.runtimes, valid, self.evaluate,
                             lambda mid: self.metrics.labels_unmatched.labels(mid).inc())
        finally:
            for rt in readers:
                rt.reading_table(None)
        for mid, d in valid.per_model.items():
            self.metrics.records_accepted.labels(mid, "prediction").inc(d.rows.size)
            self.metrics.records_accepted.labels(mid, "label").inc(d.labels.size)
        res.quarantined = valid.quarantined
        return res

    def process_columns(self, table: Any, first_line: int = 1, source: str = "") -> tables.TableResult:
        """Validate and process a pyarrow table of records without per-record objects."""
        return self.take_table(self.validate(table, first_line), source)

    # state ----------------------------------------------------------------------------------------------

    def snapshot(self, references: dict[str, Any] | None = None) -> dict[str, Any]:
        """All the state needed to continue exactly here after a restart (plain JSON data); with
        ``references``, each model's reference columns are left there by digest (see ModelRuntime.snapshot)."""
        return {
            "format": FORMAT,
            "policy_hash": self.policy.hash,
            "evaluator": self.evaluator.snapshot(),
            "models": {mid: rt.snapshot(references) for mid, rt in self.runtimes.items()},
            "n_quarantined": self.n_quarantined,
            "quarantine_by_reason": dict(self.quarantine_by_reason),
        }

    def restore(self, state: Mapping[str, Any]) -> list[str]:
        """Load a :meth:`snapshot` into this freshly built engine; returns what started fresh because the
        policy changed it. Raises :class:`CheckpointError` for a snapshot of another format or a malformed one."""
        if not isinstance(state, Mapping) or state.get("format") != FORMAT:
            raise CheckpointError(f"not an engine checkpoint of format {FORMAT}")
        fresh: list[str] = []
        try:
            for mid, rt in self.runtimes.items():
                s = state["models"].get(mid)
                if s is None:
                    fresh.append(f"model {mid}: not in the checkpoint")
                elif s.get("fingerprint") != model_fingerprint(rt.model):
                    fresh.append(f"model {mid}: its definition changed")
                else:
                    rt.restore(s)
            for name in self.evaluator.restore(state["evaluator"]):
                fresh.append(f"rule {name}: its definition changed")
            self.n_quarantined = int(state["n_quarantined"])
            self.quarantine_by_reason = {str(k): int(v) for k, v in state["quarantine_by_reason"].items()}
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"the engine checkpoint is malformed: {type(e).__name__}: {e}") from None
        for what in fresh:
            log.warning("checkpoint_partly_restored", extra={"what": what})
        return fresh

    def swap_policy(self, policy: Policy) -> dict[str, list[str]]:
        """Run ``policy`` from the next record on; returns what was kept and what started fresh.

        A model whose definition (features, prediction, reference) is unchanged keeps its state, and each of
        its detectors whose entry is unchanged keeps its window; changed or new detectors are built from the
        reference the model already has. The evaluator keeps the state of every rule whose definition is
        unchanged (budgets and cooldowns carry over). Everything new is built before anything is replaced,
        so an error (e.g. an unreadable reference file) leaves the engine untouched."""
        base = Path(policy.source).parent if policy.source else Path.cwd()
        kept_detectors: list[str] = []
        fresh: list[str] = []
        runtimes = self._runtimes(policy, base)
        for mid, rt in runtimes.items():
            old = self.runtimes.get(mid)
            if old is None or _model_key(old.model) != _model_key(rt.model):
                fresh.append(f"model {mid}")
                continue
            changed = [name for name in rt.specs if old.specs.get(name) != rt.specs[name] or name not in old.detectors]
            if rt.ready and old.ready and rt.reference is not None and old.reference is not None \
                    and rt.reference.digest != old.reference.digest:
                # the reference file says something else now: the old detectors were built on another sample
                fresh.append(f"model {mid} (its reference file changed)")
                continue
            built_now = rt.carry_from(old, build=bool(changed))
            built_on = {}
            for name in rt.specs:
                if name not in changed:
                    rt.keep_detector(name, old)
                    kept_detectors.append(f"{mid}/{name}")
                    if name in old.state.built_on:
                        built_on[name] = old.state.built_on[name]
                else:
                    if rt.ready:
                        fresh.append(f"detector {mid}/{name}")
                    if name in built_now:
                        built_on[name] = built_now[name]
            rt.set_built_on(built_on)  # which detectors a checkpoint saves without the reference
        evaluator = Evaluator(policy)
        dropped = evaluator.restore(self.evaluator.snapshot())
        fresh.extend(f"rule {name}" for name in dropped if name in {r.name for r in policy.rules})
        parser = RecordParser({mid: rt.schema for mid, rt in runtimes.items()})
        # nothing above touched the engine: now swap in one go
        self.policy, self.evaluator, self.runtimes, self.parser = policy, evaluator, runtimes, parser
        return {"kept_detectors": kept_detectors, "fresh": fresh}

    # evaluation -----------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> list[Decision]:
        """What time alone triggers (staleness, volume): the scheduler calls this with the wall time.

        The time-fed detectors learn the time, and only the rules that read nothing but them are evaluated,
        so a tick never counts towards the ``for`` of a drift rule."""
        for hook in self.tick_hooks:
            hook(self, now)
        decisions: list[Decision] = []
        for rt in self.runtimes.values():
            timed = rt.time_rules()
            if not rt.ready or not timed:
                continue
            rt.observe_time(now.timestamp())
            last = rt.last_seen
            decisions += self._decide(rt, rt.signals(), now, last[1] if last else 0, rules=timed)
        return decisions

    def finish(self) -> None:
        """End of a finite stream: evaluate what is left in every model's batch."""
        for rt in self.runtimes.values():
            batch = rt.state.batch
            if batch.pending:
                last = batch.predictions[-1] if batch.predictions else None
                seen = rt.last_seen
                ts = last.ts if last else (seen[0] if seen else 0.0)
                line = last.line if last else (seen[1] if seen else 0)
                self.evaluate(rt, ts, line)

    def evaluate(self, rt: ModelRuntime, ts: float, line: int) -> list[Decision]:
        """Feed the model's batch to its detectors and let the rules decide. A failure in the detectors or the
        evaluation is logged and counted (``watchdog_processing_errors_total{stage}``) and the batch is gone:
        the stream goes on, and a replay meets it the same way instead of stopping there again."""
        try:
            rt.flush()
        except Exception as e:
            return self._failed("detector_update", rt, line, e)
        if not rt.ready:
            return []
        now = datetime.fromtimestamp(ts, tz=UTC)
        try:
            rt.observe_time(ts)
            signals = rt.signals()
        except Exception as e:
            return self._failed("evaluation", rt, line, e)
        return self._decide(rt, signals, now, line)

    def _failed(self, stage: str, rt: ModelRuntime, line: int, e: Exception) -> list[Decision]:
        log.exception("processing_error", extra={"stage": stage, "model": rt.model_id, "line": line,
                                                 "error": why.processing_error(e)})
        self.metrics.processing_errors.labels(stage).inc()
        return []

    def _decide(self, rt: ModelRuntime, signals: dict[str, Signal], now: datetime, line: int,
                rules: list[str] | None = None) -> list[Decision]:
        try:
            decisions = self.evaluator.evaluate(rt.model_id, signals, now, line, rules=rules)
        except Exception as e:
            return self._failed("evaluation", rt, line, e)
        self.metrics.evaluations.labels(rt.model_id).inc()
        self.last_evaluation_wall = time.time()
        try:
            for observe in self.observers:
                observe(self, rt, signals, now, line)
            for d in decisions:
                self.decisions.append(d)
                if self.keep_decisions is not None and len(self.decisions) > self.keep_decisions:
                    del self.decisions[0]  # a service runs for months: keep the recent ones, not all
                self.metrics.rule_transitions.labels(d.model, d.rule, d.tier, d.kind).inc()
                if self.on_decision is not None:
                    self.on_decision(self, rt, d)
        except Exception as e:
            raise HandlerError(f"A decision handler failed on model {rt.model_id!r} at line {line}: {e}") from e
        return decisions
