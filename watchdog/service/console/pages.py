"""The console's pages as HTML strings: the login, the incidents, one incident, the modules.

Every value from the store goes through :func:`watchdog.report.markup.esc`. Pages load one style sheet and
one script from ``/ui/static/``; the Content-Security-Policy the router sends allows nothing else (no
inline script, no inline style: the charts are styled by class).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

import rules
from watchdog.actions.outbox import OutboxItem
from watchdog.fmt import iso_utc
from watchdog.report.markup import esc, link, num, when
from watchdog.service.console.chart import evidence_chart, series_chart
from watchdog.store.store import Incident

__all__ = ["incident_page", "incidents_page", "login_page", "message_page", "modules_page"]


def _time(iso: str | None) -> str:
    """A UTC time; the script adds the reader's local time as a tooltip."""
    if not iso:
        return "—"
    return f'<time datetime="{esc(iso)}">{esc(when(iso))}</time>'


def layout(title: str, body: str, *, name: str | None = None, csrf: str | None = None) -> str:
    """The page around ``body``: navigation, and a logout button when someone is logged in."""
    nav = '<nav><a href="/ui/incidents">Incidents</a> <a href="/ui/modules">Modules</a>'
    if name is not None and csrf is not None:
        nav += (f'<form class="logout" method="post" action="/ui/logout"><input type="hidden" name="csrf" '
                f'value="{esc(csrf)}"><span class="muted">{esc(name)}</span> '
                '<button type="submit" id="logout">Log out</button></form>')
    nav += "</nav>"
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} · watchdog console</title>"
            '<link rel="icon" href="data:,"><link rel="stylesheet" href="/ui/static/console.css">'
            '<script src="/ui/static/console.js" defer></script></head><body>'
            f"{nav}{body}</body></html>\n")


def _hidden(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(csrf)}">'


def login_page(*, csrf: str, next_url: str, error: str | None = None, name: str = "") -> str:
    err = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    body = (f"<h1>Steward console</h1><p class=sub>Log in with one of the watchdog's API tokens.</p>{err}"
            '<form class="login" method="post" action="/ui/login">'
            f'{_hidden(csrf)}<input type="hidden" name="next" value="{esc(next_url)}">'
            '<label>Your name <span class="muted">(recorded with your acknowledgements and vetoes)</span>'
            f'<input name="name" id="name" required maxlength="200" autocomplete="username" value="{esc(name)}">'
            '</label><label>API token<input name="token" id="token" type="password" required '
            'autocomplete="current-password"></label><button type="submit" id="login">Log in</button></form>')
    return layout("Log in", body)


def message_page(title: str, text: str, **kw: Any) -> str:
    return layout(title, f'<h1>{esc(title)}</h1><p class="error" role="alert">{esc(text)}</p>'
                         '<p><a href="/ui/incidents">Back to the incidents</a></p>', **kw)


def _actions_summary(actions: list[dict[str, Any]]) -> str:
    return ", ".join(f"{esc(a['kind'])} <span class=\"status {esc(a['status'])}\">{esc(a['status'])}</span>"
                     for a in actions) or '<span class="muted">—</span>'


def incidents_page(rows: list[dict[str, Any]], **kw: Any) -> str:
    n_open = sum(1 for r in rows if r["state"] == "open")
    out = [f"<h1>Incidents</h1><p class=sub>{n_open} open; open incidents first, newest first.</p>"]
    if not rows:
        out.append("<p class=muted>No incident has been recorded.</p>")
    else:
        out.append('<table class="incidents"><tr><th>state</th><th>opened (data time, UTC)</th><th>model</th>'
                   "<th>rule</th><th>tier</th><th>actions</th><th>acks</th></tr>")
        for r in rows:
            rule = esc(r["rule"]) + (" <span class=muted>(dry run)</span>" if r["dry_run"] else "")
            out.append(f'<tr class="state-{esc(r["state"])}"><td>{esc(r["state"])}</td><td>{_time(r["opened_at"])}'
                       f'</td><td>{esc(r["model"])}</td><td><a class="incident-link" href="/ui/incidents/'
                       f'{esc(r["id"])}">{rule}</a></td><td>{esc(r["tier"])}</td>'
                       f'<td>{_actions_summary(r["actions"])}</td><td class=num>{r["acks"]}</td></tr>')
        out.append("</table>")
    return layout("Incidents", "".join(out), **kw)


