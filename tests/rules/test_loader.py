"""The loader: every kind of mistake is reported with its exact line, and all of them at once."""

from __future__ import annotations

import pickle

import pytest

from rules import PolicyError, PolicyIssue, load_policy, load_policy_text
from tests.rules.policies import BASE, KEEPER_MODULE, edit, issues_of, line, only_issue


def test_base_policy_loads() -> None:
    policy = load_policy_text(BASE, "p.yaml")
    assert policy.model_ids == ("risk", "keeper")
    assert [r.name for r in policy.rules_for("risk")] == ["UtilDrift", "ScoreShift"]
    assert policy.rule("ScoreShift").condition.statistic == "statistic"  # the default
    assert policy.rule("ScoreShift").for_ == 1
    assert policy.group_of("KeeperAccuracyLow").interval_records == 100
    assert policy.model("risk").detector("pred_psi").params == {"window": 50, "bins": 5}
    assert policy.model("risk").detector("ks_util").params == {
        "window": 50
    }  # threshold unset: detector default
    assert policy.min_samples_of(policy.rule("UtilDrift")) == 50
    assert policy.rule_source("ScoreShift") == "p.yaml:33"
    assert policy.line_of("groups", 0, "rules", 1, "condition", "threshold") == 38


# -- one test per kind of mistake, with the exact line -------------------------------------------------------


def test_unknown_key_top_level() -> None:
    issue = only_issue(edit(BASE, 2, "nmae: test-policy") + "name: test-policy\n")
    assert (issue.line, issue.field) == (2, "nmae")
    assert "unknown key 'nmae'" in issue.problem and "did you mean 'name'" in issue.problem


def test_unknown_key_and_resulting_missing_field() -> None:
    found = issues_of(edit(BASE, 38, "          treshold: 0.2"))
    assert [(i.line, i.field) for i in found] == [
        (35, "groups[0].rules[1].condition.threshold"),
        (38, "groups[0].rules[1].condition.treshold"),
    ]
    assert found[0].problem == "required field is missing"
    assert found[1].problem == (
        "unknown key 'treshold' (did you mean 'threshold'?); "
        "allowed here: detector, statistic, op, threshold, clear_threshold"
    )


def test_unknown_key_in_a_flow_mapping() -> None:
    issue = only_issue(edit(BASE, 6, "    prediction: {type: numeric, kind: score}"))
    assert (issue.line, issue.field) == (6, "models[0].prediction.kind")


def test_wrong_type() -> None:
    issue = only_issue(
        edit(BASE, 12, '      - {name: ks_util, kind: ks, feature: utilization, window: "50"}')
    )
    assert (issue.line, issue.field) == (12, "models[0].detectors[0].window")
    assert issue.problem == "expected a whole number, got the text '50'"


def test_wrong_type_bool_is_not_a_number() -> None:
    issue = only_issue(edit(BASE, 29, "        for: true"))
    assert (issue.line, issue.field) == (29, "groups[0].rules[0].for")
    assert issue.problem == (
        "expected a whole number of consecutive evaluations (3) or a duration (15m), got true"
    )


def test_yaml_yes_is_explained() -> None:
    issue = only_issue(edit(BASE, 2, "name: yes"))
    assert (issue.line, issue.field) == (2, "name")
    assert "'yes', which YAML reads as true (quote it if you meant text)" in issue.problem


def test_unquoted_hex_module_is_explained() -> None:
    issue = only_issue(edit(BASE, 17, f"    module: {KEEPER_MODULE}"))
    assert (issue.line, issue.field) == (17, "models[1].module")
    assert "which YAML reads as the number" in issue.problem and "quote it" in issue.problem


def test_missing_field_is_reported_at_its_parent() -> None:
    issue = only_issue(edit(BASE, 37, "          # op forgotten"))
    assert (issue.line, issue.field, issue.problem) == (
        35,
        "groups[0].rules[1].condition.op",
        "required field is missing",
    )


def test_missing_field_of_a_list_item() -> None:
    issue = only_issue(edit(BASE, 40, "        # no annotations"))
    assert (issue.line, issue.field) == (33, "groups[0].rules[1].annotations")


def test_bad_enum() -> None:
    issue = only_issue(edit(BASE, 39, "        labels: {severity: urgent}"))
    assert (issue.line, issue.field) == (39, "groups[0].rules[1].labels.severity")
    assert issue.problem == "the text 'urgent' is not allowed here; use 'routine', 'medium' or 'critical'"


