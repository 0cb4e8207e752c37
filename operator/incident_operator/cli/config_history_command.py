"""``kubectl incident config-history NAME``: the versions the operator kept of a ConfigMap
or Secret (docs/remediation/config-rollback.md), each with what changed from the one
before: a unified diff of a ConfigMap's values; for a Secret, only the keys added,
removed or changed, never a value. Read as the caller, so a caller who may not read
Secrets in the namespace cannot read a Secret's history either. Nothing is written.
"""

import argparse
from typing import Any

from kubernetes import client

from incident_operator.adapters.config_snapshots import list_snapshots, read_config
from incident_operator.cli.cluster import Cluster, PluginError, api_message
from incident_operator.cli.escape import escape_block
from incident_operator.cli.render import table
from incident_operator.domain.config_history import Snapshot, data_of, diff, digest


def history_text(
    kind: str, name: str, namespace: str, snapshots: list[Snapshot], current: str | None
) -> str:
    """The listing: a table of versions, then each version's diff from the one before.
    ``current``: the object's data digest now (None: it does not exist)."""
    ref = f"{kind}/{name}"
    if not snapshots:
        return (
            f"no versions kept of {ref} in namespace {namespace}: the operator keeps them "
            "for objects a configRollback catalog entry names (spec.remediations)"
        )
    newest = snapshots[-1]
    if current is None:
        now = "it does not exist now"
    elif current == newest.digest:
        now = f"its data now is version {newest.version}"
    else:
        matching = [s.version for s in snapshots if s.digest == current]
        now = (
            f"its data now is version {matching[-1]}"
            if matching
            else "its data now is newer than any version kept (not kept yet)"
        )
    lines = [f"{ref} in namespace {namespace}: {len(snapshots)} versions kept; {now}", ""]
    lines.append(
        table(
            ["VERSION", "KEPT AT", "DIGEST", "CHANGED BY"],
            [[s.version, s.created_at, s.digest, s.changed_by or "-"] for s in snapshots],
        )
    )
    before: Snapshot | None = None
    for snapshot in snapshots:
        what = "first version kept" if before is None else f"from version {before.version}"
        changes = diff(
            kind,
            before,
            snapshot,
            f"{ref} v{before.version if before else 0}",
            f"{ref} v{snapshot.version}",
        )
        lines += ["", f"version {snapshot.version} ({what}):"]
        lines += [escape_block(line) for line in changes] or ["  (no change of data)"]
        before = snapshot
    return "\n".join(lines)


def cmd_config_history(cluster: Cluster, args: argparse.Namespace) -> int:
    try:
        snapshots = list_snapshots(cluster.namespace, args.kind, args.name, api=cluster.api)
        body: dict[str, Any] | None = read_config(
            cluster.namespace, args.kind, args.name, api=cluster.api
        )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    current = None if body is None else digest(data_of(args.kind, body))
    print(history_text(args.kind, args.name, cluster.namespace, snapshots, current))
    return 0


def add_config_history(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = (
        "the versions the operator kept of a ConfigMap or Secret, with what changed "
        "(a Secret: keys only)"
    )
    sub: argparse.ArgumentParser = commands.add_parser(
        "config-history", help=help_, description=help_
    )
    sub.set_defaults(handler=cmd_config_history)
    sub.add_argument("name", metavar="NAME")
    sub.add_argument("--kind", choices=["ConfigMap", "Secret"], default="ConfigMap")
    # Also after the command; SUPPRESS keeps the one given before it.
    sub.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)"
    )
    return sub
