"""The engine: validated records in, column batches to detectors, signals to rules, decisions out.

Per model it keeps the detectors built from the policy, the reference (read from a file, or the
model's first N records), a bounded join of predictions awaiting their late labels, and a micro-batch
of accepted records. Every ``interval_records`` predictions it feeds the batch to the detectors as
column arrays, reads their statistics and lets the rule evaluator decide. Time is data time (the
records' ``ts``), so a replay gives the same decisions as the live run did.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

import detectors
import rules
from rules import Decision, Evaluator, Policy, Signal

from .errors import StartupError
from .metrics import Metrics
from .records import Label, ModelSchema, Prediction, Quarantined, RecordParser

log = logging.getLogger("watchdog.engine")

DEFAULT_JOIN_CAPACITY = 100_000


def detector_params(spec: Any) -> dict[str, Any]:
    """The constructor arguments a policy's detector entry gives its detector class."""
    return dict(spec.params)


def schema_of(model: Any) -> ModelSchema:
    return ModelSchema(
        id=model.id,
        numeric=tuple(f.name for f in model.features if f.type == "numeric"),
        categorical=tuple(f.name for f in model.features if f.type == "categorical"),
        prediction_type=model.prediction.type,
    )


@dataclass
class Batch:
    """A micro-batch of one model's accepted records, kept as rows until it is turned into columns."""

    predictions: list[Prediction] = field(default_factory=list)
    pairs_pred: list[float | str] = field(default_factory=list)
    pairs_label: list[float | str] = field(default_factory=list)


