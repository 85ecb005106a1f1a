"""The incident's statistic against its threshold, as an inline SVG drawn from the store's numbers.

The series is what the evaluation recorder kept (``evaluation_stats``: one value per evaluation of the
rule's detector statistic, at the data time of the evaluation). The chart marks the threshold, the
decision, where the change began and the evidence's window of records. Without a series (a store written
without the recorder, or a statistic it does not keep) :func:`evidence_chart` draws the two numbers the
evidence holds, the observed value and the threshold, and says so.

>>> svg = series_chart([(0.0, 0.1), (60.0, 0.2), (120.0, 0.9)], threshold=0.5, decided_at=120.0)
>>> svg.count("<polyline"), "class=\\"threshold\\"" in svg
(1, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from watchdog.report.markup import esc, num

__all__ = ["evidence_chart", "series_chart"]

W, H = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 36


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _time_label(t: float, span: float) -> str:
    dt = datetime.fromtimestamp(t, tz=UTC)
    return dt.strftime("%H:%M:%S" if span < 600 else "%H:%M" if span < 2 * 86400 else "%m-%d %H:%M")


def series_chart(points: Sequence[tuple[float, float | None]], *, threshold: float | None, decided_at: float,
                 op: str = ">", changed_at: float | None = None, window: tuple[float, float] | None = None,
                 label: str = "statistic") -> str:
    """An SVG line chart of ``(time, value)`` (None: not finite, a gap) with the marks of the decision."""
    finite = [(t, v) for t, v in points if v is not None and math.isfinite(v)]
    times = [t for t, _ in points] + [decided_at] + ([changed_at] if changed_at is not None else [])
    if window is not None:
        times += list(window)
    t0, t1 = min(times), max(times)
    if t1 <= t0:
        t0, t1 = t0 - 1.0, t1 + 1.0
    values = [v for _, v in finite] + ([threshold] if threshold is not None else [])
    positive = [v for v in values if v > 0]
    # p-values fall through many decades: a log axis when every value is >= 0 and they span 4 or more
    log = bool(positive) and min(values) >= 0 and max(positive) / min(positive) >= 1e4
    floor = min(positive) if log else 0.0

    def scale(v: float) -> float:
        return math.log10(max(v, floor)) if log else v

    scaled = [scale(v) for v in values]
    lo, hi = (min(scaled), max(scaled)) if scaled else (0.0, 1.0)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return TOP + (hi - scale(v)) / (hi - lo) * ph

    out = [f'<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{esc(label)} against its threshold around the decision" '
           f'data-points="{esc(json.dumps([[t, v] for t, v in finite]))}" data-x0="{t0}" data-x1="{t1}" '
           f'data-y0="{lo}" data-y1="{hi}" data-left="{LEFT}" data-top="{TOP}" data-pw="{pw}" data-ph="{ph}" '
           f'data-log="{int(log)}" data-floor="{floor}">']
    if window is not None:
        wx0, wx1 = x(window[0]), x(window[1])
        out.append(f'<rect class="window" x="{wx0:.1f}" y="{TOP}" width="{max(wx1 - wx0, 1.0):.1f}" '
                   f'height="{ph}"><title>the evidence window of records</title></rect>')
    for k in _ticks(lo, hi):
        v, text = (10.0 ** k, f"1e{k:g}") if log else (k, num(k))
        if log and k != round(k):
            continue  # decades only
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{esc(text)}</text>')
    if log:
        out.append(f'<text class="tick" x="4" y="{TOP + 10}">log scale</text>')
    for t in _ticks(t0, t1):
        out.append(f'<text class="tick" x="{x(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">'
                   f'{esc(_time_label(t, t1 - t0))}</text>')
    out.append(f'<text class="tick" x="{W - RIGHT}" y="{H - 4}" text-anchor="end">data time (UTC)</text>')
    if threshold is not None:
        out.append(f'<line class="threshold" x1="{LEFT}" x2="{W - RIGHT}" y1="{y(threshold):.1f}" '
                   f'y2="{y(threshold):.1f}"><title>threshold: {esc(label)} {esc(op)} {esc(num(threshold))}'
                   f'</title></line>')
    if changed_at is not None:
        out.append(f'<line class="change" x1="{x(changed_at):.1f}" x2="{x(changed_at):.1f}" y1="{TOP}" '
                   f'y2="{TOP + ph}"><title>where the change began</title></line>')
    out.append(f'<line class="decision" x1="{x(decided_at):.1f}" x2="{x(decided_at):.1f}" y1="{TOP}" '
               f'y2="{TOP + ph}"><title>the decision</title></line>')
    run: list[str] = []
    for t, value in points:  # a non-finite value breaks the line
        if value is None or not math.isfinite(value):
            if len(run) > 1:
                out.append(f'<polyline class="series" points="{" ".join(run)}"/>')
            run = []
            continue
        run.append(f"{x(t):.1f},{y(value):.1f}")
    if len(run) > 1:
        out.append(f'<polyline class="series" points="{" ".join(run)}"/>')
    elif len(run) == 1:
        cx, cy = run[0].split(",")
        out.append(f'<circle class="point" cx="{cx}" cy="{cy}" r="3"/>')
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>')
    out.append('<circle class="marker" cx="-10" cy="-10" r="4"/></svg>')
    return "".join(out)


def evidence_chart(observed: float | None, threshold: float | None, op: str, label: str) -> str:
    """Two bars, the observed value and the threshold: all the evidence says when the store has no series."""
    values = [v for v in (observed, threshold) if v is not None and math.isfinite(v)]
    hi = max([abs(v) for v in values] + [1e-12]) * 1.15
    bw, gap, h = 420, 30, 22
    out = [f'<svg class="chart bars" viewBox="0 0 {LEFT + bw + 140} {2 * h + gap + 20}" width="{LEFT + bw + 140}" '
           f'height="{2 * h + gap + 20}" role="img" aria-label="{esc(label)} observed against the threshold">']
    for i, (name, v, cls) in enumerate((("observed", observed, "series"), ("threshold", threshold, "threshold"))):
        top = 10 + i * (h + gap)
        width = 0.0 if v is None or not math.isfinite(v) else abs(v) / hi * bw
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{top + h - 6}" text-anchor="end">{name}</text>'
                   f'<rect class="bar {cls}" x="{LEFT}" y="{top}" width="{width:.1f}" height="{h}"/>'
                   f'<text class="tick" x="{LEFT + width + 6:.1f}" y="{top + h - 6}">{esc(num(v))}'
                   f'{" (" + esc(op) + ")" if cls == "threshold" else ""}</text>')
    out.append("</svg>")
    return "".join(out)
