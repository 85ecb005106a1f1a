"""What the console reads from the store and the two things it writes (an acknowledgement, a veto).

Reads: the incidents with their actions (open ones first), the statistic's series around a decision
(``evaluation_stats``, kept by the evaluation recorder), the outbox's steps of an incident's actions
(intent, held until, signed and sent, with the confirmations the audit recorded), and each module's state.

A module's on-chain state comes from the monitor when the console is given a reader
(``module_info(module_id) -> (registered, paused, active_version)``, :meth:`MonitorClient.module_info`);
without one, from what the watchdog's own outbox recorded as mined or confirmed for that module.

Writes: :func:`acknowledge` (the same rows as ``POST /v1/incidents/{id}/ack``) and :func:`veto`, which is
:meth:`watchdog.actions.outbox.Outbox.veto`, the function ``watchdog veto`` calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import rules
from rules import module_id_bytes32
from watchdog.actions.outbox import OPEN_STATES, Outbox, OutboxItem
from watchdog.fmt import iso_utc
from watchdog.report.incidents import REACHED_CHAIN, is_manual
from watchdog.store.store import Incident, Store

__all__ = ["ModuleInfo", "acknowledge", "confirmations", "holdable", "incident_rows", "module_states", "outbox_events",
           "series", "timestamp", "veto"]

ModuleInfo = Callable[[bytes], tuple[bool, bool, int]]
STATE_ORDER = {"open": 0, "acknowledged": 1, "resolved": 2}
#: Evaluations drawn at most (thinned evenly past this; the decisive one is always kept).
MAX_POINTS = 600
MIN_BEFORE, MIN_AFTER = 40, 10


def incident_rows(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """Incidents for the list: open first, then acknowledged, then resolved; newest first within each."""
    incidents = store.incidents()
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for a in store.query("SELECT incident_id, kind, status FROM actions ORDER BY id"):
        by_incident.setdefault(a["incident_id"], []).append(a)
    acks: dict[str, int] = {r["incident_id"]: int(r["n"]) for r in store.query(
        "SELECT incident_id, COUNT(*) AS n FROM incident_acks GROUP BY incident_id")}
    incidents.sort(key=lambda i: (STATE_ORDER.get(i.state, 3), -i.opened_at, i.id))
    out = []
    for inc in incidents[:limit]:
        out.append({"id": inc.id, "model": inc.model, "rule": inc.rule, "tier": inc.tier, "state": inc.state,
                    "opened_at": iso_utc(inc.opened_at), "manual": is_manual(inc), "dry_run": inc.dry_run,
                    "actions": by_incident.get(inc.id, []), "acks": acks.get(inc.id, 0)})
    return out


def timestamp(text: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 time, None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def series(store: Store, inc: Incident) -> dict[str, Any] | None:
    """The rule's statistic around the decision, with the marks to draw; None for a manual action.

    ``points`` is empty when the store holds no evaluation of that statistic (then the chart shows the
    evidence's two numbers).
    """
    if is_manual(inc):
        return None
    ev = inc.evidence_data
    c = ev.get("condition") or {}
    decided = timestamp(ev.get("decided_at")) or inc.opened_at
    window = ev.get("window") or {}
    w0, w1 = timestamp(window.get("first_ts")), timestamp(window.get("last_ts"))
    changed = timestamp((ev.get("change") or {}).get("ts"))
    start = min(t for t in (decided, w0, changed) if t is not None)
    span = max(decided - start, 60.0)
    lo, hi = start - span * 0.25, decided + span * 0.5
    where = "model = ? AND detector = ? AND statistic = ?"
    params: list[Any] = [inc.model, c.get("detector"), c.get("statistic")]
    if inc.policy_hash:  # the thresholds are those of the policy that fired
        where += " AND policy_hash = ?"
        params.append(inc.policy_hash)
    # the span from the evidence window (or the change) to the decision and some after it, and at least
    # MIN_BEFORE evaluations before the decision and MIN_AFTER after it when the store has them
    sel = f"SELECT at, line, value FROM evaluation_stats WHERE {where}"
    before = store.query(f"{sel} AND at <= ? ORDER BY at DESC, line DESC LIMIT ?", [*params, decided, 4 * MAX_POINTS])
    after = store.query(f"{sel} AND at > ? ORDER BY at, line LIMIT ?", [*params, decided, MAX_POINTS])
    before = [r for k, r in enumerate(before) if k < MIN_BEFORE or r["at"] >= lo][::-1]
    after = [r for k, r in enumerate(after) if k < MIN_AFTER or r["at"] <= hi]
    rows = before + after
    if len(rows) > MAX_POINTS:
        step = len(rows) / MAX_POINTS
        keep = {int(i * step) for i in range(MAX_POINTS)}
        keep |= {i for i, r in enumerate(rows) if r["line"] == inc.record_index}
        rows = [r for i, r in enumerate(rows) if i in keep]
    return {
        "points": [(float(r["at"]), None if r["value"] is None else float(r["value"])) for r in rows],
        "threshold": c.get("threshold"), "observed": c.get("observed"), "op": c.get("op") or ">",
        "label": f"{c.get('detector')}.{c.get('statistic')}", "decided_at": decided, "changed_at": changed,
        "window": (w0, w1) if w0 is not None and w1 is not None else None,
    }


def outbox_events(store: Store, incident_id: str) -> list[dict[str, Any]]:
    """The outbox's steps of an incident's actions as timeline entries (the watchdog's clock)."""
    out: list[dict[str, Any]] = []
    for i in Outbox(store, None).items():
        if i.incident_id != incident_id:
            continue
        out.append({"at": iso_utc(i.intent_at), "clock": "recorded", "event": "action_intent",
                    "detail": f"{i.kind} of module {i.module}: intent written before anything is signed"})
        if i.not_before > i.intent_at:
            until = iso_utc(i.not_before, timespec="seconds")
            out.append({"at": iso_utc(i.intent_at), "clock": "recorded", "event": "action_held",
                        "detail": f"{i.kind} held for a steward's veto until {until}"})
        for a in store.query("SELECT attempt, tx_hash, nonce, signed_at FROM outbox_attempts WHERE action_id = ? "
                             "ORDER BY attempt", (i.action_id,)):
            out.append({"at": iso_utc(a["signed_at"]), "clock": "recorded", "event": "action_sent",
                        "detail": f"{i.kind} signed and sent (attempt {a['attempt']}, nonce {a['nonce']}, "
                                  f"tx {a['tx_hash']})"})
    return out


def confirmations(store: Store, incident_id: str) -> dict[str, int]:
    """Per action kind, how many blocks deep the audit last recorded it confirmed."""
    out: dict[str, int] = {}
    for r in store.query("SELECT detail FROM audit WHERE incident_id = ? AND event = 'action_confirmed' ORDER BY id",
                         (incident_id,)):
        d = json.loads(r["detail"])
        if isinstance(d.get("confirmations"), int):
            out[str(d.get("action"))] = d["confirmations"]
    return out


def holdable(store: Store, incident_id: str) -> list[OutboxItem]:
    """The incident's actions a steward may still veto (intent, or held in the veto window)."""
    return [i for i in Outbox(store, None).items(("intent", "held")) if i.incident_id == incident_id]


def module_states(store: Store, policy: rules.Policy | None,
                  module_info: ModuleInfo | None = None) -> list[dict[str, Any]]:
    """Each module of the policy (and any other the outbox acted on) with its state, live or as recorded."""
    modules: dict[str, list[str]] = {}
    if policy is not None:
        for m in policy.models:
            modules.setdefault(str(m.module), []).append(m.id)
    items = Outbox(store, None).items()
    for i in items:
        modules.setdefault(i.module, [])
    out = []
    for module, models in modules.items():
        try:
            mid = module_id_bytes32(module)
        except ValueError:
            mid = None
        mine = [i for i in items if i.module == module]
        reached = [i for i in mine if i.status in REACHED_CHAIN]
        row: dict[str, Any] = {
            "module": module, "module_id": "0x" + mid.hex() if mid else None, "models": models,
            "open": [i for i in mine if i.status in OPEN_STATES],
            "last_on_chain": reached[-1] if reached else None,
            "live": None, "live_error": None,
        }
        if module_info is not None and mid is not None:
            try:
                registered, paused, active = module_info(mid)
                row["live"] = {"registered": registered, "paused": paused, "active_version": active}
            except Exception as e:  # the node is down or the monitor is elsewhere: say so, show the rest
                row["live_error"] = f"{type(e).__name__}: {e}"[:300]
        out.append(row)
    return out


def acknowledge(store: Store, inc: Incident, who: str, note: str, at: float) -> None:
    """A steward acknowledges: the same rows as the API's ``POST /v1/incidents/{id}/ack``."""
    store.acknowledge(inc, who, note, at)


def veto(store: Store, incident_id: str, by: str, reason: str, clock: Callable[[], float]) -> list[OutboxItem]:
    """Cancel the incident's held actions: :meth:`Outbox.veto`, as ``watchdog veto`` does (ConfigError when
    it is too late or there is nothing to veto)."""
    return Outbox(store, None, clock=clock).veto(incident_id, by, reason)
