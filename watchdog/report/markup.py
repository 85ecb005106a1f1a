"""What the report page and the evidence page share: the style sheet, the page head, value formatting.

Every string from data goes through :func:`esc`. The head's Content-Security-Policy forbids every
external resource (images only as ``data:``), so a page shows exactly what was written, offline.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["CSS", "duration", "esc", "link", "num", "page_head", "when"]

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
td.wrap{overflow-wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f8f9fa;padding:8px 10px}
.when{white-space:nowrap;font-variant-numeric:tabular-nums}img{display:block;max-width:100%;height:auto;margin:6px 0}
.muted{color:#5f6368}.kv th{width:230px}
.incident{border-left:4px solid #b3261e;padding:2px 0 2px 14px;margin:16px 0}.incident.noop{border-left-color:#9aa0a6}
.breach{color:#b3261e;font-weight:600}.ok{color:#1b7f3b}
"""


def esc(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def num(v: Any, fmt: str = "{:.4g}") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    return fmt.format(v)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    parts = [f"{d} d"] * bool(d) + [f"{h} h"] * bool(h) + [f"{m} min"] * bool(m)
    return " ".join(parts) or f"{s} s"


def when(text: str | None) -> str:
    """``2026-11-21T02:41:40.123Z`` as ``2026-11-21 02:41:40`` (the JSON keeps the full value)."""
    return "—" if not text else text.replace("T", " ").removesuffix("Z").split(".")[0]


def link(base: str | None, kind: str, value: Any) -> str:
    """``value`` in monospace, linked to ``base/kind/value`` (a block explorer) when a base is given."""
    if value is None:
        return "—"
    text = f"<span class=mono>{esc(value)}</span>"
    if not base:
        return text
    return f'<a href="{esc(base.rstrip("/"))}/{kind}/{esc(value)}">{text}</a>'


def page_head(title: str) -> str:
    """Everything up to and including ``<body>``."""
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>")
