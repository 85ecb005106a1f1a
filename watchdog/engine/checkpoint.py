"""Restart without forgetting: the engine's whole state and the sources' positions, saved together.

A checkpoint holds, per model: every detector's snapshot (reference summary and window), the reference rows
gathered so far while ``first_n`` is not yet reached, the window of recent predictions by request id (the
duplicate check and the label join, with their data times), the pending micro-batch, the counters and the
recent window bounds used in evidence; and for the engine: the rule evaluator's snapshot and the quarantine
counts. :func:`save` writes it in ONE transaction with the position of every source (``source_offsets``), so
the state and the offsets always agree: after a SIGKILL the watchdog restores the state and re-reads every
record after the saved positions (none is skipped, none is counted twice in a detector). Incidents are keyed
by a deterministic id and actions are idempotent per incident, so re-reading never duplicates an action.

Restoring under a changed policy keeps what still fits: a model's state is restored only when its
definition (features, reference, detectors) is unchanged (compared by fingerprint), and the evaluator
keeps the state of every rule whose definition is unchanged. Everything else starts fresh and is
named in the returned list and the log.

State is plain JSON (orjson), so a checkpoint can be read and diffed by people.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from watchdog.engine.engine import Engine
from watchdog.engine.model import CheckpointError, array_json, columns_digest
from watchdog.store.store import DEFAULT_INSTANCE, Store

__all__ = ["DEFAULT_INSTANCE", "Checkpoint", "CheckpointError", "columns_digest", "dumps", "load", "resume", "save",
           "save_offset"]

log = logging.getLogger("watchdog.checkpoint")



def _columns_json(columns: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: array_json(v) for k, v in columns.items()}, option=orjson.OPT_SORT_KEYS)


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
    text = dumps(engine.snapshot(references))
    named = " ".join(sorted(references))
    with store.transaction():
        for digest, rt in references.items():
            if store.query_one("SELECT 1 AS x FROM reference_samples WHERE digest = ?", (digest,)) is None:
                store.execute("INSERT INTO reference_samples (digest, model, created_at, data) VALUES (?,?,?,?)"
                              " ON CONFLICT DO NOTHING",
                              (digest, rt.model_id, now, _columns_json(rt.reference.columns).decode()))
        store.execute(
            "INSERT INTO checkpoints (instance, policy_hash, taken_at, records, state, reference_digests)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (instance) DO UPDATE SET policy_hash = excluded.policy_hash,"
            " taken_at = excluded.taken_at, records = excluded.records, state = excluded.state,"
            " reference_digests = excluded.reference_digests",
            (instance, engine.policy.hash, now, records, text, named),
        )
        # samples that no checkpoint (of any instance) names any more: a policy changed a model's reference
        kept = {d for r in store.query("SELECT reference_digests FROM checkpoints")
                for d in r["reference_digests"].split()}
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
    fresh = engine.restore(cp.state)
    log.info("checkpoint_restored", extra={"instance": instance, "records": cp.records, "taken_at": cp.taken_at,
                                           "sources": sorted(cp.positions), "fresh": fresh})
    return cp