def test_bad_action() -> None:
    issue = only_issue(edit(BASE, 41, "        actions: [alert, page]"))
    assert (issue.line, issue.field) == (41, "groups[0].rules[1].actions[1]")


def test_bad_op_suggests_quoting() -> None:
    issue = only_issue(edit(BASE, 37, "          op: =>"))
    assert (issue.line, issue.field) == (37, "groups[0].rules[1].condition.op")
    assert "quote the operator" in issue.problem


def test_duplicate_rule_name() -> None:
    issue = only_issue(edit(BASE, 44, "      - name: UtilDrift"))
    assert (issue.line, issue.field) == (44, "groups[1].rules[0].name")
    assert issue.problem == (
        "duplicate rule name 'UtilDrift'; rule names must be unique across the policy and it "
        "is already used at line 26"
    )


def test_duplicate_yaml_key() -> None:
    issue = only_issue(edit(BASE, 29, "        model: risk"))
    assert (issue.line, issue.field) == (29, "groups[0].rules[0].model")
    assert issue.problem.startswith("duplicate key 'model': it is also set on line 27")


def test_duplicate_yaml_key_in_flow_mapping() -> None:
    issue = only_issue(edit(BASE, 6, "    prediction: {type: categorical, type: numeric}"))
    assert (issue.line, issue.field) == (6, "models[0].prediction.type")
    assert "duplicate key 'type'" in issue.problem


def test_duplicate_model_feature_detector_group_names() -> None:
    text = edit(BASE, 16, "  - id: risk")
    text = edit(text, 9, "      - {name: utilization, type: categorical}")
    text = edit(text, 13, "      - {name: ks_util, kind: chi_square, feature: asset_class, window: 50}")
    text = edit(text, 42, "  - name: drift")
    found = issues_of(text)
    assert [(i.line, i.field) for i in found] == [
        (9, "models[0].features[1].name"),
        (13, "models[0].detectors[1].name"),
        (16, "models[1].id"),
        (42, "groups[1].name"),
        (45, "groups[1].rules[0].model"),  # model 'keeper' is gone now
    ]
    assert found[0].problem == "duplicate feature 'utilization'; it is already declared at line 8"
    assert (
        found[1].problem == "duplicate detector 'ks_util' in model 'risk'; it is already declared at line 12"
    )
    assert found[2].problem == "duplicate model id 'risk'; it is already used at line 4"
    assert found[3].problem == "duplicate group name 'drift'; it is already used at line 23"


def test_unknown_model() -> None:
    issue = only_issue(edit(BASE, 34, "        model: riks"))
    assert (issue.line, issue.field) == (34, "groups[0].rules[1].model")
    assert issue.problem == "unknown model 'riks' (did you mean 'risk'?); known: risk, keeper"


def test_unknown_detector() -> None:
    issue = only_issue(edit(BASE, 36, "          detector: psi_pred"))
    assert (issue.line, issue.field) == (36, "groups[0].rules[1].condition.detector")
    assert issue.problem == (
        "unknown detector 'psi_pred' in model 'risk'; known: ks_util, chi2_asset, pred_psi, err_mae"
    )


def test_detector_of_another_model_is_unknown() -> None:
    issue = only_issue(edit(BASE, 46, '        condition: {detector: ks_util, op: "<", threshold: 0.9}'))
    assert (issue.line, issue.field) == (46, "groups[1].rules[0].condition.detector")
    assert "in model 'keeper'; known: acc" in issue.problem


def test_unknown_feature() -> None:
    issue = only_issue(edit(BASE, 12, "      - {name: ks_util, kind: ks, feature: utilisation, window: 50}"))
    assert (issue.line, issue.field) == (12, "models[0].detectors[0].feature")
    assert issue.problem == (
        "unknown feature 'utilisation' in model 'risk' (did you mean 'utilization'?); "
        "known: utilization, asset_class"
    )


def test_feature_type_mismatch() -> None:
    issue = only_issue(edit(BASE, 12, "      - {name: ks_util, kind: ks, feature: asset_class, window: 50}"))
    assert (issue.line, issue.field) == (12, "models[0].detectors[0].feature")
    assert issue.problem.startswith(
        "detector 'ks_util' is ks, which needs a numeric feature, but 'asset_class' is "
        "categorical; use chi_square or "  # then the other categorical kinds
    )