def _kv(rows: list[tuple[str, str]]) -> str:
    return ("<table class=kv>" + "".join(f"<tr><th>{esc(k)}</th><td class=wrap>{v}</td></tr>" for k, v in rows)
            + "</table>")


def _chart(s: dict[str, Any] | None) -> str:
    if s is None:
        return ""
    if s["points"]:
        svg = series_chart(s["points"], threshold=s["threshold"], decided_at=s["decided_at"], op=s["op"],
                           changed_at=s["changed_at"], window=s["window"], label=s["label"])
        note = (f"{len(s['points'])} evaluation(s) of {esc(s['label'])} as the store recorded them; the line "
                "across is the threshold, the solid mark the decision, the dashed mark where the change began, "
                "the band the evidence's window of records.")
        return (f'<figure class="statistic">{svg}<figcaption><output class="readout" aria-live="polite">'
                f"</output> {note}</figcaption></figure>")
    svg = evidence_chart(s["observed"], s["threshold"], s["op"], s["label"])
    return (f'<figure class="statistic">{svg}<figcaption>The store holds no evaluations of {esc(s["label"])} '
            "around the decision (it keeps them when the evaluation recorder runs), so this shows what the "
            "evidence holds: the observed value against the threshold.</figcaption></figure>")


def _rule_block(lines: Sequence[str]) -> list[str]:
    """The lines of one YAML list item: its first line, then every blank or more indented line."""
    if not lines:
        return []
    first = lines[0]
    indent = len(first) - len(first.lstrip(" "))
    out = [first]
    for ln in lines[1:]:
        if ln.strip() and len(ln) - len(ln.lstrip(" ")) <= indent:
            break
        out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    return out


def policy_lines(policy: rules.Policy | None, inc: Incident) -> str:
    """The rule that fired: its lines in the policy file when the policy in force is the one that fired."""
    if policy is None:
        return "<p class=muted>No policy is loaded in this process; the condition above is the evidence's.</p>"
    if inc.policy_hash and policy.hash != inc.policy_hash:
        return (f"<p class=muted>The policy in force now (hash <code>{esc(policy.hash[:16])}</code>…) is not the "
                f"one that fired (hash <code>{esc(inc.policy_hash[:16])}</code>…); the condition above is the "
                "evidence's.</p>")
    try:
        rule = policy.rule(inc.rule)
        where = policy.rule_source(inc.rule)
    except KeyError:
        return f"<p class=muted>The policy has no rule {esc(inc.rule)}.</p>"
    text: str | None = None
    if where is not None:
        file, _, line = where.rpartition(":")
        try:
            lines = Path(file).read_text().splitlines()
            block = _rule_block(lines[int(line) - 1:])
            text = "\n".join(f"{int(line) + k:>4}  {ln}" for k, ln in enumerate(block))
        except (OSError, ValueError):
            text = None
    head = f"<p>Rule <b>{esc(rule.name)}</b>" + (f" at <code>{esc(where)}</code>" if where else "") + "</p>"
    if text is None:  # a policy built in code, or a file gone: the rule as the loaded policy holds it
        text = yaml.safe_dump(rule.model_dump(mode="json", by_alias=True, exclude_defaults=True), sort_keys=False)
    extra = ""
    url = rule.annotations.runbook_url
    if url:
        extra = f'<p>Runbook: <a href="{esc(url)}" rel="noreferrer">{esc(url)}</a></p>'
    return f'{head}<pre class="policy">{esc(text)}</pre>{extra}'


