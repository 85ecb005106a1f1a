"""A steward's drill from the command line against a real anvil node, then the week's report: `watchdog pause` on
a module already paused and `watchdog rollback` to a version that does not exist change nothing on-chain, are
reported in their own words with readable revert reasons, and do not make the week an incident."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from tests.fixtures import deploy
from watchdog.cli import main
from watchdog.report import Week, write_report
from watchdog.store.store import Store

pytestmark = pytest.mark.e2e


def _week_of(store: Store) -> Week:
    at = datetime.fromtimestamp(store.incidents()[0].opened_at, UTC)  # the CLI stamps its own clock
    year, number, _ = at.isocalendar()
    return Week(year, number)


def test_a_drill_that_changed_nothing_is_not_an_incident(node, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", node.accounts[0].private_key)
    address = deploy(node)
    chain = ("--rpc-url", node.url, "--monitor", address)
    first, drill = str(tmp_path / "first.db"), str(tmp_path / "drill.db")
    assert main(["pause", "lending-risk", "--reason", "oracle feed frozen", *chain, "--store", first]) == 0
    assert main(["pause", "lending-risk", "--reason", "drill: pause again", *chain, "--store", drill]) == 1
    assert main(["rollback", "lending-risk", "--to", "3", "--reason", "drill: no such version", *chain,
                 "--store", drill]) == 1
    out = capsys.readouterr().out
    assert "already_paused" in out and "VersionNotFound" in out

    with Store(drill) as store:
        files = write_report(store, "lending-risk", _week_of(store), tmp_path / "drill")
    rep = json.loads(files.json_path.read_bytes())
    assert rep["verdict"]["status"] != "incident", rep["verdict"]
    assert [m["action"] for m in rep["manual_actions"]] == ["pause", "rollback"]
    assert not any(m["reached_chain"] for m in rep["manual_actions"])
    pause, rollback = rep["verdict"]["notes"]
    assert "pause not needed: the module was already paused; nothing changed on-chain." in pause
    assert "rollback failed: reverted with VersionNotFound(module lending-risk, version 3)" in rollback
    html = files.html_path.read_text()
    assert "fired at line 0" not in html and "None consecutive" not in html
    assert not re.search(r"0x[0-9a-fA-F]{67,}", html)

    with Store(first) as store:
        files = write_report(store, "lending-risk", _week_of(store), tmp_path / "first")
    rep = json.loads(files.json_path.read_bytes())
    assert rep["verdict"]["status"] == "incident"
    (reason,) = rep["verdict"]["reasons"]
    assert reason.startswith(f"Manual pause of module lending-risk by {node.accounts[0].address} at ")
    assert "(reason: oracle feed frozen): pause confirmed in block " in reason
