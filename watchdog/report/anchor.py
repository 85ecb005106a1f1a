"""Anchoring a report's hash on the ModelMonitor (``heartbeat(reportHash)``) and checking a file against it.

Verification searches every ``Heartbeat`` event of the monitor, not only ``lastReportHash()``: a later
heartbeat must not make last week's report unverifiable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.actions.chain import MonitorClient
from watchdog.errors import ConfigError
from watchdog.report.digest import report_hash

__all__ = ["Anchor", "Verification", "anchor_report", "anchored_reports", "file_hash", "verify_report"]


@dataclass(frozen=True)
class Anchor:
    report_hash: str
    by: str
    at: int
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class Verification:
    ok: bool
    file: Path
    report_hash: str
    anchor: Anchor | None
    anchors_searched: int
    monitor: str

    @property
    def sentence(self) -> str:
        if self.ok and self.anchor is not None:
            a = self.anchor
            return (f"ACCEPTED: {self.file} has report hash {self.report_hash}, anchored on monitor {self.monitor} "
                    f"by {a.by} in block {a.block_number} (tx {a.tx_hash}, at unix time {a.at}).")
        return (f"REJECTED: {self.file} has report hash {self.report_hash}, which matches none of the "
                f"{self.anchors_searched} report hash(es) anchored on monitor {self.monitor}; this file is not a "
                f"report the watchdog anchored (it was changed, or never anchored).")


def file_hash(path: str | Path) -> str:
    p = Path(path)
    if p.suffix.lower() in (".html", ".htm"):
        raise ConfigError(f"{p} is the HTML page; the report hash covers the JSON file beside it "
                          f"({p.with_suffix('.json').name}): give that file.")
    try:
        return report_hash(p.read_bytes())
    except OSError as e:
        raise ConfigError(f"The report {p} could not be read: {e.strerror}.") from None


def anchored_reports(client: MonitorClient, from_block: int = 0) -> list[Anchor]:
    """Every Heartbeat with a non-zero report hash, oldest first."""
    logs = client.contract.events.Heartbeat().get_logs(from_block=from_block)
    out = []
    for e in logs:
        h = "0x" + bytes(e["args"]["reportHash"]).hex()
        if int(h, 16) == 0:
            continue
        out.append(Anchor(h, str(e["args"]["by"]), int(e["args"]["at"]),
                          "0x" + bytes(e["transactionHash"]).hex().removeprefix("0x"), int(e["blockNumber"])))
    return out


def verify_report(path: str | Path, client: MonitorClient, from_block: int = 0) -> Verification:
    digest = file_hash(path)
    anchors = anchored_reports(client, from_block)
    match = next((a for a in anchors if a.report_hash == digest), None)
    return Verification(match is not None, Path(path), digest, match, len(anchors), client.address)


def anchor_report(path: str | Path, client: MonitorClient) -> tuple[Anchor, bool]:
    """Send ``heartbeat(reportHash)`` unless that hash is already anchored; returns (anchor, sent now)."""
    digest = file_hash(path)
    for a in anchored_reports(client):
        if a.report_hash == digest:
            return a, False
    res: Any = client.transact("heartbeat", bytes.fromhex(digest[2:]))
    block = client.w3.eth.get_block(res.block_number)
    by = client.signer.address if client.signer is not None else ""
    return Anchor(digest, by, int(block["timestamp"]), res.tx_hash, res.block_number), True
