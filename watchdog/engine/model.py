"""One model's runtime: its definition from the policy and its state, one explicit object that owns both.

:class:`ModelRuntime` is the definition (the policy's model entry, its schema, detector specs, rules,
evaluation interval, join capacity) plus a :class:`ModelState`: everything that changes as records arrive
and must survive a restart or a policy reload::

    ModelState (a dataclass; its fields() drive all three, so a new field cannot be forgotten)
      ready, detectors, built_on      the detectors and which of them were built on the reference
      reference_rows, reference       the reference being gathered (first_n) / the one in use, as columns
      by_id                           the recent prediction ids: duplicates and the late-label join
      batch                           the micro-batch not yet fed to the detectors
      counters, recent, versions      for metrics and the evidence's window
      window                          the ids, data times and values of the detectors' window (evidence)
      clock_ts                        the model's data time

    snapshot()  -> plain JSON (each field's codec)         :mod:`watchdog.engine.checkpoint` stores it
    restore(s)  <- a snapshot (of the same definition)
    carry_from(old)  a reload: every field but the detectors, which :mod:`watchdog.engine.reload` picks

Detectors are built and fed through their declared protocol (:mod:`detectors.protocol`): how a detector is
built from a policy entry and the reference (``build``), what it is fed (``feeds``: values, pairs, counts or
time), whether it reads missing values, whether it keeps only a window's tail (``keeps_last``). Nothing here
names a detector kind.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

import detectors
from detectors.protocol import Locating
from rules import Signal
from watchdog.engine import ring
from watchdog.engine.ring import RecordRing
from watchdog.errors import StartupError
from watchdog.fmt import finite, iso_utc
from watchdog.ingest.columnar import ModelRows
from watchdog.ingest.recent import FEW, RecentPredictions
from watchdog.ingest.records import Label, ModelSchema, Prediction, Quarantined, RecordParser

log = logging.getLogger("watchdog.engine")

PREDICTION_KEY = ring.PREDICTION_KEY  # the chunk column of the prediction (no feature can be named so)
TS_KEY = "\0ts"  # the chunk column of the records' timestamps, for the time-fed detectors


class Unbuilt:
    """A detector the model's reference could not build (e.g. every value of its feature was missing): fed
    nothing, it reads as no data (``ready`` is False, so its rules never fire), and its ``reason`` says why. A
    checkpoint keeps it as it is; a policy reload that changes the detector builds it again."""

    feeds = "unbuilt"
    reads_missing = False
    takes_reference = False
    keeps_last = None
    ready = False
    drift_detected = False
    n = 0

    def __init__(self, kind: str, statistics: tuple[str, ...], reason: str):
        self.kind, self.statistics, self.reason = kind, statistics, reason

    statistic = threshold = math.nan

    def read(self, name: str) -> float:
        return math.nan

    def snapshot(self, omit: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"unbuilt": self.reason, "kind": self.kind, "statistics": list(self.statistics)}

    @classmethod
    def restore(cls, snap: Mapping[str, Any]) -> Unbuilt:
        return cls(str(snap["kind"]), tuple(snap["statistics"]), str(snap["unbuilt"]))


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit this engine (the message says which part)."""


def schema_of(model: Any) -> ModelSchema:
    return ModelSchema(
        id=model.id,
        numeric=tuple(f.name for f in model.features if f.type == "numeric"),
        categorical=tuple(f.name for f in model.features if f.type == "categorical"),
        prediction_type=model.prediction.type,
    )


def detector_class(kind: str) -> type[detectors.Detector]:
    return detectors.REGISTRY.get(kind) or detectors.TIME_REGISTRY[kind]


def model_fingerprint(model: Any) -> str:
    """A hash of what a model's state depends on: features, prediction type, reference, detectors."""
    dump = model.model_dump(mode="json") if hasattr(model, "model_dump") else repr(model)
    return hashlib.sha256(orjson.dumps(dump, option=orjson.OPT_SORT_KEYS)).hexdigest()


def columns_digest(columns: Mapping[str, Any]) -> str:
    """The SHA-256 of a reference's columns (names, then float bytes or the categories as JSON): the name it
    is stored under. Columns read back from their JSON give the same digest."""
    h = hashlib.sha256()
    for key in sorted(columns):
        a = columns[key]
        h.update(orjson.dumps(key))
        h.update(orjson.dumps(a.tolist()) if a.dtype == object else a.astype("<f8").tobytes())
    return h.hexdigest()