def test_categorical_kind_on_numeric_feature() -> None:
    issue = only_issue(edit(BASE, 13, "      - {name: chi2_asset, kind: chi_square, feature: utilization}"))
    assert (issue.line, issue.field) == (13, "models[0].detectors[1].feature")
    assert "needs a categorical feature, but 'utilization' is numeric; use ks or psi " in issue.problem


def test_drift_kind_on_prediction_of_wrong_type() -> None:
    issue = only_issue(edit(BASE, 14, "      - {name: pred_psi, kind: chi_square, window: 50}"))
    assert (issue.line, issue.field) == (14, "models[0].detectors[2].kind")
    assert (
        "watches the prediction, which is numeric in model 'risk'; chi_square needs categorical"
        in issue.problem
    )


def test_performance_kind_needs_matching_prediction() -> None:
    issue = only_issue(edit(BASE, 15, "      - {name: err_mae, kind: accuracy, window: 20}"))
    assert (issue.line, issue.field) == (15, "models[0].detectors[3].kind")
    assert issue.problem.startswith(
        "detector 'err_mae' is accuracy, which needs a categorical prediction, but model "
        "'risk' predicts numeric values; use mae or "  # then the other numeric-pair kinds
    )
    issue = only_issue(edit(BASE, 21, "      - {name: acc, kind: mae}"))
    assert (issue.line, issue.field) == (21, "models[1].detectors[0].kind")


def test_performance_kind_takes_no_feature() -> None:
    issue = only_issue(edit(BASE, 15, "      - {name: err_mae, kind: mae, feature: utilization}"))
    assert (issue.line, issue.field) == (15, "models[0].detectors[3].feature")
    assert "take no feature" in issue.problem


def test_unknown_kind() -> None:
    issue = only_issue(edit(BASE, 14, "      - {name: pred_psi, kind: pis, window: 50}"))
    assert (issue.line, issue.field) == (14, "models[0].detectors[2].kind")
    assert issue.problem.startswith(
        "unknown detector kind 'pis' (did you mean 'psi'?); known kinds: ks, psi, chi_square, accuracy, mae"
    )


def test_missing_kind() -> None:
    issue = only_issue(edit(BASE, 14, "      - {name: pred_psi, window: 50}"))
    assert (issue.line, issue.field) == (14, "models[0].detectors[2].kind")
    assert issue.problem.startswith("required field is missing")


def test_param_of_another_kind() -> None:
    issue = only_issue(edit(BASE, 12, "      - {name: ks_util, kind: ks, feature: utilization, bins: 5}"))
    assert (issue.line, issue.field) == (12, "models[0].detectors[0].bins")
    assert (
        issue.problem
        == "unknown key 'bins'; allowed here: name, kind, feature, window, threshold, min_samples"
    )


def test_param_out_of_range() -> None:
    issue = only_issue(edit(BASE, 14, "      - {name: pred_psi, kind: psi, window: 50, bins: 1}"))
    assert (issue.line, issue.field, issue.problem) == (
        14,
        "models[0].detectors[2].bins",
        "must be at least 2, got the number 1",
    )


def test_unknown_statistic() -> None:
    issue = only_issue(
        edit(
            BASE,
            28,
            '        condition: {detector: ks_util, statistic: unseen_ratio, op: "<", threshold: 0.01}',
        )
    )
    assert (issue.line, issue.field) == (28, "groups[0].rules[0].condition.statistic")
    assert (
        issue.problem
        == "detector 'ks_util' (ks) has no statistic 'unseen_ratio'; it publishes: statistic, p_value"
    )


def test_tier_action_conflict() -> None:
    issue = only_issue(edit(BASE, 49, "        actions: [alert, pause]"))
    assert (issue.line, issue.field) == (49, "groups[1].rules[0].actions[1]")
    assert issue.problem == (
        "a routine rule may not 'pause': the routine tier may only alert; raise "
        "labels.severity to medium or critical or remove 'pause'"
    )
    issue = only_issue(edit(BASE, 41, "        actions: [alert, rollback]"))
    assert (issue.line, issue.field) == (41, "groups[0].rules[1].actions[1]")
    assert "medium rule may not 'rollback'" in issue.problem and "to critical" in issue.problem


def test_duplicate_action() -> None:
    issue = only_issue(edit(BASE, 41, "        actions: [alert, alert]"))
    assert (issue.line, issue.field, issue.problem) == (
        41,
        "groups[0].rules[1].actions[1]",
        "action 'alert' is listed twice",
    )


