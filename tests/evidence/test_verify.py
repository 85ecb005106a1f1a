"""``watchdog evidence export | verify | prove`` on a real anvil: the watchdog pauses a module, its bundle
verifies from the raw log up to the hash on-chain; a changed record, a changed threshold, a changed policy
and a bundle whose hash is not on-chain are each refused with the reason."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rules
from tests.fixtures import deploy
from watchdog.cli import main
from watchdog.commands.evidence import _onchain
from watchdog.evidence.bundle import canonical_json, evidence_hash
from watchdog.evidence.merkle import verify_proof
from watchdog.evidence.verify import Report, load_bundle, verify
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.store.store import Store

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"


def watchdog(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The command line in this process (the same ``main`` as ``python -m watchdog``): status, out, err."""
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


class Paused:
    def __init__(self, root: Path, url: str, monitor: str):
        self.root, self.url, self.monitor = root, url, monitor
        self.policy = root / "policy.yaml"
        self.log = root / "drift.jsonl"
        self.store = root / "w.db"

    def incident(self, rule: str) -> str:
        with Store(self.store) as store:
            return next(i.id for i in store.incidents() if i.rule == rule)

    def export(self, rule: str, *extra: str) -> Path:
        out = self.root / f"{rule}{len(extra)}.bundle.json"
        rc = main(["evidence", "export", self.incident(rule), "--store", str(self.store),
                   "--policy", str(self.policy), "--out", str(out), *extra])
        assert rc == 0
        return out

    def verify(self, bundle: dict[str, Any], log: Path | None = None, policy: Path | None = None) -> Report:
        chain = _onchain(argparse.Namespace(rpc_url=[self.url], monitor=self.monitor))
        pol = rules.load_policy(policy or self.policy)
        with open(log or self.log, "rb") as f:
            return verify(bundle, f, pol, self.policy.parent, chain)


