"""Grafana upload and annotations: the exact HTTP requests grafana-client sends, checked against Grafana's
documented HTTP API (POST /api/dashboards/db, POST /api/annotations) on a recording loopback server.

No live Grafana runs here (its server is not installable from the registries available); see README.
"""

from __future__ import annotations

import pytest

import dashboards
import rules
from watchdog.actions.chain import TxResult
from watchdog.cli import main
from watchdog.errors import ConfigError
from watchdog.observe.alerting import Backoff
from watchdog.observe.grafana import GrafanaAnnotator, connect, push_dashboards
from watchdog.observe.metrics import Metrics

from .conftest import event
from .recorder import recording_server

TOKEN = "glsa_test_token_0123456789"


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "grafana.token"
    p.write_text(TOKEN + "\n")
    return p


def test_push_posts_each_dashboard_by_uid_with_overwrite(token_file, demo_policy_path):
    policy = rules.load_policy(demo_policy_path)
    boards = dashboards.build_dashboards(policy)
    with recording_server(
        default=(200, {"status": "success", "uid": "x", "url": "/d/x/y", "version": 1})
    ) as srv:
        api = connect(srv.url, token_file)
        push_dashboards(api, boards, folder_uid="watchdog-folder", message="m")
    assert [(r.method, r.path) for r in srv.requests] == [("POST", "/api/dashboards/db")] * len(boards)
    for req, (uid, board) in zip(srv.requests, boards.items(), strict=True):
        assert req.headers["authorization"] == f"Bearer {TOKEN}"
        assert req.headers["content-type"].startswith("application/json")
        body = req.json
        assert body["overwrite"] is True and body["folderUid"] == "watchdog-folder" and body["message"] == "m"
        assert body["dashboard"]["uid"] == uid and body["dashboard"]["id"] is None
        assert body["dashboard"]["title"] == board["title"]
        assert body["dashboard"]["panels"] == board["panels"]


def _cli_push(grafana_url, policy_path, token_file) -> int:
    return main(["dashboards", "push", "--policy", str(policy_path), "--grafana-url", grafana_url,
                 "--token-file", str(token_file)])


def test_cli_push_reports_each_dashboard(token_file, demo_policy_path, capsys):
    with recording_server(default=(200, {"status": "success", "url": "/d/abc/watchdog"})) as srv:
        rc = _cli_push(srv.url, demo_policy_path, token_file)
    assert rc == 0
    assert len(srv.requests) == 2
    out = capsys.readouterr().out
    assert "success /d/abc/watchdog" in out and TOKEN not in out


def test_cli_push_names_the_refusal(token_file, demo_policy_path, capsys):
    with recording_server(default=(401, {"message": "invalid API key"})) as srv:
        rc = _cli_push(srv.url, demo_policy_path, token_file)
    assert rc == 2
    err = capsys.readouterr().err
    assert "refused the dashboards" in err and TOKEN not in err


def test_annotation_per_action_with_tags_and_tx_hash_in_text(demo_events, token_file):
    m = Metrics()
    skipped = event(demo_events, "action_skipped")
    mined = {**skipped, "tx": TxResult("0x" + "ab" * 32, 1234, 50_000, 7)}
    with recording_server(default=(200, {"id": 1, "message": "Annotation added"})) as srv:
        ann = GrafanaAnnotator(
            connect(srv.url, token_file),
            m,
            clock=lambda: 1_795_000_000.5,
            backoff=Backoff(attempts=2, base=0.01),
        )
        ann("action_mined", mined)
        ann("alert", event(demo_events, "alert"))  # not an action: no annotation
        assert ann.close(5)
    (req,) = srv.requests
    assert (req.method, req.path) == ("POST", "/api/annotations")
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    body = req.json
    assert body["time"] == body["timeEnd"] == 1_795_000_000_500
    assert body["tags"] == [
        "watchdog",
        "model:lending-risk",
        "rule:VolatilityRegimeShift",
        "action:pause",
        "outcome:mined",
    ]
    assert f"tx 0x{'ab' * 32} in block 1234" in body["text"]
    assert not any(t.startswith("0x") for t in body["tags"])  # hashes stay out of tags
    assert "dashboardUID" not in body  # organisation-wide: the dashboards find it by tags
    assert m.registry.get_sample_value("watchdog_grafana_annotations_total", {"outcome": "sent"}) == 1


def test_annotation_retries_a_server_error_and_counts_a_refusal(demo_events, token_file):
    m = Metrics()
    skipped = event(demo_events, "action_skipped")
    with recording_server(
        script=[(502, {"message": "bad gateway"}), (200, {"id": 2}), (403, {"message": "no"})]
    ) as srv:
        ann = GrafanaAnnotator(connect(srv.url, token_file), m, backoff=Backoff(attempts=3, base=0.01))
        ann("action_skipped", skipped)
        assert ann.worker.drain(5)
        ann("action_skipped", skipped)
        assert ann.close(5)
    assert len(srv.requests) == 3
    assert "dry run" in srv.requests[0].json["text"] or "no chain" in srv.requests[0].json["text"]
    assert m.registry.get_sample_value("watchdog_grafana_annotations_total", {"outcome": "sent"}) == 1
    assert m.registry.get_sample_value("watchdog_grafana_annotations_total", {"outcome": "failed"}) == 1


def test_token_file_problems_are_named(tmp_path):
    with pytest.raises(ConfigError, match="could not be read"):
        connect("http://127.0.0.1:3000", tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        connect("http://127.0.0.1:3000", tmp_path / "empty")
    with pytest.raises(ConfigError, match="--grafana-url"):
        connect("127.0.0.1:3000", tmp_path / "empty")
