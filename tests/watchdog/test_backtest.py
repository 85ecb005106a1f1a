"""Backtests on generated histories with known change points: the right detections, delays and false alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watchdog.cli import main
from watchdog.errors import ConfigError
from watchdog.service.backtest import ChangePoint, backtest, load_truth
from watchdog.service.demo_data import START, STEP, write_log

DEMO_POLICY = Path(__file__).resolve().parents[2] / "watchdog" / "data" / "demo_policy.yaml"
DRIFT_AT = 4000


def _line_of_prediction(path: Path, index: int) -> int:
    seen = -1
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if b'"features"' in raw and b'"id":"bad-' not in raw.replace(b" ", b""):  # skip the malformed ones
                seen += 1
                if seen == index:
                    return lineno
    raise AssertionError(f"no prediction {index}")


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "drifted.jsonl"
    write_log(str(path), n=6000, drift_at=DRIFT_AT)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "clean.jsonl"
    write_log(str(path), n=6000, drift_at=None)
    return path


def test_detects_the_known_change_with_its_delay(drifted: Path) -> None:
    line = _line_of_prediction(drifted, DRIFT_AT)
    result = backtest(DEMO_POLICY, drifted, [ChangePoint("lending-risk", kind="regime", at_line=line)])
    fires = result.fires
    assert {f.rule for f in fires} >= {"VolatilityRegimeShift", "UtilizationDrift", "CollateralMixShift"}
    assert all(f.verdict == "true" and f.line > line for f in fires)
    assert (result.true_alarms, result.false_alarms, result.missed) == (len(fires), 0, [])
    [det] = result.detections
    first = min(fires, key=lambda f: f.line)
    assert (det.rule, det.line) == (first.rule, first.line)
    # the windows hold 500 records and the rules need 3 evaluations of 100: detection within 300..1000 records
    assert 300 <= det.delay_records <= 1000
    assert det.delay_seconds == pytest.approx(det.delay_records * STEP.total_seconds(), abs=STEP.total_seconds())
    assert result.quarantined == 3 and result.predictions == 6000
    crit = next(f for f in fires if f.rule == "VolatilityRegimeShift")
    assert crit.actions == ["alert", "pause"] and crit.value is not None and crit.value < crit.threshold
    text = result.render()
    assert (f"ground truth: 1 change point(s), 1 detected, 0 missed; {len(fires)} true alarm(s), 0 false alarm(s)"
            in text)
    assert f"detected by {det.rule} at line {det.line} after {det.delay_records} records" in text
    assert "fire (true alarm)" in text and "ks_volatility.p_value = " in text


def test_change_point_by_timestamp_resolves_to_the_same_line(drifted: Path) -> None:
    ts = (START + DRIFT_AT * STEP).astimezone(UTC).isoformat().replace("+00:00", "Z")
    truth_file = drifted.with_name("truth.json")
    truth_file.write_text(json.dumps([{"model": "lending-risk", "at_ts": ts, "kind": "regime"}]))
    truth = load_truth(truth_file, ("lending-risk",))
    result = backtest(DEMO_POLICY, drifted, truth)
    assert truth[0].line == _line_of_prediction(drifted, DRIFT_AT)
    assert truth[0].predictions == DRIFT_AT
    assert result.detections[0].detected


def test_fires_before_the_claimed_change_are_false_alarms_and_a_late_change_is_missed(drifted: Path) -> None:
    # claim the change came 1,900 records later than it did: everything fired before it is a false alarm
    late = _line_of_prediction(drifted, 5900)
    result = backtest(DEMO_POLICY, drifted, [ChangePoint("lending-risk", at_line=late)])
    assert result.false_alarms == len(result.fires) >= 3 and result.true_alarms == 0
    assert len(result.missed) == 1
    assert "MISSED" in result.render()


def test_max_delay_turns_late_fires_into_false_alarms(drifted: Path) -> None:
    line = _line_of_prediction(drifted, DRIFT_AT)
    result = backtest(DEMO_POLICY, drifted, [ChangePoint("lending-risk", at_line=line)], max_delay_records=450)
    assert result.true_alarms >= 1 and result.false_alarms >= 1
    assert all(f.predictions - DRIFT_AT <= 450 for f in result.fires if f.verdict == "true")


def test_clean_history_fires_nothing(clean: Path) -> None:
    result = backtest(DEMO_POLICY, clean, [])
    assert result.firings == [] and result.detections == []
    assert "no rule would have fired" in result.render()


def test_cli_prints_the_table_and_writes_json(drifted: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"model": "lending-risk", "at_line": _line_of_prediction(drifted, DRIFT_AT)}]))
    out = tmp_path / "bt.json"
    code = main(["backtest", "--policy", str(DEMO_POLICY), "--log", str(drifted), "--truth", str(truth),
                 "--json", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "line  time" in printed and "VolatilityRegimeShift" in printed and "lines/s" in printed
    data = json.loads(out.read_text())
    assert data["truth"]["detected"] == 1 and data["truth"]["false_alarms"] == 0
    assert len(data["decisions"]) >= 3 and data["decisions"][0]["evidence"].startswith(data["decisions"][0]["detector"])
    assert data["lines"] == len(drifted.read_bytes().splitlines())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}", "must be a JSON list of change points"),
        ("[1]", "entry 0 is not an object"),
        ('[{"model": "other", "at_line": 3}]', "names model 'other', which the policy does not monitor"),
        ('[{"model": "lending-risk"}]', "exactly one of at_line"),
        ('[{"model": "lending-risk", "at_line": 0}]', "at_line must be a line number of at least 1"),
        ('[{"model": "lending-risk", "at_ts": "yesterday"}]', "is not an ISO 8601 time"),
        ('[{"model": "lending-risk", "at_ts": "2026-01-01T00:00:00"}]', "must carry a time zone"),
        ('[{"model": "lending-risk", "at_line": 3, "line": 4}]', "unknown key(s) line"),
        ("[", "is not JSON"),
    ],
)
def test_bad_ground_truth_is_refused_with_a_sentence(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "truth.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_truth(path, ("lending-risk",))


def test_datetime_helper_is_utc() -> None:
    assert START.tzinfo is not None and datetime(2026, 11, 16, tzinfo=UTC) == START


def test_scores_where_the_change_began_as_well_as_the_delay(drifted: Path) -> None:
    """Before: only the delay; now the detector's estimate of the start is scored against the truth too."""
    line = _line_of_prediction(drifted, DRIFT_AT)
    result = backtest(DEMO_POLICY, drifted, [ChangePoint("lending-risk", kind="regime", at_line=line)])
    [det] = result.detections
    assert det.location_error_records is not None and abs(det.location_error_records) <= 25
    assert det.delay_records >= 300  # detected hundreds of records late, located within a few
    assert f"placed its start {det.location_error_records:+d} records from where it began" in result.render()
