"""The composition root: the one place that builds the watchdog's components from its options.

Every command that runs the watchdog (``run``, ``serve``, ``demo``, ``backtest``) asks :func:`compose` for the
same set of objects, wired the same way::

    policy ─▶ engine ──decisions──▶ responder ──▶ outbox ──▶ chain (MonitorClient)
                │  └─observers──▶ recorder (weekly-report history)      └─▶ notify (alerts, annotations)
                └─ metrics (collectors read engine and store at scrape time)
    store: incidents, actions, outbox, checkpoints, audit          reloader: SIGHUP → Engine.swap_policy

and then drives them its own way (a file read once; sources followed with HTTP ingest and a scheduler). A
backtest asks :func:`compose_offline` for the policy and an engine alone: it sends and stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rules
from watchdog.actions.chain import MonitorClient, chain_metrics, connect, load_signer
from watchdog.actions.outbox import Outbox
from watchdog.actions.preflight import SignerStatus, preflight
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.engine.reload import PolicyReloader
from watchdog.errors import ConfigError, StartupError
from watchdog.observe import notify
from watchdog.observe.metrics import Metrics
from watchdog.report.recorder import EvaluationRecorder
from watchdog.store.store import Store

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
    alertmanager_url: str | None = None  # notifications (watchdog/observe/notify.py): never on the action path
    webhook_url: str | None = None
    grafana_url: str | None = None
    grafana_token_file: str | None = None
    evidence_url: str | None = None  # template with {incident}, for the alerts' evidence link
    allow_privileged_key: bool = False  # start with a key that also holds the admin or council role
    min_actions: int = 1  # refuse to start (and alert) when the key pays for fewer pauses than this


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


def compose_offline(policy_path: Path, **engine_options: Any) -> tuple[rules.Policy, Engine]:
    """The policy and an engine with nothing around it (no store, chain, notifications): what a backtest
    replays through. ``engine_options`` go to :class:`Engine` (e.g. ``on_decision``, ``keep_decisions``)."""
    policy = load_policy_or_refuse(policy_path)
    return policy, Engine(policy, base_dir=policy_path.parent, metrics=Metrics(), **engine_options)


@dataclass
class Components:
    """The objects of one watchdog, wired (see the module docstring). ``close()`` delivers what notify still
    holds and closes the store."""

    policy: rules.Policy
    metrics: Metrics
    store: Store
    monitor: MonitorClient | None
    responder: Responder
    engine: Engine
    recorder: EvaluationRecorder
    reloader: PolicyReloader
    close_notify: Callable[[float], Any]
    signer_status: SignerStatus | None = None  # the signing key's funds (refreshed by the heartbeat job)
    closed: bool = field(default=False, repr=False)

    def close(self, notify_seconds: float = 10.0) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self.close_notify(notify_seconds)  # deliver the alerts and annotations still queued
        finally:
            self.store.close()


def compose(opts: RunOptions, *, clock: Callable[[], float] | None = None,
            on_event: Callable[[str, dict[str, Any]], None] | None = None, monitor: MonitorClient | None = None,
            on_reload: Callable[[str, rules.Policy, rules.Policy | None, dict[str, Any]], None] | None = None,
            policy: rules.Policy | None = None) -> Components:
    """Build the components ``opts`` describe. ``clock``: a live service's wall clock (records stamped too far
    ahead of it are quarantined); ``monitor``: an already connected chain client (else one is opened from
    ``opts``); ``on_reload``: told of each policy reload after it is audited; ``policy``: ``opts.policy`` when
    the caller has loaded it already.

    Raises :class:`StartupError` / :class:`ConfigError` with a sentence when the policy, the chain or the key
    is not usable; nothing is left open then."""
    policy = policy if policy is not None else load_policy_or_refuse(opts.policy)
    metrics = Metrics()
    if monitor is None and not opts.dry_run:
        monitor = open_monitor(opts, metrics)
    chain = None if opts.dry_run else monitor
    signer_status = None
    if chain is not None and chain.signer is not None:
        # the key's roles and funds, before anything is opened: a refusal leaves nothing behind
        signer_status = preflight(chain, allow_privileged_key=opts.allow_privileged_key,
                                  min_actions=opts.min_actions, metrics=metrics).status
    store = Store(opts.store)
    try:
        outbox = Outbox(store, chain, confirmations=opts.confirmations, stuck_blocks=opts.stuck_blocks,
                        metrics=chain_metrics(metrics))
        responder = Responder(store, chain, on_event=on_event, metrics=metrics, dry_run=opts.dry_run, outbox=outbox)
        close_notify = notify.attach(responder, metrics, alertmanager_url=opts.alertmanager_url,
                                     webhook_url=opts.webhook_url, grafana_url=opts.grafana_url,
                                     grafana_token_file=opts.grafana_token_file, evidence_url=opts.evidence_url,
                                     state_dir=notify.state_dir_for(opts.store))  # alerts kept across restarts
        responder.resume()  # actions an earlier (crashed) process left open: the outbox never sends twice
        engine = Engine(policy, base_dir=opts.policy.parent, metrics=metrics, on_decision=responder, clock=clock)
        recorder = EvaluationRecorder(store)
        engine.observers.append(recorder)  # history for the weekly report
        metrics.attach(engine)
        metrics.attach_store(store, engine)

        def reloaded(outcome: str, old: rules.Policy, new: rules.Policy | None, detail: dict[str, Any]) -> None:
            store.audit(responder.clock(), f"policy_reload_{outcome}", detail, policy_hash=(new or old).hash)
            if on_reload is not None:
                on_reload(outcome, old, new, detail)

        reloader = PolicyReloader(opts.policy, engine, metrics=metrics, on_reload=reloaded)
    except BaseException:
        store.close()
        raise
    return Components(policy, metrics, store, monitor, responder, engine, recorder, reloader, close_notify,
                      signer_status)