def array_json(a: Any) -> dict[str, Any]:
    """A column chunk as JSON: numbers with null for NaN, or objects (categories, None)."""
    if a.dtype == object:
        return {"dtype": "object", "values": a.tolist()}
    vals = a.astype(float)
    return {"dtype": "float", "values": [None if math.isnan(v) else v for v in vals.tolist()]}


def array_of(d: Mapping[str, Any]) -> np.ndarray:
    if d["dtype"] == "object":
        return np.asarray(d["values"], dtype=object)
    return np.asarray([math.nan if v is None else v for v in d["values"]], dtype=float)


def _pred(p: Prediction) -> list[Any]:
    return [p.model, p.version, p.ts, p.id, p.features, p.prediction, p.label, p.line]


def _unpred(row: list[Any]) -> Prediction:
    model, version, ts, rid, features, prediction, label, line = row
    return Prediction(model, version, float(ts), rid, dict(features), prediction, label, int(line))


def present(values: np.ndarray) -> np.ndarray:
    """A column without its missing values (NaN in a float column, None in an object one)."""
    keep = ~np.isnan(values) if values.dtype.kind == "f" else np.not_equal(values, np.array(None, dtype=object))
    out: np.ndarray = values[keep]
    return out


@dataclass
class Batch:
    """A micro-batch of one model's accepted records, kept as rows until it is turned into columns."""

    predictions: list[Prediction] = field(default_factory=list)
    pairs_pred: list[float | str] = field(default_factory=list)
    pairs_label: list[float | str] = field(default_factory=list)
    # Column chunks (from rows sealed by seal(), or from tables), in arrival order before the rows above:
    # {feature or PREDICTION_KEY or TS_KEY: array} per chunk (float with NaN for missing, or object with None)
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

    def to_json(self) -> dict[str, Any]:
        return {"predictions": [_pred(p) for p in self.predictions], "pairs_pred": list(self.pairs_pred),
                "pairs_label": list(self.pairs_label),
                "chunks": [{k: array_json(v) for k, v in c.items()} for c in self.chunks],
                "chunk_skipped": self.chunk_skipped, "chunk_rows": self.chunk_rows,
                "pair_chunks": [[array_json(p), array_json(y)] for p, y in self.pair_chunks]}

    @classmethod
    def from_json(cls, bs: Mapping[str, Any]) -> Batch:
        b = cls(predictions=[_unpred(r) for r in bs["predictions"]], pairs_pred=list(bs["pairs_pred"]),
                pairs_label=list(bs["pairs_label"]))
        if bs.get("chunks") or bs.get("pair_chunks"):
            b.chunks = [{k: array_of(v) for k, v in c.items()} for c in bs["chunks"]]
            b.chunk_skipped = [{str(k): int(v) for k, v in sk.items()} for sk in bs["chunk_skipped"]]
            b.chunk_rows = int(bs["chunk_rows"])
            b.pair_chunks = [(array_of(p), array_of(y)) for p, y in bs["pair_chunks"]]
        return b


@dataclass
class Reference:
    """The reference the detectors were built on: columns of every feature, the prediction and ts (NaN /
    None where missing), named by their digest in the store's checkpoints."""

    columns: dict[str, np.ndarray]
    digest: str

    @classmethod
    def of(cls, columns: dict[str, np.ndarray]) -> Reference:
        return cls(columns, columns_digest(columns))

    def values(self, column: str | None) -> np.ndarray:
        """A column without missing values (None: the prediction): what a detector is constructed with."""
        return present(self.columns[PREDICTION_KEY if column is None else column])

    def timestamps(self) -> np.ndarray:
        return self.columns[TS_KEY]


# -- the state: each field with its codec ----------------------------------------------------------------

Encode = Callable[[Any, "ModelRuntime", "dict[str, Any] | None"], Any]
Decode = Callable[[Any, "ModelRuntime"], Any]


def _codec(encode: Encode | None = None, decode: Decode | None = None, *, carry: bool = True,
           default: Any = None, factory: Callable[[], Any] | None = None) -> Any:
    """A state field: how it is saved (``encode(value, runtime, references)``), read back
    (``decode(json, runtime)``), and whether a policy reload carries it over."""
    meta = {"encode": encode or (lambda v, rt, refs: v), "decode": decode or (lambda j, rt: j), "carry": carry}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _enc_detectors(dets: dict[str, detectors.Detector], rt: ModelRuntime, refs: Any) -> dict[str, Any]:
    # a detector constructed with the reference sample is saved without it: it comes from "reference"
    return {name: det.snapshot(omit=("reference",) if name in rt.state.built_on else ())
            for name, det in dets.items()}