class ModelRuntime:
    """Detectors, reference, label join and the pending batch of one model."""

    def __init__(self, model: Any, interval: int, join_capacity: int, base_dir: Path, model_rules: list[Any]):
        self.model = model
        self.model_id: str = model.id
        self.schema = schema_of(model)
        self.interval = interval
        self.specs = {d.name: d for d in model.detectors}
        self.rules = model_rules
        self.detectors: dict[str, detectors.Detector] = {}
        self.join_capacity = join_capacity
        self.awaiting_label: OrderedDict[str, float | str] = OrderedDict()
        self.batch = Batch()
        self.n_predictions = 0
        self.n_labels_joined = 0
        self.n_labels_unmatched = 0
        self.max_window = max((int(getattr(d, "window", 0) or 0) for d in model.detectors), default=0) or 1
        self.recent: deque[tuple[float, int]] = deque(maxlen=self.max_window)  # (ts, line) of recent predictions
        self.versions: deque[str] = deque(maxlen=self.max_window)
        ref = model.reference
        self.reference_rows: list[Prediction] = []
        self.reference_target: int | None = getattr(ref, "first_n", None)
        self.ready = False
        self.reference_bounds: tuple[float, float] | None = None
        if getattr(ref, "file", None):
            path = Path(ref.file)
            if not path.is_absolute():
                path = base_dir / path
            self._load_reference_file(path)

    # reference --------------------------------------------------------------------------------

    def _load_reference_file(self, path: Path) -> None:
        parser = RecordParser({self.model_id: self.schema})
        rows: list[Prediction] = []
        bad: list[Quarantined] = []
        try:
            with open(path, "rb") as f:
                for i, raw in enumerate(f, 1):
                    if not raw.strip():
                        continue
                    r = parser.parse(raw.rstrip(b"\r\n"), i)
                    if isinstance(r, Prediction):
                        rows.append(r)
                    elif isinstance(r, Quarantined):
                        bad.append(r)
        except OSError as e:
            raise StartupError(
                f"The reference file {path} of model {self.model_id!r} could not be read: {e.strerror}."
            ) from None
        if bad:
            first = bad[0]
            raise StartupError(
                f"The reference file {path} of model {self.model_id!r} has {len(bad)} invalid line(s); "
                f"the first is line {first.line}: {first.reason}. A reference must be clean."
            )
        self._build(rows, str(path))

    def _build(self, rows: list[Prediction], origin: str) -> None:
        if not rows:
            raise StartupError(f"The reference of model {self.model_id!r} ({origin}) holds no predictions.")
        for name, spec in self.specs.items():
            cls = detectors.REGISTRY[spec.kind]
            params = detector_params(spec)
            if rules.KINDS[spec.kind].is_performance:
                if "threshold" not in params:
                    params["threshold"] = self._rule_threshold(name)
                self.detectors[name] = cls(**params)
                continue
            values = self._reference_values(rows, spec)
            if len(values) < 2:
                raise StartupError(
                    f"The reference of model {self.model_id!r} ({origin}) has {len(values)} usable value(s) "
                    f"for detector {name!r}; at least 2 are needed."
                )
            self.detectors[name] = cls(values, **params)
        self.reference_bounds = (rows[0].ts, rows[-1].ts)
        self.ready = True
        log.info("reference_ready", extra={"model": self.model_id, "records": len(rows), "origin": origin})

    def _rule_threshold(self, detector: str) -> float:
        """A performance detector without its own threshold borrows the first rule's on its statistic."""
        for rule in self.rules:
            c = rule.condition
            if c.detector == detector and c.statistic == "statistic":
                return float(c.threshold)
        return math.inf

    def _reference_values(self, rows: list[Prediction], spec: Any) -> Any:
        kind = rules.KINDS[spec.kind]
        if kind.input in ("classification", "regression"):
            return None
        if spec.feature is None:
            col = [r.prediction for r in rows]
        else:
            col = [r.features[spec.feature] for r in rows]
        if kind.input == "numeric":
            arr = np.asarray([math.nan if v is None else v for v in col], dtype=float)
            return arr[~np.isnan(arr)]
        return np.asarray([v for v in col if v is not None], dtype=object)

    # records ----------------------------------------------------------------------------------

    def add_prediction(self, p: Prediction) -> bool:
        """Take one prediction; returns True when a batch is due for evaluation."""
        self.n_predictions += 1
        if not self.ready:
            self.reference_rows.append(p)
            if self.reference_target is not None and len(self.reference_rows) >= self.reference_target:
                rows, self.reference_rows = self.reference_rows, []
                self._build(rows, f"first {len(rows)} records")
            self._remember(p)
            return False
        self.batch.predictions.append(p)
        self.recent.append((p.ts, p.line))
        self.versions.append(p.version)
        if p.label is not None:
            self.batch.pairs_pred.append(p.prediction)
            self.batch.pairs_label.append(p.label)
        else:
            self._remember(p)
        return len(self.batch.predictions) >= self.interval

    def _remember(self, p: Prediction) -> None:
        if p.label is not None:
            return
        self.awaiting_label[p.id] = p.prediction
        if len(self.awaiting_label) > self.join_capacity:
            self.awaiting_label.popitem(last=False)

    def add_label(self, lab: Label) -> bool:
        """Join a late label to its prediction; returns False when the prediction is unknown."""
        pred = self.awaiting_label.pop(lab.id, None)
        if pred is None:
            self.n_labels_unmatched += 1
            return False
        self.n_labels_joined += 1
        if self.ready:
            self.batch.pairs_pred.append(pred)
            self.batch.pairs_label.append(lab.label)
        return True

    def flush(self) -> int:
        """Feed the pending batch to the detectors as columns; returns the predictions fed."""
        b, self.batch = self.batch, Batch()
        if not self.ready:
            return 0
        preds = b.predictions
        for name, spec in self.specs.items():
            det = self.detectors[name]
            kind = rules.KINDS[spec.kind]
            if kind.input in ("classification", "regression"):
                if b.pairs_pred:
                    dtype = float if kind.input == "regression" else object
                    det.update_many(np.asarray(b.pairs_pred, dtype=dtype), np.asarray(b.pairs_label, dtype=dtype))
                continue
            if not preds:
                continue
            if spec.feature is None:
                col: list[Any] = [p.prediction for p in preds]
            else:
                f = spec.feature
                col = [p.features[f] for p in preds]
            if kind.input == "numeric":
                arr = np.asarray([math.nan if v is None else v for v in col], dtype=float)
                arr = arr[~np.isnan(arr)]
            else:
                arr = np.asarray([v for v in col if v is not None], dtype=object)
            if arr.size:
                det.update_many(arr)
        return len(preds)

    def signals(self) -> dict[str, Signal]:
        return {
            name: Signal(values={s: float(det.read(s)) for s in det.statistics}, n=int(det.n))
            for name, det in self.detectors.items()
        }

    def window_bounds(self, n: int) -> dict[str, Any]:
        """The records spanned by the last ``n`` predictions (for the evidence)."""
        if not self.recent:
            return {}
        n = max(1, min(n, len(self.recent)))
        first_ts, first_line = self.recent[-n]
        last_ts, last_line = self.recent[-1]
        return {"first_ts": _iso(first_ts), "last_ts": _iso(last_ts), "first_line": first_line,
                "last_line": last_line, "records": n}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat().replace("+00:00", "Z")


