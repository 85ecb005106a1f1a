"""A week with a known incident, run by the watchdog against a real anvil node, reported, rendered in headless
Chromium, anchored with heartbeat(reportHash) and verified."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from web3 import Web3

from rules import module_id_bytes32
from tests.anvil import start_anvil
from watchdog.actions.chain import MonitorClient, Signer, deploy_monitor
from watchdog.cli import main
from watchdog.report import parse_week, weekly_report_job, write_report
from watchdog.report.anchor import verify_report
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "report"
CHROMIUM = Path("/usr/bin/chromium")
MODULE = module_id_bytes32("lending-risk")
WEEK = "2026-W47"
AFTER = datetime(2026, 12, 1, tzinfo=UTC)
EXPLORER = "https://explorer.example"


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    """The watchdog run over a week of records (drift at prediction 4000, Saturday) against anvil."""
    tmp = tmp_path_factory.mktemp("week")
    with start_anvil() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        deployer = Signer.from_key(node.accounts[0].private_key)
        address = deploy_monitor(w3, deployer, watchdogs=(node.accounts[3].address,), modules=(MODULE,))
        policy = tmp / "policy.yaml"
        with resources.as_file(resources.files("watchdog").joinpath("data", "demo_policy.yaml")) as p:
            shutil.copyfile(p, policy)
        log = tmp / "week.jsonl"
        write_log(str(log), n=6000, drift_at=4000, seed=11, malformed=True,
                  start=datetime(2026, 11, 16, 0, 30, tzinfo=UTC), step=timedelta(seconds=100))
        client = MonitorClient(w3, address, Signer.from_key(node.accounts[3].private_key))
        result = run(RunOptions(policy=policy, source=log, store=tmp / "w.db", quarantine=tmp / "q.jsonl",
                                rpc_url=node.url, monitor=address, progress=False), monitor=client)
        with Store(tmp / "w.db") as store:
            files = write_report(store, "lending-risk", parse_week(WEEK), tmp / "out", now=AFTER,
                                 explorer_url=EXPLORER, policy=result.policy)
        yield {"node": node, "w3": w3, "address": address, "tmp": tmp, "files": files, "result": result,
               "policy": policy}


def test_the_json_holds_what_the_store_holds(week):
    files = week["files"]
    rep = json.loads(files.json_path.read_bytes())
    assert rep["verdict"]["status"] == "incident"
    with Store(week["tmp"] / "w.db") as store:
        start, end = parse_week(WEEK).start.timestamp(), parse_week(WEEK).end.timestamp()
        stats = store.query("SELECT * FROM evaluation_stats WHERE model = ? AND at >= ? AND at < ?",
                            ("lending-risk", start, end))
        evals = store.query("SELECT * FROM evaluations WHERE model = ? AND at >= ? AND at < ?",
                            ("lending-risk", start, end))
        incidents = store.incidents("lending-risk")
        actions = {a.incident_id: a for a in store.actions()}
    # every statistic at every evaluation, value for value
    in_json = {(d["detector"], s["statistic"], at): (v, n)
               for d in rep["detectors"] for s in d["statistics"]
               for at, v, n in zip(s["series"]["at"], s["series"]["value"], s["series"]["n"], strict=True)}
    in_store = {(r["detector"], r["statistic"], r["at"]): (r["value"], r["n"]) for r in stats}
    assert in_json == in_store and len(in_store) > 100
    assert rep["volume"]["evaluations"] == len(evals)
    assert rep["volume"]["predictions"] == sum(e["predictions"] for e in evals) == 6000
    assert rep["volume"]["labels_joined"] == sum(e["labels"] for e in evals)
    assert rep["volume"]["label_coverage"] == pytest.approx(rep["volume"]["labels_joined"] / 6000)
    assert rep["quarantine"]["total"] == sum(e["quarantined"] for e in evals) == 3
    assert rep["quarantine"]["by_reason"] == week["result"].summary.quarantine_by_reason
    assert rep["policy"]["hashes_in_force"] == [week["result"].policy.hash]
    # incidents: ids, evidence hashes, the pause's transaction and block, as stored and as on-chain
    assert {i["id"] for i in rep["incidents"]} == {i.id for i in incidents}
    chain = MonitorClient(week["w3"], week["address"]).module_paused_events()
    assert len(chain) == 1
    paused = next(i for i in rep["incidents"] if i["rule"] == "VolatilityRegimeShift")
    pause = next(a for a in paused["actions"] if a["kind"] == "pause")
    stored = actions[paused["id"]]
    assert (pause["status"], pause["tx_hash"], pause["block_number"]) == ("mined", stored.tx_hash, stored.block_number)
    assert (pause["tx_hash"], pause["block_number"]) == (chain[0]["tx_hash"], chain[0]["block_number"])
    assert paused["evidence_hash"] == "0x" + bytes(chain[0]["evidenceHash"]).hex()
    # the data clock first: the evidence window, where the detector places the change's start, the decision
    assert [t["event"] for t in paused["timeline"]][:3] == ["evidence_window_start", "change_began", "rule_fired"]
    assert "action_mined" in [t["event"] for t in paused["timeline"]]
    assert any("VolatilityRegimeShift (critical)" in r and f"block {stored.block_number}" in r
               for r in rep["verdict"]["reasons"])


INJECT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error: ' + (e.message || (e.target && (e.target.src || e.target.href)) || 'resource'));
}, true);
document.addEventListener('securitypolicyviolation', function (e) {
  window.__errors.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI);
});
var ce = console.error;
console.error = function () { window.__errors.push('console: ' + Array.from(arguments).join(' ')); };
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var r = {images: imgs.length, widths: imgs.map(function (i) { return i.complete ? i.naturalWidth : 0; }),
           errors: window.__errors};
  var pre = document.createElement('pre'); pre.id = '__report_check'; pre.textContent = JSON.stringify(r);
  document.body.appendChild(pre);
});
</script>"""


