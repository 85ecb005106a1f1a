"""Policy tests as data (`rules.testing`, ``watchdog policy test``) and the JSON Schema export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest

import rules
from rules import EXAMPLES_DIR, PolicyError
from rules.loader import _parse
from rules.testing import parse_series, run_file
from watchdog.cli import main
from watchdog.commands.policy import policy_json_schema

POLICIES = sorted(
    p for p in EXAMPLES_DIR.glob("*.yaml") if not p.name.endswith(".test.yaml") and p.name != "bad.yaml"
)


def test_the_examples_are_the_three_the_issue_asks_for() -> None:
    assert [p.stem for p in POLICIES] == ["lending", "oracle", "withdrawals"]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.stem)
def test_every_example_policy_ships_with_passing_policy_tests(policy: Path) -> None:
    tests = policy.with_name(policy.stem + ".test.yaml")
    assert tests.is_file(), f"{policy.name} has no {tests.name}"
    result = run_file(tests)
    assert result.passed, result.render()
    assert len(result.cases) >= 5
    kinds = {d.kind for c in result.cases for d in c.decisions}
    assert kinds == {"fire", "resolve"}


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.test.yaml"
    path.write_text(f"policy: {EXAMPLES_DIR / 'lending.yaml'}\n" + body)
    return path


def test_a_wrong_expectation_fails_with_a_diff(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
tests:
  - name: off by one
    model: lending-risk
    series:
      ks_utilization: {n: 500, p_value: 1e-9x3 0.5}
    expect:
      - {rule: UtilizationDrift, kind: fire, at: 1}
      - {rule: UtilizationDrift, kind: resolve, at: 3, actions: []}
  - name: wrong actions
    model: lending-risk
    series:
      ks_utilization: {n: 500, p_value: 1e-9x3}
    expect:
      - {rule: UtilizationDrift, kind: fire, at: 2, actions: [alert], suppressed: cooldown}
""")
    result = run_file(path)
    assert not result.passed
    first, second = result.cases
    assert first.missing == ("step 1 (2025-01-01T00:01:00Z) fire UtilizationDrift",)
    assert first.unexpected == (
        "step 2 (2025-01-01T00:02:00Z) fire UtilizationDrift (ks_utilization.p_value = 1e-09)",
    )
    assert second.missing == (
        "step 2 (2025-01-01T00:02:00Z) fire UtilizationDrift with actions=['alert'], suppressed=cooldown",
    )
    assert second.unexpected == (
        "step 2 (2025-01-01T00:02:00Z) fire UtilizationDrift with actions=['alert', 'pause'], "
        "suppressed=none",
    )
    text = result.render()
    assert "  FAIL  off by one\n        - expected  step 1" in text
    assert text.endswith("2 test(s), 2 failed")


def test_errors_inside_a_case_fail_that_case_only(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
tests:
  - name: unknown detector
    model: lending-risk
    series: {nope: {n: 5, statistic: 1}}
  - name: ragged series
    model: lending-risk
    series: {ks_utilization: {n: 500, p_value: 1 2 3, statistic: 1 2}}
  - name: constants need steps
    model: lending-risk
    series: {ks_utilization: {n: 500, p_value: 0.5}}
  - name: unknown rule
    model: lending-risk
    series: {ks_utilization: {n: 500, p_value: 0.5 0.5}}
    expect: [{rule: Nope, kind: fire, at: 0}]
  - name: at between steps
    model: lending-risk
    series: {ks_utilization: {n: 500, p_value: 0.5 0.5}}
    expect: [{rule: UtilizationDrift, kind: fire, at: 90s}]
  - name: fine
    model: lending-risk
    series: {ks_utilization: {n: 500, p_value: 0.5 0.5}}
""")
    result = run_file(path)
    errors = [c.error for c in result.cases]
    assert "model 'lending-risk' has no detector 'nope'" in errors[0]
    assert "series.ks_utilization.statistic has 2 values but the longest series has 3" in errors[1]
    assert "say how many evaluations with steps: N" in errors[2]
    assert "no rule 'Nope'" in errors[3]
    assert "at 90s is not a whole number of intervals" in errors[4]
    assert errors[5] is None and result.cases[5].passed


def test_a_malformed_test_file_names_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
tests:
  - name: typo
    model: lending-risk
    serie: {}
    expect: [{rule: X, kind: fires, at: 0}]
""")
    with pytest.raises(PolicyError) as caught:
        run_file(path)
    found = [(i.line, i.field) for i in caught.value.errors]
    assert found == [(3, "tests[0].series"), (5, "tests[0].serie"), (6, "tests[0].expect[0].kind")]
    assert "unknown key 'serie'" in str(caught.value)
    assert str(caught.value).startswith(f"{path} has 3 problems; fix them and run the policy tests again:")


