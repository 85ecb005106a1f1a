"""The report as one self-contained HTML file: inline CSS, plots as base64 PNG, no script, no fetch.

A Content-Security-Policy in the page forbids every external resource, so a browser shows the page
exactly as written, offline. Every string from data (model, rules, errors, notes) is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

__all__ = ["render_html"]

COLORS = {"healthy": "#1b7f3b", "degraded": "#b26a00", "incident": "#b3261e", "no data": "#5f6368"}
SECTIONS = (
    ("feature_drift", "Feature drift", ("Each input feature's recent window against the reference, at every "
     "evaluation; the dashed line is the rule's threshold. No points: no evaluation yet (for instance while the "
     "reference was being collected).")),
    ("prediction_drift", "Prediction drift", "The model's outputs against the reference outputs."),
    ("performance", "Performance (once labels arrived)", "Computed on predictions whose true outcome is known."),
)
CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#202124;
 margin:0 auto;max-width:1100px;padding:24px 28px 60px;background:#fff}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 8px;border-bottom:2px solid #e0e0e0;
 padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.sub{color:#5f6368;margin:0 0 18px}.verdict{border-radius:8px;padding:14px 18px;color:#fff;margin:12px 0}
.verdict b{font-size:22px;text-transform:uppercase;letter-spacing:.04em}.verdict ul{margin:6px 0 0 18px;padding:0}
table{border-collapse:collapse;margin:6px 0 12px;font-size:14px}th,td{border:1px solid #dadce0;padding:4px 9px;
 text-align:left;vertical-align:top}th{background:#f1f3f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere}
.when{white-space:nowrap;font-variant-numeric:tabular-nums}img{display:block;max-width:100%;height:auto;margin:6px 0}.muted{color:#5f6368}.kv th{width:230px}
.incident{border-left:4px solid #b3261e;padding:2px 0 2px 14px;margin:16px 0}
.breach{color:#b3261e;font-weight:600}.ok{color:#1b7f3b}
"""


def _e(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def _num(v: Any, fmt: str = "{:.4g}") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return fmt.format(v)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d} d"] * bool(d) + [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m)
    return " ".join(parts) or f"{s} s"


def _when(text: str | None) -> str:
    """``2026-11-21T02:41:40.123Z`` as ``2026-11-21 02:41:40`` (the JSON keeps the full value)."""
    return "—" if not text else text.replace("T", " ").removesuffix("Z").split(".")[0]


