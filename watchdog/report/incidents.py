"""One incident as the weekly report and the evidence page show it: a rule's detection or a steward's action.

Two kinds, told apart by the evidence the store keeps (``watchdog/commands/chain.py`` writes
``"manual": true`` for a steward's ``watchdog pause`` / ``watchdog rollback``)::

    rule incident   the engine decided: a condition held for ``for`` evaluations at a decisive record.
                    Two clocks: the data time of that record, and when the watchdog detected it
                    (its own clock when it wrote the incident; far later in a replay).
    manual action   a steward acted from the CLI: who, what (pause, or rollback to version N), when
                    (the steward's clock), why. No rule, condition, policy hash or decisive line.

An action *reached the chain* when it was sent, mined or confirmed. The outbox's other ends change
nothing on-chain: ``already_paused`` and ``duplicate`` (done already), ``failed`` (the monitor refused
it), ``vetoed``, ``dry_run``; ``intent`` and ``held`` are not sent yet. A manual action that reached
nothing (a drill on a paused module, a rollback to a version that does not exist) is reported, but does
not make a week an incident.

A "line" is a line number in the record source; a "record index" counts the model's valid predictions
from 0 (the decisive record of a rule incident is the model's ``counts.predictions``-th prediction).
"""

from __future__ import annotations

import json
from typing import Any

import rules
from watchdog.actions.outbox import IN_FLIGHT_STATES
from watchdog.evidence.bundle import with_local
from watchdog.fmt import iso_utc
from watchdog.report.revert import readable_error
from watchdog.store.store import Action, Incident, Store

__all__ = ["REACHED_CHAIN", "action_text", "incident_view", "is_manual"]

REACHED_CHAIN = (*IN_FLIGHT_STATES, "mined", "confirmed")


def is_manual(inc: Incident) -> bool:
    """A steward's action from the CLI, not a rule's decision."""
    try:
        return inc.evidence_data.get("manual") is True
    except (ValueError, AttributeError):
        return False


def incident_view(store: Store, inc: Incident, policy: rules.Policy | None = None) -> dict[str, Any]:
    """The incident's JSON-ready view: ``kind`` is ``"rule"`` or ``"manual"`` (see the module docstring)."""
    ev = inc.evidence_data
    modules = sorted({m for m in (ev.get("module"), inc.model) if isinstance(m, str)})
    actions = [_action(a, modules) for a in store.actions() if a.incident_id == inc.id]
    audit = store.query("SELECT * FROM audit WHERE incident_id = ? ORDER BY id", (inc.id,))
    acks = [{"by": r["who"], "note": r["note"], "at": _iso(r["at"])} for r in store.acks(inc.id)]
    recorded = [{"at": iso_utc(r["at"]), "clock": "recorded", "event": r["event"],
                 "detail": _audit_text(r["event"], json.loads(r["detail"]), modules)} for r in audit]
    acked = [{"at": a["at"], "clock": "recorded", "event": "acknowledged",
              "detail": f"by {a['by']}" + (f": {a['note']}" if a["note"] else "")} for a in acks if a["at"]]
    common = {
        "id": inc.id,
        "state": inc.state,
        "evidence_hash": inc.evidence_hash,
        "evidence": ev,
        "actions": actions,
        "acknowledgements": acks,
    }
    if is_manual(inc):
        return {"kind": "manual", **common, **_manual(inc, ev, actions), "timeline": recorded + acked}
    view = {"kind": "rule", **common, **_rule(store, inc, ev, policy, audit, recorded)}
    view["timeline"] += acked
    return view


def _manual(inc: Incident, ev: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any]:
    kind = str(ev.get("action") or inc.rule.removeprefix("manual-"))
    module = str(ev.get("module") or inc.model)
    target = ev.get("target_version")
    what = f"{kind} of module {module}" + (f" to version {target}" if target is not None else "")
    at = ev.get("at") or iso_utc(inc.opened_at)
    said = at.split(".")[0].removesuffix("Z") + "Z"
    reached = any(a["reached_chain"] for a in actions)
    outcome = "; ".join(action_text(a) for a in actions) or "no on-chain action was recorded"
    if not reached:
        outcome += "; nothing changed on-chain"
    by = ev.get("by") or "an unknown signer"
    return {
        "action": kind,
        "module": module,
        "target_version": target,
        "by": by,
        "reason": ev.get("reason"),
        "at": at,
        "reached_chain": reached,
        "outcome": outcome,
        "sentence": f"Manual {what} by {by} at {said} (reason: {ev.get('reason') or 'none given'}): {outcome}.",
    }


