"""An incident view (:func:`watchdog.report.incidents.incident_view`) as HTML: a block of the weekly
report, or a page of its own (the evidence page the API serves to the person paged).

A rule incident shows its two clocks (the decisive record's data time, and when the watchdog detected
it), the condition, the decisive line and record index, the hashes. A manual action shows who did what,
when and why, and what became of it; it has no rule fields, so none are shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from watchdog.report.markup import duration, esc, link, num, page_head, when

__all__ = ["incident_html", "manual_html", "render_incident_page"]

Write = Callable[[str], Any]


def _kv(w: Write, rows: list[tuple[str, str]]) -> None:
    w("<table class=kv>")
    for k, val in rows:
        w(f"<tr><th>{esc(k)}</th><td class=wrap>{val}</td></tr>")
    w("</table>")


def _detected(inc: dict[str, Any]) -> str:
    if not inc["detected_at"]:
        return "—"
    text = esc(when(inc["detected_at"]))
    lag = (datetime.fromisoformat(inc["detected_at"]) - datetime.fromisoformat(inc["opened_at"])).total_seconds()
    if lag >= 60:
        text += (f" <span class=muted>({esc(duration(lag))} after the data time: a replay, or records that came "
                 "late)</span>")
    return text


def _actions(w: Write, actions: list[dict[str, Any]], explorer_url: str | None) -> None:
    if not actions:
        return
    w("<table><tr><th>action</th><th>status</th><th>transaction</th><th>block</th><th>note</th></tr>")
    for a in actions:
        w(f"<tr><td>{esc(a['kind'])}</td><td>{esc(a['status'])}</td><td>{link(explorer_url, 'tx', a['tx_hash'])}</td>"
          f"<td>{link(explorer_url, 'block', a['block_number'])}</td><td class=wrap>{esc(a['note'] or '')}</td></tr>")
    w("</table>")


def _timeline(w: Write, inc: dict[str, Any]) -> None:
    w("<table><tr><th>when (UTC)</th><th>clock</th><th>event</th><th>detail</th></tr>")
    for t in inc["timeline"]:
        w(f"<tr><td class=when>{esc(when(t['at']))}</td><td>{esc(t['clock'])}</td><td>{esc(t['event'])}</td>"
          f"<td class=wrap>{esc(t['detail'])}</td></tr>")
    w("</table>")


def _acks(w: Write, inc: dict[str, Any], say_none: bool) -> None:
    if inc["acknowledgements"]:
        w("<table><tr><th>acknowledged by</th><th>at (UTC)</th><th>note</th></tr>")
        for a in inc["acknowledgements"]:
            w(f"<tr><td>{esc(a['by'])}</td><td class=when>{esc(when(a['at']))}</td><td>{esc(a['note'])}</td></tr>")
        w("</table>")
    elif say_none:
        w("<p class=muted>No steward has acknowledged this incident.</p>")


def incident_html(w: Write, inc: dict[str, Any], explorer_url: str | None) -> None:
    """A rule incident (``kind == "rule"``)."""
    c = inc["evidence"].get("condition", {})
    w(f"<div class=incident><h3>{esc(inc['rule'])} ({esc(inc['tier'])})"
      + (" — dry run" if inc["dry_run"] else "") + "</h3>")
    if inc["summary"]:
        w(f"<p>{esc(inc['summary'])}</p>")
    index = inc["decisive_record_index"]
    _kv(w, [
        ("Incident id", f"<code>{esc(inc['id'])}</code>"),
        ("Data time of the decisive record (UTC)", esc(when(inc["opened_at"]))),
        ("Detected by the watchdog (its clock, UTC)", _detected(inc)),
        ("State", esc(inc["state"])),
        ("Condition", (f"{esc(c.get('detector'))}.{esc(c.get('statistic'))} = {num(c.get('observed'))} "
                       f"{esc(c.get('op'))} {num(c.get('threshold'))}")),
        ("Decisive record", f"line {num(inc['decisive_line'])}" + (
            f" (record index {num(index)}: the model's prediction number {num(index + 1)})" if index is not None
            else "")),
        ("Where the change began", (f"line {num(inc['changed_at_line'])} (data time {esc(when(inc['changed_at']))}),"
                                    f" detected at line {num(inc['decisive_line'])}")
         if inc.get("changed_at_line") is not None else "not estimated by this detector"),
        ("Evidence hash", f"<code>{esc(inc['evidence_hash'])}</code>"),
        ("Policy hash", f"<code>{esc(inc['policy_hash'])}</code>"),
    ])
    _actions(w, inc["actions"], explorer_url)
    _timeline(w, inc)
    _acks(w, inc, say_none=True)
    w("</div>")


def manual_html(w: Write, m: dict[str, Any], explorer_url: str | None) -> None:
    """A steward's manual action (``kind == "manual"``): who, what, when, why, and what became of it."""
    what = f"{m['action']} of module {m['module']}" + (
        f" to version {m['target_version']}" if m["target_version"] is not None else "")
    w(f"<div class=\"incident{'' if m['reached_chain'] else ' noop'}\"><h3>Manual {esc(what)}</h3>")
    _kv(w, [
        ("By", f"<code>{esc(m['by'])}</code>"),
        ("When (the steward's clock, UTC)", esc(when(m["at"]))),
        ("Why", esc(m["reason"] or "—")),
        ("Outcome", esc(m["outcome"])),
        ("Incident id", f"<code>{esc(m['id'])}</code>"),
        ("Evidence hash", f"<code>{esc(m['evidence_hash'])}</code>"),
    ])
    _actions(w, m["actions"], explorer_url)
    _timeline(w, m)
    _acks(w, m, say_none=False)
    w("</div>")


def render_incident_page(view: dict[str, Any], explorer_url: str | None = None) -> str:
    """One incident as a self-contained, read-only HTML page, its stored evidence in full at the end."""
    out: list[str] = []
    w = out.append
    manual = view["kind"] == "manual"
    title = (f"manual {view['action']} of module {view['module']}" if manual
             else f"{view['rule']} on model {view['model']}")
    w(page_head(f"Incident evidence: {title}"))
    w(f"<h1>Incident evidence</h1><p class=sub>{esc(title)}</p>")
    (manual_html if manual else incident_html)(w, view, explorer_url)
    w("<h2>Evidence as stored</h2><p class=muted>The evidence hash is keccak-256 of this object as canonical "
      "JSON (sorted keys, no whitespace). This page is read-only; a steward acknowledges with "
      f"<code>POST /v1/incidents/{esc(view['id'])}/ack</code> and a token.</p>")
    w(f"<pre>{esc(json.dumps(view['evidence'], indent=1, sort_keys=True))}</pre>")
    w("</body></html>\n")
    return "".join(out)
