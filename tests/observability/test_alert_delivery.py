"""The alert path a steward on call can trust, against a real Alertmanager on loopback.

- a firing alert stays active in Alertmanager across several of its lifetimes (it is re-posted well inside
  its ``endsAt``) and resolves when the rule clears;
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from watchdog.observe.alerting import AlertmanagerReceiver, AlertNotifier, Backoff, DeliveryWorker, alert_outcomes
from watchdog.observe.metrics import Metrics

from .conftest import Server, event, get_json, poll, start_alertmanager

FAST = Backoff(attempts=3, base=0.01, factor=2.0, cap=0.05)


def am_alerts(am: Server, rule: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds as active for ``rule`` (resolved ones are not listed)."""
    q = urllib.parse.urlencode({"filter": f'rule="{rule}"', "active": "true"})
    return [a for a in get_json(f"{am.url}/api/v2/alerts?{q}") if a["status"]["state"] == "active"]


def test_a_firing_alert_outlives_its_lifetime_and_resolves_when_the_rule_clears(tmp_path, demo_events):
    lifetime, every = 2.0, 0.5
    fired = event(demo_events, "alert", "UtilizationDrift")
    m = Metrics()
    with start_alertmanager(tmp_path) as am:
        n = AlertNotifier([AlertmanagerReceiver(am.url)], DeliveryWorker(*alert_outcomes(m), backoff=FAST),
                          lifetime=lifetime, repost_every=every)
        try:
            n("alert", fired)
            (first,) = poll(lambda: am_alerts(am, "UtilizationDrift"), 10, "the alert in Alertmanager")
            ends = [first["endsAt"]]
            deadline = time.monotonic() + 3 * lifetime
            while time.monotonic() < deadline:  # three lifetimes: without re-posting it would have ended twice
                (now_held,) = am_alerts(am, "UtilizationDrift")
                assert now_held["labels"]["incident"] == fired["incident"].id
                ends.append(now_held["endsAt"])
                time.sleep(0.25)
            assert len(set(ends)) >= 3  # endsAt moved forward with each re-post
            assert ends == sorted(ends)
            n("rule_resolved", {"decision": fired["decision"]})
            poll(lambda: not am_alerts(am, "UtilizationDrift"), 10, "the alert to resolve")
            assert n.firing_alerts() == []
            posts = m.registry.get_sample_value("watchdog_alert_notifications_total",
                                                {"receiver": "alertmanager", "outcome": "sent"})
            assert posts is not None and posts >= 1 + 3 * lifetime / every - 2
            time.sleep(2 * every)  # resolved: nothing is re-posted any more
            assert not am_alerts(am, "UtilizationDrift")
        finally:
            assert n.close(5)


def test_lifetime_and_repost_interval_are_checked() -> None:
    import pytest

    with pytest.raises(ValueError, match="lifetime must be a positive"):
        AlertNotifier([], None, lifetime=0)
    with pytest.raises(ValueError, match="repost_every must be positive and shorter than the lifetime"):
        AlertNotifier([], None, lifetime=10, repost_every=10)
