"""An incident's evidence: a document any operator computes alike from the same records and policy.

Two watchdogs run by different operators on the same records and policy must name an incident alike and
hash its evidence alike, whatever their ingest path (file, HTTP, stream), line numbers or clocks. So the
hashed document holds only what the records and the policy determine; an operator's line numbers, counts
across models and the like go beside it (:func:`local_context`, kept in the incident's audit line).

Public formats (another implementation must be able to recompute every hash from this text)
---------------------------------------------------------------------------------------------

*Canonical JSON*: UTF-8, object keys sorted by code point, no whitespace (``","`` and ``":"``), strings as
they are (no ``\\u`` escapes but the ones JSON requires), no NaN or infinity; a number is an IEEE-754 double
printed as the shortest decimal that reads back to it, in Python's ``repr`` form (``5.0``, ``1e-07``), and an
integer as digits.

*Record leaf*: the Merkle leaf (:mod:`watchdog.evidence.merkle`: ``keccak256(0x00 || data)``) of one
prediction in the detectors' window, with ``data`` the canonical JSON of::

    {"record": {"model": <model id>, "id": <record id>, "ts_us": <data time, integer microseconds since
                1970-01-01T00:00:00Z, rounded to nearest>,
                "features": {<each feature a detector of the model reads>: <number | string | null>},
                "prediction": <number | string | null>}}     # only when a detector reads the prediction

A numeric value is the double the record's JSON number reads as (``5`` is ``5.0``); a missing value is null.

*Reference leaf*: the leaf with ``data`` the canonical JSON of ``{"reference": {"model": <model id>,
"sha256": <digest>}}``, where the digest is SHA-256 over, for each column of the reference in sorted order of
its name (a feature, ``"\\u0000prediction"``, ``"\\u0000ts"``): the name as JSON, then the column's values as
little-endian float64 (NaN where missing; ts in seconds) or, for a categorical column, as a JSON list
(:func:`watchdog.engine.model.columns_digest`).

*The tree*: the record leaves oldest first, then the reference leaf; its root is ``window.merkle_root``.

*Detector state hash*: keccak-256 of the canonical JSON of the detector's snapshot without its reference
sample (:meth:`detectors.base.Detector.snapshot` with ``omit=("reference",)``), where every ring buffer
``{"data": [...], "pos": p}`` is written oldest value first as ``{"data": data[p:] + data[:p]}`` (the same
window stored from another starting position hashes alike) and NaN / infinities as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

*Evidence hash*: keccak-256 of the evidence document as canonical JSON (:func:`evidence_hash`); it is what
the monitor contract stores with a pause or rollback.

*Incident id*: keccak-256 of the canonical JSON of ``{"policy_hash", "model", "rule", "record": {"id",
"ts_us"} of the decisive record (the last one the detectors were fed; null when none)}`` (:func:`incident_id`).
No clock is in it: a rule that reads only time-fed detectors (a stopped feed) fires on a tick of the operator's
clock, at a moment that differs between operators and between one run and its restart; named after the last
record instead, the one episode is one incident for all of them. (A rule cannot fire twice on one decisive
record: after it fires it resolves only on a later evaluation, and only new records move the last one.)

*Bundle* (``watchdog evidence export``): JSON ``{"format": "watchdog-evidence-bundle/1", "incident_id",
"evidence_hash", "evidence", "leaves": [{"id": <record id> | "reference": <sha256>, "hash": "0x.."}, ...],
"records": [<the window's raw records, as JSON objects>] (only when asked), "policy": {"hash", "text"}
(when the policy file was given)}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from eth_utils import keccak

import watchdog
from watchdog.engine.model import PREDICTION_KEY, ModelRuntime
from watchdog.engine.ring import Window
from watchdog.errors import WatchdogError
from watchdog.evidence.merkle import leaf_hash, merkle_root
from watchdog.fmt import finite, iso_utc

FORMAT = 1  # of the evidence document
BUNDLE_FORMAT = "watchdog-evidence-bundle/1"


class EvidenceError(WatchdogError, ValueError):
    """A bundle, log or policy that cannot be read or checked at all (the message says which and why)."""


def canonical_json(obj: Any) -> bytes:
    """``obj`` as canonical JSON (see the module docstring)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def evidence_hash(evidence_json: bytes) -> str:
    """The keccak-256 of an evidence document's canonical JSON, as 0x-hex."""
    return "0x" + keccak(evidence_json).hex()


def ts_us(ts: float) -> int:
    """A data time in seconds as integer microseconds (the leaves' and the incident id's time)."""
    return round(ts * 1e6)


