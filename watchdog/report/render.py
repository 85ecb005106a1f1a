"""The report as one self-contained HTML file: inline CSS, plots as base64 PNG, no script, no fetch.

A Content-Security-Policy in the page forbids every external resource, so a browser shows the page
exactly as written, offline. Every string from data (model, rules, errors, notes) is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from watchdog.report.incident_html import incident_html, manual_html
from watchdog.report.markup import duration as _duration
from watchdog.report.markup import esc as _e
from watchdog.report.markup import num as _num
from watchdog.report.markup import page_head
from watchdog.report.markup import when as _when

__all__ = ["render_html"]

COLORS = {"healthy": "#1b7f3b", "degraded": "#b26a00", "incident": "#b3261e", "no data": "#5f6368"}
SECTIONS = (
    ("feature_drift", "Feature drift", ("Each input feature's recent window against the reference, at every "
     "evaluation; the dashed line is the rule's threshold. No points: no evaluation yet (for instance while the "
     "reference was being collected).")),
    ("prediction_drift", "Prediction drift", "The model's outputs against the reference outputs."),
    ("performance", "Performance (once labels arrived)", "Computed on predictions whose true outcome is known."),
)
def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plot_statistic(det: dict[str, Any], st: dict[str, Any], report: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    series = st["series"]
    points = [(datetime.fromtimestamp(a, tz=UTC), v) for a, v in zip(series["at"], series["value"], strict=True)
              if v is not None]
    fig, ax = plt.subplots(figsize=(10.5, 2.7))
    try:
        log_scale = st["statistic"] == "p_value" and any(v > 0 for _, v in points)
        if points:
            xs, ys = zip(*points, strict=True)
            if log_scale:
                floor = min((v for v in ys if v > 0), default=1e-300)
                ys = tuple(max(v, floor) for v in ys)
            ax.plot(xs, ys, color="#1a73e8", lw=1.6, marker="o", ms=2.5, label=st["statistic"])
        for rule in st["rules"]:
            ax.axhline(rule["threshold"], color="#b3261e", ls="--", lw=1.2,
                       label=f"{rule['rule']}: {rule['op']} {rule['threshold']:g}")
        for inc in report["incidents"]:
            if inc["evidence"].get("condition", {}).get("detector") == det["detector"]:
                at = datetime.fromisoformat(inc["opened_at"])
                ax.axvline(mdates.date2num(at), color="#b3261e", lw=2, alpha=.35)
                ax.annotate(f" {inc['rule']} fired", (at, 1), xycoords=("data", "axes fraction"), va="top",
                            fontsize=8.5, color="#b3261e")
        if log_scale:
            ax.set_yscale("log")
        start = datetime.fromisoformat(report["period"]["start"])
        end = datetime.fromisoformat(report["period"]["end"])
        ax.set_xlim(mdates.date2num(start), mdates.date2num(end))
        ax.xaxis.set_major_locator(mdates.DayLocator(tz=UTC))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b", tz=UTC))
        ax.grid(True, alpha=.3)
        ax.set_ylabel(st["statistic"], fontsize=9)
        ax.tick_params(labelsize=8.5)
        ax.set_title(f"{det['detector']} ({det['kind']}"
                     + (f", feature {det['feature']}" if det["feature"] else "") + ")", fontsize=10, loc="left")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.subplots_adjust(left=0.08, right=0.76, top=0.88, bottom=0.14)  # same frame for every plot
        return _png(fig)
    finally:
        plt.close(fig)


def _plot_volume(report: dict[str, Any]) -> str | None:
    counted = {d["date"]: d["predictions"] for d in report["volume"]["daily_predictions"]}
    if not counted:
        return None
    start = datetime.fromisoformat(report["period"]["start"])
    days = [(start + timedelta(days=i)).strftime("%a %d %b") for i in range(7)]
    values = [counted.get((start + timedelta(days=i)).strftime("%Y-%m-%d"), 0) for i in range(7)]
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10.5, 2.2))
    try:
        ax.bar(days, values, color="#1a73e8")
        ax.set_ylabel("predictions", fontsize=9)
        ax.set_title("Predictions per day (UTC), counted at the evaluation that processed them", fontsize=10,
                     loc="left")
        ax.tick_params(labelsize=8.5)
        ax.grid(True, axis="y", alpha=.3)
        fig.subplots_adjust(left=0.08, right=0.76, top=0.86, bottom=0.14)
        return _png(fig)
    finally:
        plt.close(fig)


def _statistics_to_plot(det: dict[str, Any]) -> list[dict[str, Any]]:
    ruled = [s for s in det["statistics"] if s["rules"]]
    if ruled:
        return ruled
    main = [s for s in det["statistics"] if s["statistic"] == "statistic"]
    return main or det["statistics"][:1]


def render_html(report: dict[str, Any], report_hash: str, json_name: str, explorer_url: str | None = None) -> str:
    v = report["verdict"]
    color = COLORS.get(v["status"], "#5f6368")
    vol, q = report["volume"], report["quarantine"]
    out: list[str] = []
    w = out.append
    w(page_head(f"Model health report: {report['model']}, {report['week']}"))
    w(f"<h1>Model health report: {_e(report['model'])}</h1>")
    w(f"<p class=sub>ISO week {_e(report['week'])}: {_e(report['period']['start'])} to "
      f"{_e(report['period']['end'])} (UTC, end exclusive); figures as of {_e(report['period']['as_of'])}.</p>")
    w(f"<div class=verdict style=\"background:{color}\"><b>{_e(v['status'])}</b><ul>")
    for r in v["reasons"]:
        w(f"<li>{_e(r)}</li>")
    w("</ul></div>")
    if v["notes"]:
        w("<p class=muted>Not counted in the verdict:</p><ul class=muted>")
        for n in v["notes"]:
            w(f"<li>{_e(n)}</li>")
        w("</ul>")

    w("<table class=kv>")
    pol = report["policy"]
    hashes = "<br>".join(f"<code>{_e(h)}</code>" for h in pol["hashes_in_force"]) or "—"
    w(f"<tr><th>Policy hash(es) in force</th><td>{hashes}</td></tr>")
    if pol["given"]:
        g = pol["given"]
        w(f"<tr><th>Policy file given</th><td>{_e(g['name'])} <code>{_e(g['hash'])}</code> "
          f"({'in force this week' if g['in_force'] else 'NOT the policy in force this week'})</td></tr>")
    w(f"<tr><th>Model version(s) active</th><td>{_e(', '.join(report['model_versions']) or '—')}</td></tr>")
    manual = report["manual_actions"]
    mined = [a for i in report["incidents"] + manual for a in i["actions"] if a["status"] in ("mined", "confirmed")]
    w(f"<tr><th>Incidents / manual actions / mined on-chain actions</th><td>{len(report['incidents'])} / "
      f"{len(manual)} / {len(mined)}</td></tr>")
    w(f"<tr><th>Predictions evaluated</th><td>{_num(vol['predictions'])} in {_num(vol['evaluations'])} "
      f"evaluations; label coverage {_num(vol['label_coverage'], '{:.1%}')}; "
      f"{_num(q['total'])} record(s) quarantined</td></tr>")
    w(f"<tr><th>Report hash (keccak-256 of {_e(json_name)})</th><td><code>{_e(report_hash)}</code></td></tr>")
    w("</table>")
    w(f"<p class=muted>Every number on this page is in <code>{_e(json_name)}</code>. Check it against the hash "
      "anchored on-chain with <code>watchdog report verify FILE --rpc-url URL --monitor ADDRESS</code>.</p>")

    if report["incidents"]:
        w("<h2>Incidents</h2>")
        rank = {t: k for k, t in enumerate(("critical", "medium", "routine"))}
        for inc in sorted(report["incidents"], key=lambda i: (i["dry_run"], rank.get(i["tier"], 9), i["opened_at"])):
            incident_html(w, inc, explorer_url)
    if report["manual_actions"]:
        w("<h2>Manual actions</h2><p class=muted>Pauses and rollbacks a steward sent from the command line "
          "(<code>watchdog pause</code>, <code>watchdog rollback</code>): no rule decided them, so they have no "
          "condition, decisive line or policy hash. One that changed nothing on-chain (the module was already "
          "paused, the monitor refused it) does not make the week an incident.</p>")
        for m in sorted(report["manual_actions"], key=lambda m: (m["at"], m["id"])):
            manual_html(w, m, explorer_url)

    if report.get("contested"):
        w("<h2>Contested incidents</h2><p class=muted>The council's verdicts this week "
          "(<code>watchdog incident contest</code>, the monitor's <code>IncidentResolved</code>). An overturned "
          "incident counts against each operator that made it: a watchdog that pauses without cause shows "
          "here and in <code>watchdog_operator_overturned_incidents</code>.</p>")
        w("<table><tr><th>when (UTC)</th><th>incident</th><th>verdict</th><th>operators</th><th>reason hash</th></tr>")
        for c in report["contested"]:
            w(f"<tr><td>{_e(c['at'])}</td><td><code>{_e(c['incident_id'] or '')}</code></td>"
              f"<td>{_e(c['verdict'])}</td><td>{_e(', '.join(c['operators']) or 'the council')}</td>"
              f"<td><code>{_e(c['reason_hash'] or '')}</code></td></tr>")
        w("</table>")

    for key, title, blurb in SECTIONS:
        dets = [d for d in report["detectors"] if d["section"] == key]
        w(f"<h2>{_e(title)}</h2><p class=muted>{_e(blurb)}</p>")
        if key == "performance":
            w(f"<p>Label coverage: <b>{_num(vol['label_coverage'], '{:.1%}')}</b> "
              f"({_num(vol['labels_joined'])} labels joined to {_num(vol['predictions'])} predictions; "
              f"{_num(vol['labels_unmatched'])} labels matched no prediction).</p>")
        if not dets:
            w("<p class=muted>No detector of this kind recorded a value this week.</p>")
            continue
        w("<table><tr><th>detector</th><th>feature</th><th>statistic</th><th>rule threshold</th>"
          "<th>min</th><th>max</th><th>last</th><th>evaluations over threshold</th></tr>")
        for d in dets:
            for st in d["statistics"]:
                rules_txt = "<br>".join(f"{_e(r['rule'])}: {_e(r['op'])} {r['threshold']:g}"
                                        for r in st["rules"]) or "—"
                br = st["summary"]["breaches"]
                br_txt = "<br>".join(
                    f"<span class={'breach' if k else 'ok'}>{k} of {st['summary']['evaluations']}</span>"
                    for k in br.values()) or "—"
                feature = d["feature"] or "(prediction)" if key != "performance" else "—"
                w(f"<tr><td>{_e(d['detector'])}</td><td>{_e(feature)}</td>"
                  f"<td>{_e(st['statistic'])}</td><td>{rules_txt}</td><td class=num>{_num(st['summary']['min'])}</td>"
                  f"<td class=num>{_num(st['summary']['max'])}</td><td class=num>{_num(st['summary']['last'])}</td>"
                  f"<td>{br_txt}</td></tr>")
        w("</table>")
        for d in dets:
            for st in _statistics_to_plot(d):
                alt = f"{d['detector']} {st['statistic']} over the week"
                w(f"<img alt=\"{_e(alt)}\" src=\"{_plot_statistic(d, st, report)}\">")

    w("<h2>Data quality</h2><table class=kv>")
    rows = [
        ("Evaluations", _num(vol["evaluations"])),
        ("Predictions", _num(vol["predictions"])),
        ("Labels joined / unmatched", f"{_num(vol['labels_joined'])} / {_num(vol['labels_unmatched'])}"),
        ("First / last evaluation (data time)",
         f"{_e(_when(vol['first_data_at']))} / {_e(_when(vol['last_data_at']))}"),
        ("Longest gap between evaluations", _duration(vol["longest_gap_seconds"])),
        ("Staleness at the end of the period", _duration(vol["staleness_seconds"])),
        ("Quarantined records", f"{_num(q['total'])} ({_num(q['ratio'], '{:.2%}')} of records; {_e(q['scope'])})"),
    ]
    for k, val in rows:
        w(f"<tr><th>{_e(k)}</th><td>{val}</td></tr>")
    w("</table>")
    if q["by_reason"]:
        w("<table><tr><th>quarantine reason</th><th>records</th></tr>")
        for reason, n in q["by_reason"].items():
            w(f"<tr><td><code>{_e(reason)}</code></td><td class=num>{_num(n)}</td></tr>")
        w("</table>")
    img = _plot_volume(report)
    if img:
        w(f"<img alt=\"predictions per day\" src=\"{img}\">")
        w("<p class=muted>Records collected as the reference (before the first evaluation) are counted on the day "
          "of the first evaluation.</p>")
    w("</body></html>\n")
    return "".join(out)
