"""``watchdog_rule_threshold`` exports every comparison of a rule at the level the evaluator holds it to.

Before: one series per rule, the first comparison's threshold as written (1e-06), where the evaluator compares
each p-value of a Bonferroni-corrected pair with 5e-07.
"""

from __future__ import annotations

from pathlib import Path

import rules
from watchdog.engine.engine import Engine
from watchdog.observe.metrics import Metrics

POLICY = rules.EXAMPLES_DIR / "oracle.yaml"


def test_each_comparison_of_a_corrected_compound_rule_is_exported_at_its_effective_threshold(tmp_path: Path) -> None:
    text = POLICY.read_text().replace("          all:                      # returns and realised",
                                      "          correction: bonferroni\n          all:  # returns and realised")
    policy = rules.load_policy_text(text, str(tmp_path / "oracle.yaml"), base_dir=POLICY.parent)
    metrics = Metrics()
    engine = Engine(policy, base_dir=POLICY.parent, metrics=metrics)
    metrics.attach(engine)
    got = {d: metrics.registry.get_sample_value("watchdog_rule_threshold", {
        "model": "vol-oracle", "rule": "MarketRegimeChange", "detector": d, "statistic": "p_value"})
        for d in ("ks_return", "ks_realised_vol")}
    assert got == {"ks_return": 5e-07, "ks_realised_vol": 5e-07}
    # the evaluator's own decisions carry the same level
    (rule,) = [r for r in policy.rules if r.name == "MarketRegimeChange"]
    assert [t.threshold for t in rules.effective_thresholds(rule)] == [5e-07, 5e-07]