def test_empty_actions() -> None:
    issue = only_issue(edit(BASE, 41, "        actions: []"))
    assert (issue.line, issue.field, issue.problem) == (
        41,
        "groups[0].rules[1].actions",
        "must list at least one entry",
    )


@pytest.mark.parametrize("reference, got", [("{first_n: 100, file: ref.jsonl}", "both"), ("{}", "neither")])
def test_reference_both_or_neither(reference: str, got: str) -> None:
    issue = only_issue(edit(BASE, 10, f"    reference: {reference}"))
    assert (issue.line, issue.field) == (10, "models[0].reference")
    assert issue.problem.startswith("give exactly one of first_n") and issue.problem.endswith(f"got {got}")


def test_min_samples_beyond_window() -> None:
    issue = only_issue(edit(BASE, 29, "        min_samples: 51"))
    assert (issue.line, issue.field) == (29, "groups[0].rules[0].min_samples")
    assert "could never fire" in issue.problem


def test_feature_range() -> None:
    issue = only_issue(edit(BASE, 8, "      - {name: utilization, type: numeric, range: [1, 0]}"))
    assert (issue.line, issue.field) == (8, "models[0].features[0].range")
    issue = only_issue(edit(BASE, 8, "      - {name: utilization, type: numeric, range: [0, 1, 2]}"))
    assert issue.problem == "range must be two numbers [low, high], got 3 value(s)"
    issue = only_issue(edit(BASE, 9, "      - {name: asset_class, type: categorical, range: [0, 1]}"))
    assert (issue.line, issue.field) == (9, "models[0].features[1].range")
    assert "only applies to numeric features" in issue.problem


def test_bad_names_and_module() -> None:
    found = issues_of(
        edit(
            edit(edit(BASE, 4, "  - id: Risk Model"), 26, "      - name: util-drift"),
            17,
            '    module: "0x1234"',
        )
    )
    assert [(i.line, i.field) for i in found] == [
        (4, "models[0].id"),
        (17, "models[1].module"),
        (26, "groups[0].rules[0].name"),
        # the rules still say 'risk', which no model is called any more
        (27, "groups[0].rules[0].model"),
        (34, "groups[0].rules[1].model"),
    ]
    assert "is not a valid model id" in found[0].problem
    assert "not 32 bytes" in found[1].problem
    assert "is not a valid rule name" in found[2].problem


def test_bad_runbook_url_and_nan_threshold() -> None:
    found = issues_of(
        edit(
            edit(BASE, 48, '        annotations: {summary: x, runbook_url: "wiki/keeper"}'),
            38,
            "          threshold: .nan",
        )
    )
    assert [(i.line, i.field) for i in found] == [
        (38, "groups[0].rules[1].condition.threshold"),
        (48, "groups[1].rules[0].annotations.runbook_url"),
    ]
    assert found[0].problem == "must be a finite number, got the number .nan"
    assert found[1].problem == "'wiki/keeper' is not a web address; give a full http:// or https:// URL"


def test_unsupported_version() -> None:
    issue = only_issue(edit(BASE, 1, "version: 2"))
    assert (issue.line, issue.field) == (1, "version")
    assert issue.problem == "policy version 2 is not supported; this watchdog reads version 1"


# -- YAML-level problems -------------------------------------------------------------------------------------


def test_yaml_syntax_error() -> None:
    issue = only_issue(edit(BASE, 5, "    module: risk: module"))
    assert (issue.line, issue.field) == (5, "YAML syntax")
    assert issue.problem.startswith("mapping values are not allowed here")


def test_yaml_unclosed_flow_mapping() -> None:
    issue = only_issue(edit(BASE, 28, '        condition: {detector: ks_util, op: "<", threshold: 0.01'))
    assert issue.field == "YAML syntax"
    assert issue.line == 29  # where the parser found out; the message points back at line 28
    assert "line 28" in issue.problem


def test_yaml_tab_indentation() -> None:
    issue = only_issue(edit(BASE, 29, "\tfor: 2"))
    assert (issue.line, issue.field) == (29, "YAML syntax")
    assert "tabs" in issue.problem


def test_yaml_unquoted_greater_than_in_flow() -> None:
    issue = only_issue(edit(BASE, 46, "        condition: {detector: acc, op: >, threshold: 0.9}"))
    assert (issue.line, issue.field) == (46, "YAML syntax")
    assert "quote comparison operators" in issue.problem


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "the policy is empty"),
        ("# only a comment\n", "the policy is empty"),
        ("- a\n- b\n", "the policy is a list, not a mapping"),
    ],
)
def test_not_a_mapping(text: str, problem: str) -> None:
    issue = only_issue(text)
    assert issue.line == 1 and issue.field == "policy" and issue.problem.startswith(problem)


