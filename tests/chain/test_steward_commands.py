"""Every chain operation from the command line, against a real anvil and a deployed ModelMonitor.

Account 0 deployed the monitor (admin, council, proposer), account 3 is the watchdog. The commands run in
process (``watchdog.cli.main``) to keep the tests fast.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import pytest
from eth_utils import keccak

from watchdog.actions.chain import ActionReverted, MonitorClient, RoleRequired, Signer, connect
from watchdog.cli import main
from watchdog.store.store import Incident, Store

from .conftest import MODULE, deploy, run_watchdog

pytestmark = pytest.mark.e2e

OTHER = keccak(text="amm-fees")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, node):
    """``cli(*args, key=i)``: run ``watchdog *args`` signing with anvil account ``i`` (none: no key)."""

    def run(*args: str, key: int | None = 0) -> Run:
        if key is None:
            monkeypatch.delenv("WATCHDOG_PRIVATE_KEY", raising=False)
        else:
            monkeypatch.setenv("WATCHDOG_PRIVATE_KEY", node.accounts[key].private_key)
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as e:  # argparse: --help (0) or a bad flag (2)
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def monitor(node) -> str:
    return deploy(node)


@pytest.fixture
def chain(node, monitor, tmp_path) -> tuple[str, ...]:
    """The chain flags of a write: RPC, monitor and a store for the audit log."""
    return ("--rpc-url", node.url, "--monitor", monitor, "--store", str(tmp_path / "w.db"))


def reader(node, monitor) -> tuple[str, ...]:
    return ("--rpc-url", node.url, "--monitor", monitor)


def client(node, monitor, account: int | None = None) -> MonitorClient:
    signer = None if account is None else Signer.from_key(node.accounts[account].private_key)
    return MonitorClient(connect(node.url), monitor, signer)


def audit(tmp_path) -> list[dict]:
    with Store(str(tmp_path / "w.db")) as st:
        return [{**a, "detail": json.loads(a["detail"])} for a in st.audit_log()]


def test_each_write_names_its_role_in_its_help(cli):
    for args, role in ((("unpause",), "COUNCIL_ROLE"), (("versions", "propose"), "PROPOSER_ROLE"),
                       (("versions", "approve"), "COUNCIL_ROLE"), (("versions", "activate"), "COUNCIL_ROLE"),
                       (("versions", "deprecate"), "COUNCIL_ROLE"), (("versions", "revoke"), "COUNCIL_ROLE"),
                       (("modules", "register"), "COUNCIL_ROLE"), (("modules", "extend-pause"), "COUNCIL_ROLE"),
                       (("roles", "grant"), "DEFAULT_ADMIN_ROLE"), (("roles", "revoke"), "DEFAULT_ADMIN_ROLE"),
                       (("incident", "contest"), "COUNCIL_ROLE")):
        r = cli(*args, "--help", key=None)
        assert r.code == 0 and role in " ".join(r.out.split()), (args, r.out)


def test_version_lifecycle(cli, node, monitor, chain, tmp_path):
    artifact = tmp_path / "model-v2.onnx"
    artifact.write_bytes(b"weights v2")
    wd = client(node, monitor, 3)

    # a watchdog key cannot propose: the role and the address are named, nothing was sent
    nonce = wd.mined_nonce()
    refused = cli("versions", "propose", "lending-risk", "2", "--artifact", str(artifact), *chain, key=3)
    assert refused.code == 2
    assert "needs PROPOSER_ROLE" in refused.err and node.accounts[3].address in refused.err
    assert wd.mined_nonce() == nonce

    p = cli("versions", "propose", "lending-risk", "2", "--artifact", str(artifact),
            "--metadata-hash", "0x" + "ab" * 32, *chain, "--reason", "retrained on November data")
    assert p.code == 0, p.err
    assert "0x" + keccak(b"weights v2").hex() in p.out
    again = cli("versions", "propose", "lending-risk", "2", "--artifact-hash", "0x" + "11" * 32, *chain)
    assert again.code == 2 and "version 2 of module lending-risk exists already" in again.err
    early = cli("versions", "activate", "lending-risk", "2", *chain)
    assert early.code == 2 and "version 2 of module lending-risk is proposed; it must be approved first" in early.err
    for step in ("approve", "activate"):
        r = cli("versions", step, "lending-risk", "2", *chain)
        assert r.code == 0, r.err
    missing = cli("versions", "approve", "lending-risk", "9", *chain)
    assert missing.code == 2 and "version 9 of module lending-risk was never proposed" in missing.err

    listed = json.loads(cli("versions", "list", "lending-risk", "--json", *reader(node, monitor), key=None).out)
    assert listed["active_version"] == 2 and listed["rollback_target"] == 1
    v2 = listed["versions"][1]
    assert (v2["version"], v2["status"], v2["active"]) == (2, "approved", True)
    assert v2["artifact_hash"] == "0x" + keccak(b"weights v2").hex() and v2["metadata_hash"] == "0x" + "ab" * 32

    # the watchdog pauses and rolls back to the target the list named
    wd.pause(MODULE, keccak(text="inc-1"), keccak(text="ev-1"))
    wd.transact("rollback", MODULE, 1, keccak(text="inc-2"), keccak(text="ev-2"))
    text = cli("versions", "list", "lending-risk", *reader(node, monitor), key=None).out
    assert "active version 1" in text
    v1_line, v2_line = text.splitlines()[1:]
    assert v1_line.split()[:2] == ["v1", "approved"] and v1_line.endswith("[active]")
    assert v2_line.split()[:2] == ["v2", "approved"] and v2_line.endswith("[rollback target, was active]")

    # deprecate v2 (no longer active), revoke it for good; the active one cannot be deprecated
    active = cli("versions", "deprecate", "lending-risk", "1", *chain)
    assert active.code == 2 and "version 1 of module lending-risk is the active version" in active.err
    assert cli("versions", "deprecate", "lending-risk", "2", *chain).code == 0
    assert cli("versions", "revoke", "lending-risk", "2", *chain).code == 0
    twice = cli("versions", "revoke", "lending-risk", "2", *chain)
    assert twice.code == 2 and "is revoked, which does not allow this step" in twice.err
    final = json.loads(cli("versions", "list", "lending-risk", "--json", *reader(node, monitor), key=None).out)
    assert [(v["version"], v["status"]) for v in final["versions"]] == [(1, "approved"), (2, "revoked")]
    assert final["rollback_target"] is None  # v2 is revoked: nothing to roll back to

    calls = [a for a in audit(tmp_path) if a["event"] == "steward_chain_call" and a["detail"]["outcome"] == "mined"]
    assert [a["detail"]["function"] for a in calls] == ["proposeVersion", "approveVersion", "activateVersion",
                                                        "deprecateVersion", "revokeVersion"]
    assert calls[0]["model"] == "lending-risk" and calls[0]["detail"]["reason"] == "retrained on November data"
    assert calls[0]["detail"]["role"] == "PROPOSER_ROLE" and calls[0]["detail"]["tx_hash"].startswith("0x")
    assert all(a["detail"]["by"] == node.accounts[0].address for a in calls)


def test_modules_register_list_and_bounded_pause(cli, node, monitor, chain):
    assert cli("modules", "register", "amm-fees", *chain, key=3).code == 2
    r = cli("modules", "register", "amm-fees", *chain)
    assert r.code == 0, r.err
    dup = cli("modules", "register", "amm-fees", *chain)
    assert dup.code == 2 and "module amm-fees is registered already" in dup.err

    admin, wd = client(node, monitor, 0), client(node, monitor, 3)
    admin.transact("setPauseConfig", MODULE, 1, 0, 3600, False)
    wd.pause(MODULE, keccak(text="inc-m"), keccak(text="ev-m"))
    wd.transact("heartbeat", keccak(text="report"))

    doc = json.loads(cli("modules", "list", "lending-risk", "--json", *reader(node, monitor), key=None).out)
    everything = json.loads(cli("modules", "list", "--json", *reader(node, monitor), key=None).out)
    assert [m["module_id"] for m in everything["modules"]] == ["0x" + MODULE.hex(), "0x" + OTHER.hex()]
    lr = doc["modules"][0]
    assert lr["module"] == "lending-risk" and lr["paused"] and lr["active_version"] == 1
    assert lr["actions_in_window"] == 1 and lr["max_actions_per_window"] == 3
    assert lr["paused_until"] > doc["chain_time"] and lr["max_pause_seconds"] == 3600
    assert doc["last_heartbeat"]["by"] == node.accounts[3].address
    assert doc["last_heartbeat"]["report_hash"] == "0x" + keccak(text="report").hex()
    fees = everything["modules"][1]
    assert (fees["registered"], fees["paused"], fees["active_version"]) == (True, False, 0)

    text = cli("modules", "list", "lending-risk", "amm-fees", *reader(node, monitor), key=None).out
    assert "PAUSED until" in text and "watchdog actions in window 1/3" in text
    assert "amm-fees" in text and "no active version" in text and f"by {node.accounts[3].address}" in text

    # extend the watchdog pause, then let it expire and record that
    until = lr["paused_until"] + 600
    early = cli("modules", "extend-pause", "lending-risk", "--until", str(lr["paused_until"] - 1), *chain)
    assert early.code == 2 and "must be later than the current one" in early.err
    assert cli("modules", "extend-pause", "lending-risk", "--until", str(until), *chain, key=3).code == 2
    assert cli("modules", "extend-pause", "lending-risk", "--until", str(until), *chain).code == 0
    assert client(node, monitor).module_state(MODULE).paused_until == until
    not_yet = cli("modules", "expire-pause", "lending-risk", *chain, key=5)
    assert not_yet.code == 2 and "has not expired" in not_yet.err
    node.increase_time(5000)
    assert cli("modules", "expire-pause", "lending-risk", *chain, key=5).code == 0  # any key
    assert client(node, monitor).module_info(MODULE) == (True, False, 1)
    bad = cli("modules", "extend-pause", "lending-risk", "--until", "tomorrow", *chain)
    assert bad.code == 2 and "--until must be seconds since the epoch" in bad.err


def test_roles_grant_revoke_list(cli, node, monitor, chain):
    new = node.accounts[5].address
    before = json.loads(cli("roles", "list", "--json", *reader(node, monitor), key=None).out)
    assert before["roles"]["WATCHDOG_ROLE"] == [node.accounts[3].address]
    assert before["roles"]["COUNCIL_ROLE"] == [node.accounts[0].address]
    assert before["roles"]["DEFAULT_ADMIN_ROLE"] == [node.accounts[0].address]
    assert before["contest_role"] == "COUNCIL_ROLE"

    refused = cli("roles", "grant", "watchdog", new, *chain, key=3)
    assert refused.code == 2 and "needs DEFAULT_ADMIN_ROLE" in refused.err and node.accounts[3].address in refused.err
    assert cli("roles", "grant", "watchdog", new, *chain).code == 0
    assert cli("roles", "grant", "COUNCIL_ROLE", new, *chain).code == 0
    mid = json.loads(cli("roles", "list", "watchdog", "--json", *reader(node, monitor), key=None).out)
    assert mid["roles"] == {"WATCHDOG_ROLE": [node.accounts[3].address, new]}
    assert cli("roles", "revoke", "watchdog", new, *chain).code == 0
    text = cli("roles", "list", *reader(node, monitor), key=None).out
    assert f"WATCHDOG_ROLE: {node.accounts[3].address}\n" in text
    assert f"COUNCIL_ROLE: {node.accounts[0].address}, {new}\n" in text and "PROPOSER_ROLE" in text

    admin = cli("roles", "grant", "admin", new, *chain)
    assert admin.code == 2 and "delayed two-step transfer" in admin.err
    unknown = cli("roles", "grant", "janitor", new, *chain)
    assert unknown.code == 2 and "Unknown role 'janitor'" in unknown.err
    not_addr = cli("roles", "grant", "watchdog", "0x1234", *chain)
    assert not_addr.code == 2 and "is not an address" in not_addr.err


def test_unpause_needs_the_council_key(cli, node, monitor, chain, tmp_path):
    wd = client(node, monitor, 3)
    wd.pause(MODULE, keccak(text="inc-u"), keccak(text="ev-u"))
    refused = cli("unpause", "lending-risk", *chain, key=3)
    assert refused.code == 2
    assert "watchdog unpause lending-risk needs COUNCIL_ROLE" in refused.err
    assert node.accounts[3].address in refused.err
    assert wd.is_paused(MODULE)
    ok = cli("unpause", "lending-risk", *chain, "--reason", "false alarm, oracle fixed")
    assert ok.code == 0, ok.err
    assert "watchdog unpause lending-risk: mined" in ok.out
    assert not wd.is_paused(MODULE)
    again = cli("unpause", "lending-risk", *chain)
    assert again.code == 2 and "module lending-risk is not paused" in again.err
    unknown = cli("unpause", "no-such-module", *chain)
    assert unknown.code == 2 and "module no-such-module is not registered" in unknown.err
    # each call audited before it is signed, then its outcome: a crash between the two leaves the intent
    events = [(a["event"], a["detail"].get("outcome")) for a in audit(tmp_path)
              if a["event"].startswith("steward_chain_call")]
    assert events == [("steward_chain_call_intent", None), ("steward_chain_call", "refused"),
                      ("steward_chain_call_intent", None), ("steward_chain_call", "mined"),
                      ("steward_chain_call_intent", None), ("steward_chain_call", "not_sent"),
                      ("steward_chain_call_intent", None), ("steward_chain_call", "not_sent")], events


def test_a_role_lost_after_the_check_is_decoded_from_the_revert(node, monitor):
    """send_as without its own check (role None) still names the role: AccessControlUnauthorizedAccount."""
    wd = client(node, monitor, 3)
    with pytest.raises(RoleRequired) as e:
        wd.send_as(None, "watchdog unpause", "unpause", MODULE)
    assert e.value.role == "COUNCIL_ROLE" and e.value.address == node.accounts[3].address
    with pytest.raises(ActionReverted) as r:
        client(node, monitor, 0).send_as(None, "x", "approveVersion", MODULE, 7, names={MODULE: "lending-risk"})
    assert r.value.error_name == "VersionNotFound" and "version 7 of module lending-risk was never proposed" in str(
        r.value)


def _incident(store_path: str, name: str) -> Incident:
    inc = Incident(id="0x" + keccak(text=name).hex(), model="lending-risk", rule="psi-high", tier="high",
                   opened_at=1_795_000_000.0, record_index=42, policy_hash="0xabc", dry_run=False,
                   evidence=json.dumps({"statistic": 0.31, "threshold": 0.2}),
                   evidence_hash="0x" + keccak(text="ev-" + name).hex(), state="open")
    with Store(store_path) as st:
        st.add_incident(inc)
    return inc


def test_incident_show_and_ack_on_a_store(cli, tmp_path):
    store = str(tmp_path / "w.db")
    inc = _incident(store, "a")
    shown = cli("incident", "show", inc.id, "--store", store, key=None)
    assert shown.code == 0 and f"incident {inc.id}: open" in shown.out and '"statistic": 0.31' in shown.out

    acked = cli("incident", "ack", inc.id, "--who", "alice", "--note", "looking", "--store", store, key=None)
    assert acked.code == 0 and "(incident acknowledged)" in acked.out
    doc = json.loads(cli("incident", "show", inc.id, "--store", store, "--json", key=None).out)
    assert doc["state"] == "acknowledged" and [(a["who"], a["note"]) for a in doc["acks"]] == [("alice", "looking")]
    assert doc["acks"][0]["at"].endswith("Z") and doc["evidence"] == {"statistic": 0.31, "threshold": 0.2}
    entries = [a for a in audit(tmp_path) if a["event"] == "incident_acknowledged"]
    assert len(entries) == 1 and entries[0]["incident_id"] == inc.id and entries[0]["rule"] == "psi-high"
    assert entries[0]["policy_hash"] == "0xabc" and entries[0]["detail"] == {"who": "alice", "note": "looking"}

    nobody = cli("incident", "ack", inc.id, "--who", "  ", "--store", store, key=None)
    assert nobody.code == 2 and "--who must name who acknowledges" in nobody.err
    missing = cli("incident", "ack", "0x" + "00" * 32, "--who", "bob", "--store", store, key=None)
    assert missing.code == 2 and "No incident has id" in missing.err
    no_store = cli("incident", "show", inc.id, "--store", str(tmp_path / "nope.db"), key=None)
    assert no_store.code == 2 and "does not exist" in no_store.err
    assert not (tmp_path / "nope.db").exists()


def test_ack_from_the_cli_writes_what_the_api_writes(cli, tmp_path):
    """The same incident acknowledged through the API and through the CLI: the same rows, the same audit."""
    from fastapi.testclient import TestClient
    from prometheus_client import CollectorRegistry

    from watchdog.service.api import create_app

    api_store, cli_store = str(tmp_path / "api.db"), str(tmp_path / "cli.db")
    inc = _incident(api_store, "b")
    _incident(cli_store, "b")
    with Store(api_store) as st:
        app = create_app(store=st, registry=CollectorRegistry(), tokens=["t0ken"], clock=lambda: 1_795_000_100.0)
        with TestClient(app) as http:
            reply = http.post(f"/v1/incidents/{inc.id}/ack", json={"who": "carol", "note": "n"},
                              headers={"Authorization": "Bearer t0ken"})
            assert reply.status_code == 200, reply.text
    assert cli("incident", "ack", inc.id, "--who", "carol", "--note", "n", "--store", cli_store, key=None).code == 0

    def rows(path: str) -> tuple:
        with Store(path) as st:
            acks = [{k: v for k, v in a.items() if k != "at"} for a in st.acks(inc.id)]
            log = [{k: v for k, v in a.items() if k not in ("id", "at")} for a in st.audit_log()]
            return st.incident(inc.id).state, acks, log

    assert rows(api_store) == rows(cli_store)


def test_contest_marks_an_incident_overturned(cli, node, monitor, chain, tmp_path):
    wd = client(node, monitor, 3)
    incident = keccak(text="inc-c")
    wd.pause(MODULE, incident, keccak(text="ev-c"))
    iid = "0x" + incident.hex()

    refused = cli("incident", "contest", iid, "--overturned", "--reason", "drift was a data bug", *chain, key=3)
    assert refused.code == 2 and "needs COUNCIL_ROLE" in refused.err and node.accounts[3].address in refused.err
    r = cli("incident", "contest", iid, "--overturned", "--reason", "drift was a data bug", *chain)
    assert r.code == 0, r.err
    reader_ = client(node, monitor)
    assert reader_.incident_info(incident) == (True, "overturned", [node.accounts[3].address])
    assert reader_.contract.functions.overturnedIncidents(node.accounts[3].address).call() == 1
    again = cli("incident", "contest", iid, "--upheld", "--reason", "second thoughts", *chain)
    assert again.code == 2 and f"incident {iid} was judged already: overturned" in again.err
    council_pause = keccak(text="inc-council")
    client(node, monitor, 0).transact("unpause", MODULE)
    client(node, monitor, 0).pause(MODULE, council_pause, keccak(text="ev-council"))
    theirs = cli("incident", "contest", "0x" + council_pause.hex(), "--upheld", "--reason", "r", *chain)
    assert theirs.code == 2 and "is no watchdog's pause or rollback" in theirs.err

    entry = [a for a in audit(tmp_path) if a["event"] == "steward_chain_call" and a["detail"]["outcome"] == "mined"][-1]
    assert entry["incident_id"] == iid and entry["detail"]["verdict"] == "overturned"
    assert entry["detail"]["reason"] == "drift was a data bug"
    assert entry["detail"]["reason_hash"] == "0x" + keccak(text="drift was a data bug").hex()
    # the contested incident is not in this store (the watchdog that paused keeps its own): the chain tells
    alone = cli("incident", "show", iid, "--store", chain[-1], key=None)
    assert alone.code == 2 and "No incident has id" in alone.err and "--rpc-url" in alone.err
    shown = cli("incident", "show", iid.upper().replace("0X", "0x"), "--store", chain[-1], *reader(node, monitor),
                key=None)
    assert shown.code == 0, shown.err
    assert f"incident {iid}: not in the store" in shown.out
    assert f"on-chain: used, verdict overturned, operators {node.accounts[3].address}" in shown.out


def test_as_a_process_the_refusal_names_the_role_and_never_the_key(node, monitor, tmp_path):
    key = node.accounts[3].private_key
    r = run_watchdog("unpause", "lending-risk", "--rpc-url", node.url, "--monitor", monitor,
                     "--store", str(tmp_path / "w.db"), env={"WATCHDOG_PRIVATE_KEY": key})
    assert r.returncode == 2
    assert "needs COUNCIL_ROLE" in r.stderr and node.accounts[3].address in r.stderr
    assert key[2:] not in r.stdout + r.stderr


def test_a_write_mined_but_reverted_is_audited(cli, node, monitor, chain, tmp_path):
    """The watchdog pause expires between the estimate and the block: extendPause passed one, reverts in the other."""
    admin, wd = client(node, monitor, 0), client(node, monitor, 3)
    admin.transact("setPauseConfig", MODULE, 1, 0, 3600, False)
    wd.pause(MODULE, keccak(text="inc-r"), keccak(text="ev-r"))
    until = admin.module_state(MODULE).paused_until

    def mine_past_the_expiry() -> None:
        # once our transaction waits in the pool, mine it in a block after the pause's end
        for _ in range(600):
            if int(node.rpc("txpool_status")["pending"], 16):
                break
            time.sleep(0.05)
        node.rpc("evm_setNextBlockTimestamp", [until + 10])
        node.mine()

    node.rpc("evm_setAutomine", [False])
    miner = threading.Thread(target=mine_past_the_expiry)
    miner.start()
    try:
        r = cli("modules", "extend-pause", "lending-risk", "--until", str(until + 7200), *chain)
    finally:
        miner.join()
        node.rpc("evm_setAutomine", [True])
    assert r.code == 2 and "status 0 in the receipt" in r.err, r.err
    entry = [a for a in audit(tmp_path) if a["event"] == "steward_chain_call"][-1]
    assert entry["detail"]["function"] == "extendPause" and entry["detail"]["outcome"] == "reverted"
    assert entry["detail"]["tx_hash"].startswith("0x") and entry["model"] == "lending-risk"


def test_every_revert_sentence_fits_its_errors_arguments():
    """A sentence's placeholders are the ABI's argument names (a typo would fall back to the plain form)."""
    from watchdog.actions.chain import _REVERT_SENTENCES, explain_revert
    from watchdog.artifacts import load_artifact

    errors = {i["name"]: i["inputs"] for i in load_artifact()["abi"] if i["type"] == "error"}
    dummy = {"bytes32": b"\x01" * 32, "address": "0x" + "22" * 20, "uint8": 2, "uint64": 7, "uint32": 3}
    for name, _template in _REVERT_SENTENCES.items():
        assert name in errors, name
        args = {i["name"]: dummy[i["type"]] for i in errors[name]}
        sentence = explain_revert(name, args, {b"\x01" * 32: "lending-risk"})
        assert not sentence.startswith(name + "(") and "{" not in sentence, (name, sentence)
    assert explain_revert("RateLimited", {"module": b"\x01" * 32, "retryAt": 9}) == (
        "RateLimited(module=0x" + "01" * 32 + ", retryAt=9)")


def test_an_overturned_incident_shows_in_metrics_and_in_the_weekly_report(cli, node, monitor, chain, tmp_path):
    """Issue #18, item 4: overturned incidents are counted per operator, in metrics and the weekly report."""
    from datetime import UTC, datetime

    from prometheus_client import CollectorRegistry

    from watchdog.actions.quorum import QuorumWatch
    from watchdog.observe.metrics import Metrics
    from watchdog.report.build import Week, build_report
    from watchdog.report.render import render_html

    incident = keccak(text="inc-noisy")
    iid = "0x" + incident.hex()
    client(node, monitor, 3).pause(MODULE, incident, keccak(text="ev-noisy"))
    now = time.time()
    with Store(tmp_path / "w.db") as st:
        st.add_incident(Incident(id=iid, model="lending-risk", rule="R", tier="critical", opened_at=now,
                                 record_index=1, policy_hash="0x", dry_run=False, evidence="{}",
                                 evidence_hash="0x" + keccak(text="ev-noisy").hex(), state="open"))
    assert cli("incident", "contest", iid, "--overturned", "--reason", "a data bug", *chain).code == 0
    with Store(tmp_path / "w.db") as st:
        watch = QuorumWatch(client(node, monitor, 3), st, from_block=0)
        watch.poll(now)
        watch.poll(now + 5)  # a second poll reads nothing new and writes nothing twice
        m = Metrics(CollectorRegistry())
        m.attach_quorum(watch)
        operator = node.accounts[3].address
        assert m.registry.get_sample_value("watchdog_operator_overturned_incidents", {"operator": operator}) == 1
        rows = [a for a in st.audit_log() if a["event"] == "incident_contested"]
        assert len(rows) == 1 and rows[0]["incident_id"] == iid and rows[0]["model"] == "lending-risk"
        year, number, _ = datetime.fromtimestamp(now, tz=UTC).isocalendar()
        week = Week(year, number)
        report = build_report(st, "lending-risk", week)
    (c,) = report["contested"]
    assert c["verdict"] == "overturned" and c["operators"] == [operator] and c["incident_id"] == iid
    page = render_html(report, "0x", "r.json")
    assert "Contested incidents" in page and operator in page
