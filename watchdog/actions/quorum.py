"""k-of-n pauses as the chain has them: a module's pause configuration, each incident's votes, the other
operators' votes and their disagreements, read through a :class:`~watchdog.actions.chain.MonitorClient`.

With a module's quorum ``k`` above 1 (``ModelMonitor.setPauseConfig``) no operator pauses alone: each votes
``votePause(module, incidentId, evidenceHash)``, and the vote that makes ``k`` operators agree on the same
incident id *and* evidence hash, each cast within the vote window, pauses. The outbox
(watchdog/actions/outbox.py) reads :func:`pause_config` when it signs a pause and sends ``votePause`` instead;
a vote mined short of the quorum leaves its action ``voted``::

    intent ──▶ signed ──▶ sent ──▶ mined (this vote paused: the k-th)
                                └─▶ voted ("1 of 2 votes") ──▶ note: "paused by 2 of 2 votes in block N"
                                                           └─▶ note: "expired: no quorum within the window"

:class:`QuorumWatch` is what ``watchdog serve`` runs as its ``quorum`` job: it reads the monitor's
``PauseVoted`` and ``EvidenceDisagreement`` events since its last poll, counts the votes received (its own and
the other operators'), keeps the pending quorums for ``/metrics`` and ``watchdog status``, writes where each
of its ``voted`` actions stands (``quorum_note``), and reports every disagreement once as a
``vote_disagreement`` event (an alert: two operators hashed different evidence for one incident, so one of
their copies of the log or of the code differs). Incident ids and evidence hashes are opaque bytes32 here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.logs import DISCARD

from watchdog.actions.chain import MonitorClient, to_bytes32
from watchdog.errors import ConfigError
from watchdog.store.store import Store

log = logging.getLogger("watchdog.quorum")

#: ``ModelMonitor.MAX_QUORUM``.
MAX_QUORUM = 16
#: ``ModelMonitor.Verdict`` in declaration order.
VERDICTS = ("none", "upheld", "overturned")


def _hex(value: bytes | str) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


@dataclass(frozen=True, slots=True)
class PauseConfig:
    """A module's watchdog pause configuration (``ModelMonitor.pauseConfig``)."""

    quorum: int
    vote_window: int  # seconds a vote counts
    max_pause: int  # seconds a watchdog pause lasts, 0 for no expiry
    one_shot: bool

    @property
    def voting(self) -> bool:
        """True when one operator cannot pause alone: the outbox votes."""
        return self.quorum > 1

    @property
    def pause_method(self) -> str:
        """The monitor's function a watchdog pause calls under this configuration."""
        return "votePause" if self.voting else "pause"

    def describe(self) -> str:
        expiry = f"pauses end after {self.max_pause} s" if self.max_pause else "pauses do not expire"
        shot = "one-shot operators" if self.one_shot else "operators stay armed"
        return f"quorum {self.quorum}, vote window {self.vote_window} s, {expiry}, {shot}"


def pause_config(monitor: MonitorClient, module: bytes) -> PauseConfig:
    quorum, window, max_pause, one_shot = monitor.contract.functions.pauseConfig(module).call()
    return PauseConfig(int(quorum), int(window), int(max_pause), bool(one_shot))


def check_pause_config(quorum: int, vote_window: int, max_pause: int) -> None:
    """Refuse what ``setPauseConfig`` would revert on, with a sentence (before anything is signed)."""
    if not 1 <= quorum <= MAX_QUORUM:
        raise ConfigError(f"--quorum must be 1 to {MAX_QUORUM}, got {quorum}.")
    if quorum > 1 and vote_window < 1:
        raise ConfigError(f"A quorum of {quorum} needs a vote window of at least 1 second (--vote-window), "
                          f"got {vote_window}.")
    for name, value in (("--vote-window", vote_window), ("--max-pause", max_pause)):
        if not 0 <= value < 2**32:
            raise ConfigError(f"{name} must be 0 to {2**32 - 1} seconds, got {value}.")


# events -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoteEvent:
    """A ``PauseVoted`` event: ``votes`` counted for the pair when it was cast, this one included."""

    module: str
    incident_id: str
    evidence_hash: str
    operator: str
    votes: int
    quorum: int
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True, slots=True)
class Disagreement:
    """An ``EvidenceDisagreement`` event: ``operator`` voted ``evidence_hash``, the incident's first vote
    was for ``first_evidence_hash``; the two never count together."""

    module: str
    incident_id: str
    evidence_hash: str
    operator: str
    first_evidence_hash: str
    tx_hash: str
    block_number: int
    log_index: int

    @property
    def key(self) -> str:
        """Identifies the event across restarts (for reporting it once)."""
        return f"{self.tx_hash}:{self.log_index}"