def _dec_detectors(snaps: Mapping[str, Any], rt: ModelRuntime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ref = rt.state.reference
    for name, snap in snaps.items():
        if "unbuilt" in snap:
            out[name] = Unbuilt.restore(snap)
            continue
        if name in rt.state.built_on and name in rt.specs and ref is not None:
            snap = {**snap, "params": {**snap["params"], "reference": ref.values(rt.specs[name].feature)}}
        out[name] = detectors.Detector.restore(snap)
    return out


def _enc_reference(ref: Reference | None, rt: ModelRuntime, refs: dict[str, Any] | None) -> Any:
    if ref is None:
        return None
    if refs is None:
        return {"digest": ref.digest, "columns": {k: array_json(v) for k, v in ref.columns.items()}}
    refs[ref.digest] = rt
    return {"digest": ref.digest}


def _dec_reference(j: Any, rt: ModelRuntime) -> Reference | None:
    if j is None:
        return None
    if "columns" not in j:
        raise CheckpointError(f"the reference {j['digest']} of model {rt.model_id!r} is not in the store")
    return Reference({k: array_of(v) for k, v in j["columns"].items()}, j["digest"])


def _dec_by_id(j: Any, rt: ModelRuntime) -> RecentPredictions:
    rt.state.by_id.restore(j)
    return rt.state.by_id


def _bounded(j: Any, rt: ModelRuntime) -> deque[Any]:
    return deque(j, maxlen=rt.max_window)


def _dec_window(j: Any, rt: ModelRuntime) -> RecordRing:
    return RecordRing.restore(j, rt.max_window, rt.window_keys)


@dataclass
class ModelState:
    """What changes as a model's records arrive (see the module docstring); field order is snapshot order."""

    ready: bool = _codec(decode=lambda j, rt: bool(j), default=False)
    detectors: dict[str, Any] = _codec(_enc_detectors, _dec_detectors, carry=False, factory=dict)  # or Unbuilt
    built_on: dict[str, str] = _codec(lambda v, rt, refs: dict(v), lambda j, rt: dict(j), factory=dict)
    reference_rows: list[Prediction] = _codec(lambda v, rt, refs: [_pred(p) for p in v],
                                              lambda j, rt: [_unpred(r) for r in j], factory=list)
    reference: Reference | None = _codec(_enc_reference, _dec_reference)
    by_id: RecentPredictions = _codec(lambda v, rt, refs: v.snapshot(), _dec_by_id,
                                      factory=lambda: RecentPredictions(1))
    batch: Batch = _codec(lambda v, rt, refs: v.to_json(), lambda j, rt: Batch.from_json(j), factory=Batch)
    n_predictions: int = _codec(decode=lambda j, rt: int(j), default=0)
    n_labels_joined: int = _codec(decode=lambda j, rt: int(j), default=0)
    n_labels_unmatched: int = _codec(decode=lambda j, rt: int(j), default=0)
    # records of this model quarantined for a type error since the last flush (fed to "counts" detectors)
    type_errors_pending: int = _codec(decode=lambda j, rt: int(j), default=0)
    # (ts, line) and versions of the recent predictions, for the evidence's window
    recent: deque[tuple[float, int]] = _codec(lambda v, rt, refs: [list(x) for x in v],
                                              lambda j, rt: deque(((float(a), int(b)) for a, b in j),
                                                                  maxlen=rt.max_window), factory=deque)
    versions: deque[str] = _codec(lambda v, rt, refs: list(v), _bounded, factory=deque)
    clock_ts: float = _codec(lambda v, rt, refs: finite(v),
                             lambda j, rt: -math.inf if j is None else float(j), default=-math.inf)
    # the records of the detectors' window by id and data time (the evidence's Merkle leaves); a checkpoint
    # written before it existed restores with an empty one (see ModelRuntime.restore)
    window: RecordRing = _codec(lambda v, rt, refs: v.snapshot(), _dec_window,
                                factory=lambda: RecordRing(1, {}))


_STATE_FIELDS = fields(ModelState)
_RESTORE_ORDER = sorted(_STATE_FIELDS, key=lambda f: {"reference": 0, "built_on": 1}.get(f.name, 2))


class ModelRuntime:
    """A model's definition from the policy and its :class:`ModelState` (see the module docstring).

    The state is changed only by this object's methods; other packages read it through the properties."""

    max_window: int

    def __init__(self, model: Any, interval: int, join_capacity: int, base_dir: Path, model_rules: list[Any],
                 label_window: float | None = None):
        self.model = model
        self.model_id: str = model.id
        self.schema = schema_of(model)
        self.interval = interval
        self.specs = {d.name: d for d in model.detectors}
        self.rules = model_rules
        self.join_capacity = join_capacity
        self.label_window = label_window  # predictions older than this (data time) no longer take labels
        self.max_window = max((int(getattr(d, "window", 0) or 0) for d in model.detectors), default=0) or 1
        self.reference_target: int | None = getattr(model.reference, "first_n", None)
        self._wanted: tuple[Any, dict[str, tuple[str, ...]]] | None = None
        self.window_keys = {k: typ == "numeric" for k, typ in self.column_keys().items() if k != TS_KEY}
        self._table_ids: pa.Array | None = None  # the ids of the table being read (see reading_table)
        self.state = ModelState(by_id=RecentPredictions(join_capacity,
                                                        numeric=self.schema.prediction_type == "numeric"),
                                recent=deque(maxlen=self.max_window), versions=deque(maxlen=self.max_window),
                                window=RecordRing(self.max_window, self.window_keys))
        if getattr(model.reference, "file", None):
            path = Path(model.reference.file)
            self._load_reference_file(path if path.is_absolute() else base_dir / path)

    # read-only views ----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.state.ready

    @property
    def detectors(self) -> Mapping[str, detectors.Detector]:
        return self.state.detectors

    @property
    def n_predictions(self) -> int:
        return self.state.n_predictions

    @property
    def n_labels_joined(self) -> int:
        return self.state.n_labels_joined

    @property
    def n_labels_unmatched(self) -> int:
        return self.state.n_labels_unmatched

    @property
    def versions(self) -> deque[str]:
        return self.state.versions

    @property
    def reference(self) -> Reference | None:
        return self.state.reference

    @property
    def window(self) -> RecordRing:
        """The ids, data times and values of the records in the detectors' window (read only)."""
        return self.state.window

    @property
    def last_seen(self) -> tuple[float, int] | None:
        """(ts, line) of the latest prediction fed to the detectors."""
        return self.state.recent[-1] if self.state.recent else None

    # snapshot, restore, reload -------------------------------------------------------------------------

    def snapshot(self, references: dict[str, Any] | None = None) -> dict[str, Any]:
        """The state as plain JSON; its reference's columns inline or, when ``references`` is given, only the
        reference's digest, with this runtime left in ``references[digest]`` for the caller to store."""
        out: dict[str, Any] = {"fingerprint": model_fingerprint(self.model)}
        for f in _STATE_FIELDS:
            out[f.name] = f.metadata["encode"](getattr(self.state, f.name), self, references)
        return out

    def restore(self, s: Mapping[str, Any]) -> None:
        """Load a :meth:`snapshot` taken under the same definition (the caller compares fingerprints)."""
        for f in _RESTORE_ORDER:
            if f.name == "window" and f.name not in s:
                # written before the window was kept: the evidence of the next incidents names fewer records
                log.warning("checkpoint_without_window", extra={"model": self.model_id})
                self.state.window = RecordRing(self.max_window, self.window_keys)
                continue
            setattr(self.state, f.name, f.metadata["decode"](s[f.name], self))
        if self.state.ready and set(self.state.detectors) != set(self.specs):
            raise CheckpointError(f"the checkpoint of model {self.model_id!r} has detectors "
                                  f"{sorted(self.state.detectors)}, the policy {sorted(self.specs)}")

    def carry_from(self, old: ModelRuntime, build: bool) -> dict[str, str]:
        """Take over the state of ``old``, the same model under the previous policy: every field but the
        detectors (the caller picks them). When ``build``, detectors are built on the carried reference.
        Returns ``built_on`` of the detectors built here."""
        was_ready = self.state.ready  # a reference file is read by the constructor
        built_now = dict(self.state.built_on)
        for f in _STATE_FIELDS:
            if f.metadata["carry"]:
                setattr(self.state, f.name, getattr(old.state, f.name))
        self.state.recent = deque(old.state.recent, maxlen=self.max_window)
        self.state.versions = deque(old.state.versions, maxlen=self.max_window)
        self.state.window = old.state.window.resized(self.max_window, self.window_keys)
        if old.state.ready and not was_ready and build and old.state.reference is not None:
            self.state.ready = False
            self._build("the reference kept across a policy reload", old.state.reference.columns)
            built_now = dict(self.state.built_on)
        self.state.ready = old.state.ready or was_ready
        return built_now

    def keep_detector(self, name: str, old: ModelRuntime) -> None:
        """After :meth:`carry_from`: detector ``name`` is unchanged by the reload, keep its window."""
        self.state.detectors[name] = old.state.detectors[name]

    def set_built_on(self, built_on: dict[str, str]) -> None:
        self.state.built_on = built_on

    # reference ----------------------------------------------------------------------------------------

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
        self._build(str(path), self.rows_to_columns(rows, self.reference_keys()), strict=True)

    def _build(self, origin: str, columns: dict[str, np.ndarray], *, strict: bool = False) -> None:
        """Build the detectors on the reference ``columns`` (keys as in :meth:`reference_keys`, missing
        values as NaN / None), each through its class's declared ``build``.

        A reference file is read at start (``strict``): a detector it cannot build refuses the start. A reference
        gathered from the stream is valid records: a detector it cannot build (every value of its feature
        missing) is left :class:`Unbuilt`, reads as no data and says why, and the rest run."""
        if not len(columns[TS_KEY]):
            raise StartupError(f"The reference of model {self.model_id!r} ({origin}) holds no predictions.")
        st = self.state
        ref = Reference.of(columns)
        st.reference = ref
        st.built_on = {}  # detector -> the reference column it was constructed with
        for name, spec in self.specs.items():
            cls = detector_class(spec.kind)
            params = dict(spec.params)
            takes = inspect.signature(cls).parameters
            if cls.feeds == "pairs" and "threshold" in takes and "threshold" not in params:
                borrowed = self._rule_threshold(name)
                if borrowed is not None:
                    params["threshold"] = borrowed
                elif takes["threshold"].default is inspect.Parameter.empty:
                    # No rule reads it and the kind has no default: the detector's own flag never fires.
                    params["threshold"] = math.inf if cls.fires_when["statistic"] == ">" else -math.inf
            why_not = None
            if cls.takes_reference and cls.needs_reference:
                values = ref.values(spec.feature)
                if len(values) < 2:
                    why_not = (f"The reference of model {self.model_id!r} ({origin}) has {len(values)} usable "
                               f"value(s) for detector {name!r}; at least 2 are needed.")
            if why_not is None:
                try:
                    st.detectors[name] = cls.build(params, ref, column=spec.feature)
                except ValueError as e:
                    why_not = f"The reference of model {self.model_id!r} ({origin}) cannot build detector {name!r}: {e}"
                else:
                    if cls.takes_reference and cls.needs_reference:
                        st.built_on[name] = spec.feature or PREDICTION_KEY
                    continue
            if strict:
                raise StartupError(why_not)
            st.detectors[name] = Unbuilt(spec.kind, tuple(cls.statistics), why_not)
            log.error("detector_not_built", extra={"model": self.model_id, "detector": name, "why": why_not})
        st.ready = True
        log.info("reference_ready", extra={"model": self.model_id, "origin": origin})

    def _rule_threshold(self, detector: str) -> float | None:
        """A pair-fed detector without its own threshold borrows the first rule's on its statistic."""
        for rule in self.rules:
            for leaf in rule.condition.leaves:
                if leaf.detector == detector and leaf.statistic == "statistic":
                    return float(leaf.threshold)
        return None

    # records, one at a time (the line path) -----------------------------------------------------------

    def add_prediction(self, p: Prediction) -> bool:
        """Take one prediction; returns True when a batch is due for evaluation."""
        st = self.state
        st.n_predictions += 1
        st.clock_ts = max(st.clock_ts, p.ts)
        st.by_id.add(p.id, p.prediction, p.ts, awaiting=p.label is None)
        if not st.ready:
            st.reference_rows.append(p)
            if self.reference_target is not None and len(st.reference_rows) >= self.reference_target:
                rows, st.reference_rows = st.reference_rows, []
                self._build(f"first {len(rows)} records", self.rows_to_columns(rows, self.reference_keys()))
            return False
        st.batch.predictions.append(p)
        st.recent.append((p.ts, p.line))
        st.versions.append(p.version)
        st.window.append(p)
        if p.label is not None:
            st.batch.pairs_pred.append(p.prediction)
            st.batch.pairs_label.append(p.label)
        return st.batch.n >= self.interval

    def label_horizon(self) -> float | None:
        """Predictions made before this data time no longer take labels (None: no time bound)."""
        return None if self.label_window is None else self.state.clock_ts - self.label_window

    def awaiting_labels(self) -> int:
        """Predictions in the join that may still take their label."""
        return self.state.by_id.awaiting(self.label_horizon())

    def seen(self, rid: str) -> bool:
        """True when ``rid`` is among this model's recent prediction ids (a duplicate)."""
        return rid in self.state.by_id

    @property
    def recent_ids(self) -> RecentPredictions:
        """The recent prediction ids, for the table path's duplicate check (read only)."""
        return self.state.by_id

    def add_label(self, lab: Label) -> bool:
        """Join a late label to its prediction; returns False when the prediction is unknown."""
        st = self.state
        found, pred = st.by_id.take(lab.id, self.label_horizon())
        if not found:
            st.n_labels_unmatched += 1
            return False
        st.n_labels_joined += 1
        if st.ready:
            st.batch.pairs_pred.append(pred)
            st.batch.pairs_label.append(lab.label)
        return True

    def count_type_error(self) -> None:
        """A record of this model was quarantined for a type error (fed to the "counts" detectors)."""
        self.state.type_errors_pending += 1

    # records from a validated table (the columnar path, driven by watchdog.engine.tables) ----------------

    def reference_from_rows(self, d: ModelRows, rows: np.ndarray) -> None:
        """The model's whole reference lies in these rows of a table: build its detectors from column slices."""
        st = self.state
        columns = {key: _column_of(d, key)[rows] for key in self.reference_keys()}
        st.n_predictions += int(rows.size)
        st.clock_ts = max(st.clock_ts, float(columns[TS_KEY].max()))
        self._build(f"first {rows.size} records", columns)

    def join_rows(self, d: ModelRows, rows: np.ndarray) -> None:
        """Rows into the label join: the pairs of those that carry their label (in row order with the late
        labels' pairs) and the model's clock; their ids follow with :meth:`commit_ids`."""
        st = self.state
        b = st.batch
        if b.predictions or b.pairs_pred:
            self.seal()
        st.clock_ts = max(st.clock_ts, float(d.ts[rows].max()))
        labelled = ~d.label_null[rows]
        if labelled.any():
            dtype = float if self.schema.prediction_type == "numeric" else object
            b.pair_chunks.append((d.prediction[rows[labelled]].astype(dtype), d.label[rows[labelled]].astype(dtype)))

    def column_rows(self, d: ModelRows, rows: np.ndarray, lines: np.ndarray) -> None:
        """Rows into the detectors' columns (and the evidence's recent window)."""
        st = self.state
        b = st.batch
        if b.predictions:
            self.seal()
        chunk, skipped = {}, {}
        tails = self.column_tails()
        for key in self.column_keys():
            col = _column_of(d, key)
            need = tails.get(key)
            if need is not None and rows.size > need and col.dtype.kind == "f" and not _has_gap(d, col):
                # every detector of this column slides over at most ``need`` values: the rows before those
                # would only pass through, so they are counted, not copied
                chunk[key] = col[rows[rows.size - need:]]
                skipped[key] = rows.size - need
            else:
                chunk[key] = col[rows]
        b.chunks.append(chunk)
        b.chunk_skipped.append(skipped)
        b.chunk_rows += rows.size
        st.n_predictions += int(rows.size)
        w = st.recent.maxlen or rows.size
        tail = rows[-w:]
        st.recent.extend(zip(d.ts[tail].tolist(), lines[tail].tolist(), strict=True))
        st.versions.extend(d.versions[tail].tolist())
        if self._table_ids is None:
            raise RuntimeError("column_rows needs the table's ids: call reading_table first")
        st.window.extend(self._table_ids.take(pa.array(tail)), d.ts[tail],
                         {k: _column_of(d, k)[tail] for k in self.window_keys})

    def reading_table(self, ids: pa.Array | None) -> None:
        """The ids of the table whose rows :meth:`column_rows` takes next (None when it is done)."""
        self._table_ids = ids

    def commit_ids(self, d: ModelRows, ids: pa.Array, rows: np.ndarray, table_ids: list[list[str]]) -> None:
        """Add predictions (table rows, in order) to the model's recent ids and label join (a few rows between
        late labels take their ids from the table's list, ``table_ids[0]``, when it was made)."""
        tail = rows[-self.join_capacity:]  # the earlier ones would leave the join at once
        picked = ([table_ids[0][r] for r in tail.tolist()] if table_ids and tail.size <= FEW
                  else ids.take(pa.array(tail)))
        self.state.by_id.add_many(picked, d.prediction[tail], d.ts[tail], d.label_null[tail],
                                  before=rows.size - tail.size)

    # columns and feeding ------------------------------------------------------------------------------

    def column_keys(self) -> dict[str, str]:
        """The columns the detectors read: feature name, PREDICTION_KEY or TS_KEY -> its value type."""
        out: dict[str, str] = {}
        for spec in self.specs.values():
            cls = detector_class(spec.kind)
            if cls.feeds == "time":
                out[TS_KEY] = "time"
            elif cls.feeds == "values":
                out[spec.feature or PREDICTION_KEY] = cls.input_kind
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
        b = self.state.batch
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
        """Feed the pending batch to the detectors as columns, each as its ``feeds`` says; returns the
        predictions fed."""
        st = self.state
        if not st.ready:
            st.batch = Batch()
            return 0
        self.seal()
        b, st.batch = st.batch, Batch()
        fed_errors = st.type_errors_pending
        pair_dtype = float if self.schema.prediction_type == "numeric" else object
        for name, spec in self.specs.items():
            det: Any = st.detectors[name]
            feeds = det.feeds
            if feeds == "unbuilt":
                continue
            if feeds == "pairs":
                if b.pair_chunks:
                    p = np.concatenate([c[0] for c in b.pair_chunks]).astype(pair_dtype, copy=False)
                    y = np.concatenate([c[1] for c in b.pair_chunks]).astype(pair_dtype, copy=False)
                    det.update_many(p, y)
                continue
            if feeds == "counts":  # the good predictions against those quarantined for a type error
                det.add_counts(ok=b.chunk_rows, errors=st.type_errors_pending)
                continue
            if not b.chunk_rows:
                continue
            if feeds == "time":
                parts = [c[TS_KEY] for c in b.chunks]
                stamps = parts[0] if len(parts) == 1 else np.concatenate(parts)
                # Arrivals out of order are valid records; the clocked detectors count arrivals in order.
                det.update_many(np.maximum.accumulate(np.maximum(stamps, det.last_record)))
                continue
            key = spec.feature or PREDICTION_KEY
            everything = det.reads_missing  # the missing values are what it counts
            arr, skipped = _column_batch(b, key, everything)
            if not everything:
                arr = present(arr)
            if skipped and det.keeps_last is not None and arr.size >= det.window:
                det.update_tail(arr, skipped)
            elif arr.size:
                # (a detector added by a reload while the batch held cut columns gets what is left)
                det.update_many(arr)
        st.type_errors_pending -= fed_errors
        return b.chunk_rows

    def column_tails(self) -> dict[str, int]:
        """Columns whose every detector is a pure sliding window: key -> the most values of a batch any of
        them can keep. The table path may hand those detectors only a batch's last values."""
        need: dict[str, int] = {}
        whole: set[str] = set()
        for name, spec in self.specs.items():
            det: Any = self.state.detectors[name]
            if det.feeds != "values":
                continue
            key = spec.feature or PREDICTION_KEY
            keep = det.keeps_last  # sequential detectors keep more than a window: None
            if keep is None:
                whole.add(key)
            else:
                need[key] = max(need.get(key, 0), keep)
        return {k: v for k, v in need.items() if k not in whole}

    def _timed(self) -> list[str]:
        return [n for n, spec in self.specs.items() if detector_class(spec.kind).feeds == "time"]

    def time_rules(self) -> list[str]:
        """The rules whose every comparison reads a time-fed detector (evaluated on the clock's ticks)."""
        timed = set(self._timed())
        if not timed:
            return []
        return [r.name for r in self.rules if all(leaf.detector in timed for leaf in r.condition.leaves)]

    def observe_time(self, now: float) -> None:
        """Tell the time-fed detectors the time (never back: records and ticks interleave)."""
        for name in self._timed():
            det: Any = self.state.detectors[name]
            if det.feeds == "time":  # (an Unbuilt one is told nothing)
                det.observe_time(max(float(now), det.now))

    def signals(self) -> dict[str, Signal]:
        """Every detector's signal for the rules; a detector that is not ``ready`` reads as no data."""
        wanted = self.read_statistics()
        out = {}
        for name, det in self.state.detectors.items():
            values = _Statistics(det, wanted.get(name, ()))
            if not det.ready:  # e.g. a rate needs one whole interval of time seen
                out[name] = Signal(values={s: math.nan for s in values}, n=int(det.n))
            else:
                out[name] = Signal(values=values, n=int(det.n))
        return out

    def read_statistics(self) -> dict[str, tuple[str, ...]]:
        """Per detector, the statistics an evaluation offers: its primary one and those the rules compare.

        Each is computed when first read (see :class:`_Statistics`): the rules read the ones they compare,
        an observer such as the weekly report's recorder reads all of them; /metrics and incident
        evidence read every statistic of the detector."""
        if self._wanted is None or self._wanted[0] is not self.rules:
            wanted: dict[str, set[str]] = {name: {"statistic"} for name in self.specs}
            for rule in self.rules:
                for leaf in rule.condition.leaves:
                    if leaf.detector in wanted:
                        wanted[leaf.detector].add(leaf.statistic)
            self._wanted = (self.rules, {n: tuple(sorted(w)) for n, w in wanted.items()})
        return self._wanted[1]

    def change_location(self, det: Any) -> dict[str, Any] | None:
        """Where the change a detector fired on began (:class:`detectors.protocol.Locating`), as records: the
        value's position, how many values back from the decision, and the line and data time of that
        prediction (and its id) while it is among the recent ones (counted back one value a prediction:
        approximate when the feature had missing values). None when the detector does not say."""
        if not isinstance(det, Locating) or det.change_point is None:
            return None
        back = int(getattr(det, "n_seen", 0)) - int(det.change_point)  # the changed value and all after it
        out: dict[str, Any] = {"value_index": int(det.change_point), "values_since": back}
        recent = self.state.recent
        if 0 < back <= len(recent):
            ts, line = recent[-back]
            out |= {"line": line, "ts": iso_utc(ts)}
        if 0 < back <= len(self.state.window):
            out["id"] = self.state.window.last(back).ids[0]
        return out

    def window_bounds(self, n: int) -> dict[str, Any]:
        """The records spanned by the last ``n`` predictions (for the evidence)."""
        recent = self.state.recent
        if not recent:
            return {}
        n = max(1, min(n, len(recent)))
        first_ts, first_line = recent[-n]
        last_ts, last_line = recent[-1]
        return {"first_ts": iso_utc(first_ts), "last_ts": iso_utc(last_ts), "first_line": first_line,
                "last_line": last_line, "records": n}


def _column_of(d: ModelRows, key: str) -> np.ndarray:
    """A detector column of one model's validated rows: the prediction, the timestamps or a feature."""
    if key == PREDICTION_KEY:
        return d.prediction
    if key == TS_KEY:
        return d.ts
    col: np.ndarray = d.cols[key]
    return col


def _has_gap(d: ModelRows, col: np.ndarray) -> bool:
    """Whether ``col`` has a missing value anywhere (found once per table and column: the table's models share
    the cache, and the converted columns they read)."""
    if id(col) not in d.has_nan:
        d.has_nan[id(col)] = bool(np.isnan(col).any())
    return d.has_nan[id(col)]


def _column_batch(b: Batch, key: str, everything: bool) -> tuple[np.ndarray, int]:
    """Column ``key`` of a batch's chunks, from the last chunk that was cut on: its values and how many
    values came before them (non-missing ones, or all when ``everything``)."""
    cut = max((i for i, sk in enumerate(b.chunk_skipped) if sk.get(key)), default=None)
    parts = [c[key] for c in b.chunks]
    if cut is None:
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), 0
    before = b.chunk_skipped[cut][key]
    for p, sk in zip(parts[:cut], b.chunk_skipped[:cut], strict=True):  # pushed out by the cut chunk's values
        before += sk.get(key, 0) + (p.size if everything else present(p).size)
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