def _rule(store: Store, inc: Incident, ev: dict[str, Any], policy: rules.Policy | None,
          audit: list[dict[str, Any]], recorded: list[dict[str, Any]]) -> dict[str, Any]:
    ev = with_local(ev, audit)  # this operator's line numbers, kept in the audit line beside the hashed evidence
    predictions = (ev.get("counts") or {}).get("predictions")
    index = predictions - 1 if isinstance(predictions, int) and predictions > 0 else None
    where = f"line {inc.record_index}" + (f" (record index {index})" if index is not None else "")
    opened = next((r["at"] for r in audit if r["event"] == "incident_opened"), None)
    timeline: list[dict[str, Any]] = []
    window = ev.get("window") or {}
    if window.get("first_ts"):
        timeline.append({"at": window["first_ts"], "clock": "data", "event": "evidence_window_start",
                         "detail": f"first record of the evidence window (line {window.get('first_line')})"})
    change = ev.get("change") or {}
    if change.get("ts"):
        timeline.append({"at": change["ts"], "clock": "data", "event": "change_began",
                         "detail": f"where the change began, as the detector estimates it (line {change.get('line')})"})
    timeline.sort(key=lambda e: e["at"])  # the change may begin before the evidence window or inside it
    timeline.append({"at": iso_utc(inc.opened_at), "clock": "data", "event": "rule_fired",
                     "detail": f"{inc.rule} fired at {where} after "
                               f"{ev.get('consecutive_evaluations')} consecutive evaluation(s)"})
    timeline += recorded
    for row in store.query("SELECT * FROM audit WHERE event = 'rule_resolved' AND model = ? AND rule = ? ORDER BY id",
                           (inc.model, inc.rule)):
        detail = json.loads(row["detail"])
        if detail.get("at", "") >= ev.get("decided_at", "").replace("Z", "+00:00"):
            timeline.append({"at": detail["at"].replace("+00:00", "Z"), "clock": "data", "event": "rule_resolved",
                             "detail": f"the condition was over at line {detail.get('line')}"})
            break
    summary = None
    if policy is not None:
        try:
            summary = policy.rule(inc.rule).annotations.summary
        except (KeyError, ValueError, LookupError):
            summary = None
    return {
        "model": inc.model,
        "rule": inc.rule,
        "tier": inc.tier,
        "summary": summary,
        "opened_at": iso_utc(inc.opened_at),
        "detected_at": _iso(opened),
        "decisive_line": inc.record_index,
        "decisive_record_index": index,
        # "changed at line N (ts), detected at line M": where the detector places the change's start
        "changed_at_line": change.get("line"),
        "changed_at": change.get("ts"),
        "policy_hash": inc.policy_hash,
        "dry_run": inc.dry_run,
        "timeline": timeline,
    }


def _iso(at: Any) -> str | None:
    return iso_utc(at) if isinstance(at, (int, float)) else at


def _action(a: Action, modules: list[str]) -> dict[str, Any]:
    error = readable_error(a.error, modules)
    view = {"kind": a.kind, "module": a.module, "status": a.status, "tx_hash": a.tx_hash,
            "block_number": a.block_number, "error": a.error, "note": error,
            "reached_chain": a.status in REACHED_CHAIN, "recorded_at": iso_utc(a.updated_at)}
    return view


def action_text(a: dict[str, Any]) -> str:
    """What an action came to, in a few words, with its revert data made readable."""
    kind, status, note = a["kind"], a["status"], a.get("note") or a.get("error")
    if note:  # "The pause transaction reverted with X." reads "pause failed: reverted with X" here
        note = note.removeprefix(f"The {kind} transaction ").rstrip(".")
    if status in ("mined", "confirmed"):
        return f"{kind} {status} in block {a['block_number']} (tx {a['tx_hash']})"
    if status in IN_FLIGHT_STATES:
        return f"{kind} {status}, not yet mined" + (f" (tx {a['tx_hash']})" if a["tx_hash"] else "")
    if status == "dry_run":
        return f"{kind} not sent ({note or 'dry run'})"
    if status == "already_paused":
        return f"{kind} not needed: the module was already paused"
    if status == "duplicate":
        return f"{kind} not sent again: the monitor had already acted on this incident"
    return f"{kind} {status}" + (f": {note}" if note else "")


def _audit_text(event: str, d: dict[str, Any], modules: list[str]) -> str:
    """An audit entry as a phrase; values carrying revert data made readable."""
    if event == "incident_opened":  # (its Merkle leaves and this operator's lines are not a phrase)
        return f"evidence_hash: {d.get('evidence_hash')}"
    if event == "manual_action":
        return f"{d.get('action')} requested by {d.get('by')}: {d.get('reason')}"
    if event == "action_mined":
        return f"{d.get('action')} mined in block {d.get('block_number')} (tx {d.get('tx_hash')})"
    if event == "action_confirmed":
        return f"{d.get('action')} confirmed, {d.get('confirmations')} block(s) deep"
    if event.startswith("action_") and "why" in d:
        return f"{d.get('action')}: {readable_error(str(d['why']), modules)}"
    return ", ".join(f"{k}: {readable_error(str(v), modules)}" for k, v in sorted(d.items()))