@pytest.fixture(scope="module")
def paused(node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paused]:
    root = tmp_path_factory.mktemp("evidence")
    p = Paused(root, node.url, deploy(node))
    p.policy.write_bytes(DEMO_POLICY.read_bytes())
    write_log(str(p.log), n=4800, drift_at=4000, seed=11, malformed=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WATCHDOG_PRIVATE_KEY", node.accounts[3].private_key)
        mp.delenv("WATCHDOG_FAULT", raising=False)
        res = run(RunOptions(policy=p.policy, source=p.log, rpc_url=[node.url], monitor=p.monitor, store=p.store,
                             quarantine=root / "q.jsonl", progress=False, confirmations=1, settle_seconds=20.0))
    assert {i.rule for i in res.incidents} >= {"VolatilityRegimeShift", "UtilizationDrift"}
    yield p


def _fails(report: Report) -> dict[str, str]:
    return {c.name: c.detail for c in report.failures}


def test_the_honest_bundle_verifies_up_to_the_chain(paused: Paused, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = paused.export("VolatilityRegimeShift", "--log", str(paused.log), "--with-records")
    data = load_bundle(bundle)
    assert len(data["records"]) == data["evidence"]["window"]["records"] == 500
    rc, out, err = watchdog(capsys, "evidence", "verify", str(bundle), "--log", str(paused.log),
                            "--rpc-url", paused.url, "--monitor", paused.monitor)
    assert rc == 0, out + err
    assert "is verified" in out and "FAIL" not in out
    assert f"carries evidence hash {data['evidence_hash']}" in out
    assert "the 500 records carried hash to their leaves" in out
    # the policy the bundle carries is used when --policy is not given, and its hash is the evidence's
    assert data["policy"]["hash"] == data["evidence"]["policy_hash"]


def test_a_changed_record_is_named(paused: Paused, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_bundle(paused.export("VolatilityRegimeShift"))
    target = data["leaves"][100]["id"]
    changed = tmp_path / "changed.jsonl"
    with open(paused.log, "rb") as src, open(changed, "wb") as out:
        for raw in src:
            rec = json.loads(raw)
            if rec.get("id") == target and "features" in rec:
                rec["features"]["volatility_7d"] = rec["features"]["volatility_7d"] + 0.001
            out.write(json.dumps(rec).encode() + b"\n")
    report = paused.verify(data, log=changed)
    assert not report.ok
    fails = _fails(report)
    assert f"record {target}" in fails["replay: records"] and "the record was changed" in fails["replay: records"]
    assert "on-chain" not in fails  # the bundle itself is the one on-chain: only the records differ
    # the command says the same, exit 1
    bundle = tmp_path / "b.json"
    bundle.write_text(json.dumps(data))
    rc, out, err = watchdog(capsys, "evidence", "verify", str(bundle), "--log", str(changed), "--policy",
                            str(paused.policy), "--rpc-url", paused.url, "--monitor", paused.monitor)
    assert rc == 1, out + err
    assert f"FAIL replay: records: record {target}" in out and "does NOT verify" in out


def test_a_changed_threshold_is_named(paused: Paused) -> None:
    data = load_bundle(paused.export("VolatilityRegimeShift"))
    data["evidence"]["condition"]["threshold"] = 1e-3
    report = paused.verify(data)  # the hash no longer matches the evidence
    assert "the evidence was changed after it was hashed" in _fails(report)["evidence hash"]
    data["evidence_hash"] = evidence_hash(canonical_json(data["evidence"]))  # a forger rehashes it
    fails = _fails(paused.verify(data))
    assert "evidence hash" not in fails
    assert "evidence.condition.threshold: the bundle says 0.001, the replay gives 1e-08" in fails["replay: evidence"]
    assert f"the bundle {data['evidence_hash']}" in fails["on-chain"]


def test_a_changed_policy_is_named(paused: Paused, tmp_path: Path) -> None:
    data = load_bundle(paused.export("VolatilityRegimeShift"))
    other = tmp_path / "policy.yaml"
    other.write_text(paused.policy.read_text().replace("threshold: 1.0e-8}", "threshold: 1.0e-9}", 1))
    fails = _fails(paused.verify(data, policy=other))
    assert f"the policy given hashes to {rules.load_policy(other).hash}" in fails["policy"]
    assert f"the evidence was made under policy {data['evidence']['policy_hash']}" in fails["policy"]
    assert "on-chain" not in fails


def test_a_bundle_whose_hash_is_not_on_chain_is_refused(paused: Paused) -> None:
    data = load_bundle(paused.export("UtilizationDrift"))  # alert only: never sent to the monitor
    report = paused.verify(data)
    assert set(_fails(report)) == {"on-chain"}
    assert f"no pause or rollback on the monitor carries incident {data['incident_id']}" in _fails(report)["on-chain"]


def test_a_proof_shows_one_record_without_the_others(paused: Paused, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bundle = paused.export("VolatilityRegimeShift", "--log", str(paused.log), "--with-records")
    data = load_bundle(bundle)
    rid = data["leaves"][7]["id"]
    out = tmp_path / "proof.json"
    rc, _, err = watchdog(capsys, "evidence", "prove", str(bundle), rid, "--out", str(out))
    assert rc == 0, err
    prf = json.loads(out.read_text())
    assert prf["record_json"]["id"] == rid and "leaves" not in prf
    assert verify_proof(data["evidence"]["window"]["merkle_root"], prf["proof"])
    assert prf["proof"]["index"] == 7 and len(prf["proof"]["path"]) == 9  # 501 leaves: 9 levels
    rc, _, err = watchdog(capsys, "evidence", "prove", str(bundle), "no-such-record")
    assert rc == 2 and "is not in the window of incident" in err


def test_bad_input_gets_a_sentence(paused: Paused, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{}")
    rc, _, err = watchdog(capsys, "evidence", "verify", str(junk), "--log", str(paused.log), "--no-chain")
    assert rc == 2 and "is not an evidence bundle" in err
    rc, _, err = watchdog(capsys, "evidence", "verify", str(junk), "--log", str(paused.log))
    assert rc == 2 and "pass --rpc-url and --monitor" in err
    rc, _, err = watchdog(capsys, "evidence", "verify", str(tmp_path / "none.json"), "--log", str(paused.log),
                          "--no-chain")
    assert rc == 2 and "could not be read" in err
    rc, _, err = watchdog(capsys, "evidence", "export", "0x" + "00" * 32, "--store", str(paused.store))
    assert rc == 2 and "The store has no incident" in err
    rc, _, err = watchdog(capsys, "evidence", "export", "0x" + "00" * 32, "--store", str(paused.store),
                          "--with-records")
    assert rc == 2 and "--with-records needs --log" in err