def test_a_test_file_naming_a_bad_policy_reports_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "t.test.yaml"
    path.write_text(f"policy: {EXAMPLES_DIR / 'bad.yaml'}\ntests: [{{name: x, model: m, series: {{}}}}]\n")
    with pytest.raises(PolicyError) as caught:
        run_file(path)
    assert caught.value.file.endswith("bad.yaml")


def test_parse_series_notation() -> None:
    assert parse_series("1 2x2 _x2 3e-1", "s") == [1.0, 2.0, 2.0, None, None, 0.3]
    assert parse_series([1, None, 2.5], "s") == [1.0, None, 2.5]
    for bad, message in [("1x0", "is not VALUE or VALUExCOUNT"), ("abc", "is not a number"), ("", "empty"),
                         (True, "expected numbers"), ({"a": 1}, "expected a number, a list")]:
        with pytest.raises(ValueError, match=message):
            parse_series(bad, "s")


def test_cli_policy_test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "test", *(str(p.with_name(p.stem + ".test.yaml")) for p in POLICIES)]) == 0
    out = capsys.readouterr().out
    assert out.count("0 failed") == 3 and "FAIL" not in out
    failing = _write(
        tmp_path,
        "tests:\n  - name: never\n    model: lending-risk\n    series: {ks_utilization: "
        "{n: 500, p_value: 0.5}}\n    steps: 1\n    expect: [{rule: UtilizationDrift, "
        "kind: fire, at: 0}]\n",
    )
    assert main(["policy", "test", str(failing)]) == 1
    assert "- expected  step 0 (2025-01-01T00:00:00Z) fire UtilizationDrift" in capsys.readouterr().out
    assert main(["policy", "test", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot read" in capsys.readouterr().err


# -- JSON Schema ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(policy_json_schema())


DEMO_POLICY = Path(rules.__file__).parent.parent / "watchdog/data/demo_policy.yaml"


@pytest.mark.parametrize("policy", [*POLICIES, DEMO_POLICY], ids=lambda p: p.stem)
def test_json_schema_accepts_the_example_policies(policy: Path, validator: jsonschema_rs.Validator) -> None:
    data = _parse(policy.read_text(), policy.name).data
    errors = [e.message for e in validator.iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        (lambda d: d["groups"][0]["rules"][0].__setitem__("for", "15 minutes"), "for"),
        (lambda d: d["groups"][0]["rules"][0].__setitem__("cooldown", 5), "cooldown"),
        (lambda d: d["groups"][0]["rules"][0]["condition"].__setitem__("treshold", 1), "treshold"),
        (lambda d: d["groups"][0]["rules"][0].__setitem__("condition", {"k_of_n": {"k": 1}}), "of"),
        (lambda d: d["groups"][0]["rules"][0]["labels"].__setitem__("severity", "urgent"), "urgent"),
        (lambda d: d["models"][0]["detectors"][0].__setitem__("kind", "nope"), "nope"),
        (lambda d: d.__setitem__("chain", {"rate_limit": {"max_actions": 0, "window": "1h"}}), "0"),
    ],
)
def test_json_schema_rejects_what_the_loader_rejects(
    patch, where: str, validator: jsonschema_rs.Validator
) -> None:
    data = _parse((EXAMPLES_DIR / "lending.yaml").read_text(), "lending.yaml").data
    patch(data)
    errors = list(validator.iter_errors(data))
    assert errors, f"the schema accepted a policy with a bad {where}"


def test_watchdog_policy_schema_prints_and_writes_the_schema(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "watchdog", "policy", "schema"], capture_output=True, text=True, check=True
    ).stdout
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert {"version", "name", "models"} <= set(schema["required"])
    rule = schema["$defs"]["Rule"]["properties"]
    assert {"for", "keep_firing_for", "cooldown", "condition"} <= set(rule)
    target = tmp_path / "policy.schema.json"
    assert main(["policy", "schema", "--out", str(target)]) == 0
    assert json.loads(target.read_text()) == policy_json_schema()
