"""Print the gas used by each ModelMonitor action on a fresh anvil node.

    .venv/bin/python contracts/gas_report.py

"first" is the first call of its kind (storage slots written from zero, the dearest case); "repeat" is a
later call of the same kind, the steady state. A pause always writes a fresh incident slot, so it never gets
as cheap as an unpause. The k-of-n rows use three operators with keys of their own: a vote that does not
reach the quorum, the vote that does (it pauses), and one transaction relaying k EIP-712 signed votes; then
a bounded pause (maxPauseDuration), its extension by the council and its expiry. Uses the committed artifact
in watchdog/artifacts/ (run `npm run compile` first).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from eth_utils import keccak  # noqa: E402
from web3 import Web3  # noqa: E402

from tests.anvil import AnvilNode, start_anvil  # noqa: E402
from tests.contracts.monitor import (  # noqa: E402
    ARTIFACT_V1,
    METADATA_V1,
    Deployment,
    add_operators,
    deploy_monitor,
    load_artifact,
)

EVIDENCE = keccak(text="evidence")


def main() -> int:
    rows: dict[str, list[int]] = {}

    with start_anvil() as node:
        # Large rate limit so the repeated watchdog actions below are not refused.
        m = deploy_monitor(node, max_actions=64, window_seconds=3600)
        f = m.contract.functions
        mod = m.module
        incidents = iter(keccak(text=f"incident-{i}") for i in range(1_000))

        def record(name: str, call, sender: str) -> None:
            rows.setdefault(name, []).append(m.send(call, sender)["gasUsed"])

        for version in (2, 3):
            record("proposeVersion", f.proposeVersion(mod, version, ARTIFACT_V1, METADATA_V1), m.proposer)
            record("approveVersion", f.approveVersion(mod, version), m.council)
            record("activateVersion", f.activateVersion(mod, version), m.council)
        # Active version is 3; 1 and 2 were active before.
        for to_version in (2, 1):
            record("pause (watchdog)", f.pause(mod, next(incidents), EVIDENCE), m.watchdog)
            record("rollback (watchdog)", f.rollback(mod, to_version, next(incidents), EVIDENCE), m.watchdog)
            record("unpause", f.unpause(mod), m.council)
        for _ in range(2):
            record("pause (council)", f.pause(mod, next(incidents), EVIDENCE), m.council)
            record("unpause", f.unpause(mod), m.council)
        for i in range(2):
            record("heartbeat (report)", f.heartbeat(keccak(text=f"report-{i}")), m.watchdog)
        record("heartbeat (liveness)", f.heartbeat(b"\x00" * 32), m.watchdog)
        record("heartbeat (liveness)", f.heartbeat(b"\x00" * 32), m.watchdog)
        record("deprecateVersion", f.deprecateVersion(mod, 2), m.council)
        record("revokeVersion (active)", f.revokeVersion(mod, 1), m.council)
        record("setRateLimit", f.setRateLimit(3, 600), m.admin)
        _quorum_rows(node, rows)
        deploy_gas = _deployment_gas(node)

    width = max(len(name) for name in rows)
    print(f"{'action':<{width}}  {'first':>10}  {'repeat':>8}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 8}")
    print(f"{'deploy':<{width}}  {deploy_gas:>10,}")
    for name, values in rows.items():
        repeat = f"{values[-1]:>8,}" if len(values) > 1 else ""
        print(f"{name:<{width}}  {values[0]:>10,}  {repeat}".rstrip())
    return 0


def _quorum_rows(node: AnvilNode, rows: dict[str, list[int]]) -> None:
    """k-of-n votes, relayed signatures, bounded pauses, one-shot re-arming and contests, on a new deployment."""
    m = deploy_monitor(node, max_actions=64, window_seconds=3600)
    f = m.contract.functions
    mod = m.module
    ops = add_operators(m, 3)
    incidents = iter(keccak(text=f"quorum-incident-{i}") for i in range(1_000))
    reason = keccak(text="reasons")

    def record(name: str, receipt) -> None:
        rows.setdefault(name, []).append(receipt["gasUsed"])

    def unpause() -> None:
        m.send(f.unpause(mod), m.council)

    for k in (2, 3):
        record(f"setPauseConfig (k={k})", m.send(f.setPauseConfig(mod, k, 600, 0, False), m.admin))
        for _ in range(2):
            incident = next(incidents)
            for i, op in enumerate(ops[:k]):
                label = "votePause (quorum: pauses)" if i == k - 1 else "votePause (below quorum)"
                record(f"{label}, k={k}", m.send_signed(f.votePause(mod, incident, EVIDENCE), op))
            unpause()
        for _ in range(2):
            incident = next(incidents)
            deadline = m.now() + 3600
            votes = [m.sign_vote(op, mod, incident, EVIDENCE, deadline) for op in ops[:k]]
            record(f"relayPauseVotes ({k} of 3 signatures)", m.send(f.relayPauseVotes(mod, incident, EVIDENCE, votes),
                                                                    m.outsider))
            unpause()

    m.send(f.setPauseConfig(mod, 1, 0, 600, True), m.admin)
    for _ in range(2):
        incident = next(incidents)
        record("pause (watchdog, bounded, one-shot)", m.send_signed(f.pause(mod, incident, EVIDENCE), ops[0]))
        record("extendPause", m.send(f.extendPause(mod, m.now() + 1200), m.council))
        _advance(m, 1200)
        record("expirePause (after expiry)", m.send(f.expirePause(mod), m.outsider))
        record("rearmOperator", m.send(f.rearmOperator(mod, ops[0].address), m.council))
        record("resolveIncident (overturned, 1 operator)", m.send(f.resolveIncident(incident, False, reason),
                                                                  m.council))


def _advance(m: Deployment, seconds: int) -> None:
    m.node.increase_time(seconds)


def _deployment_gas(node: AnvilNode) -> int:
    """Gas of the constructor transaction alone (no role grants)."""
    artifact = load_artifact()
    w3 = Web3(Web3.HTTPProvider(node.url))
    admin = node.accounts[0].address
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx_hash = factory.constructor(3 * 24 * 3600, admin, 2, 3600).transact({"from": admin})
    return w3.eth.wait_for_transaction_receipt(tx_hash)["gasUsed"]


if __name__ == "__main__":
    raise SystemExit(main())
