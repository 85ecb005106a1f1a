"""A bundle checked by anyone: against itself, the raw records, the policy and the monitor contract.

:func:`verify` runs every check and says, for each that fails, exactly what differs::

    bundle        its evidence hashes to its evidence_hash; its incident id is the one the evidence names;
                  its leaves' Merkle root is the evidence's window.merkle_root; each record it carries
                  hashes to its leaf
    policy        the policy's hash is the one the evidence was made under
    replay        the raw log, replayed through the engine under the policy (the line path, from its first
                  line), fires the rule at the decisive record, and the evidence built there equals the
                  bundle's field by field, leaf by leaf (a changed record is named by its id)
    chain         the monitor's pause or rollback with the incident id carries the bundle's evidence hash

The on-chain look-up is handed in (``onchain``), so this module reads no chain itself: the command builds it
from :class:`watchdog.actions.chain.MonitorClient`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rules
from watchdog.engine.engine import Engine, HandlerError, ModelRuntime
from watchdog.errors import StartupError
from watchdog.evidence.bundle import (
    BUNDLE_FORMAT,
    Built,
    EvidenceError,
    build,
    canonical_json,
    evidence_hash,
    incident_id,
    record_leaf,
)
from watchdog.evidence.merkle import from_hex, merkle_root
from watchdog.ingest.records import Prediction, RecordParser

OnChain = Callable[[str], "list[str] | None"]
"""incident id -> the evidence hashes the monitor's pause / rollback events with it carry (empty: none);
None when the chain was not asked."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    """Every check with its outcome; ``ok`` when all passed."""

    incident_id: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def render(self) -> str:
        lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        verdict = (f"The evidence of incident {self.incident_id} is verified." if self.ok else
                   f"The evidence of incident {self.incident_id} does NOT verify: "
                   f"{len(self.failures)} check(s) failed.")
        return "\n".join([*lines, verdict])


def load_bundle(path: str | Path) -> dict[str, Any]:
    """A bundle file, its shape checked; :class:`EvidenceError` with a sentence otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise EvidenceError(f"The bundle {path} could not be read: {e.strerror}.") from None
    except ValueError as e:
        raise EvidenceError(f"The bundle {path} is not JSON: {e}.") from None
    if not isinstance(data, dict) or data.get("format") != BUNDLE_FORMAT:
        raise EvidenceError(f"The file {path} is not an evidence bundle (its format must be {BUNDLE_FORMAT!r}).")
    missing = [k for k in ("incident_id", "evidence_hash", "evidence", "leaves") if k not in data]
    if missing or not isinstance(data["evidence"], dict) or not isinstance(data["leaves"], list):
        raise EvidenceError(f"The bundle {path} lacks {', '.join(missing) or 'a well-formed evidence or leaves'}.")
    return data


def differences(want: Any, got: Any, path: str = "evidence") -> list[str]:
    """Sentences for every field where ``got`` (the replay) differs from ``want`` (the bundle)."""
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        out = []
        for k in sorted(set(want) | set(got), key=str):
            if k not in got:
                out.append(f"{path}.{k}: the bundle has {_show(want[k])}, the replay has no such field")
            elif k not in want:
                out.append(f"{path}.{k}: the replay gives {_show(got[k])}, the bundle has no such field")
            else:
                out += differences(want[k], got[k], f"{path}.{k}")
        return out
    if want != got:
        return [f"{path}: the bundle says {_show(want)}, the replay gives {_show(got)}"]
    return []


def _show(v: Any) -> str:
    s = json.dumps(v, sort_keys=True)
    return s if len(s) <= 120 else s[:117] + "..."


def _leaf_json(lf: Any) -> dict[str, Any]:
    return lf.to_json() if hasattr(lf, "to_json") else dict(lf)


