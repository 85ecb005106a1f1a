"""Keep what every evaluation saw, so a weekly report can be rebuilt from the store alone.

An :class:`EvaluationRecorder` is an engine observer (``Engine.observers``): after each evaluation it
writes one ``evaluations`` row (data time, decisive line, policy hash, model versions in the batch, the
counts since the previous evaluation) and one ``evaluation_stats`` row per detector statistic, with the
thresholds of the rules that read it. Both go in one transaction. Keys are data time and line, so a
replay of the same log adds nothing.

Quarantined records often name no model (bad JSON, unknown model), so quarantine counts are those of the
whole source, written with whichever model evaluates next: a report sums them over every model.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rules import Signal
from watchdog.fmt import finite
from watchdog.store.store import Store

__all__ = ["EvaluationRecorder"]


class EvaluationRecorder:
    """An engine observer writing each evaluation's statistics and counts to ``store``."""

    def __init__(self, store: Store):
        self.store = store
        self._last: dict[str, tuple[int, int, int]] = {}  # model -> predictions, labels, unmatched
        self._quarantined = 0
        self._reasons: dict[str, int] = {}
        self._thresholds: dict[tuple[str, str, str], str | None] = {}
        self._rows: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}  # model -> last key and its counts
        self._resumed = False
        self._started = False

    def rebase(self, engine: Any) -> None:
        """Say that ``engine`` was restored from a checkpoint: its totals go on from an earlier process.

        Each model's first evaluation then counts from the totals of the row before it in the store (the
        last evaluation that process recorded), not from zero, so nothing is counted twice or lost.
        """
        self._resumed, self._started = True, False
        self._last.clear()
        self._rows.clear()

    def _baseline(self, engine: Any, rt: Any, at: float, line: int) -> None:
        if rt.model_id in self._last:
            return
        before = "(at < ? OR (at = ? AND line < ?)) ORDER BY at DESC, line DESC LIMIT 1"
        prev = None
        if self._resumed:
            prev = self.store.query_one(f"SELECT totals FROM evaluations WHERE model = ? AND {before}",
                                        (rt.model_id, at, at, line))
        t = json.loads(prev["totals"]) if prev else {}
        self._last[rt.model_id] = (t.get("predictions", 0), t.get("labels", 0), t.get("labels_unmatched", 0))
        if not self._started:
            self._started = True
            q = None
            if self._resumed:
                q = self.store.query_one(f"SELECT totals FROM evaluations WHERE {before}", (at, at, line))
            qt = json.loads(q["totals"]) if q else {}
            self._quarantined = qt.get("quarantined", 0)
            self._reasons = dict(qt.get("reasons", {}))

    def __call__(self, engine: Any, rt: Any, signals: dict[str, Signal], now: datetime, line: int) -> None:
        self._baseline(engine, rt, now.timestamp(), line)
        counts = (rt.n_predictions, rt.n_labels_joined, rt.n_labels_unmatched)
        last = self._last[rt.model_id]
        self._last[rt.model_id] = counts
        d_pred, d_lab, d_unm = (c - p for c, p in zip(counts, last, strict=True))
        d_quar = engine.n_quarantined - self._quarantined
        self._quarantined = engine.n_quarantined
        d_reasons = {k: v - self._reasons.get(k, 0) for k, v in engine.quarantine_by_reason.items()
                     if v - self._reasons.get(k, 0)}
        self._reasons = dict(engine.quarantine_by_reason)
        totals = json.dumps({"predictions": counts[0], "labels": counts[1], "labels_unmatched": counts[2],
                             "quarantined": engine.n_quarantined, "reasons": self._reasons}, sort_keys=True)
        recent = list(rt.versions)
        versions = sorted(set(recent[-d_pred:] if d_pred <= len(recent) else recent)) if d_pred > 0 else []
        key = (rt.model_id, now.timestamp(), line, engine.policy.hash)
        row = {"predictions": d_pred, "labels": d_lab, "labels_unmatched": d_unm, "quarantined": d_quar,
               "reasons": d_reasons, "versions": versions}
        prev = self._rows.get(rt.model_id)
        merge = prev is not None and prev[0] == key
        if merge:
            # The end-of-stream evaluation (late labels after the last prediction) has the same data time and
            # line as the one before it: fold its counts into that row, with absolute values, so a replay
            # writes the same numbers again.
            assert prev is not None
            old = prev[1]
            row = {k: old[k] + row[k] for k in ("predictions", "labels", "labels_unmatched", "quarantined")} | {
                "reasons": {r: old["reasons"].get(r, 0) + row["reasons"].get(r, 0)
                            for r in old["reasons"].keys() | row["reasons"].keys()},
                "versions": sorted(set(old["versions"]) | set(versions))}
        self._rows[rt.model_id] = (key, row)
        values = (json.dumps(row["versions"]), row["predictions"], row["labels"], row["labels_unmatched"],
                  row["quarantined"], json.dumps(row["reasons"], sort_keys=True), totals)
        with self.store.transaction() as s:
            if merge:
                s.execute(
                    "UPDATE evaluations SET versions = ?, predictions = ?, labels = ?, labels_unmatched = ?,"
                    " quarantined = ?, quarantine_reasons = ?, totals = ? WHERE model = ? AND at = ? AND line = ?"
                    " AND policy_hash = ?", (*values, *key))
            else:
                s.execute(
                    "INSERT INTO evaluations (model, at, line, policy_hash, versions, predictions, labels,"
                    " labels_unmatched, quarantined, quarantine_reasons, totals) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT DO NOTHING", (*key, *values))
            on_conflict = ("ON CONFLICT (model, at, line, policy_hash, detector, statistic) DO UPDATE SET"
                           " value = excluded.value, n = excluded.n") if merge else "ON CONFLICT DO NOTHING"
            for name, sig in signals.items():
                spec = rt.specs[name]
                for stat, value in sig.values.items():
                    s.execute(
                        "INSERT INTO evaluation_stats (model, at, line, policy_hash, detector, kind, feature,"
                        " statistic, value, thresholds, n) VALUES (?,?,?,?,?,?,?,?,?,?,?) " + on_conflict,
                        (*key, name, spec.kind, spec.feature, stat, finite(float(value)),
                         self._rules_on(engine.policy, rt, name, stat), int(sig.n)),
                    )

    def _rules_on(self, policy: Any, rt: Any, detector: str, statistic: str) -> str | None:
        k = (rt.model_id, detector, statistic)
        if k not in self._thresholds:
            # every comparison of a rule on this statistic (a compound condition has several)
            found = [
                {"rule": r.name, "op": leaf.op, "threshold": float(leaf.threshold),
                 "min_samples": int(policy.min_samples_of(r, leaf))}
                for r in rt.rules
                for leaf in getattr(r.condition, "leaves", (r.condition,))
                if leaf.detector == detector and leaf.statistic == statistic
            ]
            self._thresholds[k] = json.dumps(found, sort_keys=True) if found else None
        return self._thresholds[k]
