"""Policy texts shared by the rules tests. Line numbers of BASE are asserted literally: keep its lines put."""

from __future__ import annotations

from rules import PolicyError, PolicyIssue, load_policy_text

KEEPER_MODULE = "0x" + "ab" * 32

BASE = f"""\
version: 1
name: test-policy
models:
  - id: risk
    module: risk-module
    prediction: {{type: numeric}}
    features:
      - {{name: utilization, type: numeric, range: [0, 1]}}
      - {{name: asset_class, type: categorical}}
    reference: {{first_n: 100}}
    detectors:
      - {{name: ks_util, kind: ks, feature: utilization, window: 50}}
      - {{name: chi2_asset, kind: chi_square, feature: asset_class, window: 50}}
      - {{name: pred_psi, kind: psi, window: 50, bins: 5}}
      - {{name: err_mae, kind: mae, window: 20}}
  - id: keeper
    module: "{KEEPER_MODULE}"
    prediction: {{type: categorical}}
    reference: {{file: keeper_ref.jsonl}}
    detectors:
      - {{name: acc, kind: accuracy, window: 30}}
groups:
  - name: drift
    interval_records: 10
    rules:
      - name: UtilDrift
        model: risk
        condition: {{detector: ks_util, statistic: p_value, op: "<", threshold: 0.01}}
        for: 2
        labels: {{severity: critical}}
        annotations: {{summary: Utilization drifted.}}
        actions: [alert, pause]
      - name: ScoreShift
        model: risk
        condition:
          detector: pred_psi
          op: ">"
          threshold: 0.2
        labels: {{severity: medium}}
        annotations: {{summary: Score shifted.}}
        actions: [alert]
  - name: performance
    rules:
      - name: KeeperAccuracyLow
        model: keeper
        condition: {{detector: acc, op: "<", threshold: 0.9}}
        labels: {{severity: routine}}
        annotations: {{summary: Keeper accuracy fell., runbook_url: "https://runbooks.example.org/keeper"}}
        actions: [alert]
        dry_run: true
"""


def line(n: int) -> str:
    """Line ``n`` (1-based) of BASE."""
    return BASE.splitlines()[n - 1]


def edit(text: str, n: int, new: str) -> str:
    """Replace line ``n`` (1-based) of ``text``, keeping every other line where it was."""
    lines = text.splitlines()
    lines[n - 1] = new
    return "\n".join(lines) + "\n"


def issues_of(text: str, filename: str = "p.yaml") -> list[PolicyIssue]:
    """The issues a policy text raises (fails the test if it loads)."""
    try:
        load_policy_text(text, filename)
    except PolicyError as exc:
        return exc.errors
    raise AssertionError("the policy loaded without errors")


def only_issue(text: str) -> PolicyIssue:
    found = issues_of(text)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]
