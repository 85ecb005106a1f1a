"""What the watchdog does when a rule fires: open an incident with its evidence, then act.

The order is what makes an action traceable and safe to retry:

1. the evidence (statistic, threshold and comparison, the detector's kind, parameters and state hash, a
   Merkle root over the window's records and the reference, policy hash, watchdog version) is written as
   canonical JSON and hashed with keccak-256; the incident id is derived from the policy hash, model, rule
   and the decisive record's id and data time (watchdog/evidence/bundle.py has the formats), so any
   operator replaying the same records, by any ingest path, yields the same id and evidence hash;
2. the incident and the action's intent are committed to the store before anything is signed;
3. the transaction is signed and sent; its hash, block and outcome are written back.

The incident id is also the on-chain idempotency key: the monitor refuses a second action with it.

Everything a caller hears arrives as an event through ``on_event`` and ``listeners`` (``rule_fired``,
``alert``, ``action_held``, ``action_mined``, ``action_failed``, ...). An on-chain action that is due but
that no node accepted is reported as ``action_failed`` with ``unsent: True`` (see watchdog/actions/outbox.py);
at the end of a run, :meth:`Responder.unsent` lists what is left, so the run can say so in its exit status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from rules import Decision, module_id_bytes32
from watchdog.actions.chain import MonitorClient, TxResult, chain_metrics
from watchdog.actions.outbox import OPEN_STATES, Outbox, OutboxItem, fault
from watchdog.engine.engine import Engine, ModelRuntime
from watchdog.errors import ChainError
from watchdog.evidence import bundle as evidence
from watchdog.evidence.bundle import canonical_json, evidence_hash
from watchdog.fmt import iso_utc
from watchdog.observe.metrics import Metrics
from watchdog.store.store import Action, Incident, Store

__all__ = ["Responder", "canonical_json", "evidence_hash", "unsent_sentence"]  # the two hashes: re-exported

log = logging.getLogger("watchdog.actions")


class Responder:
    """Turns decisions into incidents and actions. ``monitor`` is None when nothing may go on-chain."""

    def __init__(self, store: Store, monitor: MonitorClient | None, *,
                 clock: Callable[[], float] = time.time,
                 on_event: Callable[[str, dict[str, Any]], None] | None = None,
                 metrics: Metrics | None = None, dry_run: bool = False,
                 outbox: Outbox | None = None, receipt_wait: float = 2.0):
        self.store = store
        self.dry_run = dry_run  # the operator's --dry-run: nothing goes on-chain whatever the policy says
        self.metrics = metrics
        self.monitor = monitor
        self.clock = clock
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = [on_event] if on_event else []
        # set by watchdog.observe.notify when a receiver takes the alerts: else they are counted "unrouted"
        # (delivery itself is counted by watchdog_alert_notifications_total)
        self.alerts_routed = False
        # On-chain actions go through the durable outbox (watchdog/actions/outbox.py); see its docstring.
        self.outbox = outbox if outbox is not None else Outbox(
            store, monitor, clock=clock, metrics=chain_metrics(metrics))
        self.outbox.on_event = self._on_outbox
        self.receipt_wait = receipt_wait
        self._decisions: dict[int, tuple[Decision, Incident]] = {}

    def resume(self) -> list[OutboxItem]:
        """At start: reconcile the nonce and advance the actions an earlier run left open."""
        if self.monitor is None or self.dry_run:
            return []
        open_items = self.outbox.items(OPEN_STATES)
        if open_items:
            log.warning("outbox_resuming", extra={"open_actions": len(open_items)})
        self.outbox.reconcile_nonce()
        return self.outbox.process()

    def settle(self, timeout: float = 60.0) -> list[OutboxItem]:
        """At the end of a run: send what is unsent and wait for what is in flight, retrying for up to
        ``timeout`` seconds; each action still unsent then is reported once as ``action_failed``."""
        if self.monitor is None or self.dry_run:
            return []
        return self.outbox.settle(timeout)

    def unsent(self) -> list[Action]:
        """The protective actions that are due but that no node has accepted (empty when nothing goes on-chain).

        Call it after :meth:`settle`: a non-empty list means a pause or rollback the policy asked for is
        not on-chain, and the run must not end as a success. Actions held in their veto window are not in it.
        """
        if self.monitor is None or self.dry_run:
            return []
        found = (self.store.action(i.incident_id, i.kind) for i in self.outbox.unsent())
        return [a for a in found if a is not None]

    def __call__(self, engine: Engine, rt: ModelRuntime, d: Decision) -> None:
        if d.kind == "resolve":
            now = self.clock()
            with self.store.transaction():  # the rule cleared: its open incidents say so (state resolved)
                self.store.audit(now, "rule_resolved", {"at": iso_utc(d.at), "line": d.record_index},
                                 model=d.model, rule=d.rule, policy_hash=d.policy_hash)
                for row in self.store.query("SELECT id FROM incidents WHERE model = ? AND rule = ? AND state IN "
                                            "('open', 'acknowledged')", (d.model, d.rule)):
                    self.store.set_incident_state(row["id"], "resolved")
                    self.store.audit(now, "incident_resolved", {"by": "rule_resolved", "at": iso_utc(d.at)},
                                     model=d.model, rule=d.rule, incident_id=row["id"], policy_hash=d.policy_hash)
            log.info("rule_resolved", extra={"model": d.model, "rule": d.rule, "line": d.record_index})
            self._emit("rule_resolved", {"decision": d})
            return
        inc = self.open_incident(engine, rt, d)
        for action in d.actions:
            self.act(inc, d, action)

    def open_incident(self, engine: Engine, rt: ModelRuntime, d: Decision) -> Incident:
        # The evidence and the id come from the records and the policy alone (watchdog/evidence/bundle.py), so
        # another operator on the same records computes both alike; what only this operator saw (line
        # numbers, counts since it started) goes into the audit line beside it, with the tree's leaves.
        built = evidence.build(rt, d)
        ev_json = built.json
        incident_id = built.incident_id
        local = evidence.local_context(rt, d, engine.n_quarantined, self.dry_run)
        inc = Incident(
            id=incident_id, model=d.model, rule=d.rule, tier=d.tier, opened_at=d.at.timestamp(),
            record_index=d.record_index, policy_hash=d.policy_hash, dry_run=d.dry_run or self.dry_run,
            evidence=ev_json.decode(), evidence_hash=evidence_hash(ev_json), state="open",
        )
        with self.store.transaction() as st:  # one commit: the incident and its audit line
            added = st.add_incident(inc)
            if added:
                st.audit(self.clock(), "incident_opened",
                         {"evidence_hash": inc.evidence_hash, "local": local,
                          "leaves": [lf.to_json() for lf in built.leaves]},
                         model=d.model, rule=d.rule, incident_id=inc.id, policy_hash=d.policy_hash)
        if not added:
            inc = self.store.incident(incident_id) or inc
        log.warning("rule_fired", extra={
            "model": d.model, "rule": d.rule, "tier": d.tier, "incident": inc.id, "line": d.record_index,
            "observed": d.value, "threshold": d.threshold, "dry_run": d.dry_run})
        self._emit("rule_fired", {"decision": d, "incident": inc})
        return inc

    def act(self, inc: Incident, d: Decision, action: str) -> None:
        now = self.clock()
        if action == "alert":
            self.store.audit(now, "alert", {"summary": d.annotations.get("summary", "")},
                             model=d.model, rule=d.rule, incident_id=inc.id, policy_hash=d.policy_hash)
            self._emit("alert", {"decision": d, "incident": inc})
            return
        if not (d.dry_run or self.dry_run or self.monitor is None) and action in ("pause", "rollback"):
            self._send(inc, d, action, now)
            return
        row = self.store.add_action(inc.id, action, d.module, now)
        if row.status in ("mined", "confirmed", "dry_run"):
            return  # a replay of an incident already acted on
        if d.dry_run or self.dry_run or self.monitor is None:
            why = "dry run" if (d.dry_run or self.dry_run) else "no chain configured"
            self.store.update_action(row.id, now, status="dry_run", error=why)
            log.warning("action_skipped", extra={"incident": inc.id, "action": action, "why": why})
            self._emit("action_skipped", {"decision": d, "incident": inc, "action": action, "why": why})
            return
        msg = f"{action} is not an on-chain action; the incident stays open for a steward"
        self.store.update_action(row.id, now, status="failed", error=msg)
        log.error("action_failed", extra={"incident": inc.id, "action": action, "error": msg})
        self._emit("action_failed", {"decision": d, "incident": inc, "action": action, "error": msg})

    def _send(self, inc: Incident, d: Decision, action: str, now: float) -> None:
        """Write the intent to the outbox, then drive it: sign, send, wait briefly for the receipt."""
        assert self.monitor is not None
        module_id = module_id_bytes32(d.module)
        target = None
        if action == "rollback":
            try:
                target = self.monitor.rollback_target(module_id)
            except ChainError:
                target = None  # decided again before signing, where a failure is recorded with its reason
        veto = float(getattr(d, "veto_seconds", 0) or 0)
        item = self.outbox.enqueue(incident_id=inc.id, kind=action, module=d.module, module_id=module_id,
                                   evidence_hash=inc.evidence_hash, target_version=target,
                                   not_before=now + veto if veto > 0 else 0.0)
        if item.status not in OPEN_STATES:
            return  # a replay of an incident already acted on
        fault("after_intent")
        self._decisions[item.action_id] = (d, inc)
        self.outbox.step(item.action_id, wait=self.receipt_wait)

    def _on_outbox(self, event: str, item: OutboxItem, info: dict[str, Any]) -> None:
        known = self._decisions.get(item.action_id)
        if known is None:
            return  # resumed from an earlier run: logged and audited by the outbox
        d, inc = known
        data: dict[str, Any] = {"decision": d, "incident": inc, "action": item.kind}
        if event == "action_mined":
            gas = info["gas_used"]
            data["tx"] = TxResult(info["tx_hash"], info["block_number"], None if gas is None else int(gas),
                                  int(info["nonce"] or 0))
        else:
            data.update(info)
        self._emit(event, data)
        if item.status not in OPEN_STATES:
            del self._decisions[item.action_id]  # settled: nothing more will be reported for it

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.metrics is not None and ("action" in data or event == "alert"):
            outcome = {"action_mined": "mined", "action_failed": "failed", "action_skipped": "skipped",
                       "alert": "queued" if self.alerts_routed else "unrouted", "action_held": "held",
                       "action_settled": "settled", "action_stuck": "stuck"}.get(event, event)
            if event == "action_failed" and data.get("unsent"):
                outcome = "unsent"  # not final: it may still be mined later, counted then as "mined"
            d = data["decision"]
            self.metrics.actions.labels(d.model, d.rule, data.get("action", "alert"), outcome).inc()
        for listener in self.listeners:
            try:
                listener(event, data)
            except Exception:  # a listener (alerts, annotations) must never block an on-chain action
                log.exception("listener_failed", extra={"event_name": event})


def unsent_sentence(actions: Sequence[Action]) -> str:
    """One sentence for the operator about the actions :meth:`Responder.unsent` returned."""
    what = "; ".join(f"{a.kind} of {a.module} for incident {a.incident_id} ({a.status})" for a in actions)
    n = len(actions)
    return (f"{n} on-chain action{'s' if n != 1 else ''} the policy asked for {'is' if n == 1 else 'are'} not sent: "
            f"{what}. {'It stays' if n == 1 else 'They stay'} in the outbox and {'is' if n == 1 else 'are'} sent "
            "by the next `watchdog run` or a running `watchdog serve` once an RPC endpoint answers; "
            "check --rpc-url, and `watchdog outbox` for the last error.")