def _chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--hide-scrollbars", "--enable-logging=stderr", "--v=0", *args],
            check=False, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed (scripts/bootstrap.sh --test)")
def test_html_renders_in_chromium_without_errors_and_every_image_decodes(week, tmp_path):
    html = week["files"].html_path.read_text()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
    assert csp and "default-src 'none'" in csp.group(1)  # nothing may load from outside the file
    assert "<script" not in html
    n_img = html.count("<img ")
    assert n_img >= 7  # four feature plots, prediction drift, performance, volume
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img [^>]*src="([^"]*)"', html))
    # The page itself runs no script; the copy under test allows this inline collector, nothing else.
    probe = html.replace(csp.group(1), csp.group(1) + "; script-src 'unsafe-inline'").replace(
        "</title>", "</title>" + INJECT, 1)
    page = tmp_path / "probe.html"
    page.write_text(probe)
    proc = _chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    m = re.search(r'<pre id="__report_check">(.*?)</pre>', proc.stdout, re.DOTALL)
    assert m, proc.stdout[-2000:]
    check = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["errors"] == []
    assert check["images"] == n_img and all(w > 0 for w in check["widths"]), check
    assert "CONSOLE" not in proc.stderr, [x for x in proc.stderr.splitlines() if "CONSOLE" in x]
    # the tx link points at the configured explorer
    tx = json.loads(week["files"].json_path.read_bytes())["incidents"]
    tx_hash = next(a["tx_hash"] for i in tx for a in i["actions"] if a["tx_hash"])
    assert f'href="{EXPLORER}/tx/{tx_hash}"' in html

    # Shot in this test's folder, then moved into test-artifacts/ atomically: suites may run side by side.
    shot = tmp_path / f"lending-risk-{WEEK}.png"
    proc = _chromium("--window-size=1200,9000", f"--screenshot={shot}", week["files"].html_path.as_uri())
    assert proc.returncode == 0 and shot.is_file() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    with Image.open(shot) as im:  # trim the blank window below the page
        bbox = ImageOps.invert(im.convert("RGB")).getbbox()
        assert bbox is not None and bbox[3] > 3000  # the whole report, not a blank or cut page
        trimmed = im.crop((0, 0, im.width, min(im.height, bbox[3] + 40)))
    trimmed.save(tmp_path / "trimmed.png")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    os.replace(tmp_path / "trimmed.png", ARTIFACTS / shot.name)
    shutil.copyfile(week["files"].html_path, tmp_path / "page.html")
    os.replace(tmp_path / "page.html", ARTIFACTS / week["files"].html_path.name)


