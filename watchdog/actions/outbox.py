"""The durable transaction outbox: on-chain actions that are never lost and never sent twice.

An action moves through these states, each committed to the store before the step it protects::

    intent ──▶ (held until not_before: the veto window) ──▶ signed ──▶ sent ──▶ mined ──▶ confirmed
       │            │                                        │          │  │
       │            └──▶ vetoed (a steward said no)          │          │  └──▶ voted (a k-of-n vote short of
       │                                                     │          │       its quorum: "1 of 2 votes")
       │                                                     └──────────┴──▶ failed (readable reason)
       └──▶ duplicate / already_paused (the chain says it is done already)

- *intent*: incident id, module, action, evidence hash (and the rollback's target version), written
  before anything is signed;
- *signed*: the raw transaction, its nonce and fees saved in ``outbox_attempts`` BEFORE broadcast;
- *sent*: the node accepted it; a transaction not mined within ``stuck_blocks`` blocks is replaced
  with the same nonce and fees bumped by at least 12.5 %, up to the cap, then an alert;
- *mined*: a receipt with status 1; *confirmed* once ``confirmations`` blocks deep.
- k-of-n: when the module's on-chain quorum is above 1 (``pauseConfig``, read when the pause is signed), the
  pause is sent as ``votePause`` and ``method`` in the outbox row keeps that choice, so a restart re-sends the
  same signed vote. The vote that reaches the quorum pauses (*mined*); one mined short of it ends *voted*, with
  ``quorum_note`` saying where the count stands (the ``quorum`` job of ``watchdog serve`` updates the note when
  another operator's vote pauses, or the votes expire; see watchdog/actions/quorum.py). A pause that reverts
  with ``QuorumRequired`` (the quorum rose after signing) is signed again as a vote.

A restart resumes every open action from the store. Only the saved signed bytes are re-broadcast;
"already known" and "nonce too low" mean "maybe sent": the outbox checks the chain (receipts of every
saved attempt, then ``incidentUsed(incidentId)`` on the monitor) before it ever signs again, and signs
again only when the old nonce was provably consumed by something else and the incident is unused.
The nonce is reconciled with the chain's pending count at start and before every signature.

"Done already" is not taken on trust. When the chain says the incident is used and the action has a
saved attempt, the monitor's ``ModulePaused`` / ``ModuleRolledBack`` event for the incident id decides:
from one of our own transactions, the action is *mined* with that hash and block (a read endpoint that
lags behind the one that answered "used" makes our own pause look like someone else's); from another
transaction, *duplicate*. While no event is readable yet the action stays where it is and is checked
again, for up to ``event_grace`` seconds.

A step the chain cannot answer (every endpoint down) leaves the action where it was; :meth:`Outbox.settle`
retries it with a backoff until its timeout. An action that is due but that no node has accepted
(:meth:`Outbox.unsent`: intent, held past its veto window, signed) is reported once as ``action_failed``
(with ``unsent: True``) when ``settle`` gives up, or when a step fails ``unsent_alert_seconds`` after it
was due (the path of ``watchdog serve``, whose outbox job steps it every few seconds).

Test-only fault injection: ``WATCHDOG_FAULT=after_intent|after_sign|after_send|before_receipt`` makes
the process kill itself with SIGKILL at that step, so tests can prove the resumption. Never set it in
production.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from watchdog.actions.chain import ChainMetrics, MonitorClient, gas_limit, to_bytes32
from watchdog.actions.quorum import VoteOutcome, pause_config, vote_outcome
from watchdog.errors import ActionReverted, ChainError, ConfigError
from watchdog.store.store import Store

log = logging.getLogger("watchdog.outbox")

FAULT_ENV = "WATCHDOG_FAULT"
FAULT_POINTS = ("after_intent", "after_sign", "after_send", "before_receipt")
OPEN_STATES = ("intent", "held", "signed", "sent", "mined")
IN_FLIGHT_STATES = ("signed", "sent")
#: Open states in which no node has accepted the action yet.
UNSENT_STATES = ("intent", "held", "signed")
#: Reverts that mean "done already", not "failed".
SETTLED_REVERTS = {"IncidentAlreadyUsed": "duplicate", "AlreadyPaused": "already_paused"}
MIN_BUMP = 0.125


def fault(point: str) -> None:
    """Test-only: kill this process with SIGKILL at ``point`` when ``WATCHDOG_FAULT`` names it."""
    if os.environ.get(FAULT_ENV) == point:
        log.warning("fault_injected", extra={"point": point})
        for h in logging.getLogger().handlers:
            h.flush()
        os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One action of the outbox with its intent and its latest signed attempt."""

    action_id: int
    incident_id: str
    kind: str
    module: str
    module_id: str
    evidence_hash: str
    target_version: int | None
    not_before: float
    intent_at: float
    status: str
    tx_hash: str | None
    block_number: int | None
    error: str | None
    nonce: int | None
    attempts: int
    vetoed_by: str | None
    veto_reason: str | None
    method: str | None = None  # the monitor function signed for it (votePause under a quorum); None until signed
    quorum_note: str | None = None  # for a vote: where its incident's quorum stands ("1 of 2 votes", "paused ...")

    @property
    def call(self) -> str:
        """The function its next signature calls: the saved choice, else the kind (``pause``, ``rollback``)."""
        return self.method or self.kind


