"""Restart without forgetting: the engine's whole state and the sources' positions, saved together.

A checkpoint holds, per model: every detector's snapshot (reference summary and window), the
reference rows gathered so far while ``first_n`` is not yet reached, the window of recent predictions
by request id (the duplicate check and the label join, with their data times), the pending micro-batch, the counters and the recent window bounds used in evidence; and for the engine: the rule
evaluator's snapshot and the quarantine counts. :func:`save` writes it in ONE transaction with the
position of every source (``source_offsets``), so the state and the offsets always agree: after a
SIGKILL the watchdog restores the state and re-reads every record after the saved positions (none is
skipped, none is counted twice in a detector). Incidents are keyed by a deterministic id and actions
are idempotent per incident, so re-reading never duplicates an action.

Restoring under a changed policy keeps what still fits: a model's state is restored only when its
definition (features, reference, detectors) is unchanged (compared by fingerprint), and the evaluator
keeps the state of every rule whose definition is unchanged. Everything else starts fresh and is
named in the returned list and the log.

State is plain JSON (orjson), so a checkpoint can be read and diffed by people.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

import detectors

from watchdog.fmt import finite
from watchdog.ingest.records import Prediction

if TYPE_CHECKING:
    from watchdog.engine.engine import Engine, ModelRuntime
    from watchdog.store.store import Store

log = logging.getLogger("watchdog.checkpoint")

FORMAT = 2  # 2: one window of recent predictions by id (duplicates and the label join)
DEFAULT_INSTANCE = "default"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit this engine (the message says which part)."""


# engine state <-> JSON ---------------------------------------------------------------------------


