"""SIGHUP reloads the policy between batches of records: a good one is swapped in keeping unchanged state, a bad
one is refused whole while the old one keeps running. Real signals (os.kill on this process), real files."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

import rules
from watchdog.engine.engine import Engine
from watchdog.engine.reload import PolicyReloader
from watchdog.ingest.sources.jsonl import JsonlSource
from watchdog.observe.metrics import Metrics
from watchdog.service.demo_data import write_log
from watchdog.service.oneshot import RunOptions, run
from watchdog.service.runner import BATCH_BYTES, replay_file
from watchdog.store.store import Store

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX only")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reload") / "log.jsonl"
    write_log(str(path), n=6000, drift_at=4000, malformed=False)
    return path


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(DEMO_POLICY.read_text())
    return path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def _reloads(metrics: Metrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("watchdog_policy_reloads_total", {"outcome": outcome}) or 0.0


def _run_with_hups(policy_file: Path, history: Path, at: dict[int, object]) -> tuple[Engine, Metrics, dict]:
    """Replay in small batches; a real SIGHUP arrives during the first batch that ends at or after each line
    in ``at`` (whose value edits the file first), so the reload applies at that batch's end
    (``seen[f"before_{line}"]["line"]``, its last line) and the next batch runs under the new policy."""
    metrics = Metrics()
    engine = Engine(rules.load_policy(policy_file), base_dir=policy_file.parent, metrics=metrics)
    engine.parser.max_line_bytes = 4096  # a batch holds at least one longest line: this lets batches be small
    seen: dict = {"outcomes": {}, "ends": []}
    todo = sorted(at)

    with PolicyReloader(policy_file, engine, metrics=metrics) as reloader:
        def after(line: int) -> None:
            seen["ends"].append(line)
            if todo and line >= todo[0]:
                target = todo.pop(0)
                seen[f"before_{target}"] = {
                    "line": line,
                    "detectors": dict(engine.runtimes["lending-risk"].detectors),
                    "states": {s.rule: s for s in engine.evaluator.states()},
                    "policy": engine.policy,
                }
                at[target]()  # type: ignore[operator]
                os.kill(os.getpid(), signal.SIGHUP)
                assert reloader.pending and engine.policy is seen[f"before_{target}"]["policy"]  # not yet applied
            outcome = reloader.poll(line)
            if outcome is not None:
                seen["outcomes"][line] = outcome

        replay_file(engine, history, None, after_line=after, batch_bytes=32 << 10)
    assert not todo and len(seen["ends"]) > 20
    return engine, metrics, seen


def test_good_policy_is_swapped_keeping_unchanged_detectors_and_rule_states(policy_file: Path,
                                                                           history: Path) -> None:
    def change() -> None:
        # one detector changes (its window), one rule changes (its for), one rule only changes its summary
        _edit(policy_file, "{name: ks_utilization, kind: ks, feature: utilization, window: 500}",
              "{name: ks_utilization, kind: ks, feature: utilization, window: 400}")
        _edit(policy_file, 'threshold: 1.0e-6}\n        for: 3\n        labels: {severity: medium}',
              'threshold: 1.0e-6}\n        for: 2\n        labels: {severity: medium}')
        _edit(policy_file, '"The mix of collateral asset classes changed"', '"Collateral mix changed"')

    engine, metrics, seen = _run_with_hups(policy_file, history, {7400: change})
    assert seen["outcomes"] == {seen["before_7400"]["line"]: "success"}
    assert _reloads(metrics, "success") == 1 and _reloads(metrics, "failure") == 0
    before = seen["before_7400"]
    assert engine.policy.hash != before["policy"].hash and engine.policy == rules.load_policy(policy_file)
    rt = engine.runtimes["lending-risk"]
    for name in ("ks_volatility", "psi_collateral", "chi2_asset_class", "ks_prediction", "mae_risk"):
        assert rt.detectors[name] is before["detectors"][name], name  # the same object: window kept
    assert rt.detectors["ks_utilization"] is not before["detectors"]["ks_utilization"]
    assert rt.detectors["ks_utilization"].window == 400
    # the unchanged rules went on from where they were (the drift began before the reload)
    fired = {d.rule: d for d in engine.decisions if d.kind == "fire"}
    assert set(fired) >= {"VolatilityRegimeShift", "CollateralMixShift"}
    assert fired["CollateralMixShift"].record_index > before["line"]  # after the reload
    assert fired["CollateralMixShift"].policy_hash == engine.policy.hash
    assert fired["CollateralMixShift"].summary == "Collateral mix changed"


def test_unchanged_rule_state_survives_the_swap(policy_file: Path, history: Path) -> None:
    # reload in the middle of the drift, when VolatilityRegimeShift is already firing
    def change() -> None:
        _edit(policy_file, 'summary: "Pool utilization drifted from the reference"', 'summary: "Utilization moved"')

    engine, _, seen = _run_with_hups(policy_file, history, {8400: change})
    before = seen["before_8400"]["states"]
    assert before["VolatilityRegimeShift"].state == "firing"
    after = engine.evaluator.state("VolatilityRegimeShift")
    assert after.state == "firing" and after.pending_since == before["VolatilityRegimeShift"].pending_since
    # it fired once, before the reload, and was not fired again by the new policy
    reloaded_after = seen["before_8400"]["line"]
    assert [d.record_index for d in engine.decisions if d.rule == "VolatilityRegimeShift" and d.kind == "fire"] \
        == [d.record_index for d in engine.decisions if d.rule == "VolatilityRegimeShift" and d.kind == "fire"
            and d.record_index <= reloaded_after]


def test_bad_policy_is_rejected_whole_and_the_old_one_keeps_running(policy_file: Path, history: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    original = rules.load_policy(policy_file)

    def break_it() -> None:
        _edit(policy_file, "window: 500}\n      - {name: ks_utilization", "window: 1}\n      - {name: ks_utilization")
        _edit(policy_file, "severity: critical", "severity: urgent")

    with caplog.at_level(logging.ERROR, logger="watchdog.reload"):
        engine, metrics, seen = _run_with_hups(policy_file, history, {3000: break_it, 3500: lambda: None})
    assert seen["outcomes"] == {seen["before_3000"]["line"]: "failure", seen["before_3500"]["line"]: "failure"}
    assert _reloads(metrics, "failure") == 2 and _reloads(metrics, "success") == 0
    assert engine.policy.hash == original.hash
    [record, _] = [r for r in caplog.records if r.msg == "policy_reload_failed"]
    assert "3 problem(s)" in record.error and "window: must be at least 2" in record.error
    assert "severity" in record.error
    # the old policy still decided everything, exactly as a run without the SIGHUP would
    clean = Engine(original, base_dir=policy_file.parent, metrics=Metrics())
    replay_file(clean, history, None)
    assert [(d.rule, d.kind, d.record_index) for d in engine.decisions] == \
        [(d.rule, d.kind, d.record_index) for d in clean.decisions] != []


def test_unreadable_and_unchanged_files(policy_file: Path) -> None:
    metrics = Metrics()
    engine = Engine(rules.load_policy(policy_file), base_dir=policy_file.parent, metrics=metrics)
    reloader = PolicyReloader(policy_file, engine, metrics=metrics)
    assert reloader.poll() is None
    reloader.request()
    assert reloader.poll() == "unchanged"
    policy_file.write_text(policy_file.read_text() + "\n# a comment changes nothing\n")
    assert reloader.reload() == "unchanged"
    policy_file.unlink()
    assert reloader.reload() == "failure" and "cannot read" in (reloader.last_error or "")
    assert _reloads(metrics, "unchanged") == 2 and _reloads(metrics, "failure") == 1


def test_a_policy_whose_new_reference_file_is_missing_is_rejected(policy_file: Path) -> None:
    metrics = Metrics()
    engine = Engine(rules.load_policy(policy_file), base_dir=policy_file.parent, metrics=metrics)
    _edit(policy_file, "reference: {first_n: 2000}", "reference: {file: missing.jsonl}")
    reloader = PolicyReloader(policy_file, engine, metrics=metrics)
    assert reloader.reload() == "failure"
    assert "reference file 'missing.jsonl' not found" in (reloader.last_error or "")
    assert engine.runtimes["lending-risk"].model.reference.first_n == 2000


def test_install_restores_the_previous_handler(policy_file: Path) -> None:
    engine = Engine(rules.load_policy(policy_file), base_dir=policy_file.parent, metrics=Metrics())
    before = signal.getsignal(signal.SIGHUP)
    with PolicyReloader(policy_file, engine) as reloader:
        assert signal.getsignal(signal.SIGHUP) == reloader.request
    assert signal.getsignal(signal.SIGHUP) == before


def test_watchdog_run_reloads_on_sighup(policy_file: Path, tmp_path: Path) -> None:
    """The service wires the reloader: SIGHUP during `run` swaps the policy after the batch in hand and audits it."""
    # drift early enough that the first rules fire in the first batch and RiskScoreError in the second
    history = tmp_path / "log.jsonl"
    write_log(str(history), n=6000, drift_at=3200, malformed=False)
    first_batch_end = next(JsonlSource(history, read_bytes=BATCH_BYTES).batches()).position.line
    sent: list[str] = []

    def on_event(event: str, data: dict) -> None:
        if event == "rule_fired" and not sent:
            _edit(policy_file, '"Realised risk departs from the model\'s scores"', '"Scores are off"')
            os.kill(os.getpid(), signal.SIGHUP)
            sent.append(data["decision"].policy_hash)
            assert data["decision"].record_index <= first_batch_end

    opts = RunOptions(policy=policy_file, source=history, store=tmp_path / "w.db",
                      quarantine=tmp_path / "q.jsonl", dry_run=True, progress=False)
    before = signal.getsignal(signal.SIGHUP)
    result = run(opts, on_event=on_event)
    new_hash = rules.load_policy(policy_file).hash
    assert sent and sent[0] != new_hash
    with Store(tmp_path / "w.db") as store:
        rows = store.query("SELECT event, policy_hash FROM audit WHERE event LIKE 'policy_reload%'")
    assert rows == [{"event": "policy_reload_success", "policy_hash": new_hash}]
    hashes = {i.rule: i.policy_hash for i in result.incidents}
    late = next(i for i in result.incidents if i.rule == "RiskScoreError")
    assert late.record_index > first_batch_end and hashes["RiskScoreError"] == new_hash  # under the new policy
    assert {h for rule, h in hashes.items() if rule != "RiskScoreError"} == {sent[0]}  # the first batch: the old one
    assert signal.getsignal(signal.SIGHUP) == before  # run() put the previous handler back


def test_swap_builds_new_detectors_from_the_kept_reference_and_handles_added_models(policy_file: Path,
                                                                                   history: Path) -> None:
    engine = Engine(rules.load_policy(policy_file), base_dir=policy_file.parent, metrics=Metrics())
    with open(history, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            engine.process_line(raw.rstrip(b"\n"), lineno)
            if lineno == 4000:
                break
    rt = engine.runtimes["lending-risk"]
    assert rt.ready
    kept = rt.detectors["ks_volatility"]
    n_before = rt.n_predictions
    # a new detector on an existing feature, and a second model with a reference file
    write_log(str(policy_file.parent / "keeper_ref.jsonl"), n=300, drift_at=None, malformed=False, model="keeper")
    _edit(policy_file, "      - {name: mae_risk, kind: mae, window: 300}",
          "      - {name: mae_risk, kind: mae, window: 300}\n"
          "      - {name: psi_volatility, kind: psi, feature: volatility_7d, window: 300, bins: 8}\n"
          "  - id: keeper\n    module: keeper\n    prediction: {type: numeric}\n"
          "    features: [{name: utilization, type: numeric}]\n    reference: {file: keeper_ref.jsonl}\n"
          "    detectors:\n      - {name: ks_keeper, kind: ks, feature: utilization, window: 100}")
    detail = engine.swap_policy(rules.load_policy(policy_file))
    assert "detector lending-risk/psi_volatility" in detail["fresh"] and "model keeper" in detail["fresh"]
    assert "lending-risk/ks_volatility" in detail["kept_detectors"]
    rt = engine.runtimes["lending-risk"]
    assert rt.detectors["ks_volatility"] is kept and rt.n_predictions == n_before
    assert rt.detectors["psi_volatility"].n == 0 and rt.ready  # built from the reference, window empty
    assert engine.runtimes["keeper"].ready  # its reference file was read
    # the stream goes on under the new policy, the new detector fills its window
    with open(history, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno > 4000:
                engine.process_line(raw.rstrip(b"\n"), lineno)
    assert rt.detectors["psi_volatility"].n == 300
