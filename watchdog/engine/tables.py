"""A validated table into the models, in row order, with the decisions the same records make line by line.

:func:`run` takes a :class:`~watchdog.ingest.columnar.ValidTable` (validation is done: every row here is a
good prediction or a late label of a known model) and walks its rows as events in row order::

    ref    a row of a reference still being gathered: one Prediction object (a reference that spans tables)
    eval   every ``interval`` predictions of a model: its columns up to the row go to the detectors, then
           ``evaluate(runtime, ts, line)``
    label  a late label: the join (ids, inline label pairs, the model's clock) is brought up to its row first

Between events the rows are not touched one by one: they reach the detectors as column slices and the id
window as Arrow arrays. The whole reference of a model, when it lies in one table, is built from columns.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from watchdog.engine.model import ModelRuntime
from watchdog.ingest.columnar import ModelRows, ValidTable
from watchdog.ingest.records import Label, Prediction, Quarantined

Evaluate = Callable[[ModelRuntime, float, int], Any]


@dataclass
class TableResult:
    predictions: int = 0
    labels: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)


@dataclass
class _Progress:
    """How far the table's rows of one model have gone: into the join, into the columns, ids to commit."""

    post: np.ndarray  # the model's prediction rows after its reference
    ref_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    at: int = 0  # post[:at] are in the detectors' columns
    at_join: int = 0  # post[:at_join] are in the label join
    pending: list[np.ndarray] = field(default_factory=list)  # rows whose ids are not yet committed
    refs: Iterator[Prediction] | None = None


def run(runtimes: dict[str, ModelRuntime], valid: ValidTable, evaluate: Evaluate,
        on_unmatched: Callable[[str], None]) -> TableResult:
    """Feed each model's good rows of ``valid`` in row order (see the module docstring); ``on_unmatched(model)``
    is told of each late label whose prediction is not in the join."""
    res = TableResult()
    events: list[tuple[int, int, str, str]] = []  # (row, order, model, what)
    progress: dict[str, _Progress] = {}
    table_ids: list[list[str]] = []
    lines = valid.lines
    for mid, d in valid.per_model.items():
        rt = runtimes[mid]
        rows = d.rows
        n_ref = 0
        target = rt.reference_target
        pr = progress[mid] = _Progress(post=rows)
        if (not rt.ready and not rt.state.reference_rows and target is not None and rows.size >= target
                and not (d.labels.size and d.labels[0] < rows[target - 1])):
            rt.reference_from_rows(d, rows[:target])  # the common case, without row objects
            pr.pending.append(rows[:target])
            rows = rows[target:]
        elif not rt.ready:
            n_ref = rows.size if target is None else min(rows.size, max(target - len(rt.state.reference_rows), 0))
        post = rows[n_ref:]
        pr.ref_rows = rows[:n_ref]
        for r in rows[:n_ref]:
            events.append((int(r), 0, mid, "ref"))
        # a batch carried over a reload or a restart may already hold an interval's worth: evaluate at once
        due = max(1, rt.interval - rt.state.batch.n) if rt.ready else rt.interval
        for k in range(due - 1, post.size, rt.interval):
            events.append((int(post[k]), 1, mid, "eval"))
        for r in d.labels:
            events.append((int(r), 0, mid, "label"))
        pr.post = post
        res.predictions += int(d.rows.size)
        res.labels += int(d.labels.size)
    heapq.heapify(events)
    while events:
        row, _, mid, what = heapq.heappop(events)
        rt, d, pr = runtimes[mid], valid.per_model[mid], progress[mid]
        if what == "ref":  # the reference rows come before every other prediction of the model
            if pr.refs is None:
                pr.refs = iter(_predictions(rt, d, valid.ids, pr.ref_rows, lines))
            rt.add_prediction(next(pr.refs))
            continue
        _advance(rt, d, int(np.searchsorted(pr.post, row, side="right")), lines, pr, columns=what == "eval")
        if what == "eval":
            _commit(rt, d, valid.ids, pr, table_ids)
            evaluate(rt, float(d.ts[row]), int(lines[row]))
        else:
            if not table_ids:  # late labels: the table's ids as one Python list, made once
                table_ids.append(valid.ids.to_pylist())
            _commit(rt, d, valid.ids, pr, table_ids)
            value = d.label[row]
            lab = Label(mid, table_ids[0][row], value.item() if isinstance(value, np.floating) else value,
                        int(lines[row]))
            if not rt.add_label(lab):
                on_unmatched(mid)
    for mid, pr in progress.items():
        rt, d = runtimes[mid], valid.per_model[mid]
        _advance(rt, d, pr.post.size, lines, pr, columns=True)
        _commit(rt, d, valid.ids, pr, table_ids)
    return res


def _predictions(rt: ModelRuntime, d: ModelRows, ids: pa.Array, rows: np.ndarray,
                 lines: np.ndarray) -> list[Prediction]:
    """Row objects for the reference rows (a reference that spans tables is kept as rows)."""
    def listed(a: np.ndarray) -> list[Any]:
        vals = a[rows]
        out: list[Any] = vals.tolist()
        if vals.dtype.kind == "f":
            out = [None if v != v else v for v in out]  # NaN is missing
        return out

    names = (*rt.schema.numeric, *rt.schema.categorical)
    feats = [listed(d.cols[f]) for f in names]
    preds = listed(d.prediction)
    labels = [None if null else v for null, v in zip(d.label_null[rows].tolist(), listed(d.label), strict=True)]
    rids = ids.take(pa.array(rows)).to_pylist()
    versions = d.versions[rows].tolist()
    ts = d.ts[rows].tolist()
    ln = lines[rows].tolist()
    return [Prediction(rt.model_id, str(versions[k]), ts[k], rids[k], {f: feats[j][k] for j, f in enumerate(names)},
                       preds[k], labels[k], ln[k]) for k in range(rows.size)]


def _advance(rt: ModelRuntime, d: ModelRows, upto: int, lines: np.ndarray, pr: _Progress, *, columns: bool) -> None:
    """Take the model's rows ``post[:upto]``: into the label join (always), into the detectors' columns
    (when ``columns``: at an evaluation or the table's end; a late label needs only the join)."""
    if upto > pr.at_join:
        rows = pr.post[pr.at_join:upto]
        rt.join_rows(d, rows)
        pr.pending.append(rows)
        pr.at_join = upto
    if columns and upto > pr.at:
        rt.column_rows(d, pr.post[pr.at:upto], lines)
        pr.at = upto


def _commit(rt: ModelRuntime, d: ModelRows, ids: pa.Array, pr: _Progress, table_ids: list[list[str]]) -> None:
    """The predictions fed since the last commit into the model's recent ids and label join."""
    if not pr.pending:
        return
    rows = np.concatenate(pr.pending) if len(pr.pending) > 1 else pr.pending[0]
    pr.pending = []
    rt.commit_ids(d, ids, rows, table_ids)
