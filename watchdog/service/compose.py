"""Wiring one run of the watchdog: policy, store, chain, metrics, engine, source."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rules

from watchdog.observe import notify
from watchdog.actions.responder import Responder
from watchdog.actions.chain import MonitorClient, chain_metrics, connect, load_signer
from watchdog.engine.engine import Engine
from watchdog.errors import ConfigError, StartupError
from watchdog.observe.metrics import Metrics
from watchdog.actions.outbox import Outbox
from watchdog.report.recorder import EvaluationRecorder
from watchdog.service.runner import Progress, RunSummary, replay_file
from watchdog.engine.reload import PolicyReloader
from watchdog.store.store import Action, Incident, Store

log = logging.getLogger("watchdog.service")


@dataclass
class RunOptions:
    policy: Path
    source: Path
    rpc_url: str | list[str] | None = None  # several: failover in order
    monitor: str | None = None
    key_file: str | None = None
    key_password_file: str | None = None
    store: Path = Path("watchdog.db")
    quarantine: Path = Path("quarantine.jsonl")
    metrics_addr: tuple[str, int] | None = None
    dry_run: bool = False
    max_fee_gwei: float = 500.0
    progress: bool = True
    confirmations: int = 3  # blocks deep before an action is "confirmed"
    stuck_blocks: int = 3  # blocks without inclusion before a transaction is replaced with a higher fee
    settle_seconds: float = 60.0  # at the end of a run, how long to wait for transactions in flight
    alertmanager_url: str | None = None  # notifications (watchdog/notify.py): never on the action path
    webhook_url: str | None = None
    grafana_url: str | None = None
    grafana_token_file: str | None = None
    evidence_url: str | None = None  # template with {incident}, for the alerts' evidence link


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
            c = ev["condition"]
            out.append(
                f"incident {inc.id} rule {inc.rule} ({inc.tier}) on {inc.model} at line {inc.record_index}: "
                f"{c['detector']}.{c['statistic']} = {c['observed']:.4g} {c['op']} {c['threshold']:g}"
                + (" [dry run]" if inc.dry_run else "")
            )
            for a in self.actions:
                if a.incident_id == inc.id:
                    where = f" tx {a.tx_hash} block {a.block_number}" if a.tx_hash else ""
                    out.append(f"  {a.kind}: {a.status}{where}" + (f" ({a.error})" if a.error else ""))
        out.append(f"store: {self.store_path}")
        return "\n".join(out)


def load_policy_or_refuse(path: Path, dry_run: bool = False) -> rules.Policy:
    try:
        policy = rules.load_policy(path)
    except rules.PolicyError as e:
        lines = "\n".join(str(i) for i in e.errors)
        raise StartupError(f"The policy {path} has {len(e.errors)} error(s); refusing to start:\n{lines}") from None
    except OSError as e:
        raise StartupError(f"The policy {path} could not be read: {e.strerror}.") from None
    return policy


def open_monitor(opts: RunOptions, metrics: Metrics | None = None) -> MonitorClient | None:
    if not opts.rpc_url:
        if opts.monitor:
            raise ConfigError("--monitor needs --rpc-url to reach the chain.")
        log.warning("no_chain", extra={"why": "no --rpc-url: actions are recorded, not sent"})
        return None
    if not opts.monitor:
        raise ConfigError("--rpc-url needs --monitor, the address of the deployed ModelMonitor.")
    signer = None if opts.dry_run else load_signer(opts.key_file, opts.key_password_file)
    w3 = connect(opts.rpc_url, metrics=chain_metrics(metrics))
    return MonitorClient(w3, opts.monitor, signer, max_fee_gwei=opts.max_fee_gwei)


def run(opts: RunOptions, start_metrics: Callable[[Any], Any] | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        monitor: MonitorClient | None = None) -> RunResult:
    """Run the watchdog over ``opts.source`` once, start to end."""
    policy = load_policy_or_refuse(opts.policy)
    if not opts.source.is_file():
        raise ConfigError(f"The source {opts.source} does not exist or is not a file.")
    metrics = Metrics()
    if monitor is None and not opts.dry_run:
        monitor = open_monitor(opts, metrics)
    with Store(opts.store) as store:
        outbox = Outbox(store, None if opts.dry_run else monitor, confirmations=opts.confirmations,
                        stuck_blocks=opts.stuck_blocks, metrics=chain_metrics(metrics))
        responder = Responder(store, None if opts.dry_run else monitor, on_event=on_event, metrics=metrics,
                              dry_run=opts.dry_run, outbox=outbox)
        close_notify = notify.attach(responder, metrics, alertmanager_url=opts.alertmanager_url,
                                     webhook_url=opts.webhook_url, grafana_url=opts.grafana_url,
                                     grafana_token_file=opts.grafana_token_file, evidence_url=opts.evidence_url)
        responder.resume()  # actions an earlier (crashed) run left open
        engine = Engine(policy, base_dir=opts.policy.parent, metrics=metrics, on_decision=responder)
        engine.observers.append(EvaluationRecorder(store))  # history for the weekly report
        metrics.attach(engine)
        metrics.attach_store(store, engine)
        if start_metrics is not None:
            start_metrics(metrics.registry)
        store.audit(responder.clock(), "run_started", {"source": str(opts.source), "dry_run": opts.dry_run},
                    policy_hash=policy.hash)
        opts.quarantine.parent.mkdir(parents=True, exist_ok=True)
        with open(opts.quarantine, "ab") as q:
            progress = Progress(opts.source.stat().st_size, enabled=opts.progress)
            # SIGHUP reloads the policy between batches (replay_file reads about 1 MiB at a time): a reload
            # applies from the next batch; a bad policy is refused and the old one keeps running
            with PolicyReloader(opts.policy, engine, metrics=metrics, on_reload=lambda outcome, old, new, detail:
                                store.audit(responder.clock(), f"policy_reload_{outcome}", detail,
                                            policy_hash=(new or old).hash)) as reloader:
                summary = replay_file(engine, opts.source, q, progress=progress, after_line=reloader.poll)
        responder.settle(opts.settle_seconds)
        close_notify(10.0)  # deliver the alerts and annotations still queued
        store.audit(responder.clock(), "run_finished", {"lines": summary.lines, "quarantined": summary.quarantined},
                    policy_hash=policy.hash)
        return RunResult(policy, summary, store.incidents(), store.actions(), monitor is not None,
                         opts.quarantine, opts.store)