def test_two_documents() -> None:
    issue = only_issue(BASE + "---\nversion: 1\n")
    assert issue.field == "YAML syntax" and issue.line == 51


def test_unknown_yaml_tag() -> None:
    issue = only_issue(edit(BASE, 2, "name: !secret test"))
    assert (issue.line, issue.field) == (2, "name")
    assert issue.problem.startswith("cannot read this value")


# -- all at once ---------------------------------------------------------------------------------------------


def test_five_mistakes_give_five_issues_in_file_order() -> None:
    text = BASE
    text = edit(text, 49, "        actions: [alert, rollback]")  # tier/action
    text = edit(text, 6, "    prediction: {type: number}")  # bad enum
    text = edit(text, 36, "          detector: psi_pred")  # unknown detector
    text = edit(text, 24, "    interval_records: 0")  # out of range
    text = edit(text, 19, "    reference: {first_n: 100, fil: keeper_ref.jsonl}")  # unknown key
    found = issues_of(text)
    assert [(i.line, i.field) for i in found] == [
        (6, "models[0].prediction.type"),
        (19, "models[1].reference.fil"),
        (24, "groups[0].interval_records"),
        (36, "groups[0].rules[1].condition.detector"),
        (49, "groups[1].rules[0].actions[1]"),
    ]


def test_a_broken_part_does_not_cause_false_reference_errors() -> None:
    # the first model's detectors list has a broken entry: rules on it must not be called "unknown detector"
    text = edit(BASE, 13, "      - {kind: chi_square, feature: asset_class}")
    found = issues_of(text)
    assert [(i.line, i.field) for i in found] == [(13, "models[0].detectors[1].name")]


def test_policy_error_message_and_pickle() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(edit(edit(BASE, 2, "name: 5"), 29, "        for: 0"), "lending.yaml")
    err = caught.value
    assert isinstance(err, ValueError)
    assert str(err) == (
        "lending.yaml has 2 problems; fix them and load the policy again "
        "(the watchdog will not start with it):\n"
        "  lending.yaml:2: name: expected text, got the number 5\n"
        "  lending.yaml:29: groups[0].rules[0].for: a count of evaluations must be at least 1, got 0; "
            "or give a duration (15m)"
    )
    assert err.errors[0] == PolicyIssue("lending.yaml", 2, "name", "expected text, got the number 5")
    again = pickle.loads(pickle.dumps(err))
    assert again.errors == err.errors and str(again) == str(err)


# -- YAML features that must keep working --------------------------------------------------------------------


def test_exponent_without_dot_is_a_number() -> None:
    policy = load_policy_text(edit(BASE, 38, "          threshold: 1e-6"))
    assert policy.rule("ScoreShift").condition.threshold == 1e-6


def test_anchors_and_merge_keys() -> None:
    text = BASE.replace(
        "        annotations: {summary: Utilization drifted.}",
        "        annotations: &ann {summary: Utilization drifted.}",
    )
    text = text.replace("        annotations: {summary: Score shifted.}", "        annotations: *ann")
    text = text.replace(
        "        labels: {severity: medium}", "        labels: {<<: {severity: critical}, severity: medium}"
    )
    policy = load_policy_text(text)
    assert policy.rule("ScoreShift").annotations.summary == "Utilization drifted."
    assert (
        policy.rule("ScoreShift").tier == "medium"
    )  # explicit keys win over merged ones, without a duplicate


def test_load_policy_from_file_checks_reference_files(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    [issue] = caught.value.errors
    assert (issue.file, issue.line, issue.field) == (str(path), 19, "models[1].reference.file")
    assert "reference file 'keeper_ref.jsonl' not found" in issue.problem
    (tmp_path / "keeper_ref.jsonl").write_text("{}\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.reference_path("keeper") == tmp_path / "keeper_ref.jsonl"
    assert policy.reference_path("risk") is None
    assert policy.source == str(path)


def test_load_policy_rejects_non_utf8(tmp_path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(BASE.encode() + b"# caf\xe9\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.errors[0].line == 51


def test_missing_file_is_an_os_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_policy(tmp_path / "nope.yaml")


def test_base_line_helper_matches() -> None:
    assert line(26) == "      - name: UtilDrift"