def _logs(monitor: MonitorClient, name: str, from_block: int, to_block: int | None,
          filters: dict[str, Any] | None) -> list[Any]:
    kw: dict[str, Any] = {"from_block": from_block}
    if to_block is not None:
        kw["to_block"] = to_block
    if filters:
        kw["argument_filters"] = filters
    out = list(getattr(monitor.contract.events, name)().get_logs(**kw))
    return sorted(out, key=lambda e: (int(e["blockNumber"]), int(e["logIndex"])))


def _where(e: Any) -> dict[str, Any]:
    return {"tx_hash": "0x" + bytes(e["transactionHash"]).hex(), "block_number": int(e["blockNumber"]),
            "log_index": int(e["logIndex"])}


def _vote(e: Any) -> VoteEvent:
    a = e["args"]
    return VoteEvent(_hex(a["module"]), _hex(a["incidentId"]), _hex(a["evidenceHash"]), str(a["operator"]),
                     int(a["votes"]), int(a["quorum"]), **_where(e))


def _disagreement(e: Any) -> Disagreement:
    a = e["args"]
    return Disagreement(_hex(a["module"]), _hex(a["incidentId"]), _hex(a["evidenceHash"]), str(a["operator"]),
                        _hex(a["firstEvidenceHash"]), **_where(e))


def vote_events(monitor: MonitorClient, from_block: int = 0, to_block: int | None = None, *,
                module: bytes | None = None, incident_id: bytes | None = None) -> list[VoteEvent]:
    """``PauseVoted`` events in ``[from_block, to_block]``, oldest first (optionally of one module or incident)."""
    filters: dict[str, Any] = {}
    if module is not None:
        filters["module"] = module
    if incident_id is not None:
        filters["incidentId"] = incident_id
    return [_vote(e) for e in _logs(monitor, "PauseVoted", from_block, to_block, filters)]


def disagreement_events(monitor: MonitorClient, from_block: int = 0, to_block: int | None = None, *,
                        module: bytes | None = None) -> list[Disagreement]:
    """``EvidenceDisagreement`` events in ``[from_block, to_block]``, oldest first."""
    filters = {"module": module} if module is not None else None
    return [_disagreement(e) for e in _logs(monitor, "EvidenceDisagreement", from_block, to_block, filters)]


@dataclass(frozen=True, slots=True)
class VoteOutcome:
    """What one mined ``votePause`` transaction did to its incident, from its receipt."""

    paused: bool
    votes: int  # counting votes for the pair after it (the quorum when it paused)
    quorum: int
    recorded: bool  # False: the vote counted already (a resend), nothing new was written

    def describe(self) -> str:
        if self.paused:
            return f"paused: {self.quorum} of {self.quorum} votes"
        return f"{self.votes} of {self.quorum} vote{'s' if self.quorum != 1 else ''}"


def vote_outcome(monitor: MonitorClient, receipt: dict[str, Any], incident_id: bytes) -> VoteOutcome:
    """Read a successful ``votePause`` receipt: did it pause, and how many votes count now."""
    events = monitor.contract.events
    paused = [e for e in events.ModulePaused().process_receipt(receipt, errors=DISCARD)
              if bytes(e["args"]["incidentId"]) == incident_id]
    voted = [e for e in events.PauseVoted().process_receipt(receipt, errors=DISCARD)
             if bytes(e["args"]["incidentId"]) == incident_id]
    if paused:
        quorum = int(voted[-1]["args"]["quorum"]) if voted else 1
        return VoteOutcome(True, quorum, quorum, bool(voted))
    if voted:
        return VoteOutcome(False, int(voted[-1]["args"]["votes"]), int(voted[-1]["args"]["quorum"]), True)
    # A resend of a vote that still counts: nothing was written; the chain's count says where it stands.
    block = int(receipt["blockNumber"])
    f = monitor.contract.functions
    ev, module = f.voteOf(incident_id, _sender(monitor)).call(block_identifier=block)
    count, _ops = f.pauseVotes(incident_id, ev).call(block_identifier=block)
    quorum = int(f.pauseConfig(module).call(block_identifier=block)[0])
    return VoteOutcome(False, int(count), quorum, False)


def _sender(monitor: MonitorClient) -> str:
    if monitor.signer is None:
        raise ConfigError("Reading our own vote needs the monitor client's signer.")
    return Web3.to_checksum_address(monitor.signer.address)


# per-incident reads --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentInfo:
    used: bool
    verdict: str
    operators: tuple[str, ...]  # whose call or votes made it (none for the council)


