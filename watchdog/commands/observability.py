"""``watchdog dashboards`` and ``watchdog alerts``: Grafana dashboards and Prometheus rules from a policy.

watchdog dashboards export --policy P --out DIR [--datasource-uid UID] [--provisioning-path PATH]
watchdog dashboards push --policy P --grafana-url URL --token-file F [--folder-uid UID]
watchdog alerts export --policy P [--out FILE] [--job NAME] [--for 2m] [--no-evaluation 10m] ...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.errors import ConfigError

if TYPE_CHECKING:
    import rules


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser(
        "dashboards",
        help="Grafana dashboards generated from the policy: export or push",
        description="Generate Grafana dashboards from a policy: an overview and one per model.",
    )
    dsub = d.add_subparsers(dest="dashboards_action", metavar="{export,push}", required=True)
    e = dsub.add_parser("export", help="write dashboard JSON (stable uids) and a Grafana provisioning YAML")
    e.add_argument("--policy", required=True)
    e.add_argument("--out", required=True, help="folder for <uid>.json and watchdog-dashboards.yaml")
    e.add_argument(
        "--datasource-uid",
        default="prometheus",
        help="uid of the Prometheus data source in Grafana (default: %(default)s)",
    )
    e.add_argument(
        "--provisioning-path",
        help="where Grafana will find the JSON files (default: the absolute --out folder)",
    )
    e.add_argument(
        "--folder", default="Watchdog", help="Grafana folder for the dashboards (default: %(default)s)"
    )
    e.set_defaults(func=cmd_dashboards_export)
    p = dsub.add_parser("push", help="create or update the dashboards in Grafana through its HTTP API")
    p.add_argument("--policy", required=True)
    p.add_argument("--grafana-url", required=True, help="e.g. http://127.0.0.1:3000")
    p.add_argument("--token-file", required=True, help="file holding a Grafana service account token")
    p.add_argument("--datasource-uid", default="prometheus")
    p.add_argument("--folder-uid", help="uid of an existing Grafana folder (default: the General folder)")
    p.set_defaults(func=cmd_dashboards_push)

    a = sub.add_parser(
        "alerts",
        help="Prometheus alerting rules for the policy and for the watchdog itself",
        description="Write Prometheus alerting rules for the policy's conditions and the watchdog's "
        "own health, with `promtool test rules` tests next to them.",
    )
    asub = a.add_subparsers(dest="alerts_action", metavar="{export}", required=True)
    x = asub.add_parser("export", help="write the rule file (and its promtool tests when --out is given)")
    x.add_argument("--policy", required=True)
    x.add_argument(
        "--out", help="rule file to write (its tests go to <name>_test.yml beside it); default: stdout"
    )
    x.add_argument(
        "--job", default="watchdog", help="Prometheus job scraping the watchdog (default: %(default)s)"
    )
    x.add_argument(
        "--for",
        dest="rule_for",
        default="2m",
        help="how long a policy condition must hold in Prometheus before paging (default: %(default)s)",
    )
    x.add_argument(
        "--no-evaluation",
        default="10m",
        help="page after this long without evaluation (default: %(default)s)",
    )
    x.add_argument(
        "--stale-feed",
        default="10m",
        help="page after this long without a record read (default: %(default)s)",
    )
    x.add_argument(
        "--outbox-stuck",
        default="5m",
        help="page when an action stays unfinished this long (default: %(default)s)",
    )
    x.set_defaults(func=cmd_alerts_export)


def _policy(path: str) -> rules.Policy:
    from watchdog.service.compose import load_policy_or_refuse

    return load_policy_or_refuse(Path(path))


def cmd_dashboards_export(args: argparse.Namespace) -> int:
    import dashboards

    policy = _policy(args.policy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    boards = dashboards.build_dashboards(policy, args.datasource_uid)
    for uid, board in boards.items():
        (out / f"{uid}.json").write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
    prov = out / "watchdog-dashboards.yaml"
    prov.write_text(dashboards.provisioning_yaml(args.provisioning_path or str(out.resolve()), args.folder))
    for uid, board in boards.items():
        print(f"{out / (uid + '.json')}: {board['title']} ({len(dashboards.panel_queries(board))} queries)")
    print(f"{prov}: copy it to Grafana's provisioning/dashboards/ folder")
    return 0


def cmd_dashboards_push(args: argparse.Namespace) -> int:
    import dashboards
    from watchdog.observe.grafana import connect, push_dashboards

    policy = _policy(args.policy)
    api = connect(args.grafana_url, args.token_file)
    boards = dashboards.build_dashboards(policy, args.datasource_uid)
    try:
        results = push_dashboards(
            api,
            boards,
            folder_uid=args.folder_uid,
            message=f"watchdog dashboards push, policy {policy.name} {policy.hash[:18]}",
        )
    except Exception as e:  # grafana-client raises several types; say which dashboard failed
        raise ConfigError(f"Grafana at {args.grafana_url} refused the dashboards: {e}") from None
    for uid, res in zip(boards, results, strict=True):
        url = res.get("url", "") if isinstance(res, dict) else ""
        print(f"{uid}: {res.get('status', 'ok') if isinstance(res, dict) else 'ok'} {url}".rstrip())
    return 0


def cmd_alerts_export(args: argparse.Namespace) -> int:
    from dashboards import alerts

    try:
        opts = alerts.AlertOptions(
            job=args.job,
            rule_for=args.rule_for,
            no_evaluation=args.no_evaluation,
            stale_feed=args.stale_feed,
            outbox_stuck=args.outbox_stuck,
        )
    except ValueError as e:
        raise ConfigError(f"watchdog alerts export: {e}.") from None
    policy = _policy(args.policy)
    doc = alerts.dump(alerts.alert_rules(policy, opts))
    header = f"# Generated by `watchdog alerts export` from policy {policy.name!r} (hash {policy.hash}).\n"
    if not args.out:
        sys.stdout.write(header + doc)
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + doc)
    tests = out.with_name(f"{out.stem}_test.yml")
    tests.write_text(header + alerts.dump(alerts.rule_tests(policy, out.name, opts)))
    print(f"{out}: {sum(len(g['rules']) for g in alerts.alert_rules(policy, opts)['groups'])} rules")
    print(f"{tests}: run `promtool test rules {tests}`")
    return 0