def _link(base: str | None, kind: str, value: Any) -> str:
    if value is None:
        return "—"
    text = f"<span class=mono>{_e(value)}</span>"
    if not base:
        return text
    return f'<a href="{_e(base.rstrip("/"))}/{kind}/{_e(value)}">{text}</a>'


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
    points = [(datetime.fromtimestamp(a, tz=UTC), v) for a, v in zip(series["at"], series["value"])
              if v is not None]
    fig, ax = plt.subplots(figsize=(10.5, 2.7))
    try:
        log_scale = st["statistic"] == "p_value" and any(v > 0 for _, v in points)
        if points:
            xs, ys = zip(*points)
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
                ax.axvline(at, color="#b3261e", lw=2, alpha=.35)
                ax.annotate(f" {inc['rule']} fired", (at, 1), xycoords=("data", "axes fraction"), va="top",
                            fontsize=8.5, color="#b3261e")
        if log_scale:
            ax.set_yscale("log")
        start = datetime.fromisoformat(report["period"]["start"])
        end = datetime.fromisoformat(report["period"]["end"])
        ax.set_xlim(start, end)
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
    w("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>")
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
      "style-src 'unsafe-inline'\">")
    w("<meta name=viewport content=\"width=device-width, initial-scale=1\">")
    w(f"<title>Model health report: {_e(report['model'])}, {_e(report['week'])}</title>")
    w(f"<style>{CSS}</style></head><body>")
    w(f"<h1>Model health report: {_e(report['model'])}</h1>")
    w(f"<p class=sub>ISO week {_e(report['week'])}: {_e(report['period']['start'])} to "
      f"{_e(report['period']['end'])} (UTC, end exclusive); figures as of {_e(report['period']['as_of'])}.</p>")
    w(f"<div class=verdict style=\"background:{color}\"><b>{_e(v['status'])}</b><ul>")
    for r in v["reasons"]:
        w(f"<li>{_e(r)}</li>")
    w("</ul></div>")

    w("<table class=kv>")
    pol = report["policy"]
    w(f"<tr><th>Policy hash(es) in force</th><td>{'<br>'.join(f'<code>{_e(h)}</code>' for h in pol['hashes_in_force']) or '—'}</td></tr>")
    if pol["given"]:
        g = pol["given"]
        w(f"<tr><th>Policy file given</th><td>{_e(g['name'])} <code>{_e(g['hash'])}</code> "
          f"({'in force this week' if g['in_force'] else 'NOT the policy in force this week'})</td></tr>")
    w(f"<tr><th>Model version(s) active</th><td>{_e(', '.join(report['model_versions']) or '—')}</td></tr>")
    mined = [a for i in report["incidents"] for a in i["actions"] if a["status"] == "mined"]
    w(f"<tr><th>Incidents / on-chain actions</th><td>{len(report['incidents'])} / {len(mined)}</td></tr>")
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
            _incident_html(w, inc, explorer_url)

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
                rules_txt = "<br>".join(f"{_e(r['rule'])}: {_e(r['op'])} {r['threshold']:g}" for r in st["rules"]) or "—"
                br = st["summary"]["breaches"]
                br_txt = "<br>".join(
                    f"<span class={'breach' if k else 'ok'}>{k} of {st['summary']['evaluations']}</span>"
                    for k in br.values()) or "—"
                w(f"<tr><td>{_e(d['detector'])}</td><td>{_e(d['feature'] or '(prediction)' if key != 'performance' else '—')}</td>"
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
        ("First / last evaluation (data time)", f"{_e(_when(vol['first_data_at']))} / {_e(_when(vol['last_data_at']))}"),
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


def _incident_html(w: Any, inc: dict[str, Any], explorer_url: str | None) -> None:
    c = inc["evidence"].get("condition", {})
    w(f"<div class=incident><h3>{_e(inc['rule'])} ({_e(inc['tier'])})"
      + (" — dry run" if inc["dry_run"] else "") + "</h3>")
    if inc["summary"]:
        w(f"<p>{_e(inc['summary'])}</p>")
    w("<table class=kv>")
    for k, val in (
        ("Incident id", f"<code>{_e(inc['id'])}</code>"),
        ("Opened (data time, UTC)", _e(_when(inc["opened_at"]))),
        ("State", _e(inc["state"])),
        ("Condition", (f"{_e(c.get('detector'))}.{_e(c.get('statistic'))} = {_num(c.get('observed'))} "
                      f"{_e(c.get('op'))} {_num(c.get('threshold'))}")),
        ("Decisive record", f"line {_num(inc['decisive_line'])}"),
        ("Evidence hash", f"<code>{_e(inc['evidence_hash'])}</code>"),
        ("Policy hash", f"<code>{_e(inc['policy_hash'])}</code>"),
    ):
        w(f"<tr><th>{_e(k)}</th><td>{val}</td></tr>")
    w("</table>")
    if inc["actions"]:
        w("<table><tr><th>action</th><th>status</th><th>transaction</th><th>block</th><th>note</th></tr>")
        for a in inc["actions"]:
            w(f"<tr><td>{_e(a['kind'])}</td><td>{_e(a['status'])}</td><td>{_link(explorer_url, 'tx', a['tx_hash'])}</td>"
              f"<td>{_link(explorer_url, 'block', a['block_number'])}</td><td>{_e(a['error'] or '')}</td></tr>")
        w("</table>")
    w("<table><tr><th>when (UTC)</th><th>clock</th><th>event</th><th>detail</th></tr>")
    for t in inc["timeline"]:
        w(f"<tr><td class=when>{_e(_when(t['at']))}</td><td>{_e(t['clock'])}</td><td>{_e(t['event'])}</td>"
          f"<td>{_e(t['detail'])}</td></tr>")
    w("</table>")
    if inc["acknowledgements"]:
        w("<table><tr><th>acknowledged by</th><th>at</th><th>note</th></tr>")
        for a in inc["acknowledgements"]:
            w(f"<tr><td>{_e(a['by'])}</td><td>{_e(a['at'])}</td><td>{_e(a['note'])}</td></tr>")
        w("</table>")
    else:
        w("<p class=muted>No steward has acknowledged this incident.</p>")
    w("</div>")
