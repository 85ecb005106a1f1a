"""Gather one model's week from the store into the report's numbers (a plain, JSON-ready dict).

Everything here is read from the store (``evaluations``, ``evaluation_stats``, incidents, actions, the
audit log and, when the table exists, stewards' acknowledgements); nothing reads the clock. The same
store, model and week always give the same dict, hence the same JSON bytes and the same report hash.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import rules
from watchdog.errors import ConfigError
from watchdog.fmt import iso_utc
from watchdog.report.incidents import action_text, incident_view, is_manual
from watchdog.store.store import Incident, Store

__all__ = ["FORMAT", "Week", "build_report", "parse_week", "previous_week"]

FORMAT = 2  # 2: manual_actions apart from incidents, detected_at, record indexes, verdict notes
QUARANTINE_DEGRADED_RATIO = 0.01
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class Week:
    """An ISO 8601 week, Monday 00:00 UTC (inclusive) to the next Monday 00:00 UTC (exclusive)."""

    def __init__(self, year: int, number: int):
        try:
            self.start = datetime.fromisocalendar(year, number, 1).replace(tzinfo=UTC)
        except ValueError:
            raise ConfigError(f"{year}-W{number:02d} is not an ISO week: year {year} has no week {number}.") from None
        self.year, self.number = year, number
        self.end = self.start + timedelta(days=7)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def __repr__(self) -> str:
        return f"Week({self.label})"


def parse_week(text: str) -> Week:
    m = _WEEK.match(text.strip())
    if not m:
        raise ConfigError(f"--week must be an ISO week such as 2026-W47, got {text!r}.")
    return Week(int(m.group(1)), int(m.group(2)))


def previous_week(now: datetime) -> Week:
    """The last ISO week that ended at or before ``now`` (UTC)."""
    if now.tzinfo is None:
        raise ValueError(f"now must carry a time zone, got {now.isoformat()}")
    year, number, _ = (now.astimezone(UTC) - timedelta(days=7)).isocalendar()
    return Week(year, number)


def _section(kind: str, feature: str | None) -> str:
    spec = rules.KINDS.get(kind)
    if spec is not None and spec.is_performance:
        return "performance"
    return "prediction_drift" if feature is None else "feature_drift"


def _breached(value: float | None, n: int, rule: dict[str, Any]) -> bool:
    return value is not None and n >= rule["min_samples"] and _OPS[rule["op"]](value, rule["threshold"])


def build_report(store: Store, model: str, week: Week, *, policy: rules.Policy | None = None,
                 now: datetime | None = None) -> dict[str, Any]:
    """The week's numbers for ``model``. ``now`` (UTC) bounds staleness while the week is not over."""
    start, end = week.start.timestamp(), week.end.timestamp()
    as_of = end if now is None else min(end, max(start, now.timestamp()))
    evals = store.query(
        "SELECT * FROM evaluations WHERE model = ? AND at >= ? AND at < ? ORDER BY at, line", (model, start, end))
    # Quarantine is counted per source, not per model: sum it over every model's evaluations.
    quarantine_rows = store.query(
        "SELECT quarantined, quarantine_reasons, predictions, labels, labels_unmatched FROM evaluations"
        " WHERE at >= ? AND at < ?", (start, end))
    stats = store.query(
        "SELECT * FROM evaluation_stats WHERE model = ? AND at >= ? AND at < ? ORDER BY detector, statistic, at, line",
        (model, start, end))
    in_week = [i for i in _incidents_of(store, model, policy) if start <= i.opened_at < end]

    volume = _volume(evals, start, as_of)
    quarantine = _quarantine(quarantine_rows)
    detectors_ = _detectors(stats)
    views = [incident_view(store, inc, policy) for inc in in_week]
    hashes = sorted({e["policy_hash"] for e in evals} | {i.policy_hash for i in in_week if not is_manual(i)})
    versions = sorted({v for e in evals for v in json.loads(e["versions"])})
    report: dict[str, Any] = {
        "format": FORMAT,
        "model": model,
        "week": week.label,
        "period": {"start": iso_utc(start), "end": iso_utc(end), "as_of": iso_utc(as_of)},
        "policy": {
            "hashes_in_force": hashes,
            "given": None if policy is None else {"name": policy.name, "hash": policy.hash,
                                                  "in_force": policy.hash in hashes},
        },
        "model_versions": versions,
        "volume": volume,
        "quarantine": quarantine,
        "detectors": detectors_,
        "incidents": [v for v in views if v["kind"] == "rule"],
        "manual_actions": [v for v in views if v["kind"] == "manual"],
    }
    contested = _contested(store, model, start, end)
    if contested:  # the council's verdicts on this model's incidents (absent from a week without one)
        report["contested"] = contested
    report["verdict"] = _verdict(report)
    return report