def test_anchor_then_verify_accepts_the_report_and_rejects_a_one_byte_change(week, tmp_path, capsys, monkeypatch):
    node, address, files = week["node"], week["address"], week["files"]
    key = node.accounts[3].private_key
    monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", key)
    chain = ["--rpc-url", node.url, "--monitor", address]
    assert main(["report", "anchor", str(files.json_path), *chain]) == 0
    out = capsys.readouterr()
    assert files.report_hash in out.out and "anchored" in out.out
    assert key[2:].lower() not in (out.out + out.err).lower()
    client = MonitorClient(week["w3"], address)
    assert "0x" + bytes(client.contract.functions.lastReportHash().call()).hex() == files.report_hash

    # a later report is anchored too: the first one must still verify (events are searched, not the last hash)
    with Store(week["tmp"] / "w.db") as store:
        later = write_report(store, "lending-risk", parse_week("2026-W48"), tmp_path, now=AFTER)
    assert later.verdict == "no data"
    assert main(["report", "anchor", str(later.json_path), *chain]) == 0
    capsys.readouterr()

    assert main(["report", "verify", str(files.json_path), *chain]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ACCEPTED") and files.report_hash in out

    data = bytearray(files.json_path.read_bytes())
    i = data.index(b'"predictions":6000')
    data[i + len(b'"predictions":')] = ord("7")  # 6000 -> 7000: one byte
    forged = tmp_path / files.json_path.name
    forged.write_bytes(bytes(data))
    assert main(["report", "verify", str(forged), *chain]) == 1
    out = capsys.readouterr().out
    assert out.startswith("REJECTED") and "matches none of the 2 report hash(es) anchored" in out

    # anchoring the same file again sends nothing
    n_events = len(client.contract.events.Heartbeat().get_logs(from_block=0))
    assert main(["report", "anchor", str(files.json_path), *chain]) == 0
    assert "already anchored" in capsys.readouterr().out
    assert len(client.contract.events.Heartbeat().get_logs(from_block=0)) == n_events


def test_report_command_writes_both_files(week, tmp_path, capsys):
    code = main(["report", "--model", "lending-risk", "--week", WEEK, "--store", str(week["tmp"] / "w.db"),
                 "--policy", str(week["policy"]), "--out", str(tmp_path), "--explorer-url", EXPLORER])
    assert code == 0
    out = capsys.readouterr().out
    assert f"lending-risk {WEEK}: incident" in out
    assert (tmp_path / f"lending-risk-{WEEK}.html").is_file() and (tmp_path / f"lending-risk-{WEEK}.json").is_file()
    assert main(["report", "--model", "nope", "--week", WEEK, "--store", str(week["tmp"] / "w.db"),
                 "--policy", str(week["policy"])]) == 2
    assert "is not in the policy" in capsys.readouterr().err
    assert main(["report", "--model", "lending-risk", "--week", "47", "--store", str(week["tmp"] / "w.db")]) == 2
    assert "ISO week such as 2026-W47" in capsys.readouterr().err


def test_weekly_job_writes_and_anchors_last_weeks_report(week, tmp_path):
    node, address = week["node"], week["address"]
    signer_client = MonitorClient(week["w3"], address, Signer.from_key(node.accounts[3].private_key))
    files = weekly_report_job(week["tmp"] / "w.db", week["policy"], tmp_path,
                              now=datetime(2026, 11, 23, 0, 10, tzinfo=UTC), anchor_with=signer_client)
    assert [(f.json_path.name, f.verdict) for f in files] == [(f"lending-risk-{WEEK}.json", "incident")]
    result = verify_report(files[0].json_path, MonitorClient(week["w3"], address))
    assert result.ok and result.anchor is not None and result.anchor.report_hash == files[0].report_hash
