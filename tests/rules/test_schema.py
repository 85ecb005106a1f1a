"""Policy identity (hash), helpers, module ids, and building a policy in code."""

from __future__ import annotations

import random
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rules import KINDS, Policy, load_policy_text, module_id_bytes32, module_id_hex
from rules.schema import DETECTOR_MODELS
from tests.rules.policies import BASE, KEEPER_MODULE, edit

REWRITTEN = f"""\
# The same policy as BASE, written differently: comments, key order, block/flow style, quoting, number
# spelling, and defaults spelled out.
name: "test-policy"     # quoted
version: 1
dry_run: false
groups:
  - rules:
      - model: risk
        name: UtilDrift
        actions:
          - alert
          - pause
        labels:
          severity: critical
        for: 2
        annotations:
          summary: 'Utilization drifted.'
        condition:
          threshold: 1e-2
          op: '<'
          statistic: p_value
          detector: ks_util
        dry_run: no
      - {{name: ScoreShift, model: risk, condition: {{detector: pred_psi, statistic: statistic, op: ">",
         threshold: 2.0e-1}}, for: 1, labels: {{severity: medium}}, annotations: {{summary: Score shifted.}},
         actions: [alert]}}
    interval_records: 10
    name: drift
  - name: performance
    interval_records: 100
    rules:
      - name: KeeperAccuracyLow
        model: keeper
        condition: {{detector: acc, op: "<", threshold: 0.90}}
        labels: {{severity: routine}}
        annotations:
          runbook_url: https://runbooks.example.org/keeper
          summary: Keeper accuracy fell.
        actions: [alert]
        dry_run: yes
models:
  - module: risk-module
    id: risk
    prediction:
      type: numeric
    reference:
      first_n: 100
    features:
      - name: utilization
        type: numeric
        range: [0.0, 1.0]
      - {{type: categorical, name: asset_class}}
    detectors:
      - {{kind: ks, name: ks_util, feature: utilization, window: 50}}
      - {{name: chi2_asset, kind: chi_square, feature: asset_class, window: 50}}
      - {{name: pred_psi, kind: psi, window: 50, bins: 5, feature: null}}
      - {{name: err_mae, kind: mae, window: 20}}
  - id: keeper
    module: '{KEEPER_MODULE}'
    prediction: {{type: categorical}}
    reference: {{file: keeper_ref.jsonl}}
    detectors: [{{name: acc, kind: accuracy, window: 30}}]
"""


def test_hash_is_stable_under_rewriting() -> None:
    base = load_policy_text(BASE, "a.yaml")
    other = load_policy_text(REWRITTEN, "b.yaml")
    assert other.hash == base.hash
    assert other == base and len({other, base}) == 1  # equal content, whatever the file
    assert re.fullmatch(r"[0-9a-f]{64}", base.hash)


def test_hash_sees_defaults_as_values() -> None:
    # leaving chi2_asset's window unset means 500, which differs from BASE's 50
    text = REWRITTEN.replace("feature: asset_class, window: 50}", "feature: asset_class}")
    assert load_policy_text(text).hash != load_policy_text(BASE).hash
    assert (
        load_policy_text(text.replace("feature: asset_class}", "feature: asset_class, window: 500}")).hash
        == load_policy_text(text).hash
    )


@pytest.mark.parametrize(
    "n, new",
    [
        (38, "          threshold: 0.21"),
        (29, "        for: 3"),
        (50, "        dry_run: false"),
        (2, "name: other-policy"),
    ],
)
def test_hash_changes_with_meaning(n: int, new: str) -> None:
    assert load_policy_text(edit(BASE, n, new)).hash != load_policy_text(BASE).hash


def _shuffled(value: object, rnd: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rnd.shuffle(items)
        return {k: _shuffled(v, rnd) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rnd) for v in value]
    return value


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), flow=st.sampled_from([True, False, None]), width=st.integers(40, 200))
def test_hash_is_stable_under_key_order_and_style(seed: int, flow: bool | None, width: int) -> None:
    data = yaml.safe_load(BASE)
    text = yaml.safe_dump(
        _shuffled(data, random.Random(seed)), sort_keys=False, default_flow_style=flow, width=width
    )
    assert load_policy_text(text).hash == load_policy_text(BASE).hash


def test_canonical_json_has_sorted_keys_and_no_spaces() -> None:
    canonical = load_policy_text(BASE).canonical_json()
    assert canonical.startswith('{"chain":{"rate_limit":null},"dry_run":false,"groups":[')
    assert ": " not in canonical and ", " not in canonical.replace("Utilization drifted.", "")


def test_policy_is_frozen() -> None:
    policy = load_policy_text(BASE)
    with pytest.raises(ValidationError):
        policy.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        policy.models[0].detectors[0].window = 3  # type: ignore[attr-defined]


def test_lookups() -> None:
    policy = load_policy_text(BASE, "p.yaml")
    assert policy.model("keeper").prediction.type == "categorical"
    assert [g.name for g in policy.groups_for("keeper")] == ["performance"]
    assert [g.name for g in policy.groups_for("risk")] == ["drift"]
    assert [r.name for r in policy.rules] == ["UtilDrift", "ScoreShift", "KeeperAccuracyLow"]
    assert policy.detector_of(policy.rule("UtilDrift")).feature == "utilization"
    assert policy.model("risk").feature("utilization").range == (0.0, 1.0)
    with pytest.raises(KeyError, match="no model 'nope' in policy 'test-policy'; known: risk, keeper"):
        policy.model("nope")
    with pytest.raises(KeyError):
        policy.rules_for("nope")
    with pytest.raises(KeyError, match="known: ks_util, chi2_asset, pred_psi, err_mae"):
        policy.model("risk").detector("nope")
    with pytest.raises(KeyError):
        policy.rule("Nope")


def test_policy_built_in_code_runs_the_cross_checks() -> None:
    data = yaml.safe_load(BASE)
    policy = Policy.model_validate(data)
    assert policy.hash == load_policy_text(BASE).hash
    assert policy.source is None and policy.rule_source("UtilDrift") is None
    data["groups"][0]["rules"][0]["condition"]["detector"] = "nope"
    data["groups"][1]["rules"][0]["actions"] = ["alert", "rollback"]
    with pytest.raises(ValidationError) as caught:
        Policy.model_validate(data)
    text = str(caught.value)
    assert "2 problem(s)" in text
    assert "groups[0].rules[0].condition.detector: unknown detector 'nope'" in text
    assert "groups[1].rules[0].actions[1]: a routine rule may not 'rollback'" in text


def test_module_ids() -> None:
    # keccak256 of the empty string is a well-known constant
    assert module_id_bytes32("a") != module_id_bytes32("b")
    from eth_utils import keccak

    assert keccak(text="").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert module_id_bytes32("risk-module") == keccak(b"risk-module")
    assert module_id_bytes32(KEEPER_MODULE) == bytes.fromhex("ab" * 32)
    assert module_id_bytes32("0x" + "AB" * 32) == bytes.fromhex("ab" * 32)
    assert module_id_hex(KEEPER_MODULE) == KEEPER_MODULE
    assert load_policy_text(BASE).model("risk").module_id == keccak(b"risk-module")
    for bad in ("0x1234", "", " risk"):
        with pytest.raises(ValueError):
            module_id_bytes32(bad)


def test_detector_models_follow_the_kinds_table() -> None:
    assert set(DETECTOR_MODELS) == set(KINDS)
    for name, model in DETECTOR_MODELS.items():
        fields = {f.alias or n for n, f in model.model_fields.items()}
        assert fields == {"name", "kind", "feature", *KINDS[name].params}