def _contested(store: Store, model: str, start: float, end: float) -> list[dict[str, Any]]:
    """The council's verdicts of the week on the model's incidents (``incident_contested``, written by serve's
    quorum job from the monitor's ``IncidentResolved``), with the operators each overturned one counts against."""
    rows = store.query("SELECT at, incident_id, detail FROM audit WHERE event = 'incident_contested' AND model = ? "
                       "AND at >= ? AND at < ? ORDER BY at, incident_id", (model, start, end))
    out = []
    for r in rows:
        d = json.loads(r["detail"])
        out.append({"at": iso_utc(r["at"]), "incident_id": r["incident_id"],
                    "verdict": "upheld" if d.get("upheld") else "overturned", "by": d.get("by"),
                    "reason_hash": d.get("reason_hash"), "operators": d.get("operators", []),
                    "tx_hash": d.get("tx_hash")})
    return out


def _incidents_of(store: Store, model: str, policy: rules.Policy | None) -> list[Incident]:
    """The model's incidents, and the manual actions on its module (the CLI files them under the module)."""
    found = store.incidents(model)
    module = None
    if policy is not None:
        try:
            module = str(policy.model(model).module)
        except (KeyError, LookupError, ValueError):
            module = None
    if module is not None and module != model:
        found += [i for i in store.incidents(module) if is_manual(i)]
    return found


def _volume(evals: list[dict[str, Any]], start: float, as_of: float) -> dict[str, Any]:
    preds = sum(e["predictions"] for e in evals)
    labels = sum(e["labels"] for e in evals)
    daily: dict[str, int] = defaultdict(int)
    for e in evals:
        daily[iso_utc(e["at"])[:10]] += e["predictions"]  # type: ignore[index]
    times = [e["at"] for e in evals]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return {
        "evaluations": len(evals),
        "predictions": preds,
        "labels_joined": labels,
        "labels_unmatched": sum(e["labels_unmatched"] for e in evals),
        "label_coverage": (labels / preds) if preds else None,
        "first_data_at": iso_utc(times[0]) if times else None,
        "last_data_at": iso_utc(times[-1]) if times else None,
        "longest_gap_seconds": max(gaps) if gaps else None,
        "staleness_seconds": (as_of - times[-1]) if times else as_of - start,
        "daily_predictions": [{"date": d, "predictions": n} for d, n in sorted(daily.items())],
    }


