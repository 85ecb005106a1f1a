"""A plain-text summary of a policy for humans (``watchdog check``): what each tier may do and who uses it."""

from __future__ import annotations

from rules.kinds import KINDS
from rules.schema import TIER_ACTIONS, TIERS, Policy, Rule

__all__ = ["format_summary"]


def _condition(policy: Policy, rule: Rule) -> str:
    c = rule.condition
    evaluations = "evaluation" if rule.for_ == 1 else "evaluations"
    return (
        f"{rule.model}: {c.detector}.{c.statistic} {c.op} {c.threshold:g} for {rule.for_} {evaluations}, "
        f"min {policy.min_samples_of(rule)} samples"
    )


def format_summary(policy: Policy) -> str:
    """Summarise a policy: models, then per tier what it may do and which rules use it, then notes.

    Examples
    --------
    >>> from rules import EXAMPLES_DIR, load_policy
    >>> print(format_summary(load_policy(EXAMPLES_DIR / "lending.yaml")))  # doctest: +ELLIPSIS
    Policy 'lending-risk-policy' (version 1), sha256 ...
    ...
    Tiers
      routine   may alert
        - VolatilityRegimeShift  lending-risk: ks_volatility.statistic > 0.2 for 2 evaluations, min 300 samples -> alert
    ...
    """
    from rules.ids import module_id_hex

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

    out.append("")
    out.append("Tiers")
    width = max(len(t) for t in TIERS)
    for tier in TIERS:
        out.append(f"  {tier.ljust(width)}  may {', '.join(TIER_ACTIONS[tier])}")
        rules = [r for r in policy.rules if r.tier == tier]
        if not rules:
            out.append("    (no rules)")
        for rule in rules:
            shadow = "  [dry run]" if rule.dry_run or policy.dry_run else ""
            out.append(f"    - {rule.name}  {_condition(policy, rule)} -> {', '.join(rule.actions)}{shadow}")

    notes = []
    for rule in policy.rules:
        detector = policy.detector_of(rule)
        usual = KINDS[detector.kind].statistics[rule.condition.statistic]
        if rule.condition.op[0] != usual:
            notes.append(
                f"  - {rule.name} fires when {rule.condition.statistic} {rule.condition.op} "
                f"{rule.condition.threshold:g}; {detector.kind}'s {rule.condition.statistic} usually "
                f"signals trouble in the other direction ({usual}). Intended?"
            )
    if notes:
        out.append("")
        out.append("Notes")
        out.extend(notes)
    return "\n".join(out)
