"""The engine: validated records in, column batches to detectors, signals to rules, decisions out.

Per model it keeps the detectors built from the policy, the reference (read from a file, or the
model's first N records), a bounded join of predictions awaiting their late labels, and a micro-batch
of accepted records. Every ``interval_records`` predictions it feeds the batch to the detectors as
column arrays, reads their statistics and lets the rule evaluator decide. Time is data time (the
records' ``ts``), so a replay gives the same decisions as the live run did.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import detectors
import rules
from rules import Decision, Evaluator, Policy, Signal

from watchdog.errors import StartupError
from watchdog.fmt import iso_utc
from watchdog.observe.metrics import Metrics
from watchdog.ingest.recent import RecentPredictions
from watchdog.ingest.records import Label, ModelSchema, Prediction, Quarantined, RecordParser

log = logging.getLogger("watchdog.engine")

DEFAULT_JOIN_CAPACITY = 100_000
DEFAULT_LABEL_WINDOW = 7 * 86400.0
DEFAULT_FUTURE_SKEW = 300.0
DEFAULT_MIN_TS = 946684800.0  # 2000-01-01T00:00:00Z
MAX_TS = 253370764800.0  # 9999-01-01T00:00:00Z


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
    # Column chunks from the columnar path (watchdog.columnar), in arrival order before the rows above:
    # {feature or PREDICTION_KEY: array} per chunk (float with NaN for missing, or object with None),
    # and (predictions, labels) array pairs. A checkpoint must save them too (see ModelRuntime.seal).
    chunks: list[dict[str, np.ndarray]] = field(default_factory=list)
    # per chunk, the columns cut to their last values: key -> how many (non-missing) values were left out,
    # because no detector of that column could keep them (see ModelRuntime.column_tails)
    chunk_skipped: list[dict[str, int]] = field(default_factory=list)
    chunk_rows: int = 0
    pair_chunks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.predictions) + self.chunk_rows

    @property
    def pending(self) -> bool:
        return bool(self.predictions or self.pairs_pred or self.chunk_rows or self.pair_chunks)


PREDICTION_KEY = "\0prediction"  # the chunk column of the prediction (no feature can be named so)
TYPE_ERROR_CODES = ("wrong_type", "non_finite")  # quarantine reasons a type_error_rate detector counts
TS_KEY = "\0ts"  # the chunk column of the records' timestamps, for the "time" kinds (staleness, volume)


DEFAULT_INTERVAL = 100  # predictions between evaluations of a model no group names


def evaluation_interval(policy: Policy, model_id: str) -> int:
    """Predictions of a model between two evaluations: the shortest ``interval_records`` of its groups."""
    return min((g.interval_records for g in policy.groups_for(model_id)), default=DEFAULT_INTERVAL)


def detector_class(kind: str) -> type:
    return detectors.REGISTRY.get(kind) or detectors.TIME_REGISTRY[kind]


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
        self.batch = Batch()
        self.n_predictions = 0
        self.n_labels_joined = 0
        self.n_labels_unmatched = 0
        self.type_errors_pending = 0  # records of this model quarantined for a type error since the last flush
        # The last ``join_capacity`` predictions by request id: duplicate ids are refused, and a late label
        # joins its prediction there if made at most ``label_window`` seconds of this model's data time
        # (its latest prediction's ts) ago; None: the count bound only.
        self.by_id = RecentPredictions(join_capacity, numeric=self.schema.prediction_type == "numeric")
        self.label_window: float | None = None
        self.clock_ts = -math.inf
        self.max_window = max((int(getattr(d, "window", 0) or 0) for d in model.detectors), default=0) or 1
        self.recent: deque[tuple[float, int]] = deque(maxlen=self.max_window)  # (ts, line) of recent predictions
        self.versions: deque[str] = deque(maxlen=self.max_window)
        ref = model.reference
        self.reference_rows: list[Prediction] = []
        self.reference_target: int | None = getattr(ref, "first_n", None)
        self.ready = False
        # The reference the detectors were built on, as columns of every feature, the prediction and ts,
        # so a policy reload can build changed detectors; its digest names it in the store's checkpoints.
        self.reference_columns: dict[str, np.ndarray] | None = None
        self.reference_digest: str | None = None
        self.built_on: dict[str, str] = {}
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
        self._build(str(path), self.rows_to_columns(rows, self.reference_keys()))

    def _build(self, origin: str, columns: dict[str, np.ndarray]) -> None:
        """Build the detectors on the reference ``columns`` (keys as in :meth:`reference_keys`, missing
        values as NaN / None)."""
        if not len(columns[TS_KEY]):
            raise StartupError(f"The reference of model {self.model_id!r} ({origin}) holds no predictions.")
        from watchdog.engine.checkpoint import columns_digest
        self.reference_columns = columns
        self.reference_digest = columns_digest(columns)
        self.built_on: dict[str, str] = {}  # detector -> the reference column it was constructed with
        for name, spec in self.specs.items():
            cls = detector_class(spec.kind)
            params = detector_params(spec)
            if rules.KINDS[spec.kind].input == "time":
                if spec.kind == "volume":  # the usual rate is the reference's
                    try:
                        self.detectors[name] = cls.from_reference(columns[TS_KEY], **params)
                    except ValueError as e:
                        raise StartupError(f"The reference of model {self.model_id!r} ({origin}) cannot give "
                                           f"detector {name!r} a rate: {e}.") from None
                else:
                    self.detectors[name] = cls(**params)
                continue
            no_reference = "reference" not in inspect.signature(cls).parameters
            if not rules.KINDS[spec.kind].is_performance and (not getattr(cls, "needs_reference", True)
                                                              or no_reference):
                # sequential detectors alarm on their own; a missing-value rate needs no reference
                self.detectors[name] = cls(**params)
                continue
            if rules.KINDS[spec.kind].is_performance:
                if "threshold" not in params:
                    borrowed = self._rule_threshold(name)
                    if borrowed is not None:
                        params["threshold"] = borrowed
                    elif inspect.signature(cls).parameters["threshold"].default is inspect.Parameter.empty:
                        # No rule reads it and the kind has no default: the detector's own flag never fires.
                        params["threshold"] = math.inf if cls.fires_when["statistic"] == ">" else -math.inf
                self.detectors[name] = cls(**params)
                continue
            values = self.reference_values(spec)
            if len(values) < 2:
                raise StartupError(
                    f"The reference of model {self.model_id!r} ({origin}) has {len(values)} usable value(s) "
                    f"for detector {name!r}; at least 2 are needed."
                )
            self.detectors[name] = cls(values, **params)
            self.built_on[name] = spec.feature or PREDICTION_KEY
        self.ready = True
        log.info("reference_ready", extra={"model": self.model_id, "origin": origin})

    def reference_values(self, spec: Any) -> np.ndarray:
        """The reference sample detector ``spec`` is constructed with: its column without missing values."""
        return _present(self.reference_columns[spec.feature or PREDICTION_KEY])

    def _rule_threshold(self, detector: str) -> float | None:
        """A performance detector without its own threshold borrows the first rule's on its statistic."""
        for rule in self.rules:
            for leaf in rule.condition.leaves:
                if leaf.detector == detector and leaf.statistic == "statistic":
                    return float(leaf.threshold)
        return None

    # records ----------------------------------------------------------------------------------

    def add_prediction(self, p: Prediction) -> bool:
        """Take one prediction; returns True when a batch is due for evaluation."""
        self.n_predictions += 1
        self.clock_ts = max(self.clock_ts, p.ts)
        self.by_id.add(p.id, p.prediction, p.ts, awaiting=p.label is None)
        if not self.ready:
            self.reference_rows.append(p)
            if self.reference_target is not None and len(self.reference_rows) >= self.reference_target:
                rows, self.reference_rows = self.reference_rows, []
                self._build(f"first {len(rows)} records", self.rows_to_columns(rows, self.reference_keys()))
            return False
        self.batch.predictions.append(p)
        self.recent.append((p.ts, p.line))
        self.versions.append(p.version)
        if p.label is not None:
            self.batch.pairs_pred.append(p.prediction)
            self.batch.pairs_label.append(p.label)
        return self.batch.n >= self.interval

    def label_horizon(self) -> float | None:
        """Predictions made before this data time no longer take labels (None: no time bound)."""
        return None if self.label_window is None else self.clock_ts - self.label_window

    def awaiting_labels(self) -> int:
        """Predictions in the join that may still take their label."""
        return self.by_id.awaiting(self.label_horizon())

    def seen(self, rid: str) -> bool:
        """True when ``rid`` is among this model's recent prediction ids (a duplicate)."""
        return rid in self.by_id

    def add_label(self, lab: Label) -> bool:
        """Join a late label to its prediction; returns False when the prediction is unknown."""
        found, pred = self.by_id.take(lab.id, self.label_horizon())
        if not found:
            self.n_labels_unmatched += 1
            return False
        self.n_labels_joined += 1
        if self.ready:
            self.batch.pairs_pred.append(pred)
            self.batch.pairs_label.append(lab.label)
        return True

    def column_keys(self) -> dict[str, str]:
        """The columns the detectors read: feature name (or PREDICTION_KEY) -> "numeric" / "categorical"."""
        out: dict[str, str] = {}
        for spec in self.specs.values():
            kind = rules.KINDS.get(spec.kind)
            if kind is None or kind.input in ("classification", "regression", "records"):
                continue
            if kind.input == "time":
                out[TS_KEY] = "time"
                continue
            out[spec.feature or PREDICTION_KEY] = "numeric" if kind.input == "numeric" else "categorical"
        return out

    def reference_keys(self) -> dict[str, str]:
        """Every column of the model's records a detector may read (a reload may add detectors)."""
        out = {f: "numeric" for f in self.schema.numeric} | {f: "categorical" for f in self.schema.categorical}
        out[PREDICTION_KEY] = "numeric" if self.schema.prediction_type == "numeric" else "categorical"
        out[TS_KEY] = "time"
        return out

    def rows_to_columns(self, preds: list[Prediction], keys: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """The columns the detectors read (or ``keys``), from prediction rows (NaN / None where missing)."""
        chunk: dict[str, np.ndarray] = {}
        for key, typ in (keys or self.column_keys()).items():
            if key == TS_KEY:
                chunk[key] = np.asarray([p.ts for p in preds], dtype=float)
                continue
            col = [p.prediction for p in preds] if key == PREDICTION_KEY else [p.features[key] for p in preds]
            if typ == "numeric":
                chunk[key] = np.asarray([math.nan if v is None else v for v in col], dtype=float)
            else:
                chunk[key] = np.asarray(col, dtype=object)
        return chunk

    def seal(self) -> None:
        """Turn the pending rows into a column chunk, so chunks added next stay in arrival order."""
        b = self.batch
        if b.predictions:
            preds = b.predictions
            b.chunks.append(self.rows_to_columns(preds))
            b.chunk_skipped.append({})
            b.chunk_rows += len(preds)
            b.predictions = []
        if b.pairs_pred:
            dtype = float if self.schema.prediction_type == "numeric" else object
            b.pair_chunks.append((np.asarray(b.pairs_pred, dtype=dtype), np.asarray(b.pairs_label, dtype=dtype)))
            b.pairs_pred, b.pairs_label = [], []

    def flush(self) -> int:
        """Feed the pending batch to the detectors as columns; returns the predictions fed."""
        if not self.ready:
            self.batch = Batch()
            return 0
        self.seal()
        b, self.batch = self.batch, Batch()
        fed_errors = self.type_errors_pending
        for name, spec in self.specs.items():
            det = self.detectors[name]
            kind = rules.KINDS[spec.kind]
            if kind.input in ("classification", "regression"):
                if b.pair_chunks:
                    dtype = float if kind.input == "regression" else object
                    p = np.concatenate([c[0] for c in b.pair_chunks]).astype(dtype, copy=False)
                    y = np.concatenate([c[1] for c in b.pair_chunks]).astype(dtype, copy=False)
                    det.update_many(p, y)
                continue
            if kind.input == "records":  # type errors: the good predictions against those quarantined
                det.add_counts(ok=b.chunk_rows, errors=self.type_errors_pending)
                continue
            if not b.chunk_rows:
                continue
            if kind.input == "time":
                parts = [c[TS_KEY] for c in b.chunks]
                stamps = parts[0] if len(parts) == 1 else np.concatenate(parts)
                # Arrivals out of order are valid records; the clocked detectors count arrivals in order.
                floor = det._last_record()
                det.update_many(np.maximum.accumulate(np.maximum(stamps, floor)))
                continue
            key = spec.feature or PREDICTION_KEY
            everything = spec.kind == "missing_rate"  # the missing values are what it counts
            arr, skipped = _column_batch(b, key, everything)
            if not everything:
                arr = _present(arr)
            if skipped and getattr(det, "keeps_last", None) is not None and arr.size >= det.window:
                det.update_tail(arr, skipped)
            elif arr.size:
                # (a detector added by a reload while the batch held cut columns gets what is left)
                det.update_many(arr)
        self.type_errors_pending -= fed_errors
        return b.chunk_rows

    def column_tails(self) -> dict[str, int]:
        """Columns whose every detector is a pure sliding window: key -> the most values of a batch any of
        them can keep. The columnar path may hand those detectors only a batch's last values."""
        need: dict[str, int] = {}
        whole: set[str] = set()
        for name, spec in self.specs.items():
            kind = rules.KINDS[spec.kind]
            if kind.input not in ("numeric", "categorical"):
                continue
            key = spec.feature or PREDICTION_KEY
            keep = getattr(self.detectors[name], "keeps_last", None)  # sequential detectors have none
            if keep is None:
                whole.add(key)
            else:
                need[key] = max(need.get(key, 0), keep)
        return {k: v for k, v in need.items() if k not in whole}

    def time_rules(self) -> list[str]:
        """The rules whose every comparison reads a "time" detector (evaluated on the clock's ticks)."""
        timed = {n for n, spec in self.specs.items() if rules.KINDS[spec.kind].input == "time"}
        if not timed:
            return []
        return [r.name for r in self.rules if all(leaf.detector in timed for leaf in r.condition.leaves)]

    def observe_time(self, now: float) -> None:
        """Tell the "time" detectors the time (never back: records and ticks interleave)."""
        for name, spec in self.specs.items():
            if rules.KINDS[spec.kind].input == "time":
                det = self.detectors[name]
                det.observe_time(max(float(now), det.now))

    def signals(self) -> dict[str, Signal]:
        timed = [n for n, spec in self.specs.items() if rules.KINDS[spec.kind].input == "time"]
        if timed:
            out = self._signals()
            for name in timed:
                # A rate needs one whole interval of time seen: until then it reads as no data.
                if not self.detectors[name]._ready():
                    out[name] = Signal(values={s: math.nan for s in out[name].values}, n=out[name].n)
            return out
        return self._signals()

    def read_statistics(self) -> dict[str, tuple[str, ...]]:
        """Per detector, the statistics an evaluation offers: its primary one and those the rules compare.

        Each is computed when first read (see :class:`_Statistics`): the rules read the ones they compare,
        an observer such as the weekly report's recorder reads all of them; /metrics and incident
        evidence read every statistic of the detector."""
        if getattr(self, "_read_cache", None) is None or self._read_cache[0] is not self.rules:
            wanted: dict[str, set[str]] = {name: {"statistic"} for name in self.specs}
            for rule in self.rules:
                for leaf in rule.condition.leaves:
                    if leaf.detector in wanted:
                        wanted[leaf.detector].add(leaf.statistic)
            self._read_cache = (self.rules, {n: tuple(sorted(w)) for n, w in wanted.items()})
        return self._read_cache[1]

    def _signals(self) -> dict[str, Signal]:
        wanted = self.read_statistics()
        return {name: Signal(values=_Statistics(det, wanted.get(name, ())), n=int(det.n))
                for name, det in self.detectors.items()}

    def window_bounds(self, n: int) -> dict[str, Any]:
        """The records spanned by the last ``n`` predictions (for the evidence)."""
        if not self.recent:
            return {}
        n = max(1, min(n, len(self.recent)))
        first_ts, first_line = self.recent[-n]
        last_ts, last_line = self.recent[-1]
        return {"first_ts": iso_utc(first_ts), "last_ts": iso_utc(last_ts), "first_line": first_line,
                "last_line": last_line, "records": n}


def _present(values: np.ndarray) -> np.ndarray:
    """A column without its missing values (NaN in a float column, None in an object one)."""
    return values[~np.isnan(values)] if values.dtype.kind == "f" else values[np.not_equal(values, None)]


def _column_batch(b: Batch, key: str, everything: bool) -> tuple[np.ndarray, int]:
    """Column ``key`` of a batch's chunks, from the last chunk that was cut on: its values and how many
    values came before them (non-missing ones, or all when ``everything``)."""
    cut = max((i for i, sk in enumerate(b.chunk_skipped) if sk.get(key)), default=None)
    parts = [c[key] for c in b.chunks]
    if cut is None:
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), 0
    before = b.chunk_skipped[cut][key]
    for p, sk in zip(parts[:cut], b.chunk_skipped[:cut]):  # wholly pushed out by the cut chunk's last values
        before += sk.get(key, 0) + (p.size if everything else _present(p).size)
    rest = parts[cut:]
    return (rest[0] if len(rest) == 1 else np.concatenate(rest)), before


