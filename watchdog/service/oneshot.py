"""``watchdog run``: read one log from start to end through the composed watchdog, settle, and report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rules
from watchdog.actions.chain import MonitorClient
from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc
from watchdog.report.incidents import is_manual
from watchdog.service.compose import RunOptions, compose, load_policy_or_refuse
from watchdog.service.runner import Progress, RunSummary, replay_file
from watchdog.store.store import Action, Incident

__all__ = ["RunOptions", "RunResult", "run"]


@dataclass
class RunResult:
    policy: rules.Policy
    summary: RunSummary
    incidents: list[Incident]
    actions: list[Action]
    chain: bool
    quarantine_path: Path
    store_path: Path
    extra: dict[str, Any] = field(default_factory=dict)
    unsent: list[Action] = field(default_factory=list)  # protective actions left unsent: `run` exits 3
    held: dict[int, str] = field(default_factory=dict)  # action id -> what a held action waits for

    def render(self) -> str:
        s = self.summary
        out = [
            f"read {s.lines:,} lines in {s.seconds:.2f} s: {s.predictions:,} predictions, {s.labels:,} labels, "
            f"{s.quarantined:,} quarantined",
        ]
        if s.quarantined:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.quarantine_by_reason.items()))
            out.append(f"  quarantine ({reasons}) -> {self.quarantine_path}")
        if not self.incidents:
            out.append("no rule fired: no incident")
        for inc in self.incidents:
            ev = inc.evidence_data
            c = ev.get("condition")
            if is_manual(inc) or not c:  # a steward's pause or rollback from the CLI: no rule, no condition
                who = ev.get("by") or ev.get("operator") or "a steward"
                out.append(f"incident {inc.id} manual {ev.get('action', inc.rule)} of {inc.model} by {who}"
                           + (f": {ev['reason']}" if ev.get("reason") else ""))
            else:
                out.append(
                    f"incident {inc.id} rule {inc.rule} ({inc.tier}) on {inc.model} at line {inc.record_index}: "
                    f"{c['detector']}.{c['statistic']} = {c['observed']:.4g} {c['op']} {c['threshold']:g}"
                    + (" [dry run]" if inc.dry_run else "")
                )
            for a in self.actions:
                if a.incident_id == inc.id:
                    where = f" tx {a.tx_hash} block {a.block_number}" if a.tx_hash else ""
                    out.append(f"  {a.kind}: {a.status}{where}" + (f" ({a.error})" if a.error else "")
                               + self.held.get(a.id, ""))
        out.append(f"store: {self.store_path}")
        return "\n".join(out)


def run(opts: RunOptions, start_metrics: Callable[[Any], Any] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        monitor: MonitorClient | None = None) -> RunResult:
    """Run the watchdog over ``opts.source`` once, start to end."""
    if not opts.source.is_file():
        load_policy_or_refuse(opts.policy)  # a bad policy is named first
        raise ConfigError(f"The source {opts.source} does not exist or is not a file.")
    parts = compose(opts, on_event=on_event, monitor=monitor)
    try:
        if start_metrics is not None:
            start_metrics(parts.metrics.registry)
        store, responder, policy = parts.store, parts.responder, parts.policy
        store.audit(responder.clock(), "run_started", {"source": str(opts.source), "dry_run": opts.dry_run},
                    policy_hash=policy.hash)
        opts.quarantine.parent.mkdir(parents=True, exist_ok=True)
        with open(opts.quarantine, "ab") as q:
            progress = Progress(opts.source.stat().st_size, enabled=opts.progress)
            # SIGHUP reloads the policy between batches (replay_file reads about 1 MiB at a time): a reload
            # applies from the next batch; a bad policy is refused and the old one keeps running
            with parts.reloader as reloader:
                summary = replay_file(parts.engine, opts.source, q, progress=progress, after_line=reloader.poll)
        responder.settle(opts.settle_seconds)
        unsent = responder.unsent()  # protective actions no node accepted within the settle time
        parts.close_notify(10.0)  # deliver the alerts and annotations still queued
        store.audit(responder.clock(), "run_finished", {"lines": summary.lines, "quarantined": summary.quarantined},
                    policy_hash=policy.hash)
        return RunResult(policy, summary, store.incidents(), store.actions(), parts.monitor is not None,
                         opts.quarantine, opts.store, unsent=unsent, held=_held(store))
    finally:
        parts.store.close()


def _held(store: Any) -> dict[int, str]:
    """For each action held in its veto window: until when, and what sends it then."""
    rows = store.query("SELECT a.id AS id, o.not_before AS not_before FROM actions a JOIN outbox o"
                       " ON o.action_id = a.id WHERE a.status = ?", ("held",))
    return {int(r["id"]): (f" until {iso_utc(float(r['not_before']))} (the veto window; a steward may veto it "
                           "until then, and `watchdog serve`, a later `watchdog run` or `watchdog outbox --process` "
                           "sends it after)") for r in rows}