def _value(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return float(v)  # a JSON integer reads as the same double the engine's columns hold
    return v


def record_doc(model: str, rid: str, ts: float, values: Mapping[str, Any]) -> dict[str, Any]:
    """The document a record leaf hashes (``values`` keyed as the engine's columns: a feature or
    PREDICTION_KEY)."""
    rec: dict[str, Any] = {"model": model, "id": rid, "ts_us": ts_us(ts),
                           "features": {k: _value(v) for k, v in values.items() if k != PREDICTION_KEY}}
    if PREDICTION_KEY in values:
        rec["prediction"] = _value(values[PREDICTION_KEY])
    return {"record": rec}


def record_leaf(model: str, rid: str, ts: float, values: Mapping[str, Any]) -> bytes:
    return leaf_hash(canonical_json(record_doc(model, rid, ts, values)))


def reference_leaf(model: str, digest: str) -> bytes:
    return leaf_hash(canonical_json({"reference": {"model": model, "sha256": digest}}))


@dataclass(frozen=True)
class Leaf:
    """One leaf of an incident's tree: a record (``id``) or the reference (``reference``: its sha256)."""

    hash: bytes
    id: str | None = None
    reference: str | None = None

    def to_json(self) -> dict[str, str]:
        name = {"id": self.id} if self.id is not None else {"reference": str(self.reference)}
        return name | {"hash": "0x" + self.hash.hex()}


def window_leaves(rt: ModelRuntime, window: Window) -> list[Leaf]:
    """The leaves of ``window`` (records of ``rt``), then the reference's, in tree order."""
    keys = list(window.values)
    cols = {k: window.values[k].tolist() for k in keys}
    out = [Leaf(record_leaf(rt.model_id, rid, float(t), {k: cols[k][i] for k in keys}), id=rid)
           for i, (rid, t) in enumerate(zip(window.ids, window.ts.tolist(), strict=True))]
    ref = rt.reference
    if ref is not None:
        out.append(Leaf(reference_leaf(rt.model_id, ref.digest), reference=ref.digest))
    return out


def _plain(obj: Any) -> Any:
    """A snapshot made canonical: ring buffers oldest first, non-finite floats as strings."""
    if isinstance(obj, Mapping):
        if set(obj) == {"data", "pos"} and isinstance(obj["data"], list):
            p = int(obj["pos"])
            data = obj["data"]
            return {"data": _plain(data[p:] + data[:p])}
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    return obj


def state_hash(det: Any) -> str:
    """The detector's state hash (see the module docstring)."""
    return "0x" + keccak(canonical_json(_plain(det.snapshot(omit=("reference",))))).hex()


def incident_id(policy_hash: str, model: str, rule: str, record: Mapping[str, Any] | None) -> str:
    """The incident id (see the module docstring); ``record`` is ``{"id", "ts_us"}`` of the decisive one."""
    return "0x" + keccak(canonical_json({"policy_hash": policy_hash, "model": model, "rule": rule,
                                         "record": None if record is None else dict(record)})).hex()


@dataclass(frozen=True)
class Built:
    """What :func:`build` makes of a decision: the hashed document, its leaves, the incident id."""

    evidence: dict[str, Any]
    leaves: list[Leaf]
    incident_id: str

    @property
    def json(self) -> bytes:
        return canonical_json(self.evidence)

    @property
    def hash(self) -> str:
        return evidence_hash(self.json)


def build(rt: ModelRuntime, d: Any) -> Built:
    """The evidence of decision ``d`` (a fire) of model ``rt``, from the records and the policy alone."""
    det: Any = rt.detectors[d.detector]
    spec = rt.specs[d.detector]
    ring = rt.window
    n = max(1, min(int(det.n), len(ring))) if len(ring) else 0
    win = ring.last(n)
    leaves = window_leaves(rt, win)
    decisive = None
    if len(win):
        decisive = {"id": win.ids[-1], "ts_us": ts_us(float(win.ts[-1]))}
    decided_at = iso_utc(d.at)
    window: dict[str, Any] = {"records": len(win), "leaves": len(leaves)}
    if len(win):
        window |= {"first_id": win.ids[0], "first_ts": iso_utc(float(win.ts[0])),
                   "last_id": win.ids[-1], "last_ts": iso_utc(float(win.ts[-1]))}
    if leaves:
        window["merkle_root"] = "0x" + merkle_root([lf.hash for lf in leaves]).hex()
    change = rt.change_location(det)
    if change is not None:
        change.pop("line", None)  # an operator's line number: in the local context
    evidence: dict[str, Any] = {
        "format": FORMAT,
        "watchdog_version": watchdog.__version__,
        "model": d.model,
        "module": d.module,
        "rule": d.rule,
        "tier": d.tier,
        "policy_hash": d.policy_hash,
        "decided_at": decided_at,
        "decisive_record": None if decisive is None else {**decisive, "ts": iso_utc(float(win.ts[-1]))},
        "condition": {"detector": d.detector, "statistic": d.statistic, "op": d.op,
                      "threshold": d.threshold, "observed": finite(d.value)},
        "consecutive_evaluations": d.consecutive,
        "detector": {"name": d.detector, "kind": spec.kind, "feature": spec.feature,
                     "params": _plain(dict(spec.params)), "state_hash": state_hash(det),
                     "window_samples": int(det.n), "samples_seen": int(getattr(det, "n_seen", 0)),
                     "statistics": {s: finite(float(det.read(s))) for s in det.statistics}},
        "window": window,
        "reference": None if rt.reference is None else {"sha256": rt.reference.digest},
        "change": change,  # where the change began, not where it was detected
        "versions_in_window": sorted(set(rt.versions)),
        # the model's records since its stream began (the same for any operator that read that stream)
        "counts": {"predictions": rt.n_predictions, "labels_joined": rt.n_labels_joined,
                   "labels_unmatched": rt.n_labels_unmatched},
        "dry_run": d.dry_run,  # the policy's shadow mode (an operator's --dry-run is in the incident row)
        "suppressed": d.suppressed,  # a cooldown or the module's budget held the on-chain actions back
    }
    if len(d.conditions) > 1:  # a compound condition: every comparison with its value
        evidence["conditions"] = [c.to_dict() for c in d.conditions]
    return Built(evidence, leaves, incident_id(d.policy_hash, d.model, d.rule, decisive))


def local_context(rt: ModelRuntime, d: Any, n_quarantined: int, operator_dry_run: bool) -> dict[str, Any]:
    """What one operator saw of the incident and another may not (line numbers in its files, records of
    every model it quarantined, its --dry-run): kept beside the evidence in the ``incident_opened`` audit
    line, never hashed."""
    det: Any = rt.detectors[d.detector]
    out: dict[str, Any] = {"decisive_line": d.record_index, "window_lines": {}, "change_line": None,
                           "quarantined_all_models": n_quarantined, "operator_dry_run": operator_dry_run}
    bounds = rt.window_bounds(int(det.n))
    if bounds:
        out["window_lines"] = {"first_line": bounds["first_line"], "last_line": bounds["last_line"]}
    change = rt.change_location(det)
    if change is not None:
        out["change_line"] = change.get("line")
    return out


def with_local(evidence: Mapping[str, Any], audit: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """For a reader such as the report: a copy of ``evidence`` with this operator's line numbers from its
    ``incident_opened`` audit row (``decisive_line``, ``window.first_line`` / ``last_line``, ``change.line``).
    The evidence as hashed is the stored one; this copy is never hashed."""
    out = dict(evidence)
    local = next((json.loads(r["detail"]).get("local") for r in audit if r.get("event") == "incident_opened"), None)
    if not isinstance(local, dict):
        return out
    out["decisive_line"] = local.get("decisive_line")
    if isinstance(out.get("window"), dict):
        out["window"] = {**out["window"], **(local.get("window_lines") or {})}
    if isinstance(out.get("change"), dict) and local.get("change_line") is not None:
        out["change"] = {**out["change"], "line": local["change_line"]}
    return out


def export(store: Any, incident: str, *, policy_text: str | None = None,
           log_lines: Iterable[bytes] | None = None) -> dict[str, Any]:
    """The bundle of incident ``incident`` from the store (see the module docstring); with ``log_lines``, the
    window's raw records from that log; with ``policy_text``, the policy. :class:`EvidenceError` when the
    incident is unknown or was opened before the evidence had leaves."""
    inc = store.incident(incident)
    if inc is None:
        raise EvidenceError(f"The store has no incident {incident}; `watchdog status` lists the incidents.")
    rows = store.query("SELECT detail FROM audit WHERE incident_id = ? AND event = 'incident_opened' ORDER BY id",
                       (inc.id,))
    detail = json.loads(rows[0]["detail"]) if rows else {}
    if "leaves" not in detail:
        raise EvidenceError(f"Incident {inc.id} was opened by a watchdog older than the evidence format "
                            f"{FORMAT}: the store does not hold its Merkle leaves, so it cannot be exported.")
    ev = inc.evidence_data
    out: dict[str, Any] = {"format": BUNDLE_FORMAT, "incident_id": inc.id, "evidence_hash": inc.evidence_hash,
                           "evidence": ev, "leaves": detail["leaves"]}
    if policy_text is not None:
        out["policy"] = {"hash": ev.get("policy_hash"), "text": policy_text}
    if log_lines is not None:
        want = {lf["id"] for lf in detail["leaves"] if "id" in lf}
        found: dict[str, Any] = {}
        for raw in log_lines:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if (isinstance(rec, dict) and rec.get("model") == ev.get("model") and "features" in rec
                    and rec.get("id") in want and rec["id"] not in found):
                found[rec["id"]] = rec
        out["records"] = [found[lf["id"]] for lf in detail["leaves"] if lf.get("id") in found]
    return out
