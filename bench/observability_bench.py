"""Observability costs: what a scrape costs, and what an alert costs the action path.

1. ``/metrics`` scrape (``generate_latest``) of a watchdog that replayed the drifted demo log: the full
   registry (counters + the engine's and the store's scrape-time collectors) against the baseline of the
   counters alone, measured in the same run.
2. The Responder listener for Alertmanager (``AlertNotifier.__call__``: build the alert, enqueue it) against
   the baseline of posting the same alert synchronously to a loopback HTTP server, i.e. what the action path
   would pay if delivery were inline.

Run: ``.venv/bin/python bench/observability_bench.py``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client import CollectorRegistry, generate_latest

import rules
from tests.observability.recorder import recording_server
from watchdog.actions.responder import Responder
from watchdog.engine.engine import Engine
from watchdog.observe.alerting import AlertmanagerReceiver, AlertNotifier, Backoff, DeliveryWorker
from watchdog.observe.metrics import Metrics
from watchdog.service.runner import replay_file
from watchdog.store.store import Store


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    events: list = []
    with tempfile.TemporaryDirectory() as tmp, \
            resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as pp, \
            resources.as_file(resources.files("watchdog").joinpath("data", "demo.jsonl")) as log:
        policy = rules.load_policy(pp)
        metrics = Metrics(CollectorRegistry())
        store = Store(Path(tmp) / "b.db")
        responder = Responder(store, None, metrics=metrics)
        responder.listeners.append(lambda e, d: events.append((e, d)))
        engine = Engine(policy, base_dir=pp.parent, metrics=metrics, on_decision=responder)
        replay_file(engine, log, None)
        base = timed(lambda: generate_latest(metrics.registry), 200)
        metrics.attach(engine)
        metrics.attach_store(store, engine)
        full = timed(lambda: generate_latest(metrics.registry), 200)
        size = len(generate_latest(metrics.registry))
        store.close()

    alert = next(d for e, d in events if e == "alert")
    with recording_server() as srv:
        receiver = AlertmanagerReceiver(srv.url)
        notifier = AlertNotifier([receiver], DeliveryWorker(capacity=100_000, backoff=Backoff(attempts=1)))
        n = notifier.alert_for("alert", alert)
        sync = timed(lambda: receiver.send([n]), 300)
        listener = timed(lambda: notifier("alert", alert), 300)
        notifier.close(30)
        posts = len(srv.requests)

    med = statistics.median
    print(f"scrape, counters only (baseline): median {med(base) * 1e3:.3f} ms")
    print(f"scrape, full registry:            median {med(full) * 1e3:.3f} ms, ratio {med(full) / med(base):.2f}, "
          f"{size:,} bytes")
    print(f"alert, synchronous POST (baseline): median {med(sync) * 1e6:.0f} us")
    print(f"alert, listener on the action path: median {med(listener) * 1e6:.0f} us, "
          f"ratio {med(listener) / med(sync):.3f}; {posts} POSTs delivered by the worker")


if __name__ == "__main__":
    main()