class _Vetoed(Exception):
    """The row left intent/held between our read and our write (a steward vetoed it)."""


class Outbox:
    """Drives the actions of one store through one monitor client (``None``: record only)."""

    def __init__(self, store: Store, monitor: MonitorClient | None, *, clock: Callable[[], float] = time.time,
                 confirmations: int = 3, stuck_blocks: int = 3, metrics: ChainMetrics | None = None,
                 on_event: Callable[[str, OutboxItem, dict[str, Any]], None] | None = None,
                 poll_interval: float = 0.005, sleep: Callable[[float], None] = time.sleep,
                 retry_max_delay: float = 2.0, unsent_alert_seconds: float = 60.0, event_grace: float = 120.0):
        if confirmations < 1:
            raise ConfigError(f"confirmations must be at least 1, got {confirmations}")
        if stuck_blocks < 1:
            raise ConfigError(f"stuck_blocks must be at least 1, got {stuck_blocks}")
        for name, value in (("retry_max_delay", retry_max_delay), ("unsent_alert_seconds", unsent_alert_seconds),
                            ("event_grace", event_grace)):
            if not value >= 0:
                raise ConfigError(f"{name} must be at least 0, got {value}")
        self.store = store
        self.monitor = monitor
        self.clock = clock
        self.confirmations = confirmations
        self.stuck_blocks = stuck_blocks
        self.metrics = metrics
        self.on_event = on_event
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.retry_max_delay = retry_max_delay  # the longest pause between two retries of a failing step
        self.unsent_alert_seconds = unsent_alert_seconds
        self.event_grace = event_grace
        self._failing: set[int] = set()  # actions whose last step the chain could not answer
        self._reported: set[int] = set()  # actions reported unsent by this process (once each)
        self._no_event_since: dict[int, float] = {}  # "used" on-chain, no event readable yet (monotonic)
        self._t_intent: dict[int, float] = {}  # monotonic start of actions enqueued by this process
        self.latency: dict[int, dict[str, float]] = {}  # seconds from intent to "sent" and "mined", per action

    # intent ------------------------------------------------------------------------------------

    def enqueue(self, *, incident_id: str, kind: str, module: str, module_id: bytes | str, evidence_hash: str,
                target_version: int | None = None, not_before: float = 0.0) -> OutboxItem:
        """Write an action's intent (idempotent per incident and kind) and return it."""
        if kind not in ("pause", "rollback"):
            raise ConfigError(f"the outbox sends pause or rollback, got {kind!r}")
        mid = module_id if isinstance(module_id, str) else "0x" + module_id.hex()
        to_bytes32(mid)
        if to_bytes32(evidence_hash) == bytes(32):
            raise ConfigError("an on-chain action needs a non-zero evidence hash")
        now = self.clock()
        with self.store.transaction() as st:
            action = st.add_action(incident_id, kind, module, now)
            st.execute("INSERT INTO outbox (action_id, incident_id, kind, module, module_id, evidence_hash,"
                       " target_version, not_before, intent_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                       (action.id, incident_id, kind, module, mid, evidence_hash, target_version,
                        float(not_before), now))
        self._t_intent.setdefault(action.id, time.monotonic())
        item = self.item(action.id)
        assert item is not None
        return item

    # reads -------------------------------------------------------------------------------------

    def item(self, action_id: int) -> OutboxItem | None:
        rows = self._items("a.id = ?", (action_id,))
        return rows[0] if rows else None

    def item_for(self, incident_id: str, kind: str) -> OutboxItem | None:
        rows = self._items("a.incident_id = ? AND a.kind = ?", (incident_id, kind))
        return rows[0] if rows else None

    def items(self, statuses: tuple[str, ...] | None = None) -> list[OutboxItem]:
        if statuses is None:
            return self._items("1 = 1", ())
        marks = ",".join("?" * len(statuses))
        return self._items(f"a.status IN ({marks})", statuses)

    def unsent(self, now: float | None = None) -> list[OutboxItem]:
        """The protective actions that are due but that no node has accepted yet.

        That is *intent*, *signed* and *held* once its veto window is over (``not_before <= now``). A held
        action inside its window is not in the list: it waits on purpose.
        """
        now = self.clock() if now is None else now
        return [i for i in self.items(UNSENT_STATES) if i.not_before <= now]

    def attempts(self, action_id: int) -> list[dict[str, Any]]:
        return self.store.query("SELECT * FROM outbox_attempts WHERE action_id = ? ORDER BY attempt", (action_id,))

    def _items(self, where: str, params: tuple[Any, ...]) -> list[OutboxItem]:
        rows = self.store.query(
            "SELECT a.id AS action_id, a.incident_id, a.kind, a.module, a.status, a.tx_hash, a.block_number,"
            " a.error, o.module_id, o.evidence_hash, o.target_version, o.not_before, o.intent_at, o.vetoed_by,"
            " o.veto_reason, o.method, o.quorum_note,"
            " (SELECT MAX(nonce) FROM outbox_attempts t WHERE t.action_id = a.id) AS nonce,"
            " (SELECT COUNT(*) FROM outbox_attempts t WHERE t.action_id = a.id) AS attempts"
            f" FROM actions a JOIN outbox o ON o.action_id = a.id WHERE {where} ORDER BY a.id", params)
        return [OutboxItem(**r) for r in rows]

    # the state machine -------------------------------------------------------------------------

    def reconcile_nonce(self) -> int:
        """Compare the chain's pending nonce with ours; returns the nonce the next signature would use.

        Saved attempts whose nonce the chain already consumed are checked on their next step; signed
        ones not yet in the pool are re-broadcast in nonce order, so no gap stays open.
        """
        assert self.monitor is not None
        chain = self.monitor.pending_nonce()
        ours = self._local_next_nonce()
        if ours is not None and ours != chain:
            log.info("nonce_reconciled", extra={"chain_pending": chain, "outbox_next": ours})
        return max(chain, ours or 0)

    def _local_next_nonce(self) -> int | None:
        marks = ",".join("?" * len(IN_FLIGHT_STATES))
        row = self.store.query_one(
            "SELECT MAX(t.nonce) AS n FROM outbox_attempts t JOIN actions a ON a.id = t.action_id"
            f" WHERE a.status IN ({marks})", IN_FLIGHT_STATES)
        return None if row is None or row["n"] is None else int(row["n"]) + 1

    def process(self, wait: float = 0.0) -> list[OutboxItem]:
        """Advance every open action as far as it goes now (in-flight ones first, in nonce order)."""
        if self.monitor is None:
            return []
        items = sorted(self.items(OPEN_STATES),
                       key=lambda i: (i.status not in IN_FLIGHT_STATES, i.nonce if i.nonce is not None else 0,
                                      i.action_id))
        return [self.step(i.action_id, wait=wait) for i in items]

    def settle(self, timeout: float) -> list[OutboxItem]:
        """Process until no action is unsent or in flight, or ``timeout``; returns the open actions.

        Held actions inside their veto window and mined ones may remain. A step the chain could not answer
        is retried, the pause between rounds doubling up to ``retry_max_delay`` while steps fail. Every
        action still :meth:`unsent` at the end is reported once as ``action_failed``.
        """
        deadline = time.monotonic() + timeout
        base = max(self.poll_interval, 0.05)
        delay = base
        while True:
            self.process()
            left = deadline - time.monotonic()
            if not (self.items(IN_FLIGHT_STATES) or self.unsent()) or left <= 0:
                break
            self.sleep(min(delay, left))
            # back off while steps fail or wait for a lagging node; poll quickly while receipts are due
            slow = self._failing or self._no_event_since
            delay = min(delay * 2, max(self.retry_max_delay, base)) if slow else base
        for item in self.unsent():
            self._report_unsent(item)
        return self.items(OPEN_STATES)

    def step(self, action_id: int, wait: float = 0.0) -> OutboxItem:
        """Advance one action; after sending, poll for its receipt for up to ``wait`` seconds."""
        item = self.item(action_id)
        if item is None:
            raise KeyError(action_id)
        if self.monitor is None or item.status not in OPEN_STATES:
            return item
        try:
            if item.status in ("intent", "held"):
                item = self._sign(item)
            if item.status == "signed":
                item = self._send(item)
            mined_now = False
            if item.status == "sent":
                fault("before_receipt")
                item = self._watch(item, wait)
                mined_now = item.status == "mined"
            if item.status == "mined":
                item = self._confirm(item, just_mined=mined_now)
        except ChainError as e:
            # The chain could not be reached or refused for a reason that may pass: stay in place, retry later.
            self._failing.add(action_id)
            item = self.item(action_id) or item
            item = self._set(item, item.status, error=str(e))
            log.error("outbox_step_failed", extra={"incident": item.incident_id, "action": item.kind,
                                                   "status": item.status, "error": str(e)})
            if item.status in UNSENT_STATES and self.clock() >= self._due(item) + self.unsent_alert_seconds:
                self._report_unsent(item)
            return item
        self._failing.discard(action_id)
        return item

    def _sign(self, item: OutboxItem) -> OutboxItem:
        m = self.monitor
        assert m is not None
        if self.clock() < item.not_before:
            if item.status != "held":
                # guarded: never turn a veto that just landed back into "held"
                self.store.execute("UPDATE actions SET status = 'held', updated_at = ? WHERE id = ?"
                                   " AND status = 'intent'", (self.clock(), item.action_id))
                item = self.item(item.action_id)  # type: ignore[assignment]
                if item.status == "held":
                    self._event("action_held", item, {"not_before": item.not_before})
            return item
        # No separate incidentUsed() read: the simulation below reverts with IncidentAlreadyUsed, which
        # settles the action as "duplicate" (another replica or an earlier run acted) before any signature.
        target = item.target_version
        if item.kind == "rollback" and target is None:
            try:
                target = m.rollback_target(to_bytes32(item.module_id))
            except ChainError as e:
                return self._finish(item, "failed", str(e))
        args = self._args(item, target)
        # k-of-n: under a quorum above 1 a watchdog's pause reverts (QuorumRequired); it votes instead. The
        # choice is saved with the signature, so a restart re-sends the same call.
        method = pause_config(m, to_bytes32(item.module_id)).pause_method if item.kind == "pause" else item.kind
        try:
            gas = m.simulate(method, *args)
        except ActionReverted as e:
            return self._reverted(item, e)
        nonce = self.reconcile_nonce()
        fees = m.fees()
        tx_hash, raw = m.sign_call(method, args, nonce=nonce, gas=gas_limit(gas), fees=fees)
        now = self.clock()
        try:
            self._save_signed(item, tx_hash, raw, nonce, fees, target, gas, now, method)
        except _Vetoed:
            return self.item(item.action_id)  # type: ignore[return-value]
        log.info("action_signed", extra={"incident": item.incident_id, "action": item.kind, "nonce": nonce,
                                         "tx_hash": tx_hash, "method": method})
        fault("after_sign")
        return self.item(item.action_id)  # type: ignore[return-value]

    def _save_signed(self, item: OutboxItem, tx_hash: str, raw: bytes, nonce: int, fees: dict[str, int],
                     target: int | None, gas: int, now: float, method: str) -> None:
        with self.store.transaction() as st:
            st.execute("INSERT INTO outbox_attempts (action_id, attempt, tx_hash, raw_tx, nonce, max_fee,"
                       " priority_fee, gas_price, signed_at) VALUES (?,?,?,?,?,?,?,?,?)",
                       (item.action_id, item.attempts + 1, tx_hash, "0x" + raw.hex(), nonce,
                        fees.get("maxFeePerGas"), fees.get("maxPriorityFeePerGas"), fees.get("gasPrice"), now))
            st.execute("UPDATE outbox SET target_version = ?, gas = ?, method = ? WHERE action_id = ?",
                       (target, gas_limit(gas), method, item.action_id))
            # Guarded: a steward's veto from another process may have landed since we read the row.
            if st.execute("UPDATE actions SET status = 'signed', tx_hash = ?, error = NULL, updated_at = ?"
                          " WHERE id = ? AND status IN ('intent', 'held')", (tx_hash, now, item.action_id)) != 1:
                raise _Vetoed()

    def _send(self, item: OutboxItem) -> OutboxItem:
        m = self.monitor
        assert m is not None
        attempt = self.attempts(item.action_id)[-1]
        result = m.broadcast(bytes.fromhex(attempt["raw_tx"][2:]))
        fault("after_send")
        if result == "nonce_too_low":
            return self._maybe_sent(item)
        # "known" and "underpriced" (a sibling with our nonce is pooled) are in flight, like "sent".
        with self.store.transaction() as st:  # one commit (one fsync) on the hot path
            # sent_block is read lazily, the first time the receipt is not there yet (see _watch)
            st.execute("UPDATE outbox SET sent_block = NULL WHERE action_id = ?", (item.action_id,))
            st.execute("UPDATE actions SET status = 'sent', error = NULL, updated_at = ? WHERE id = ?",
                       (self.clock(), item.action_id))
        item = self.item(item.action_id)  # type: ignore[assignment]
        self._observe("sent", item.action_id)
        log.info("action_sent", extra={"incident": item.incident_id, "action": item.kind,
                                       "tx_hash": attempt["tx_hash"], "broadcast": result})
        return item

    def _maybe_sent(self, item: OutboxItem) -> OutboxItem:
        """The node says our nonce is used: find which transaction used it before doing anything else."""
        m = self.monitor
        assert m is not None
        landed = self._find_receipt(item)
        if landed is not None:
            return self._receipt(item, *landed)
        if m.incident_used(bytes.fromhex(item.incident_id[2:])):
            return self._done_already(item, "duplicate", "the incident id is used on-chain")
        # Our nonce went to something else, so none of our saved transactions can ever be mined, and the
        # incident is unused: signing again with a fresh nonce cannot send the action twice.
        log.warning("nonce_consumed_elsewhere", extra={"incident": item.incident_id, "nonce": item.nonce})
        return self._set(item, "intent", error="the saved transaction's nonce was used by another transaction; "
                                               "signing again with a fresh nonce")

    def _find_receipt(self, item: OutboxItem) -> tuple[dict[str, Any], str] | None:
        m = self.monitor
        assert m is not None
        for att in reversed(self.attempts(item.action_id)):
            r = m.receipt(att["tx_hash"])
            if r is not None:
                return r, att["tx_hash"]
        return None

    def _watch(self, item: OutboxItem, wait: float) -> OutboxItem:
        m = self.monitor
        assert m is not None
        deadline = time.monotonic() + wait
        delay = self.poll_interval
        while True:
            landed = self._find_receipt(item)
            if landed is not None:
                return self._receipt(item, *landed)
            if time.monotonic() >= deadline:
                break
            self.sleep(delay)
            delay = min(delay * 2, 0.1)
        if item.nonce is not None and m.mined_nonce() > item.nonce:
            # The nonce is consumed but no attempt of ours has a receipt: check once more, then decide.
            return self._maybe_sent(item)
        last = self.attempts(item.action_id)[-1]
        if not m.knows(last["tx_hash"]):
            # Dropped from the pool (underpriced, node restart): the same signed bytes go out again.
            log.warning("tx_rebroadcast", extra={"incident": item.incident_id, "tx_hash": last["tx_hash"]})
            try:
                if m.broadcast(bytes.fromhex(last["raw_tx"][2:])) == "nonce_too_low":
                    return self._maybe_sent(item)
            except ChainError as e:  # e.g. its fee is now under the base fee: the replacement below fixes that
                log.warning("tx_rebroadcast_refused", extra={"incident": item.incident_id, "error": str(e)})
        row = self.store.query_one("SELECT sent_block FROM outbox WHERE action_id = ?", (item.action_id,))
        head = m.block_number()
        if row is None or row["sent_block"] is None:
            self.store.execute("UPDATE outbox SET sent_block = ? WHERE action_id = ?", (head, item.action_id))
            return item
        if head - int(row["sent_block"]) >= self.stuck_blocks:
            return self._replace(item)
        return item

    def _replace(self, item: OutboxItem) -> OutboxItem:
        """Re-sign with the same nonce and fees bumped by at least 12.5 %, up to the cap; alert at the cap."""
        m = self.monitor
        assert m is not None
        last = self.attempts(item.action_id)[-1]
        cap = m.max_fee_wei
        try:
            fresh = m.fees()
        except ChainError:  # the base fee is above the cap: offer the cap, then alert
            fresh = {"maxFeePerGas": cap, "maxPriorityFeePerGas": min(m.priority_fee_wei, cap), "gasPrice": cap}
        if last["gas_price"] is not None:
            old = int(last["gas_price"])
            new = min(max(math.ceil(old * (1 + MIN_BUMP)), fresh.get("gasPrice", 0)), cap)
            fees = {"gasPrice": new}
            bumped = new >= math.ceil(old * (1 + MIN_BUMP))
        else:
            old_max, old_prio = int(last["max_fee"]), int(last["priority_fee"])
            new_max = min(max(math.ceil(old_max * (1 + MIN_BUMP)), fresh.get("maxFeePerGas", 0)), cap)
            new_prio = min(max(math.ceil(old_prio * (1 + MIN_BUMP)), fresh.get("maxPriorityFeePerGas", 0)), new_max)
            fees = {"maxFeePerGas": new_max, "maxPriorityFeePerGas": new_prio}
            bumped = new_max >= math.ceil(old_max * (1 + MIN_BUMP)) and new_prio >= math.ceil(old_prio * (1 + MIN_BUMP))
        block = m.block_number()
        if not bumped:
            row = self.store.query_one("SELECT stuck_alerted FROM outbox WHERE action_id = ?", (item.action_id,))
            if row is not None and not row["stuck_alerted"]:
                self.store.execute("UPDATE outbox SET stuck_alerted = 1, sent_block = ? WHERE action_id = ?",
                                   (block, item.action_id))
                if self.metrics is not None:
                    self.metrics.tx_stuck_alerts.inc()
                log.error("tx_stuck_at_fee_cap", extra={
                    "incident": item.incident_id, "action": item.kind, "tx_hash": last["tx_hash"],
                    "nonce": int(last["nonce"]), "cap_gwei": cap / 1e9})
                self._event("action_stuck", item, {"tx_hash": last["tx_hash"], "cap_wei": cap})
            return item
        row = self.store.query_one("SELECT gas FROM outbox WHERE action_id = ?", (item.action_id,))
        gas = int(row["gas"]) if row and row["gas"] is not None else 200_000
        target = item.target_version
        tx_hash, raw = m.sign_call(item.call, self._args(item, target), nonce=int(last["nonce"]), gas=gas, fees=fees)
        now = self.clock()
        with self.store.transaction() as st:
            st.execute("INSERT INTO outbox_attempts (action_id, attempt, tx_hash, raw_tx, nonce, max_fee,"
                       " priority_fee, gas_price, signed_at) VALUES (?,?,?,?,?,?,?,?,?)",
                       (item.action_id, item.attempts + 1, tx_hash, "0x" + raw.hex(), int(last["nonce"]),
                        fees.get("maxFeePerGas"), fees.get("maxPriorityFeePerGas"), fees.get("gasPrice"), now))
            st.execute("UPDATE actions SET status = 'signed', tx_hash = ?, updated_at = ? WHERE id = ?",
                       (tx_hash, now, item.action_id))
        if self.metrics is not None:
            self.metrics.tx_replaced.inc()
        log.warning("tx_replaced", extra={"incident": item.incident_id, "action": item.kind,
                                          "nonce": int(last["nonce"]), "old_tx_hash": last["tx_hash"],
                                          "tx_hash": tx_hash, "fees": fees})
        return self._send(self.item(item.action_id))  # type: ignore[arg-type]

    def _receipt(self, item: OutboxItem, receipt: dict[str, Any], tx_hash: str) -> OutboxItem:
        m = self.monitor
        assert m is not None
        block = int(receipt["blockNumber"])
        if int(receipt["status"]) != 1:
            name = m.revert_reason(tx_hash, block)
            if name == "QuorumRequired" and item.call == "pause":  # its nonce is spent, the incident unused
                return self._requorum(item)
            status = SETTLED_REVERTS.get(name or "", "failed")
            self.store.execute("UPDATE actions SET tx_hash = ?, block_number = ? WHERE id = ?",
                               (tx_hash, block, item.action_id))
            why = f"the {item.kind} transaction reverted with {name or 'an unknown reason'}"
            if status != "failed":  # an earlier attempt of ours, with another nonce, may be what used it
                return self._done_already(self.item(item.action_id) or item, status, why)
            return self._finish(item, status, why)
        if item.call == "votePause":
            outcome = vote_outcome(m, receipt, bytes.fromhex(item.incident_id[2:]))
            if not outcome.paused:
                return self._voted(item, tx_hash, block, int(receipt["gasUsed"]), outcome)
            self.store.execute("UPDATE outbox SET quorum_note = ? WHERE action_id = ?",
                               (outcome.describe(), item.action_id))
        return self._mined(item, tx_hash, block, int(receipt["gasUsed"]))

    def _voted(self, item: OutboxItem, tx_hash: str, block: int, gas_used: int, outcome: VoteOutcome) -> OutboxItem:
        """Our vote is mined short of the quorum: not a failure, not a pause (see watchdog/actions/quorum.py)."""
        now = self.clock()
        note = outcome.describe()
        with self.store.transaction() as st:
            st.execute("UPDATE outbox SET quorum_note = ? WHERE action_id = ?", (note, item.action_id))
            st.execute("UPDATE actions SET status = 'voted', tx_hash = ?, block_number = ?, error = NULL,"
                       " updated_at = ? WHERE id = ?", (tx_hash, block, now, item.action_id))
            st.audit(now, "action_voted", {"action": item.kind, "tx_hash": tx_hash, "block_number": block,
                                           "votes": outcome.votes, "quorum": outcome.quorum},
                     incident_id=item.incident_id)
        item = self.item(item.action_id)  # type: ignore[assignment]
        log.warning("action_voted", extra={"incident": item.incident_id, "action": item.kind, "tx_hash": tx_hash,
                                           "block": block, "votes": outcome.votes, "quorum": outcome.quorum})
        self._event("action_voted", item, {"tx_hash": tx_hash, "block_number": block, "gas_used": gas_used,
                                           "nonce": item.nonce, "votes": outcome.votes, "quorum": outcome.quorum,
                                           "note": note})
        return item

    def _mined(self, item: OutboxItem, tx_hash: str, block: int, gas_used: int | None) -> OutboxItem:
        now = self.clock()
        with self.store.transaction() as st:
            st.execute("UPDATE actions SET status = 'mined', tx_hash = ?, block_number = ?, error = NULL,"
                       " updated_at = ? WHERE id = ?", (tx_hash, block, now, item.action_id))
            st.audit(now, "action_mined", {"action": item.kind, "tx_hash": tx_hash, "block_number": block},
                     incident_id=item.incident_id)
        self._observe("mined", item.action_id)
        item = self.item(item.action_id)  # type: ignore[assignment]
        log.warning("action_mined", extra={"incident": item.incident_id, "action": item.kind, "tx_hash": tx_hash,
                                           "block": block})
        self._event("action_mined", item, {"tx_hash": tx_hash, "block_number": block,
                                           "gas_used": gas_used, "nonce": item.nonce})
        return item

    def _done_already(self, item: OutboxItem, status: str, why: str) -> OutboxItem:
        """The chain says the action is done already (``status``: duplicate or already_paused): by us or another?

        Without a saved attempt nothing of ours can have done it. ``AlreadyPaused`` cannot be ours either: the
        monitor checks the incident id before the pause, so our own landed pause reverts a replay with
        ``IncidentAlreadyUsed``. For a duplicate with a saved attempt, the monitor's event for the incident id
        decides (see the module docstring); with no event readable yet, the action keeps its state and is
        checked again on its next step, until ``event_grace`` seconds have passed.
        """
        m = self.monitor
        assert m is not None
        ours = {a["tx_hash"].lower() for a in self.attempts(item.action_id)}
        if not ours or status != "duplicate":
            return self._finish(item, status, why)
        events = m.incident_events(bytes.fromhex(item.incident_id[2:]))
        own = next((e for e in events if e["tx_hash"].lower() in ours), None)
        if own is not None:
            self._no_event_since.pop(item.action_id, None)
            log.warning("action_found_mined", extra={"incident": item.incident_id, "action": item.kind,
                                                     "tx_hash": own["tx_hash"], "block": own["block_number"],
                                                     "chain_said": why})
            receipt = m.receipt(own["tx_hash"])
            if receipt is not None:
                return self._receipt(item, receipt, own["tx_hash"])
            return self._mined(item, own["tx_hash"], own["block_number"], None)
        if events:
            self._no_event_since.pop(item.action_id, None)
            other = events[0]
            return self._finish(item, status, f"{why}: transaction {other['tx_hash']} in block "
                                              f"{other['block_number']} used the incident, not one of ours")
        first = self._no_event_since.setdefault(item.action_id, time.monotonic())
        if time.monotonic() - first >= self.event_grace:
            self._no_event_since.pop(item.action_id, None)
            return self._finish(item, status, f"{why}, and no event of the monitor for the incident was readable "
                                              f"within {self.event_grace:g} s")
        log.warning("incident_event_not_found", extra={"incident": item.incident_id, "action": item.kind,
                                                       "status": item.status, "chain_said": why})
        return self._set(item, item.status, error=f"{why}, but no event of the monitor for the incident is readable "
                                                  "yet (the node may lag behind); checking again")

    def _confirm(self, item: OutboxItem, just_mined: bool = False) -> OutboxItem:
        m = self.monitor
        assert m is not None and item.tx_hash is not None and item.block_number is not None
        # A receipt read a moment ago is 1 confirmation: no second read when that is all we need.
        r = {"blockNumber": item.block_number} if just_mined and self.confirmations == 1 else m.receipt(item.tx_hash)
        if r is None:  # a node that lags behind may have the event before the receipt: a reorg removes both
            own = [e for e in m.incident_events(bytes.fromhex(item.incident_id[2:]))
                   if e["tx_hash"].lower() == item.tx_hash.lower()]
            r = {"blockNumber": own[0]["block_number"]} if own else None
        if r is None:  # reorganised away: the same signed bytes go out again
            log.warning("action_reorged", extra={"incident": item.incident_id, "tx_hash": item.tx_hash})
            return self._set(item, "signed")
        if self.confirmations == 1 or m.block_number() - int(r["blockNumber"]) + 1 >= self.confirmations:
            with self.store.transaction() as st:
                st.execute("UPDATE actions SET status = 'confirmed', updated_at = ? WHERE id = ?",
                           (self.clock(), item.action_id))
                st.audit(self.clock(), "action_confirmed", {"action": item.kind, "tx_hash": item.tx_hash,
                                                            "confirmations": self.confirmations},
                         incident_id=item.incident_id)
            item = self.item(item.action_id)  # type: ignore[assignment]
        return item

    # helpers -----------------------------------------------------------------------------------

    def _args(self, item: OutboxItem, target: int | None) -> tuple[Any, ...]:
        module = to_bytes32(item.module_id)
        inc, ev = bytes.fromhex(item.incident_id[2:]), bytes.fromhex(item.evidence_hash[2:])
        return (module, inc, ev) if item.kind == "pause" else (module, int(target or 0), inc, ev)

    def _reverted(self, item: OutboxItem, e: ActionReverted) -> OutboxItem:
        if e.error_name == "QuorumRequired" and item.call == "pause":
            return self._requorum(item)
        status = SETTLED_REVERTS.get(e.error_name or "", "failed")
        if status != "failed":
            return self._done_already(item, status, str(e).rstrip("."))
        return self._finish(item, status, str(e))

    def _requorum(self, item: OutboxItem) -> OutboxItem:
        """The module's quorum rose above 1 after the pause was signed: sign again, as a vote.

        Safe: the reverted pause used nothing (a QuorumRequired revert happens before the incident is marked)."""
        log.warning("pause_needs_votes", extra={"incident": item.incident_id, "module_name": item.module})
        self.store.execute("UPDATE outbox SET method = NULL WHERE action_id = ?", (item.action_id,))
        return self._set(item, "intent", error="the module's quorum is above 1 now: one watchdog cannot pause "
                                               "alone, so the pause is signed again as a vote (votePause)")

    def _due(self, item: OutboxItem) -> float:
        return max(item.intent_at, item.not_before)

    def _report_unsent(self, item: OutboxItem) -> None:
        """Say once, in the audit log, the log and an ``action_failed`` event, that a due action is not sent."""
        if item.action_id in self._reported:
            return
        self._reported.add(item.action_id)
        now = self.clock()
        why = (f"The {item.kind} of module {item.module} for incident {item.incident_id} is not on-chain "
               f"{max(0.0, now - self._due(item)):.0f} s after it was due")
        if item.error:
            why += f"; last error: {item.error.rstrip('.')}"
        why += (f". It stays in the outbox ({item.status}) and is sent once a node answers, by a running "
                "`watchdog serve` or the next `watchdog run`; check the RPC endpoints (`watchdog outbox` lists it).")
        self.store.audit(now, "action_unsent", {"action": item.kind, "status": item.status, "why": why},
                         incident_id=item.incident_id)
        log.error("action_unsent", extra={"incident": item.incident_id, "action": item.kind, "status": item.status,
                                          "error": item.error})
        self._event("action_failed", item, {"error": why, "unsent": True, "status": item.status})

    def _finish(self, item: OutboxItem, status: str, why: str) -> OutboxItem:
        item = self._set(item, status, error=why)
        self.store.audit(self.clock(), f"action_{status}", {"action": item.kind, "why": why},
                         incident_id=item.incident_id)
        log.error("action_failed" if status == "failed" else "action_settled",
                  extra={"incident": item.incident_id, "action": item.kind, "status": status, "error": why})
        self._event("action_failed" if status == "failed" else "action_settled", item, {"error": why})
        return item

    def _set(self, item: OutboxItem, status: str, *, error: str | None = None) -> OutboxItem:
        self.store.execute("UPDATE actions SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                           (status, error, self.clock(), item.action_id))
        return self.item(item.action_id)  # type: ignore[return-value]

    def _observe(self, stage: str, action_id: int) -> None:
        """Latency of actions enqueued by this process: from the intent to sent, and to mined."""
        t0 = self._t_intent.get(action_id)
        if t0 is None:
            return
        dt = time.monotonic() - t0
        self.latency.setdefault(action_id, {})[stage] = dt
        if self.metrics is not None and stage == "mined":
            item = self.item(action_id)
            self.metrics.tx_latency.labels(item.kind if item else "unknown").observe(dt)

    def _event(self, event: str, item: OutboxItem, info: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, item, info)

    # steward decisions -------------------------------------------------------------------------

    def veto(self, incident_id: str, by: str, reason: str) -> list[OutboxItem]:
        """Cancel the held (or not yet signed) actions of an incident; audited. Refuses once signed."""
        if not by.strip() or not reason.strip():
            raise ConfigError("a veto needs --by NAME and --reason TEXT")
        items = [i for i in self.items() if i.incident_id == incident_id]
        if not items:
            raise ConfigError(f"No on-chain action of incident {incident_id} is in the outbox.")
        late = [i for i in items if i.status not in ("intent", "held", "vetoed")]
        if late:
            states = ", ".join(f"{i.kind} is {i.status}" for i in late)
            raise ConfigError(f"Too late to veto incident {incident_id}: {states}. "
                              "A council member can unpause or activate a version on-chain instead.")
        now = self.clock()
        out = []
        for i in items:
            if i.status == "vetoed":
                out.append(i)
                continue
            with self.store.transaction() as st:
                st.execute("UPDATE outbox SET vetoed_by = ?, veto_reason = ? WHERE action_id = ?",
                           (by, reason, i.action_id))
                n = st.execute("UPDATE actions SET status = 'vetoed', error = ?, updated_at = ?"
                               " WHERE id = ? AND status IN ('intent', 'held')",
                               (f"vetoed by {by}: {reason}", now, i.action_id))
                if n != 1:
                    raise ConfigError(f"Too late to veto incident {incident_id}: the {i.kind} was just signed.")
            self.store.audit(now, "action_vetoed", {"action": i.kind, "by": by, "reason": reason},
                             incident_id=incident_id)
            log.warning("action_vetoed", extra={"incident": incident_id, "action": i.kind, "by": by})
            item = self.item(i.action_id)
            if item is not None:
                out.append(item)
        return out