def _record(line: Any, record: Any, at: str | None) -> str:
    """The decisive record: its line in the source, its id when the evidence names it, its data time."""
    text = f"line {num(line)}"
    if isinstance(record, dict) and record.get("id") is not None:
        text += f", record <code>{esc(record['id'])}</code>"
    return f"{text} at {_time(at)}"


def _window(window: Any) -> str:
    """The records the detector's window spanned: how many, first and last (ids or lines), data times."""
    if not isinstance(window, dict) or not window:
        return "—"
    first = window.get("first_id", window.get("first_line"))
    last = window.get("last_id", window.get("last_line"))
    what = "records" if "first_id" in window else "lines"
    text = (f"{num(window.get('records'))} record(s), {what} <code>{esc(first)}</code> to <code>{esc(last)}</code>, "
            f"{_time(window.get('first_ts'))} to {_time(window.get('last_ts'))}")
    if window.get("merkle_root"):
        text += f"<br><span class=muted>Merkle root</span> <code>{esc(window['merkle_root'])}</code>"
    return text


def _change(change: Any) -> str:
    """Where the detector places the change's start: the record (its line or id) and its data time."""
    if not isinstance(change, dict) or not change:
        return "not estimated by this detector"
    parts = []
    if change.get("line") is not None:
        parts.append(f"line {num(change['line'])}")
    if change.get("id") is not None:
        parts.append(f"record <code>{esc(change['id'])}</code>")
    text = ", ".join(parts) or "a record no longer among the recent ones"
    if change.get("ts"):
        text += f" at {_time(change['ts'])}"
    if change.get("values_since") is not None:
        text += f" ({num(change['values_since'])} value(s) before the decision)"
    return text


def _evidence(inc: Incident, view: dict[str, Any], s: dict[str, Any] | None, policy: rules.Policy | None) -> str:
    ev = view["evidence"]
    if view["kind"] == "manual":
        what = f"{view['action']} of module {view['module']}" + (
            f" to version {view['target_version']}" if view["target_version"] is not None else "")
        return ("<h2>What the steward did</h2>" + _kv([
            ("What", esc(what)), ("By", f"<code>{esc(view['by'])}</code>"),
            ("When (the steward's clock, UTC)", _time(view["at"])), ("Why", esc(view["reason"] or "—")),
            ("Outcome", esc(view["outcome"]))]))
    c = ev.get("condition") or {}
    window = ev.get("window") or {}
    rows = [
        ("Condition", f"{esc(c.get('detector'))}.{esc(c.get('statistic'))} = <b>{num(c.get('observed'))}</b> "
                      f"{esc(c.get('op'))} {num(c.get('threshold'))}"),
        ("Held for", f"{num(ev.get('consecutive_evaluations'))} consecutive evaluation(s)"),
        ("Decisive record", _record(view["decisive_line"], ev.get("decisive_record"), view["opened_at"])),
        ("Where the change began", _change(ev.get("change"))),
        ("Records' window", _window(window)),
    ]
    for k, cond in enumerate(ev.get("conditions") or [], 1):
        if isinstance(cond, dict):
            rows.append((f"Condition {k} of the compound",
                         esc(", ".join(f"{a}: {b}" for a, b in sorted(cond.items())))))
    detector = ev.get("detector") or {}
    if detector:
        text = f"{detector.get('kind')} on {detector.get('feature') or 'the prediction'}"
        if detector.get("window_samples") is not None:
            text += f", {detector['window_samples']} sample(s) in its window"
        if detector.get("samples_seen") is not None:
            text += f", {detector['samples_seen']} seen"
        rows.append(("Detector", esc(text)))
    return ("<h2>Evidence</h2>" + _chart(s) + _kv(rows) + "<h3>The policy lines that fired</h3>"
            + policy_lines(policy, inc))