def leaf_differences(want: Sequence[Mapping[str, Any]], got: Sequence[Mapping[str, Any]]) -> list[str]:
    """Which leaves differ: a record named by its id whose hash changed, or a window of other records."""
    out = []
    if len(want) != len(got):
        out.append(f"the bundle's tree has {len(want)} leaves, the replay's {len(got)}")
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        name_w = w.get("id", f"reference {w.get('reference')}")
        name_g = g.get("id", f"reference {g.get('reference')}")
        if name_w != name_g:
            out.append(f"leaf {i} is {name_w} in the bundle, {name_g} in the replayed log")
        elif w.get("hash") != g.get("hash"):
            what = "the reference" if "reference" in w else f"record {name_w}"
            out.append(f"{what}: the log's {'records hash' if 'reference' in w else 'record hashes'} to "
                       f"{g.get('hash')}, the bundle's leaf is {w.get('hash')} (the record was changed)")
        if len(out) >= 20:
            out.append("(more leaves differ)")
            break
    return out


class _Found(Exception):
    def __init__(self, built: Built):
        self.built = built


def replay(policy: rules.Policy, base_dir: Path, lines: Iterable[bytes], model: str, rule: str,
           want_id: str, decisive_id: str | None) -> tuple[Built | None, list[Built]]:
    """Replay ``lines`` under ``policy`` until rule ``rule`` of ``model`` fires as incident ``want_id``: that
    evidence, or None and every evidence the rule fired with (the closest first: at the decisive record)."""
    fired: list[Built] = []

    def on_decision(engine: Engine, rt: ModelRuntime, d: Any) -> None:
        if d.kind != "fire" or d.model != model or d.rule != rule:
            return
        built = build(rt, d)
        if built.incident_id == want_id:
            raise _Found(built)
        fired.append(built)

    try:
        engine = Engine(policy, base_dir=base_dir, on_decision=on_decision, keep_decisions=0)
    except StartupError as e:
        raise EvidenceError(f"The policy cannot run here: {e} Pass the policy file with --policy.") from None
    try:
        for n, raw in enumerate(lines, 1):
            engine.process_line(raw.rstrip(b"\r\n"), n)
        engine.finish()
    except HandlerError as e:
        if isinstance(e.__cause__, _Found):
            return e.__cause__.built, fired
        raise
    fired.sort(key=lambda b: (b.evidence.get("decisive_record") or {}).get("id") != decisive_id)
    return None, fired


def _record_values(rt: ModelRuntime, p: Prediction) -> dict[str, Any]:
    return {k: p.prediction if k == "\0prediction" else p.features.get(k) for k in rt.window_keys}


