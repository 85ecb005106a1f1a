"""The weekly model health report: numbers from the store, an HTML page for people, a hash for the chain.

    recorder.EvaluationRecorder   engine observer: what every evaluation saw, into the store
    build.build_report            one model's ISO week from the store -> a JSON-ready dict
    incidents.incident_view       one incident: a rule's detection (data time, detection time, line,
                                  record index) or a steward's manual action (who, what, when, why)
    revert.readable_error         revert data decoded by the monitor's ABI, or cut short
    render.render_html            the report dict -> one self-contained HTML page (plots inline)
    incident_html                 an incident as an HTML block, or as the API's read-only evidence page
    digest                        canonical JSON bytes and their keccak-256 (the report hash)
    write_report                  both files
    anchor.anchor_report / verify_report   heartbeat(reportHash) on the ModelMonitor, and the check
    weekly_report_job             the scheduled job: last week's report for every model of the policy

Imports point down this list's floors: files -> anchor, build, render -> incident_html -> incidents ->
revert; nothing here imports the service. Importing this package is light; matplotlib loads only when a
page with plots is rendered.
"""

from __future__ import annotations

from watchdog.report.build import Week, build_report, parse_week, previous_week
from watchdog.report.files import ReportFiles, canonical_json, report_hash, weekly_report_job, write_report

__all__ = ["ReportFiles", "Week", "build_report", "canonical_json", "parse_week", "previous_week", "report_hash",
           "weekly_report_job", "write_report"]