def model_fingerprint(model: Any) -> str:
    """A hash of what a model's state depends on: features, prediction type, reference, detectors."""
    dump = model.model_dump(mode="json") if hasattr(model, "model_dump") else repr(model)
    return hashlib.sha256(orjson.dumps(dump, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _pred(p: Prediction) -> list[Any]:
    return [p.model, p.version, p.ts, p.id, p.features, p.prediction, p.label, p.line]


def _unpred(row: list[Any]) -> Prediction:
    model, version, ts, rid, features, prediction, label, line = row
    return Prediction(model, version, float(ts), rid, dict(features), prediction, label, int(line))


def _array(a: Any) -> dict[str, Any]:
    """A column chunk as JSON: numbers with null for NaN, or objects (categories, None)."""
    if a.dtype == object:
        return {"dtype": "object", "values": a.tolist()}
    vals = a.astype(float)
    return {"dtype": "float", "values": [None if math.isnan(v) else v for v in vals.tolist()]}


def _unarray(d: Mapping[str, Any]) -> Any:
    import numpy as np

    if d["dtype"] == "object":
        return np.asarray(d["values"], dtype=object)
    return np.asarray([math.nan if v is None else v for v in d["values"]], dtype=float)


def _columns_json(columns: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: _array(v) for k, v in columns.items()}, option=orjson.OPT_SORT_KEYS)


def columns_digest(columns: Mapping[str, Any]) -> str:
    """The SHA-256 of a reference's columns (names, then float bytes or the categories as JSON): the name it
    is stored under. Columns read back from their JSON give the same digest."""
    h = hashlib.sha256()
    for key in sorted(columns):
        a = columns[key]
        h.update(orjson.dumps(key))
        h.update(orjson.dumps(a.tolist()) if a.dtype == object else a.astype("<f8").tobytes())
    return h.hexdigest()


def snapshot_runtime(rt: ModelRuntime, references: dict[str, Any] | None = None) -> dict[str, Any]:
    """The runtime's state; its reference's columns inline, or, when ``references`` is given, only the
    reference's digest, with the runtime left in ``references[digest]`` for the caller to store."""
    b = rt.batch
    reference: dict[str, Any] | None = None
    if rt.reference_columns is not None:
        reference = {"digest": rt.reference_digest}
        if references is None:
            reference["columns"] = {k: _array(v) for k, v in rt.reference_columns.items()}
        else:
            references[rt.reference_digest] = rt
    out: dict[str, Any] = {
        "fingerprint": model_fingerprint(rt.model),
        "ready": rt.ready,
        # a detector constructed with the reference sample is saved without it: it comes from "reference"
        "detectors": {name: det.snapshot(omit=("reference",) if name in rt.built_on else ())
                      for name, det in rt.detectors.items()},
        "built_on": dict(rt.built_on),
        "reference_rows": [_pred(p) for p in rt.reference_rows],
        "reference": reference,
        "by_id": rt.by_id.snapshot(),
        "batch": {"predictions": [_pred(p) for p in b.predictions], "pairs_pred": list(b.pairs_pred),
                  "pairs_label": list(b.pairs_label),
                  # column chunks of the columnar path (Parquet / CSV), in arrival order before the rows
                  "chunks": [{k: _array(v) for k, v in c.items()} for c in getattr(b, "chunks", [])],
                  "chunk_skipped": b.chunk_skipped,
                  "chunk_rows": getattr(b, "chunk_rows", 0),
                  "pair_chunks": [[_array(p), _array(y)] for p, y in getattr(b, "pair_chunks", [])]},
        "n_predictions": rt.n_predictions,
        "n_labels_joined": rt.n_labels_joined,
        "n_labels_unmatched": rt.n_labels_unmatched,
        "type_errors_pending": getattr(rt, "type_errors_pending", 0),
        "recent": [list(x) for x in rt.recent],
        "versions": list(rt.versions),
    }
    out["clock_ts"] = finite(rt.clock_ts)
    return out


def restore_runtime(rt: ModelRuntime, s: Mapping[str, Any]) -> None:
    from watchdog.engine.engine import Batch

    ref = s["reference"]
    if ref is not None:
        if "columns" not in ref:
            raise CheckpointError(f"the reference {ref['digest']} of model {rt.model_id!r} is not in the store")
        rt.reference_columns = {k: _unarray(v) for k, v in ref["columns"].items()}
        rt.reference_digest = ref["digest"]
    rt.built_on = dict(s["built_on"])
    dets = {}
    for name, snap in s["detectors"].items():
        if name in rt.built_on and name in rt.specs:
            snap = {**snap, "params": {**snap["params"], "reference": rt.reference_values(rt.specs[name])}}
        dets[name] = detectors.Detector.restore(snap)
    if s["ready"] and set(dets) != set(rt.specs):
        raise CheckpointError(f"the checkpoint of model {rt.model_id!r} has detectors {sorted(dets)}, "
                              f"the policy {sorted(rt.specs)}")
    rt.detectors = dets
    rt.ready = bool(s["ready"])
    rt.reference_rows = [_unpred(r) for r in s["reference_rows"]]
    rt.by_id.restore(s["by_id"])
    bs = s["batch"]
    rt.batch = Batch(predictions=[_unpred(r) for r in bs["predictions"]], pairs_pred=list(bs["pairs_pred"]),
                     pairs_label=list(bs["pairs_label"]))
    if bs.get("chunks") or bs.get("pair_chunks"):
        rt.batch.chunks = [{k: _unarray(v) for k, v in c.items()} for c in bs["chunks"]]
        rt.batch.chunk_skipped = [{str(k): int(v) for k, v in sk.items()} for sk in bs["chunk_skipped"]]
        rt.batch.chunk_rows = int(bs["chunk_rows"])
        rt.batch.pair_chunks = [(_unarray(p), _unarray(y)) for p, y in bs["pair_chunks"]]
    rt.n_predictions = int(s["n_predictions"])
    rt.n_labels_joined = int(s["n_labels_joined"])
    rt.n_labels_unmatched = int(s["n_labels_unmatched"])
    rt.type_errors_pending = int(s.get("type_errors_pending", 0))
    rt.recent = deque(((float(a), int(b)) for a, b in s["recent"]), maxlen=rt.recent.maxlen)
    rt.versions = deque(s["versions"], maxlen=rt.versions.maxlen)
    rt.clock_ts = -math.inf if s["clock_ts"] is None else float(s["clock_ts"])


def snapshot_engine(engine: Engine, references: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the engine needs to continue exactly where it was (plain JSON data); see
    :func:`snapshot_runtime` for ``references``."""
    return {
        "format": FORMAT,
        "policy_hash": engine.policy.hash,
        "evaluator": engine.evaluator.snapshot(),
        "models": {mid: snapshot_runtime(rt, references) for mid, rt in engine.runtimes.items()},
        "n_quarantined": engine.n_quarantined,
        "quarantine_by_reason": dict(engine.quarantine_by_reason),
    }


def restore_engine(engine: Engine, state: Mapping[str, Any]) -> list[str]:
    """Load :func:`snapshot_engine` output into a freshly built engine; returns what started fresh.

    Raises :class:`CheckpointError` for a snapshot of another format or a malformed one.
    """
    if not isinstance(state, Mapping) or state.get("format") != FORMAT:
        raise CheckpointError(f"not an engine checkpoint of format {FORMAT}")
    fresh: list[str] = []
    try:
        for mid, rt in engine.runtimes.items():
            s = state["models"].get(mid)
            if s is None:
                fresh.append(f"model {mid}: not in the checkpoint")
            elif s.get("fingerprint") != model_fingerprint(rt.model):
                fresh.append(f"model {mid}: its definition changed")
            else:
                restore_runtime(rt, s)
        for name in engine.evaluator.restore(state["evaluator"]):
            fresh.append(f"rule {name}: its definition changed")
        engine.n_quarantined = int(state["n_quarantined"])
        engine.quarantine_by_reason = {str(k): int(v) for k, v in state["quarantine_by_reason"].items()}
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"the engine checkpoint is malformed: {type(e).__name__}: {e}") from None
    for what in fresh:
        log.warning("checkpoint_partly_restored", extra={"what": what})
    return fresh


def _default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(state: Mapping[str, Any]) -> str:
    return orjson.dumps(state, default=_default).decode()


# the store ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    instance: str
    policy_hash: str
    taken_at: float
    records: int
    state: dict[str, Any]
    positions: dict[str, str]  # source name -> its position JSON


def save(store: Store, engine: Engine, positions: Mapping[str, str], now: float, *,
         instance: str = DEFAULT_INSTANCE, records: int = 0) -> int:
    """Write the engine's state and every source's position in one transaction; returns the state's size.

    Reference samples go to ``reference_samples`` once, by digest; the state names them."""
    references: dict[str, Any] = {}
    text = dumps(snapshot_engine(engine, references))
    named = " ".join(sorted(references))
    with store.transaction():
        for digest, rt in references.items():
            if store.query_one("SELECT 1 AS x FROM reference_samples WHERE digest = ?", (digest,)) is None:
                store.execute("INSERT INTO reference_samples (digest, model, created_at, data) VALUES (?,?,?,?)"
                              " ON CONFLICT DO NOTHING",
                              (digest, rt.model_id, now, _columns_json(rt.reference_columns).decode()))
        store.execute(
            "INSERT INTO checkpoints (instance, policy_hash, taken_at, records, state, reference_digests)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (instance) DO UPDATE SET policy_hash = excluded.policy_hash,"
            " taken_at = excluded.taken_at, records = excluded.records, state = excluded.state,"
            " reference_digests = excluded.reference_digests",
            (instance, engine.policy.hash, now, records, text, named),
        )
        # samples that no checkpoint (of any instance) names any more: a policy changed a model's reference
        kept = {d for r in store.query("SELECT reference_digests FROM checkpoints") for d in r["reference_digests"].split()}
        for r in store.query("SELECT digest FROM reference_samples"):
            if r["digest"] not in kept:
                store.execute("DELETE FROM reference_samples WHERE digest = ?", (r["digest"],))
        for source, position in positions.items():
            save_offset(store, source, position, now, instance=instance)
    return len(text)


def save_offset(store: Store, source: str, position: str, now: float, *, instance: str = DEFAULT_INSTANCE) -> None:
    store.execute(
        "INSERT INTO source_offsets (instance, source, position, updated_at) VALUES (?,?,?,?)"
        " ON CONFLICT (instance, source) DO UPDATE SET position = excluded.position,"
        " updated_at = excluded.updated_at",
        (instance, source, position, now),
    )


def load(store: Store, instance: str = DEFAULT_INSTANCE) -> Checkpoint | None:
    """The last checkpoint of ``instance`` with its source positions, or None when there is none."""
    with store.transaction():
        row = store.query_one("SELECT * FROM checkpoints WHERE instance = ?", (instance,))
        offsets = store.query("SELECT source, position FROM source_offsets WHERE instance = ?", (instance,))
    if row is None:
        return None
    try:
        state = orjson.loads(row["state"])
        for s in state.get("models", {}).values():  # put each reference's columns back in its place
            ref = s.get("reference") if isinstance(s, dict) else None
            if ref and "columns" not in ref:
                got = store.query_one("SELECT data FROM reference_samples WHERE digest = ?", (ref["digest"],))
                if got is not None:
                    ref["columns"] = orjson.loads(got["data"])
    except orjson.JSONDecodeError as e:
        raise CheckpointError(f"the checkpoint of instance {instance!r} is not valid JSON: {e}") from None
    return Checkpoint(instance, row["policy_hash"], float(row["taken_at"]), int(row["records"]), state,
                      {r["source"]: r["position"] for r in offsets})


def resume(store: Store, engine: Engine, instance: str = DEFAULT_INSTANCE) -> Checkpoint | None:
    """Restore ``engine`` from the last checkpoint, if any; returns it (its positions say where to re-read)."""
    cp = load(store, instance)
    if cp is None:
        return None
    fresh = restore_engine(engine, cp.state)
    log.info("checkpoint_restored", extra={"instance": instance, "records": cp.records, "taken_at": cp.taken_at,
                                           "sources": sorted(cp.positions), "fresh": fresh})
    return cp