def _actions(view: dict[str, Any], held: list[OutboxItem], confirmed: dict[str, int], csrf: str | None,
             explorer_url: str | None) -> str:
    out = ["<h2>Actions</h2>"]
    if not view["actions"]:
        out.append("<p class=muted>No on-chain action was recorded for this incident.</p>")
    else:
        out.append('<table class="actions"><tr><th>action</th><th>module</th><th>status</th><th>transaction</th>'
                   "<th>block</th><th>confirmations</th><th>note</th></tr>")
        for a in view["actions"]:
            depth = confirmed.get(a["kind"])
            out.append(f'<tr class="action-{esc(a["kind"])}"><td>{esc(a["kind"])}</td><td>{esc(a["module"])}</td>'
                       f'<td class="status {esc(a["status"])}">{esc(a["status"])}</td>'
                       f"<td>{link(explorer_url, 'tx', a['tx_hash'])}</td>"
                       f"<td>{link(explorer_url, 'block', a['block_number'])}</td>"
                       f"<td class=num>{num(depth)}</td><td class=wrap>{esc(a['note'] or '')}</td></tr>")
        out.append("</table>")
    if held:
        what = ", ".join(f"{i.kind} of module {i.module}" + (
            f" (held until {when(iso_utc(i.not_before))} UTC)" if i.not_before else "") for i in held)
        if csrf is None:
            out.append(f"<p>Waiting for a steward's veto: {esc(what)}. <a href=\"/ui/login\">Log in</a> to veto.</p>")
        else:
            out.append(f'<form class="veto" method="post" action="/ui/incidents/{esc(view["id"])}/veto">'
                       f"{_hidden(csrf)}<p>Not sent yet: {esc(what)}. A veto cancels it; it is audited with "
                       'your name.</p><label>Reason<input name="reason" id="veto-reason" required maxlength="2000">'
                       '</label><button type="submit" id="veto">Veto</button></form>')
    return "".join(out)