def verify(bundle: Mapping[str, Any], log: Iterable[bytes], policy: rules.Policy, base_dir: Path,
           onchain: OnChain | None) -> Report:
    """Every check of the module docstring on ``bundle`` (see :func:`load_bundle`)."""
    ev = bundle["evidence"]
    inc_id = str(bundle["incident_id"])
    report = Report(inc_id)

    # -- the bundle against itself
    got_hash = evidence_hash(canonical_json(ev))
    report.add("evidence hash", got_hash == bundle["evidence_hash"],
               f"the evidence hashes to {got_hash}" if got_hash == bundle["evidence_hash"] else
               f"the evidence hashes to {got_hash}, not to the bundle's evidence_hash {bundle['evidence_hash']}: "
               "the evidence was changed after it was hashed")
    decisive = ev.get("decisive_record")
    rec = None if not isinstance(decisive, Mapping) else {"id": decisive.get("id"), "ts_us": decisive.get("ts_us")}
    named = incident_id(str(ev.get("policy_hash")), str(ev.get("model")), str(ev.get("rule")), rec)
    report.add("incident id", named == inc_id,
               f"the evidence names incident {named}" if named == inc_id else
               f"the evidence names incident {named}, the bundle says {inc_id}")
    leaves = [dict(x) for x in bundle["leaves"]]
    root = (ev.get("window") or {}).get("merkle_root")
    try:
        got_root = "0x" + merkle_root([from_hex(str(x["hash"])) for x in leaves]).hex()
    except (KeyError, ValueError) as e:
        got_root = f"none ({e})"
    report.add("merkle root", got_root == root,
               f"the {len(leaves)} leaves give the root {got_root}" if got_root == root else
               f"the bundle's {len(leaves)} leaves give the root {got_root}, the evidence says {root}")

    # -- the policy
    report.add("policy", policy.hash == ev.get("policy_hash"),
               f"the policy hashes to {policy.hash}" if policy.hash == ev.get("policy_hash") else
               f"the policy given hashes to {policy.hash}; the evidence was made under policy {ev.get('policy_hash')}")

    # -- the raw records, replayed
    built, fired = replay(policy, base_dir, log, str(ev.get("model")), str(ev.get("rule")), inc_id,
                          None if not decisive else decisive["id"])
    if built is None and fired:
        at = [str((b.evidence.get("decisive_record") or {}).get("id")) for b in fired]
        closest = fired[0]
        same = (closest.evidence.get("decisive_record") or {}).get("id") == (decisive or {}).get("id")
        if not same:
            report.add("replay", False, f"replaying the log under the policy, rule {ev.get('rule')} of model "
                       f"{ev.get('model')} does not fire at record {(decisive or {}).get('id')}; it fires at "
                       f"record(s) {', '.join(at[:10])}")
            built = None
        else:
            built = closest
    elif built is None:
        report.add("replay", False, f"replaying the log under the policy, rule {ev.get('rule')} of model "
                   f"{ev.get('model')} never fires")
    if built is not None:
        diffs = differences(ev, built.evidence)
        report.add("replay: evidence", not diffs,
                   f"the replay builds the same evidence (statistic {built.evidence['condition']['observed']} "
                   f"{built.evidence['condition']['op']} threshold {built.evidence['condition']['threshold']})"
                   if not diffs else "; ".join(diffs))
        ldiff = leaf_differences(leaves, [_leaf_json(x) for x in built.leaves])
        report.add("replay: records", not ldiff,
                   f"the window's {len(built.leaves) - 1} records and the reference hash to the bundle's leaves"
                   if not ldiff else "; ".join(ldiff))

    # -- the records the bundle carries
    carried = bundle.get("records")
    if carried:
        eng = Engine(policy, base_dir=base_dir)
        rt = eng.runtimes.get(str(ev.get("model")))
        by_id = {x.get("id"): x.get("hash") for x in leaves if "id" in x}
        bad: list[str] = []
        if rt is not None:
            parser = RecordParser({rt.model_id: rt.schema})
            for raw in carried:
                p = parser.parse(json.dumps(raw).encode(), 0)
                if not isinstance(p, Prediction):
                    bad.append(f"a carried record ({_show(raw)}) is not a valid prediction of the model")
                    continue
                h = "0x" + record_leaf(rt.model_id, p.id, p.ts, _record_values(rt, p)).hex()
                if by_id.get(p.id) != h:
                    bad.append(f"the carried record {p.id} hashes to {h}, its leaf is {by_id.get(p.id)}")
        report.add("carried records", not bad, f"the {len(carried)} records carried hash to their leaves"
                   if not bad else "; ".join(bad[:10]))

    # -- the chain
    if onchain is not None:
        found = onchain(inc_id)
        if found is None:
            pass
        elif not found:
            report.add("on-chain", False, f"no pause or rollback on the monitor carries incident {inc_id}")
        elif bundle["evidence_hash"] in found:
            report.add("on-chain", True, f"the monitor's action for incident {inc_id} carries evidence hash "
                       f"{bundle['evidence_hash']}")
        else:
            report.add("on-chain", False, f"the monitor's action for incident {inc_id} carries evidence hash "
                       f"{', '.join(found)}, the bundle {bundle['evidence_hash']}")
    return report