def incident_info(monitor: MonitorClient, incident_id: bytes) -> IncidentInfo:
    used, verdict, operators = monitor.contract.functions.incidentInfo(incident_id).call()
    return IncidentInfo(bool(used), VERDICTS[int(verdict)], tuple(str(o) for o in operators))


def votes_for(monitor: MonitorClient, incident_id: bytes, evidence_hash: bytes) -> tuple[int, tuple[str, ...]]:
    """The votes for ``(incident, evidence hash)`` that count now, and their operators."""
    count, operators = monitor.contract.functions.pauseVotes(incident_id, evidence_hash).call()
    return int(count), tuple(str(o) for o in operators)


def vote_of(monitor: MonitorClient, incident_id: bytes, operator: str) -> str | None:
    """The evidence hash ``operator`` voted for in the incident, or None."""
    ev, _module = monitor.contract.functions.voteOf(incident_id, Web3.to_checksum_address(operator)).call()
    return None if bytes(ev) == bytes(32) else _hex(ev)


@dataclass(frozen=True)
class PendingQuorum:
    """An incident with votes that has not paused yet: per evidence hash, the operators whose votes count now.

    ``voters`` maps every operator that ever voted on it to its evidence hash (a vote that left the window
    stays there); ``first_evidence_hash`` is the incident's first vote's.
    """

    module: str
    incident_id: str
    quorum: int
    vote_window: int
    first_evidence_hash: str
    counting: dict[str, tuple[str, ...]]
    voters: dict[str, str]

    @property
    def votes(self) -> int:
        """The counting votes of the best-supported evidence hash."""
        return max((len(v) for v in self.counting.values()), default=0)

    @property
    def disagreeing(self) -> tuple[str, ...]:
        """Operators that voted an evidence hash other than the first vote's."""
        return tuple(op for op, ev in self.voters.items() if ev != self.first_evidence_hash)

    def describe(self, me: str | None = None) -> str:
        parts = []
        for ev, ops in sorted(self.counting.items(), key=lambda kv: (kv[0] != self.first_evidence_hash, kv[0])):
            who = ", ".join(("us" if me and op.lower() == me.lower() else op) for op in ops) or "none counting"
            mark = "" if ev == self.first_evidence_hash else " (disagrees with the first vote)"
            parts.append(f"{len(ops)} of {self.quorum} for evidence {ev[:10]}...{mark}: {who}")
        return f"incident {self.incident_id}: " + "; ".join(parts)


def pending_quorums(monitor: MonitorClient, *, module: bytes | None = None, from_block: int = 0,
                    events: Sequence[VoteEvent] | None = None) -> list[PendingQuorum]:
    """Incidents with at least one vote that counts now and that no pause used yet, oldest first.

    ``events`` are the ``PauseVoted`` events to look at (read from ``from_block`` when not given).
    """
    if events is None:
        events = vote_events(monitor, from_block, module=module)
    by_incident: dict[str, list[VoteEvent]] = {}
    for e in events:
        if module is None or e.module == _hex(module):
            by_incident.setdefault(e.incident_id, []).append(e)
    configs: dict[str, PauseConfig] = {}
    out = []
    for inc, evs in by_incident.items():
        inc_b = to_bytes32(inc)
        if monitor.incident_used(inc_b):
            continue
        mod = evs[0].module
        cfg = configs.get(mod) or configs.setdefault(mod, pause_config(monitor, to_bytes32(mod)))
        voters: dict[str, str] = {}
        for e in evs:
            voters.setdefault(e.operator, e.evidence_hash)
        counting = {ev: votes_for(monitor, inc_b, to_bytes32(ev))[1] for ev in dict.fromkeys(voters.values())}
        if not any(counting.values()):
            continue  # every vote left its window: nothing pending
        out.append(PendingQuorum(mod, inc, cfg.quorum, cfg.vote_window, evs[0].evidence_hash, counting, voters))
    return out


# the watch ``watchdog serve`` runs -----------------------------------------------------------------


def emit(listeners: Iterable[Callable[[str, dict[str, Any]], None]], event: str, data: dict[str, Any]) -> None:
    """Hand an event to the responder's listeners (the alert notifier among them); one failing is logged."""
    for listener in listeners:
        try:
            listener(event, data)
        except Exception:  # a listener (alerts, annotations) must never stop the watch
            log.exception("listener_failed", extra={"event_name": event})


