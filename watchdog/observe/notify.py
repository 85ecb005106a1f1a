"""Wires outward notifications to a Responder: Alertmanager or webhook alerts, Grafana annotations.

Each is a Responder listener that only enqueues; delivery runs on its own worker thread (see
:mod:`watchdog.observe.alerting`), so no notification ever delays an on-chain action.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.observe.metrics import Metrics

log = logging.getLogger("watchdog.notify")

#: The keyword arguments of :func:`attach`, each also a command-line option (``--alertmanager-url`` ...).
OPTIONS = ("alertmanager_url", "webhook_url", "grafana_url", "grafana_token_file", "evidence_url")


def state_dir_for(store: str | Path) -> Path:
    """Where the alerts of the watchdog on ``store`` are kept between runs: ``<store>.alerts/`` beside a SQLite
    file, ``./watchdog-alerts/`` for a PostgreSQL store (whose data is not on this machine)."""
    from watchdog.store.db import is_postgres_url

    if is_postgres_url(str(store)):
        return Path("watchdog-alerts")
    p = Path(store)
    return p.with_name(p.name + ".alerts")


def warn_if_evidence_needs_a_token(evidence_url: str | None, http: Any, public_evidence: bool) -> str | None:
    """Log (and return) a warning when the alerts' evidence link is this ``serve``'s own ``/evidence/{incident}``
    page and that page needs a bearer token: a browser following the link from a page gets a 401.

    A warning, not a refusal: a proxy in front of ``serve`` may add the token itself.
    """
    if not evidence_url or public_evidence or http is None or "/evidence/{incident}" not in evidence_url:
        return None
    why = (f"--evidence-url {evidence_url} points at serve's /evidence page, which needs a bearer token without "
           "--public-evidence: the person paged who follows the link gets a 401. Give --public-evidence (the page "
           "is read-only) unless a proxy in front adds the token.")
    log.warning("evidence_link_needs_token", extra={"why": why})
    return why


def _incident_state(store: Any) -> Callable[[str], str | None]:
    def state(incident_id: str) -> str | None:
        inc = store.incident(incident_id)
        return None if inc is None else str(inc.state)

    return state


def _action_status(store: Any) -> Callable[[str, str], tuple[str, str | None] | None]:
    def status(incident_id: str, kind: str) -> tuple[str, str | None] | None:
        a = store.action(incident_id, kind)
        return None if a is None else (str(a.status), a.error)

    return status


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the notification options to a command that runs the engine (``watchdog run``, ``watchdog serve``)."""
    parser.add_argument("--alertmanager-url", help="send the watchdog's alerts to this Alertmanager (v2 API)")
    parser.add_argument("--webhook-url", help="also POST each alert as JSON to this URL")
    parser.add_argument("--grafana-url", help="post a Grafana annotation for every action (with --grafana-token-file)")
    parser.add_argument("--grafana-token-file", help="file holding a Grafana service account token")
    parser.add_argument("--evidence-url", help="link template for an alert's evidence, with {incident}")


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The notification options parsed by :func:`add_arguments`, as keyword arguments for :func:`attach`."""
    return {name: getattr(args, name) for name in OPTIONS}


def attach(
    responder: Any,
    metrics: Metrics | None,
    *,
    alertmanager_url: str | None = None,
    webhook_url: str | None = None,
    grafana_url: str | None = None,
    grafana_token_file: str | None = None,
    evidence_url: str | None = None,
    state_dir: Path | None = None,
) -> Callable[[float], bool]:
    """Subscribe the configured notifiers to ``responder.listeners``; returns ``close(timeout)``.

    ``close`` delivers what is queued (bounded by ``timeout`` seconds per notifier) and stops the threads;
    it returns False when something was still undelivered. With ``state_dir`` (:func:`state_dir_for` the
    store) undelivered and firing alerts are kept there and taken up again by the next start.
    """
    from watchdog.errors import ConfigError
    from watchdog.observe.alerting import build_notifier

    closers: list[Callable[[float], bool]] = []
    store = getattr(responder, "store", None)
    notifier = build_notifier(
        metrics, alertmanager_url=alertmanager_url, webhook_url=webhook_url, evidence_url=evidence_url,
        state_dir=state_dir, incident_state=None if store is None else _incident_state(store),
        action_status=None if store is None else _action_status(store),
    )
    if notifier is not None:
        responder.listeners.append(notifier)
        responder.alerts_routed = True
        closers.append(notifier.close)
    else:
        log.warning("alerts_unrouted", extra={"why": "no --alertmanager-url or --webhook-url: the watchdog's alerts "
                                                     "are logged and counted (outcome unrouted), sent nowhere"})
    if grafana_url or grafana_token_file:
        if not (grafana_url and grafana_token_file):
            raise ConfigError("--grafana-url and --grafana-token-file go together: give both or neither.")
        from watchdog.observe.grafana import GrafanaAnnotator, connect

        annotator = GrafanaAnnotator(connect(grafana_url, grafana_token_file), metrics)
        responder.listeners.append(annotator)
        closers.append(annotator.close)

    def close(timeout: float = 10.0) -> bool:
        done = True
        for c in closers:
            done = c(timeout) and done
        if not done:
            log.warning("notifications_undelivered", extra={"timeout_s": timeout})
        return done

    return close
