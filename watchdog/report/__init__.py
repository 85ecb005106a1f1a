"""The weekly model health report: numbers from the store, an HTML page for people, a hash for the chain.

    recorder.EvaluationRecorder   engine observer: what every evaluation saw, into the store
    build.build_report            one model's ISO week from the store -> a JSON-ready dict
    render.render_html            that dict -> one self-contained HTML page (plots inline)
    write_report                  both files; the report hash is keccak-256 of the JSON's exact bytes
    anchor.anchor_report / verify_report   heartbeat(reportHash) on the ModelMonitor, and the check
    weekly_report_job             the scheduled job: last week's report for every model of the policy

Importing this package is light; matplotlib loads only when a page is rendered.
"""

from __future__ import annotations

from watchdog.report.build import Week, build_report, parse_week, previous_week
from watchdog.report.files import ReportFiles, canonical_json, report_hash, weekly_report_job, write_report

__all__ = ["ReportFiles", "Week", "build_report", "canonical_json", "parse_week", "previous_week", "report_hash",
           "weekly_report_job", "write_report"]