@dataclass
class QuorumWatch:
    """The other operators' votes and disagreements, polled by the ``quorum`` job of ``watchdog serve``.

    One owner writes the state (:meth:`poll`); the metrics read ``pending``, ``votes_received`` and
    ``disagreements`` at scrape time. Each disagreement is reported once per store: the audit log keeps
    the ones reported, so a restart does not page again.
    """

    monitor: MonitorClient
    store: Store
    listeners: list[Callable[[str, dict[str, Any]], None]] = field(default_factory=list)
    from_block: int | None = None  # None: ``lookback_blocks`` before the head at the first poll
    lookback_blocks: int = 10_000  # votes count for minutes: a pending quorum is never older than this
    pending: list[PendingQuorum] = field(default_factory=list)
    votes_received: dict[str, int] = field(default_factory=lambda: {"own": 0, "others": 0})
    disagreements: int = 0
    overturned: dict[str, int] = field(default_factory=dict)
    """Operator address -> incidents of theirs the council overturned (the contract's count, from
    ``OperatorOverturned``): a noisy operator is visible in /metrics and the weekly report."""
    _next_block: int = field(default=-1, repr=False)
    _incidents: dict[str, list[VoteEvent]] = field(default_factory=dict, repr=False)
    _reported: set[str] | None = field(default=None, repr=False)

    @property
    def me(self) -> str | None:
        return None if self.monitor.signer is None else self.monitor.signer.address

    def poll(self, now: float) -> str:
        """Read the events up to the head, alert new disagreements, refresh pending quorums and voted actions."""
        head = self.monitor.block_number()
        if self._next_block >= 0:
            start = self._next_block
        else:
            start = self.from_block if self.from_block is not None else max(0, head - self.lookback_blocks)
        new_votes = vote_events(self.monitor, start, head) if start <= head else []
        new_disagreements = disagreement_events(self.monitor, start, head) if start <= head else []
        if start <= head:
            self._contests(start, head, now)
        me = (self.me or "").lower()
        for v in new_votes:
            self.votes_received["own" if v.operator.lower() == me else "others"] += 1
            self._incidents.setdefault(v.incident_id, []).append(v)
        reported = self._reported_keys()
        for d in new_disagreements:
            self.disagreements += 1
            if d.key not in reported:
                self._report(d, now)
                reported.add(d.key)
        # Incidents that paused or whose votes all expired drop out of the pending list (and of our memory).
        events = [e for evs in self._incidents.values() for e in evs]
        self.pending = pending_quorums(self.monitor, events=events)
        keep = {p.incident_id for p in self.pending}
        self._incidents = {k: v for k, v in self._incidents.items() if k in keep}
        notes = self.update_voted(now)
        self._next_block = head + 1
        return (f"ok: {len(self.pending)} pending quorum(s), {len(new_votes)} new vote(s), "
                f"{len(new_disagreements)} disagreement(s), {notes} vote(s) settled")

    def update_voted(self, now: float) -> int:
        """Write where each of our ``voted`` actions stands; returns how many reached an end (paused or expired)."""
        rows = self.store.query(
            "SELECT a.id, a.incident_id, o.evidence_hash, o.module_id, o.quorum_note FROM actions a JOIN outbox o"
            " ON o.action_id = a.id WHERE a.status = ? AND (o.quorum_note IS NULL OR o.quorum_note NOT LIKE ?"
            " AND o.quorum_note NOT LIKE ?)", ("voted", "paused%", "expired%"))
        settled = 0
        for r in rows:
            inc = to_bytes32(r["incident_id"])
            note = self._note(inc, to_bytes32(r["evidence_hash"]), to_bytes32(r["module_id"]))
            if note == r["quorum_note"]:
                continue
            self.store.execute("UPDATE outbox SET quorum_note = ? WHERE action_id = ?", (note, r["id"]))
            if note.startswith(("paused", "expired")):
                settled += 1
                self.store.audit(now, "vote_settled", {"note": note}, incident_id=r["incident_id"])
                log.warning("vote_settled", extra={"incident": r["incident_id"], "note": note})
        return settled

    def _note(self, incident_id: bytes, evidence_hash: bytes, module_id: bytes) -> str:
        info = incident_info(self.monitor, incident_id)
        me = (self.me or "").lower()
        quorum = pause_config(self.monitor, module_id).quorum
        if info.used:
            events = self.monitor.incident_events(incident_id)
            where = f" in block {events[0]['block_number']} (tx {events[0]['tx_hash']})" if events else ""
            if not info.operators:
                return f"paused by the council{where}"
            ours = "ours counted" if any(o.lower() == me for o in info.operators) else "ours did not count"
            return f"paused by {len(info.operators)} of {quorum} votes{where}; {ours}"
        count, _ops = votes_for(self.monitor, incident_id, evidence_hash)
        if count == 0:
            return "expired: our vote left the vote window without a quorum"
        return f"{count} of {quorum} votes"

    def _contests(self, start: int, head: int, now: float) -> None:
        """The council's verdicts (``IncidentResolved``) into the audit log once each (the weekly report counts
        them), and each operator's overturned count (``OperatorOverturned``)."""
        for e in _logs(self.monitor, "OperatorOverturned", start, head, None):
            who = str(e["args"]["operator"])
            self.overturned[who] = max(self.overturned.get(who, 0), int(e["args"]["overturned"]))
        seen = None
        for e in _logs(self.monitor, "IncidentResolved", start, head, None):
            where = _where(e)
            key = f"{where['tx_hash']}:{where['log_index']}"
            if seen is None:
                rows = self.store.query("SELECT detail FROM audit WHERE event = ?", ("incident_contested",))
                seen = {json.loads(r["detail"]).get("key", "") for r in rows}
            if key in seen:
                continue
            iid = "0x" + bytes(e["args"]["incidentId"]).hex()
            info = incident_info(self.monitor, bytes(e["args"]["incidentId"]))
            detail = {"key": key, "upheld": bool(e["args"]["upheld"]), "by": str(e["args"]["by"]),
                      "reason_hash": "0x" + bytes(e["args"]["reasonHash"]).hex(), "operators": list(info.operators),
                      **where}
            inc = self.store.incident(iid)
            self.store.audit(now, "incident_contested", detail, incident_id=iid if inc is not None else None,
                             model=inc.model if inc is not None else None)
            seen.add(key)
            log.warning("incident_contested", extra={"incident": iid, "upheld": detail["upheld"]})

    def _reported_keys(self) -> set[str]:
        if self._reported is None:
            rows = self.store.query("SELECT detail FROM audit WHERE event = ?", ("vote_disagreement",))
            self._reported = {json.loads(r["detail"]).get("key", "") for r in rows}
        return self._reported

    def _report(self, d: Disagreement, now: float) -> None:
        ours = self._our_evidence(d.incident_id)
        me = (self.me or "").lower()
        data: dict[str, Any] = {
            "key": d.key, "incident_id": d.incident_id, "module": d.module, "operator": d.operator,
            "evidence_hash": d.evidence_hash, "first_evidence_hash": d.first_evidence_hash,
            "tx_hash": d.tx_hash, "block_number": d.block_number, "own": d.operator.lower() == me,
            "our_evidence_hash": ours, "model": self._model(d.incident_id)}
        data["description"] = disagreement_sentence(data)
        self.store.audit(now, "vote_disagreement", {k: v for k, v in data.items() if k != "model"},
                         incident_id=d.incident_id if data["model"] else None)
        log.error("vote_disagreement", extra={"incident": d.incident_id, "operator": d.operator,
                                              "evidence_hash": d.evidence_hash,
                                              "first_evidence_hash": d.first_evidence_hash})
        emit(self.listeners, "vote_disagreement", data)

    def _our_evidence(self, incident_id: str) -> str | None:
        row = self.store.query_one("SELECT evidence_hash FROM outbox WHERE incident_id = ? ORDER BY action_id",
                                   (incident_id,))
        if row is None:
            row = self.store.query_one("SELECT evidence_hash FROM incidents WHERE id = ?", (incident_id,))
        return None if row is None else str(row["evidence_hash"]).lower()

    def _model(self, incident_id: str) -> str | None:
        row = self.store.query_one("SELECT model FROM incidents WHERE id = ?", (incident_id,))
        return None if row is None else str(row["model"])


def disagreement_sentence(data: dict[str, Any]) -> str:
    """What a steward reads in the ``vote_disagreement`` alert."""
    who = "This watchdog" if data.get("own") else f"Operator {data['operator']}"
    s = (f"{who} voted to pause module {data['module']} for incident {data['incident_id']} with evidence hash "
         f"{data['evidence_hash']}, but the incident's first vote was for {data['first_evidence_hash']}; votes for "
         "different evidence do not count together. ")
    ours = data.get("our_evidence_hash")
    if ours is None:
        s += "This watchdog has no evidence of its own for the incident. "
    elif ours == data["first_evidence_hash"]:
        s += "This watchdog's evidence agrees with the first vote. "
    elif ours == data["evidence_hash"]:
        s += "This watchdog's evidence agrees with the disagreeing vote. "
    else:
        s += f"This watchdog's own evidence hash is {ours}, different from both. "
    return s + ("Compare the operators' copies of the log and their watchdog versions "
                f"(transaction {data['tx_hash']}, block {data['block_number']}).")