DecisionHandler = Callable[["Engine", ModelRuntime, Decision], None]
EvaluationObserver = Callable[["Engine", ModelRuntime, "dict[str, Signal]", datetime, int], None]
"""Called after every evaluation with the signals the rules saw, the data time and the decisive line."""


class Engine:
    """Routes records to models, runs detectors in micro-batches and hands decisions to a handler."""

    def __init__(self, policy: Policy, *, base_dir: Path | None = None, metrics: Metrics | None = None,
                 on_decision: DecisionHandler | None = None, join_capacity: int = DEFAULT_JOIN_CAPACITY):
        self.policy = policy
        self.metrics = metrics or Metrics()
        self.evaluator = Evaluator(policy)
        self.on_decision = on_decision
        self.last_evaluation_wall: float | None = None
        self.n_quarantined = 0
        self.quarantine_by_reason: dict[str, int] = {}
        self.decisions: list[Decision] = []
        self.observers: list[EvaluationObserver] = []
        base = base_dir or Path.cwd()
        intervals: dict[str, int] = {}
        for g in policy.groups:
            for r in g.rules:
                intervals[r.model] = min(intervals.get(r.model, g.interval_records), g.interval_records)
        self.runtimes = {
            m.id: ModelRuntime(m, intervals.get(m.id, 100), join_capacity, base,
                               [r for r in self.policy_rules() if r.model == m.id])
            for m in policy.models
        }
        self.parser = RecordParser({m.id: rt.schema for m, rt in zip(policy.models, self.runtimes.values())})

    def policy_rules(self) -> Iterable[Any]:
        for g in self.policy.groups:
            yield from g.rules

    def process_line(self, raw: bytes, line: int, source: str = "") -> Prediction | Label | Quarantined:
        rec = self.parser.parse(raw, line)
        self.metrics.records_read.labels(source or "stream").inc()
        if isinstance(rec, Quarantined):
            self.n_quarantined += 1
            self.quarantine_by_reason[rec.reason_code] = self.quarantine_by_reason.get(rec.reason_code, 0) + 1
            self.metrics.records_quarantined.labels(rec.reason_code).inc()
            return rec
        rt = self.runtimes[rec.model]
        if isinstance(rec, Label):
            self.metrics.records_accepted.labels(rec.model, "label").inc()
            if not rt.add_label(rec):
                self.metrics.labels_unmatched.labels(rec.model).inc()
            return rec
        self.metrics.records_accepted.labels(rec.model, "prediction").inc()
        if rt.add_prediction(rec):
            self.evaluate(rt, rec.ts, rec.line)
        return rec

    def finish(self) -> None:
        """End of a finite stream: evaluate what is left in every model's batch."""
        for rt in self.runtimes.values():
            if rt.batch.predictions or rt.batch.pairs_pred:
                last = rt.batch.predictions[-1] if rt.batch.predictions else None
                ts = last.ts if last else (rt.recent[-1][0] if rt.recent else 0.0)
                line = last.line if last else (rt.recent[-1][1] if rt.recent else 0)
                self.evaluate(rt, ts, line)

    def evaluate(self, rt: ModelRuntime, ts: float, line: int) -> list[Decision]:
        rt.flush()
        if not rt.ready:
            return []
        now = datetime.fromtimestamp(ts, tz=timezone.utc)
        signals = rt.signals()
        decisions = self.evaluator.evaluate(rt.model_id, signals, now, line)
        self.metrics.evaluations.labels(rt.model_id).inc()
        self.last_evaluation_wall = time.time()
        for observe in self.observers:
            observe(self, rt, signals, now, line)
        for d in decisions:
            self.decisions.append(d)
            self.metrics.rule_transitions.labels(d.model, d.rule, d.tier, d.kind).inc()
            if self.on_decision is not None:
                self.on_decision(self, rt, d)
        return decisions