class _Statistics(Mapping[str, float]):
    """A detector's statistics at one evaluation, computed on first read (the detector caches them until
    its next update, and nothing updates it while the evaluation's rules and observers read them)."""

    __slots__ = ("_det", "_names")

    def __init__(self, det: detectors.Detector, names: tuple[str, ...]):
        self._det, self._names = det, tuple(s for s in det.statistics if s in names)

    def __getitem__(self, name: str) -> float:
        if name not in self._names:
            raise KeyError(name)
        return float(self._det.read(name))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def iso_or_seconds(ts: float) -> str:
    """RFC 3339 when the time has a year in 1..9999 UTC, else seconds since the epoch (for messages)."""
    try:
        return iso_utc(ts)
    except (ValueError, OverflowError, OSError):
        return f"{ts:.0f} s since the epoch"


DecisionHandler = Callable[["Engine", ModelRuntime, Decision], None]
EvaluationObserver = Callable[["Engine", ModelRuntime, "dict[str, Signal]", datetime, int], None]
"""Called after every evaluation with the signals the rules saw, the data time and the decisive line."""


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
        base = base_dir or Path.cwd()
        self.runtimes = {
            m.id: ModelRuntime(m, evaluation_interval(policy, m.id), join_capacity, base, list(policy.rules_for(m.id)))
            for m in policy.models
        }
        for rt in self.runtimes.values():
            rt.label_window = label_window
        self.clock = clock
        self.max_future_skew = max_future_skew
        self.min_ts = min_ts
        self.parser = RecordParser({m.id: rt.schema for m, rt in zip(policy.models, self.runtimes.values())})

    def swap_policy(self, policy: Policy) -> dict[str, list[str]]:
        """Switch to ``policy`` between records, keeping unchanged detectors and rule states (watchdog.reload)."""
        from watchdog.engine.reload import swap_policy
        return swap_policy(self, policy)

    def process_line(self, raw: bytes, line: int, source: str = "") -> Prediction | Label | Quarantined:
        rec = self.parser.parse(raw, line)
        self.metrics.records_read.labels(source or "stream").inc()
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
        if ts < self.min_ts:
            return "past_timestamp", f"ts {iso_or_seconds(ts)} is before {iso_utc(self.min_ts)}, the earliest time accepted"
        if self.clock is None:
            if ts > MAX_TS:  # without a clock, still refuse what no datetime can hold
                return "future_timestamp", f"ts {iso_or_seconds(ts)} is after {iso_utc(MAX_TS)}"
        elif ts > self.clock() + self.max_future_skew:
            return "future_timestamp", (f"ts {iso_or_seconds(ts)} is more than {self.max_future_skew:g} s ahead of the "
                                        "watchdog's clock")
        if rt.seen(rid):
            return "duplicate_id", f"id {rid[:64]!r} repeats a recent prediction of model {rt.model_id!r}"
        return None

    def quarantine(self, rec: Quarantined, source: str = "") -> Quarantined:
        """Count a rejected record (the caller writes it to the quarantine file)."""
        if rec.model in self.runtimes and rec.reason_code in TYPE_ERROR_CODES:
            self.runtimes[rec.model].type_errors_pending += 1  # fed to the model's type_error_rate detectors
        self.n_quarantined += 1
        self.quarantine_by_reason[rec.reason_code] = self.quarantine_by_reason.get(rec.reason_code, 0) + 1
        self.metrics.records_quarantined.labels(rec.reason_code).inc()
        return rec

    def process_columns(self, table: Any, first_line: int = 1, source: str = "") -> Any:
        """Validate and process a pyarrow table of records without per-record objects (see columnar)."""
        from watchdog.ingest.columnar import process_table
        return process_table(self, table, first_line, source)

    def snapshot(self) -> dict[str, Any]:
        """All the state needed to continue exactly here after a restart (see watchdog.checkpoint)."""
        from watchdog.engine.checkpoint import snapshot_engine
        return snapshot_engine(self)

    def restore(self, state: dict[str, Any]) -> list[str]:
        """Load a :meth:`snapshot`; returns what started fresh because the policy changed it."""
        from watchdog.engine.checkpoint import restore_engine
        return restore_engine(self, state)

    def tick(self, now: datetime) -> list[Decision]:
        """What time alone triggers (staleness, volume): the scheduler calls this with the wall time.

        The "time" detectors learn the time, and only the rules that read nothing but them are evaluated,
        so a tick never counts towards the ``for`` of a drift rule."""
        for hook in self.tick_hooks:
            hook(self, now)
        decisions: list[Decision] = []
        for rt in self.runtimes.values():
            timed = rt.time_rules()
            if not rt.ready or not timed:
                continue
            rt.observe_time(now.timestamp())
            line = rt.recent[-1][1] if rt.recent else 0
            decisions += self._decide(rt, rt.signals(), now, line, rules=timed)
        return decisions

    def finish(self) -> None:
        """End of a finite stream: evaluate what is left in every model's batch."""
        for rt in self.runtimes.values():
            if rt.batch.pending:
                last = rt.batch.predictions[-1] if rt.batch.predictions else None
                ts = last.ts if last else (rt.recent[-1][0] if rt.recent else 0.0)
                line = last.line if last else (rt.recent[-1][1] if rt.recent else 0)
                self.evaluate(rt, ts, line)

    def evaluate(self, rt: ModelRuntime, ts: float, line: int) -> list[Decision]:
        rt.flush()
        if not rt.ready:
            return []
        now = datetime.fromtimestamp(ts, tz=UTC)
        rt.observe_time(ts)
        signals = rt.signals()
        return self._decide(rt, signals, now, line)

    def _decide(self, rt: ModelRuntime, signals: dict[str, Signal], now: datetime, line: int,
                rules: list[str] | None = None) -> list[Decision]:
        decisions = self.evaluator.evaluate(rt.model_id, signals, now, line, rules=rules)
        self.metrics.evaluations.labels(rt.model_id).inc()
        self.last_evaluation_wall = time.time()
        for observe in self.observers:
            observe(self, rt, signals, now, line)
        for d in decisions:
            self.decisions.append(d)
            if self.keep_decisions is not None and len(self.decisions) > self.keep_decisions:
                del self.decisions[0]  # a service runs for months: keep the recent ones, not all
            self.metrics.rule_transitions.labels(d.model, d.rule, d.tier, d.kind).inc()
            if self.on_decision is not None:
                self.on_decision(self, rt, d)
        return decisions
