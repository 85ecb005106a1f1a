"""Writing a report's two files, and the weekly job."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import rules
from watchdog.actions.chain import MonitorClient
from watchdog.errors import ConfigError
from watchdog.report.anchor import anchor_report
from watchdog.report.build import Week, build_report, previous_week
from watchdog.report.digest import canonical_json, report_hash
from watchdog.report.render import render_html
from watchdog.store.store import Store

log = logging.getLogger("watchdog.report")

__all__ = ["ReportFiles", "canonical_json", "report_hash", "weekly_report_job", "write_report"]


@dataclass(frozen=True)
class ReportFiles:
    json_path: Path
    html_path: Path
    report_hash: str
    verdict: str


def _stem(model: str, week: Week) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model) + f"-{week.label}"


def write_report(store: Store, model: str, week: Week, out_dir: str | Path, *, policy: rules.Policy | None = None,
                 now: datetime | None = None, explorer_url: str | None = None) -> ReportFiles:
    """Build the report of ``model`` for ``week`` and write ``<model>-<week>.json`` and ``.html`` in ``out_dir``."""
    if explorer_url is not None and not re.match(r"^https?://[^\s\"'<>]+$", explorer_url):
        raise ConfigError(f"--explorer-url must be an http(s) URL such as https://etherscan.io, got {explorer_url!r}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(store, model, week, policy=policy, now=now)
    data = canonical_json(report)
    digest = report_hash(data)
    stem = _stem(model, week)
    json_path, html_path = out / f"{stem}.json", out / f"{stem}.html"
    json_path.write_bytes(data)
    html_path.write_text(render_html(report, digest, json_path.name, explorer_url), encoding="utf-8")
    log.info("report_written", extra={"model": model, "week": week.label, "verdict": report["verdict"]["status"],
                                      "report_hash": digest, "path": str(html_path)})
    return ReportFiles(json_path, html_path, digest, report["verdict"]["status"])


def weekly_report_job(store: Store | str | Path, policy: rules.Policy | str | Path, out_dir: str | Path,
                      now: datetime, explorer_url: str | None = None,
                      anchor_with: MonitorClient | None = None) -> list[ReportFiles]:
    """Write last week's report (the ISO week that ended at or before ``now``) for every model of the policy.

    With ``anchor_with`` (a monitor client with a signer holding the watchdog role) each report's hash is
    anchored with ``heartbeat(reportHash)``; a hash already anchored is not sent again. Importable for
    APScheduler (``id="weekly_report"``, a cron trigger on Monday after 00:00 UTC).
    """
    if not isinstance(policy, rules.Policy):
        policy = rules.load_policy(policy)
    week = previous_week(now)
    if isinstance(store, Store):
        files = [write_report(store, m, week, out_dir, policy=policy, now=now, explorer_url=explorer_url)
                 for m in policy.model_ids]
    else:
        with Store(store) as s:
            files = [write_report(s, m, week, out_dir, policy=policy, now=now, explorer_url=explorer_url)
                     for m in policy.model_ids]
    if anchor_with is not None:
        for f in files:
            anchor, sent = anchor_report(f.json_path, anchor_with)
            log.info("report_anchored", extra={"report_hash": f.report_hash, "block": anchor.block_number,
                                               "tx_hash": anchor.tx_hash, "sent": sent})
    return files
