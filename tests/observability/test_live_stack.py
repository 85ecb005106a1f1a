"""The whole observability path with the real servers.

A watchdog runs in-process (Engine + Metrics + Store + Responder, /metrics on a free port) over the drifted
demo log while a real Prometheus scrapes it every second with the generated alert rules loaded, and the
watchdog sends its own alerts to a real Alertmanager. Then:

- every panel query of every generated dashboard returns at least one series from that Prometheus;
- the generated policy rules fire in Prometheus on the drifted log (live, ``for: 1s``);
- the watchdog's alerts are listed by Alertmanager's v2 API with their labels and annotations;
- ``promtool check metrics`` passes on the live /metrics output.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import start_http_server

import dashboards
import rules
from dashboards import alerts
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.observe import notify
from watchdog.observe.metrics import Metrics
from watchdog.service.runner import replay_file
from watchdog.store.store import Store

from .conftest import (
    PROMTOOL,
    free_port,
    get_json,
    poll,
    prom_query,
    start_alertmanager,
    start_prometheus,
    volatility_alert_labels,
)

pytestmark = pytest.mark.e2e


@dataclass
class RunningWatchdog:
    policy: rules.Policy
    metrics: Metrics
    store: Store
    engine: Engine
    responder: Responder
    url: str
    close_notify: object


@contextmanager
def watchdog_in_process(
    tmp: Path, policy_path: Path, port: int, **notify_opts: str
) -> Iterator[RunningWatchdog]:
    policy = rules.load_policy(policy_path)
    metrics = Metrics()
    store = Store(tmp / "watchdog.db")
    responder = Responder(store, None, metrics=metrics)
    close_notify = notify.attach(responder, metrics, **notify_opts)
    engine = Engine(policy, base_dir=policy_path.parent, metrics=metrics, on_decision=responder)
    metrics.attach(engine)
    metrics.attach_store(store, engine)
    server, thread = start_http_server(port, "127.0.0.1", registry=metrics.registry)
    try:
        yield RunningWatchdog(
            policy, metrics, store, engine, responder, f"http://127.0.0.1:{port}", close_notify
        )
    finally:
        close_notify(5.0)
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        store.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request) -> Iterator[dict]:
    from importlib import resources

    tmp = tmp_path_factory.mktemp("observability")
    with (
        resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as policy_path,
        resources.as_file(resources.files("watchdog").joinpath("data", "demo.jsonl")) as log_path,
    ):
        policy = rules.load_policy(policy_path)
        rule_file = tmp / "watchdog-rules.yml"
        rule_file.write_text(alerts.dump(alerts.alert_rules(policy, alerts.AlertOptions(rule_for="1s"))))
        port = free_port()
        with (
            start_alertmanager(tmp) as am,
            start_prometheus(tmp, f"127.0.0.1:{port}", [rule_file]) as prom,
            watchdog_in_process(
                tmp,
                policy_path,
                port,
                alertmanager_url=am.url,
                evidence_url="https://watchdog.example/incidents/{incident}",
            ) as wd,
        ):
            # Prometheus scrapes while the log is replayed; wait for the first scrape so it sees the run.
            poll(
                lambda: prom_query(prom, 'up{job="watchdog"} == 1'),
                30,
                "Prometheus' first scrape of the watchdog",
            )
            with open(tmp / "quarantine.jsonl", "wb") as q:
                summary = replay_file(wd.engine, log_path, q)
            yield {
                "prom": prom,
                "am": am,
                "wd": wd,
                "policy": policy,
                "summary": summary,
                "tmp": tmp,
                "rule_file": rule_file,
            }


def test_metrics_endpoint_passes_promtool_check_metrics(stack):
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    with urllib.request.urlopen(stack["wd"].url + "/metrics", timeout=5) as r:
        text = r.read()
    assert b"watchdog_outbox_depth" in text and b"watchdog_policy_info{" in text
    res = subprocess.run(
        check=False, args=[PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()


def test_every_panel_query_returns_a_series(stack):
    prom = stack["prom"]
    # Wait until Prometheus holds the end of the replay, then at least two scrapes after it for rate().
    total = float(stack["summary"].lines)
    poll(
        lambda: any(float(s["value"][1]) == total for s in prom_query(prom, "watchdog_records_read_total")),
        30,
        "Prometheus to scrape the replayed log",
    )
    poll(
        lambda: prom_query(prom, "count_over_time(watchdog_records_read_total[1m]) >= 3"), 30, "three scrapes"
    )
    empty = []
    boards = dashboards.build_dashboards(stack["policy"])
    n = 0
    for uid, board in boards.items():
        for title, expr in dashboards.panel_queries(board):
            n += 1
            result = prom_query(prom, expr.replace("$__rate_interval", "1m"))
            if not result:
                empty.append(f"{uid} / {title}: {expr}")
    assert n >= 30
    assert not empty, "panel queries without any series:\n" + "\n".join(empty)


def test_generated_rules_fire_live_in_prometheus(stack):
    prom = stack["prom"]
    policy_rules = {r.name for g in stack["policy"].groups for r in g.rules}

    def firing() -> set[str]:
        got = get_json(prom.url + "/api/v1/alerts")["data"]["alerts"]
        names = {a["labels"]["alertname"] for a in got if a["state"] == "firing"}
        return names if policy_rules <= names else set()

    names = poll(firing, 40, f"Prometheus to fire {sorted(policy_rules)}")
    got = get_json(prom.url + "/api/v1/alerts")["data"]["alerts"]
    vol = next(a for a in got if a["labels"]["alertname"] == "VolatilityRegimeShift")
    assert vol["labels"]["severity"] == "critical" and vol["labels"]["model"] == "lending-risk"
    assert vol["annotations"]["runbook_url"].startswith("https://example.org/runbooks/")
    assert "WatchdogDown" not in names  # the watchdog is up and scraped


def test_watchdog_alerts_are_listed_by_alertmanager(stack):
    am = stack["am"]
    store: Store = stack["wd"].store
    incidents = {i.rule: i for i in store.incidents()}
    alerting_rules = {r.name for g in stack["policy"].groups for r in g.rules if "alert" in r.actions}
    assert alerting_rules <= set(incidents), "the drifted log should fire every rule that alerts"

    def listed() -> list[dict]:
        got = get_json(am.url + "/api/v2/alerts?filter=source%3D%22watchdog%22")
        return got if {a["labels"]["rule"] for a in got} >= alerting_rules else []

    got = poll(listed, 30, "Alertmanager to list the watchdog's alerts")
    vol = next(a for a in got if a["labels"]["rule"] == "VolatilityRegimeShift")
    inc = incidents["VolatilityRegimeShift"]
    assert vol["labels"] == volatility_alert_labels(inc.id)
    assert (
        vol["annotations"]["summary"] == "Collateral volatility left the regime the risk model was trained on"
    )
    assert vol["annotations"]["runbook_url"] == "https://example.org/runbooks/lending-risk#volatility"
    assert vol["annotations"]["evidence_url"] == f"https://watchdog.example/incidents/{inc.id}"
    assert vol["annotations"]["evidence_hash"] == inc.evidence_hash
    assert vol["status"]["state"] == "active"
    m = stack["wd"].metrics
    assert m.registry.get_sample_value(
        "watchdog_alert_notifications_total", {"receiver": "alertmanager", "outcome": "sent"}
    ) == len(alerting_rules)
    # the failure series exists from the start at 0 (so increase() sees a first failure), and stays there
    assert (
        m.registry.get_sample_value(
            "watchdog_alert_notifications_total", {"receiver": "alertmanager", "outcome": "failed"}
        )
        == 0
    )