def _short(text: Any, limit: int = 300) -> str:
    """A timeline detail cut to ``limit`` characters (an audit entry may carry a whole Merkle leaf list; the
    evidence at the end of the page is complete)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _timeline(events: list[dict[str, Any]]) -> str:
    out = ['<h2>Timeline</h2><table class="timeline"><tr><th>when (UTC)</th><th>clock</th><th>event</th>'
           "<th>detail</th></tr>"]
    for t in events:
        out.append(f'<tr class="event-{esc(t["event"])}"><td class=when>{_time(t["at"])}</td><td>{esc(t["clock"])}'
                   f"</td><td>{esc(t['event'])}</td><td class=wrap>{esc(_short(t['detail']))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _acks(view: dict[str, Any], state: str, csrf: str | None) -> str:
    out = ["<h2>Acknowledgements</h2>"]
    if view["acknowledgements"]:
        out.append('<table class="acks"><tr><th>by</th><th>at (UTC)</th><th>note</th></tr>')
        for a in view["acknowledgements"]:
            out.append(f"<tr><td>{esc(a['by'])}</td><td class=when>{_time(a['at'])}</td><td>{esc(a['note'])}</td>"
                       "</tr>")
        out.append("</table>")
    else:
        out.append("<p class=muted>No steward has acknowledged this incident.</p>")
    if csrf is not None:
        label = "Acknowledge" if state == "open" else "Add an acknowledgement"
        out.append(f'<form class="ack" method="post" action="/ui/incidents/{esc(view["id"])}/ack">{_hidden(csrf)}'
                   "<label>Note"
                   '<input name="note" id="ack-note" maxlength="4000"></label>'
                   f'<button type="submit" id="ack">{label}</button></form>')
    return "".join(out)


def incident_page(inc: Incident, view: dict[str, Any], *, s: dict[str, Any] | None, held: list[OutboxItem],
                  confirmed: dict[str, int], timeline: list[dict[str, Any]], policy: rules.Policy | None,
                  csrf: str | None, name: str | None, notice: str | None = None, error: str | None = None,
                  explorer_url: str | None = None) -> str:
    """One incident; ``csrf`` None renders it read-only (no forms)."""
    manual = view["kind"] == "manual"
    title = (f"Manual {view['action']} of module {view['module']}" if manual
             else f"{view['rule']} on model {view['model']}")
    out = [f"<h1>{esc(title)}</h1><p class=sub>{esc(view.get('tier') or 'manual')} · "
           f'<span class="state {esc(inc.state)}" id="state">{esc(inc.state)}</span>'
           + (" · dry run" if inc.dry_run else "") + f" · <code>{esc(inc.id)}</code></p>"]
    if csrf is None:
        out.append('<p class="readonly">Read-only view. <a href="/ui/login">Log in</a> to acknowledge or veto.</p>')
    if notice:
        out.append(f'<p class="notice" role="status">{esc(notice)}</p>')
    if error:
        out.append(f'<p class="error" role="alert">{esc(error)}</p>')
    if view.get("summary"):
        out.append(f"<p class=summary>{esc(view['summary'])}</p>")
    out.append(_evidence(inc, view, s, policy))
    out.append(_actions(view, held, confirmed, csrf, explorer_url))
    out.append(_timeline(timeline))
    out.append(_acks(view, inc.state, csrf))
    out.append("<details><summary>Evidence as stored</summary><p class=muted>Its keccak-256 over canonical JSON is "
               f"the evidence hash <code>{esc(inc.evidence_hash)}</code>.</p>"
               f"<pre>{esc(json.dumps(view['evidence'], indent=1, sort_keys=True))}</pre></details>")
    return layout(title, "".join(out), name=name, csrf=csrf)


def modules_page(rows: list[dict[str, Any]], *, live: bool, explorer_url: str | None = None, **kw: Any) -> str:
    src = ("read from the monitor contract now" if live else
           "as the watchdog's outbox recorded its own mined actions (no chain reader is given to the console; "
           "<code>watchdog status --rpc-url URL --monitor ADDR</code> reads the chain)")
    out = [f"<h1>Modules</h1><p class=sub>Each module's on-chain state, {src}.</p>"]
    if not rows:
        out.append("<p class=muted>No module: no policy is loaded and the outbox is empty.</p>")
    else:
        out.append('<table class="modules"><tr><th>module</th><th>models</th><th>on-chain state</th>'
                   "<th>last on-chain action of the watchdog</th><th>pending</th></tr>")
        for r in rows:
            if r["live"] is not None:
                lv = r["live"]
                state = ("not registered" if not lv["registered"] else
                         f"<b class=breach>PAUSED</b>, version {lv['active_version']}" if lv["paused"] else
                         f"<span class=ok>active</span>, version {lv['active_version']}")
            elif r["live_error"]:
                state = f'<span class="error">unreadable: {esc(r["live_error"])}</span>'
            else:
                state = '<span class="muted">not read</span>'
            last = r["last_on_chain"]
            last_text = "—" if last is None else (
                f'{esc(last.kind)} {esc(last.status)} in block {link(explorer_url, "block", last.block_number)} '
                f'(tx {link(explorer_url, "tx", last.tx_hash)}), incident <a href="/ui/incidents/'
                f'{esc(last.incident_id)}"><code>{esc(last.incident_id[:12])}…</code></a>')
            pending = ", ".join(f'<a href="/ui/incidents/{esc(i.incident_id)}">{esc(i.kind)} {esc(i.status)}</a>'
                                for i in r["open"]) or "—"
            mid = f'<br><code class="muted">{esc(r["module_id"])}</code>' if r["module_id"] else ""
            out.append(f'<tr class="module"><td>{esc(r["module"])}{mid}</td><td>{esc(", ".join(r["models"]))}</td>'
                       f"<td>{state}</td><td class=wrap>{last_text}</td><td>{pending}</td></tr>")
        out.append("</table>")
    return layout("Modules", "".join(out), **kw)
