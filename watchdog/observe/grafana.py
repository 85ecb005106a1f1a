"""Grafana: push the generated dashboards, and annotate every action, through ``grafana-client``.

Annotations are organisation-wide (no dashboard id) and tagged ``watchdog``, ``model:<id>``,
``rule:<name>``, ``action:<kind>`` and ``outcome:<outcome>``; the generated dashboards show them with a
tag query, so one annotation appears on the overview and on its model's dashboard. The transaction hash
goes in the text, never in a tag (tags are indexed and should stay few).

Posting goes through a :class:`~watchdog.alerting.DeliveryWorker`: off the action path, retried with
backoff, counted in ``watchdog_grafana_annotations_total``.

The token is read from a file and handed to grafana-client as a Bearer token; it is never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError

from watchdog.errors import ConfigError
from watchdog.observe.alerting import Backoff, DeliveryError, DeliveryWorker
from watchdog.observe.metrics import Metrics

log = logging.getLogger("watchdog.grafana")

ACTION_EVENTS = {
    "action_mined": "mined",
    "action_failed": "failed",
    "action_skipped": "skipped",
    "action_held": "held",
    "action_settled": "settled",
    "action_stuck": "stuck",
}


def read_token(token_file: str | Path) -> str:
    try:
        token = Path(token_file).read_text().strip()
    except OSError as e:
        raise ConfigError(f"The Grafana token file {token_file} could not be read: {e.strerror}.") from None
    if not token:
        raise ConfigError(f"The Grafana token file {token_file} is empty; put a service account token in it.")
    return token


def connect(url: str, token_file: str | Path, timeout: float = 10.0) -> GrafanaApi:
    """A client for Grafana at ``url`` (e.g. http://127.0.0.1:3000) with the token in ``token_file``."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--grafana-url must be an http:// or https:// URL, got {url!r}.")
    api: GrafanaApi = GrafanaApi.from_url(url.rstrip("/"), credential=read_token(token_file), timeout=timeout)
    return api


def push_dashboards(
    api: GrafanaApi,
    dashboards: dict[str, dict[str, Any]],
    *,
    folder_uid: str | None = None,
    message: str = "watchdog dashboards push",
) -> list[dict[str, Any]]:
    """Create or update each dashboard by its uid (``POST /api/dashboards/db`` with ``overwrite``)."""
    results = []
    for uid, dash in dashboards.items():
        body: dict[str, Any] = {
            "dashboard": {**dash, "id": None, "uid": uid},
            "overwrite": True,
            "message": message,
        }
        if folder_uid:
            body["folderUid"] = folder_uid
        # grafana-client leaves update_dashboard and add_annotation unannotated
        results.append(api.dashboard.update_dashboard(body))  # type: ignore[no-untyped-call]
    return results


class _AnnotationReceiver:
    name = "grafana"

    def __init__(self, api: GrafanaApi):
        self.api = api

    def send(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            try:
                self.api.annotations.add_annotation(**item)  # type: ignore[no-untyped-call]
            except GrafanaClientError as e:  # 4xx: the request is wrong, retrying will not help
                raise DeliveryError(
                    self.name, str(e), retryable=getattr(e, "status_code", 0) in (408, 429)
                ) from None
            except Exception as e:  # 5xx, timeouts, connection errors: try again
                raise DeliveryError(self.name, f"{type(e).__name__}: {e}", retryable=True) from None


class GrafanaAnnotator:
    """A Responder listener posting one annotation per action (mined, failed or skipped)."""

    def __init__(
        self,
        api: GrafanaApi,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], float] = time.time,
        backoff: Backoff | None = None,
        capacity: int = 1000,
    ):
        self.api = api
        self.clock = clock
        self.receiver = _AnnotationReceiver(api)
        on_outcome = (lambda _r, o, n: metrics.grafana_annotations.labels(o).inc(n)) if metrics else None
        self.worker = DeliveryWorker(on_outcome, capacity=capacity, backoff=backoff, name="watchdog-grafana")

    @staticmethod
    def annotation_for(event: str, data: dict[str, Any], now: float) -> dict[str, Any] | None:
        """The ``add_annotation`` arguments for an event, or None for events that are not actions."""
        outcome = ACTION_EVENTS.get(event)
        if outcome is None:
            return None
        d, inc, action = data["decision"], data["incident"], data["action"]
        text = f"{action} of {d.model} by rule {d.rule} ({d.tier}): {outcome}"
        tx = data.get("tx")
        if tx is not None:
            text += f"; tx {tx.tx_hash} in block {tx.block_number}"
        elif data.get("tx_hash"):
            text += f"; tx {data['tx_hash']}"
        if data.get("error"):
            text += f"; error: {data['error']}"
        if data.get("why"):
            text += f"; {data['why']}"
        text += f"; incident {inc.id}; evidence {inc.evidence_hash}"
        ms = int(now * 1000)
        return {
            "time_from": ms,
            "time_to": ms,
            "text": text,
            "tags": [
                "watchdog",
                f"model:{d.model}",
                f"rule:{d.rule}",
                f"action:{action}",
                f"outcome:{outcome}",
            ],
        }

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        item = self.annotation_for(event, data, self.clock())
        if item is not None:
            self.worker.submit(self.receiver, [item])

    def close(self, timeout: float = 10.0) -> bool:
        return self.worker.close(timeout)
