"""``kubectl incident list``: the server's Table, as ``kubectl get incidents`` prints it.

Closed incidents are left out unless ``--all`` (the one difference from ``kubectl get``,
which has no notion of an open incident). ``-w`` prints the table, then a row for
each change as it happens, as ``kubectl get -w`` does, until interrupted.
"""

from __future__ import annotations

import argparse
from typing import Any

from incident_operator.cli import output, raw_api
from incident_operator.cli.cluster import Cluster, PluginError, utcnow


def _open(row: dict[str, Any]) -> bool:
    return ((row.get("object") or {}).get("status") or {}).get("phase") != "Closed"


def cmd_list(cluster: Cluster, args: argparse.Namespace) -> int:
    path = raw_api.incidents_path(None if args.all_namespaces else cluster.namespace)
    if args.watch and args.output in ("json", "yaml", "name"):
        raise PluginError(f"-w prints table rows: use it without -o {args.output} (or -o wide)")
    if args.output in ("json", "yaml", "name"):
        listed = raw_api.get(cluster, path, {})
        items = [i for i in listed["items"] if args.all or _open({"object": i})]
        if args.output == "name":
            for item in items:
                print(output.name_line(item))
        else:
            print(output.object_text(output.as_list(items), args.output))
        return 0
    # The whole object comes with each row: the phase decides which rows are open.
    table = raw_api.get(cluster, path, {"includeObject": "Object"}, raw_api.TABLE)
    rows = [row for row in table.get("rows") or [] if args.all or _open(row)]
    wide = args.output == "wide"
    if rows:
        lines = output.table_lines(
            table,
            utcnow(),
            wide=wide,
            headers=not args.no_headers,
            namespaces=args.all_namespaces,
            rows=rows,
        )
        print("\n".join(lines), flush=True)
    elif not args.watch:
        print("no open incidents" if not args.all else "no incidents")
    if args.watch:
        _watch(cluster, path, table, args, wide)
    return 0


def _watch(
    cluster: Cluster, path: str, table: dict[str, Any], args: argparse.Namespace, wide: bool
) -> None:
    """A row per change from the listed resourceVersion on, until interrupted."""
    version = (table.get("metadata") or {}).get("resourceVersion", "")
    while True:
        query = {
            "includeObject": "Object",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
        }
        for event in raw_api.watch(cluster, path, query, raw_api.TABLE):
            changed = event.get("object") or {}
            # The server may send the column definitions with the first table only.
            if not changed.get("columnDefinitions"):
                changed["columnDefinitions"] = table.get("columnDefinitions")
            version = (changed.get("metadata") or {}).get("resourceVersion") or version
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                lines = output.table_lines(
                    changed, utcnow(), wide=wide, headers=False, namespaces=args.all_namespaces
                )
                if lines:
                    print("\n".join(lines), flush=True)
