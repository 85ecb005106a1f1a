"""Real Prometheus and Alertmanager (the Debian binaries) on free loopback ports, and a watchdog in-process.

Each server gets its own config and data folder under the test's tmp dir and is stopped after. Waiting is
bounded polling of the server's own HTTP API, never a fixed sleep.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def poll(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last_error = e
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path


@contextmanager
def _serve(argv: list[str], url: str, ready_path: str, log: Path, what: str) -> Iterator[Server]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"{what} exited with {proc.returncode}: {log.read_text()[-2000:]}")
            with urllib.request.urlopen(url + ready_path, timeout=1) as r:
                return r.status == 200

        poll(ready, 30, f"{what} to be ready")
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def start_prometheus(
    tmp: Path, scrape_target: str, rule_files: list[Path] = (), job: str = "watchdog"
) -> Iterator[Server]:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (scripts/bootstrap.sh --test installs it)")
    port = free_port()
    folder = tmp / "prometheus"
    (folder / "data").mkdir(parents=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [scrape_target]}]}],
    }
    (folder / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    argv = [
        PROMETHEUS,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with _serve(argv, f"http://127.0.0.1:{port}", "/-/ready", folder / "log.txt", "Prometheus") as s:
        yield s


@contextmanager
def start_alertmanager(tmp: Path, config_text: str | None = None) -> Iterator[Server]:
    if ALERTMANAGER is None:
        pytest.skip("prometheus-alertmanager is not installed (scripts/bootstrap.sh --test installs it)")
    port = free_port()
    folder = tmp / "alertmanager"
    (folder / "data").mkdir(parents=True)
    (folder / "alertmanager.yml").write_text(
        config_text or "route:\n  receiver: default\n  group_wait: 1s\nreceivers:\n  - name: default\n"
    )
    argv = [
        ALERTMANAGER,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with _serve(argv, f"http://127.0.0.1:{port}", "/-/ready", folder / "log.txt", "Alertmanager") as s:
        yield s


def prom_query(prom: Server, expr: str) -> list[dict[str, Any]]:
    body = get_json(f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body.get("status") != "success":
        raise AssertionError(f"Prometheus refused {expr!r}: {body}")
    return body["data"]["result"]


@pytest.fixture
def demo_policy_path() -> Iterator[Path]:
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
        yield p


@pytest.fixture
def drifted_log() -> Iterator[Path]:
    with resources.as_file(resources.files("watchdog").joinpath("data", "demo.jsonl")) as p:
        yield p


@pytest.fixture(scope="session")
def demo_events(tmp_path_factory) -> list[tuple[str, dict[str, Any]]]:
    """The Responder's real events over the drifted demo log (no chain: on-chain actions are skipped)."""
    import rules
    from watchdog.actions.responder import Responder
    from watchdog.engine.engine import Engine
    from watchdog.observe.metrics import Metrics
    from watchdog.service.runner import replay_file
    from watchdog.store.store import Store

    tmp = tmp_path_factory.mktemp("events")
    events: list[tuple[str, dict[str, Any]]] = []
    with (
        resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as policy_path,
        resources.as_file(resources.files("watchdog").joinpath("data", "demo.jsonl")) as log_path,
    ):
        policy = rules.load_policy(policy_path)
        metrics = Metrics()
        with Store(tmp / "events.db") as store:
            responder = Responder(store, None, metrics=metrics)
            responder.listeners.append(lambda e, d: events.append((e, d)))
            engine = Engine(policy, base_dir=policy_path.parent, metrics=metrics, on_decision=responder)
            replay_file(engine, log_path, None)
    return events


def event(events: list[tuple[str, dict[str, Any]]], name: str, rule: str | None = None) -> dict[str, Any]:
    for e, d in events:
        if e == name and (rule is None or d["decision"].rule == rule):
            return d
    raise AssertionError(f"no {name} event{' for ' + rule if rule else ''} in the demo run")


def volatility_alert_labels(incident_id: str) -> dict[str, str]:
    """The labels of the alert the demo policy's VolatilityRegimeShift rule sends for an incident."""
    return {
        "alertname": "VolatilityRegimeShift",
        "model": "lending-risk",
        "module": "lending-risk",
        "rule": "VolatilityRegimeShift",
        "tier": "critical",
        "severity": "critical",
        "incident": incident_id,
        "source": "watchdog",
    }
