"""A plain-text summary of a policy for humans (``watchdog check``): what each tier may do and who uses it."""

from __future__ import annotations

from rules.ids import module_id_hex
from rules.kinds import KINDS
from rules.schema import TIER_ACTIONS, TIERS, Policy, Rule
from rules.thresholds import describe_condition, effective_thresholds

__all__ = ["format_summary"]


def _for(rule: Rule) -> str:
    if rule.for_seconds is not None:
        return f"held for {rule.for_} of data time"
    n = rule.for_count or 1
    return f"for {n} evaluation{'s' if n != 1 else ''}"


def _condition(policy: Policy, rule: Rule) -> str:
    leaves = rule.condition.leaves
    samples = sorted({policy.min_samples_of(rule, leaf) for leaf in leaves})
    extra = [_for(rule), f"min {'/'.join(map(str, samples))} samples"]
    if rule.keep_firing_for:
        extra.append(f"keeps firing {rule.keep_firing_for} after it clears")
    if rule.cooldown:
        extra.append(f"cooldown {rule.cooldown} after an action")
    return f"{rule.model}: {describe_condition(rule)} {', '.join(extra)}"


def format_summary(policy: Policy) -> str:
    """Summarise a policy: models, then per tier what it may do and which rules use it, then notes.

    Each rule's condition shows the thresholds it is really held to (`rules.thresholds`): a
    Bonferroni-corrected comparison shows its corrected level, as the rule's incidents and Prometheus rules
    do.

    Examples
    --------
    >>> from rules import EXAMPLES_DIR, load_policy
    >>> print(format_summary(load_policy(EXAMPLES_DIR / "lending.yaml")))  # doctest: +ELLIPSIS
    Policy 'lending-risk-policy' (version 1), sha256 ...
    ...
    Tiers
      routine   may alert; alerts only, never acts
        - VolatilityRegimeShift  lending-risk: ks_volatility.statistic > 0.2 for 2 evaluations, ... -> alert
    ...
      medium    may alert, pause; on-chain actions wait 15m for a steward's veto
    ...
    """
    out: list[str] = []
    source = f", from {policy.source}" if policy.source else ""
    out.append(f"Policy {policy.name!r} (version {policy.version}), sha256 {policy.hash}{source}")
    if policy.dry_run:
        out.append("Mode: DRY RUN - every rule is evaluated and recorded, nothing is sent on-chain")
    else:
        out.append("Mode: live - rules act as written (rules marked [dry run] only record)")

    out.append("")
    out.append("Models")
    for m in policy.models:
        ref = (
            f"first {m.reference.first_n} records"
            if m.reference.first_n is not None
            else f"file {m.reference.file}"
        )
        module_hex = module_id_hex(m.module)
        module = m.module if m.module.lower() == module_hex else f"{m.module} = {module_hex}"
        out.append(f"  {m.id}  module {module}")
        out.append(
            f"    prediction {m.prediction.type}, {len(m.features)} features, {len(m.detectors)} detectors, "
            f"{len(policy.rules_for(m.id))} rules, reference: {ref}"
        )
        budget = policy.budget_of(m.id)
        if budget is None:
            out.append(
                "    action budget: none (no budget and no chain.rate_limit: actions are not rationed)"
            )
        else:
            whose = "its own" if m.budget is not None else "the chain's rate limit"
            out.append(
                f"    action budget: {budget.max_actions} on-chain action(s) per {budget.period} ({whose})"
            )
    limit = policy.chain.rate_limit
    if limit is not None:
        out.append(f"  on-chain rate limit: {limit.max_actions} action(s) per {limit.window} per module")

    out.append("")
    out.append("Tiers")
    width = max(len(t) for t in TIERS)
    timing = {
        "routine": "alerts only, never acts",
        "critical": "acts at once",
    }
    for tier in TIERS:
        veto = policy.veto_seconds(tier)
        if tier == "medium":
            window = policy.tiers.veto_window(tier)
            when = (f"on-chain actions wait {window} for a steward's veto" if veto > 0
                    else "acts at once (no veto)")
        else:
            when = timing[tier]
        out.append(f"  {tier.ljust(width)}  may {', '.join(TIER_ACTIONS[tier])}; {when}")
        rules = [r for r in policy.rules if r.tier == tier]
        if not rules:
            out.append("    (no rules)")
        for rule in rules:
            shadow = "  [dry run]" if rule.dry_run or policy.dry_run else ""
            out.append(f"    - {rule.name}  {_condition(policy, rule)} -> {', '.join(rule.actions)}{shadow}")

    notes = []
    for rule in policy.rules:
        for level in effective_thresholds(rule):
            leaf = level.leaf
            detector = policy.detector_of(rule, leaf)
            usual = KINDS[detector.kind].statistics.get(leaf.statistic)
            if usual is not None and leaf.op[0] != usual:
                notes.append(
                    f"  - {rule.name} fires when {leaf.statistic} {leaf.op} "
                    f"{level.threshold:g}; {detector.kind}'s {leaf.statistic} usually "
                    f"signals trouble in the other direction ({usual}). Intended?"
                )
    if notes:
        out.append("")
        out.append("Notes")
        out.extend(notes)
    return "\n".join(out)