def _quarantine(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_reason: dict[str, int] = defaultdict(int)
    for r in rows:
        for reason, n in json.loads(r["quarantine_reasons"]).items():
            by_reason[reason] += n
    total = sum(r["quarantined"] for r in rows)
    seen = total + sum(r["predictions"] + r["labels"] + r["labels_unmatched"] for r in rows)  # every model
    return {
        "scope": "every model of the source: a record that fails validation often names no model",
        "total": total,
        "by_reason": dict(sorted(by_reason.items())),
        "ratio": (total / seen) if seen else None,
    }


def _detectors(stats: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_det: dict[str, dict[str, Any]] = {}
    for r in stats:
        det = by_det.setdefault(r["detector"], {
            "detector": r["detector"], "kind": r["kind"], "feature": r["feature"],
            "section": _section(r["kind"], r["feature"]), "statistics": {}})
        st = det["statistics"].setdefault(r["statistic"], {
            "statistic": r["statistic"], "rules": {}, "at": [], "value": [], "n": []})
        for rule in json.loads(r["thresholds"] or "[]"):
            st["rules"][rule["rule"]] = rule  # the latest thresholds win if the policy changed mid-week
        st["at"].append(r["at"])
        st["value"].append(r["value"])
        st["n"].append(r["n"])
    out = []
    for det in by_det.values():
        statistics = []
        for st in det["statistics"].values():
            values = [v for v in st["value"] if v is not None]
            ruled = sorted(st["rules"].values(), key=lambda x: x["rule"])
            breaches = {
                rule["rule"]: sum(_breached(v, n, rule) for v, n in zip(st["value"], st["n"], strict=True))
                for rule in ruled
            }
            statistics.append({
                "statistic": st["statistic"],
                "rules": ruled,
                "series": {"at": st["at"], "value": st["value"], "n": st["n"]},
                "summary": {
                    "evaluations": len(st["at"]),
                    "min": min(values) if values else None,
                    "max": max(values) if values else None,
                    "last": st["value"][-1] if st["value"] else None,
                    "breaches": breaches,
                },
            })
        det["statistics"] = statistics
        out.append(det)
    order = {"feature_drift": 0, "prediction_drift": 1, "performance": 2}
    return sorted(out, key=lambda d: (order[d["section"]], d["feature"] or "", d["detector"]))


def _fired(i: dict[str, Any]) -> str:
    """When a rule fired, on both clocks: the decisive record's data time and line, and its detection."""
    where = f"line {i['decisive_line']}" + (
        f", record index {i['decisive_record_index']}" if i["decisive_record_index"] is not None else "")
    detected = f"; detected {i['detected_at'].split('.')[0].removesuffix('Z')}Z" if i["detected_at"] else ""
    return f"at {i['opened_at']} (data time, {where}{detected})"


def _verdict(report: dict[str, Any]) -> dict[str, Any]:
    """healthy, degraded, incident or no data, with the reasons; ``notes`` name what did not count.

    A rule that fired (not in a dry run) makes an incident whatever became of its actions; a manual
    action does only when it reached the chain.
    """
    vol, model, week = report["volume"], report["model"], report["week"]
    real = [i for i in report["incidents"] if not i["dry_run"]]
    manual = [m for m in report["manual_actions"] if m["reached_chain"]]
    notes = [m["sentence"] for m in report["manual_actions"] if not m["reached_chain"]]
    if vol["evaluations"] == 0 and not report["incidents"] and not manual:
        return {"status": "no data", "notes": notes, "reasons": [
            (f"No evaluation of model {model} was recorded in {week} ({report['period']['start']} to "
            f"{report['period']['end']}): the watchdog saw no records of this model that week, or did not run.")]}
    if real or manual:
        reasons = []
        rank = {t: k for k, t in enumerate(("critical", "medium", "routine"))}
        for i in sorted(real, key=lambda i: (rank.get(i["tier"], 9), i["opened_at"], i["rule"])):
            acted = [action_text(a) for a in i["actions"]]
            reasons.append(f"{i['rule']} ({i['tier']}) fired {_fired(i)}"
                           + (f"; {', '.join(acted)}" if acted else "; alert only") + ".")
        reasons += [m["sentence"] for m in manual]
        return {"status": "incident", "reasons": reasons, "notes": notes}
    reasons = []
    for i in report["incidents"]:
        reasons.append(f"{i['rule']} ({i['tier']}) would have fired {_fired(i)} (dry run).")
    for det in report["detectors"]:
        for st in det["statistics"]:
            for rule, k in st["summary"]["breaches"].items():
                if k:
                    r = next(x for x in st["rules"] if x["rule"] == rule)
                    reasons.append(f"{det['detector']}.{st['statistic']} crossed {rule}'s threshold "
                                   f"({r['op']} {r['threshold']:g}) at {k} of {st['summary']['evaluations']} "
                                   f"evaluations without firing.")
    q = report["quarantine"]
    if q["ratio"] is not None and q["ratio"] > QUARANTINE_DEGRADED_RATIO:
        reasons.append(f"{q['total']} records ({q['ratio']:.1%}) were quarantined, above "
                       f"{QUARANTINE_DEGRADED_RATIO:.0%}.")
    if reasons:
        return {"status": "degraded", "reasons": reasons, "notes": notes}
    ruled = sum(1 for d in report["detectors"] for s in d["statistics"] if s["rules"])
    return {"status": "healthy", "notes": notes, "reasons": [
        (f"No rule fired and the {ruled} statistic(s) that rules watch stayed within their thresholds at all "
        f"{vol['evaluations']} evaluations; {q['total']} record(s) quarantined.")]}


