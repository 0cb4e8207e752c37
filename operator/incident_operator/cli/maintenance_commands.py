"""``kubectl incident maintenance start|list|end``: maintenance windows for the common case.

``start`` creates an absolute MaintenanceWindow from now for ``--for``, owned by the
caller (the user name the API server reports: SelfSubjectReview), holding back the
signals of the workloads ``--selector`` matches and the alerts ``--alert-selector``
matches. ``end`` ends an absolute window now (spec.end = now); a recurring one is
deleted with kubectl instead, as ending "the current occurrence" would need a second
clock. Admission and the CRD refuse what they refuse (too long, no owner) in their own
words, which name the field.
"""

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from kubernetes import client

from incident_operator.api import GROUP, VERSION
from incident_operator.cli.cluster import Cluster, PluginError, utcnow
from incident_operator.cli.failures import api_message
from incident_operator.cli.render import table
from incident_operator.domain.durations import DurationError, parse_duration

PLURAL = "maintenancewindows"


def _duration(text: str) -> timedelta:
    try:
        length = parse_duration(text)
    except DurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from error
    if length <= timedelta(0):
        raise argparse.ArgumentTypeError("must be longer than 0s")
    return length


def _selector(text: str) -> dict[str, str]:
    """``k=v[,k=v...]`` as matchLabels."""
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, equals, value = part.strip().partition("=")
        if not equals or not key or "!" in key:
            raise argparse.ArgumentTypeError(f"{part!r} is not key=value (k=v[,k=v...])")
        labels[key.strip()] = value.strip()
    return labels


def _stamp(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_manifest(
    owner: str,
    reason: str,
    start: datetime,
    length: timedelta,
    workloads: dict[str, str] | None,
    alerts: dict[str, str] | None,
    name: str | None,
) -> dict[str, Any]:
    """The MaintenanceWindow ``start`` creates."""
    selector: dict[str, Any] = {}
    if workloads:
        selector["workloads"] = {"matchLabels": workloads}
    if alerts:
        selector["alerts"] = {"matchLabels": alerts}
    metadata: dict[str, Any] = {"name": name} if name else {"generateName": "maintenance-"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MaintenanceWindow",
        "metadata": metadata,
        "spec": {
            "selector": selector,
            "start": _stamp(start),
            "end": _stamp(start + length),
            "reason": reason,
            "owner": owner,
        },
    }


def cmd_start(cluster: Cluster, args: argparse.Namespace) -> int:
    if not args.selector and not args.alert_selector:
        raise PluginError("set --selector (workload labels) or --alert-selector (alert labels)")
    if not args.reason.strip():
        raise PluginError("--reason: say what the planned work is")
    manifest = window_manifest(
        cluster.whoami(),
        args.reason,
        utcnow().replace(microsecond=0),
        args.length,
        args.selector,
        args.alert_selector,
        args.name,
    )
    try:
        created: Any = cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, manifest, _request_timeout=cluster.timeout
        )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    spec = created["spec"]
    print(
        f"maintenancewindow/{created['metadata']['name']} started: {spec['start']} to "
        f"{spec['end']}, owner {spec['owner']}"
    )
    return 0


def _windows(cluster: Cluster) -> list[dict[str, Any]]:
    try:
        listed: Any = cluster.custom.list_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, PLURAL, _request_timeout=cluster.timeout
        )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    return sorted(listed["items"], key=lambda item: str(item["metadata"]["name"]))


def window_rows(windows: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for window in windows:
        spec, status = window.get("spec") or {}, window.get("status") or {}
        schedule = spec.get("schedule")
        if schedule:
            start = status.get("currentStart") or f"cron {schedule.get('cron')}"
            end = status.get("currentEnd") or f"+{schedule.get('duration')}"
        else:
            start, end = spec.get("start", ""), spec.get("end", "")
        rows.append(
            [
                window["metadata"]["name"],
                "yes" if status.get("active") else "no",
                str(start),
                str(end),
                str(spec.get("owner", "")),
                str(spec.get("reason", ""))[:60],
                str(len(status.get("suppressed") or [])),
            ]
        )
    return rows


def cmd_list(cluster: Cluster, args: argparse.Namespace) -> int:
    windows = _windows(cluster)
    if not windows:
        print(f"No maintenance windows in namespace {cluster.namespace}.")
        return 0
    header = ["NAME", "ACTIVE", "START", "END", "OWNER", "REASON", "SUPPRESSED"]
    print(table(header, window_rows(windows)))
    return 0


def cmd_end(cluster: Cluster, args: argparse.Namespace) -> int:
    api = cluster.custom
    try:
        window = cast(
            dict[str, Any],
            api.get_namespaced_custom_object(
                GROUP,
                VERSION,
                cluster.namespace,
                PLURAL,
                args.window,
                _request_timeout=cluster.timeout,
            ),
        )
    except client.ApiException as error:
        if error.status == 404:
            raise PluginError(
                f"no MaintenanceWindow {args.window!r} in namespace {cluster.namespace}"
            ) from error
        raise PluginError(api_message(error)) from error
    spec = window.get("spec") or {}
    name = window["metadata"]["name"]
    if spec.get("schedule"):
        raise PluginError(
            f"maintenancewindow/{name} recurs (spec.schedule): delete it to end it, "
            f"kubectl delete maintenancewindow {name} -n {cluster.namespace}"
        )
    now = utcnow().replace(microsecond=0)
    start, end = _parse(spec.get("start")), _parse(spec.get("end"))
    if end is not None and end <= now:
        raise PluginError(f"maintenancewindow/{name} already ended at {spec['end']}")
    if start is not None and start >= now:
        raise PluginError(
            f"maintenancewindow/{name} has not started (spec.start {spec['start']}): "
            f"delete it instead, kubectl delete maintenancewindow {name} -n {cluster.namespace}"
        )
    body = {
        "metadata": {"resourceVersion": window["metadata"]["resourceVersion"]},
        "spec": {"end": _stamp(now)},
    }
    try:
        api.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            cluster.namespace,
            PLURAL,
            name,
            body,
            _request_timeout=cluster.timeout,
        )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    print(f"maintenancewindow/{name} ended at {_stamp(now)}")
    return 0


def _parse(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def add_maintenance_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Registers ``maintenance start|list|end``; returns the leaf parsers."""
    help_ = "maintenance windows: planned work during which matching signals page nobody"
    group: argparse.ArgumentParser = commands.add_parser(
        "maintenance", help=help_, description=help_
    )
    actions = group.add_subparsers(dest="maintenance_command", metavar="ACTION", required=True)
    leaves = []

    def add(name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(name, help=text, description=text)
        sub.set_defaults(handler=handler)
        sub.add_argument(
            "-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: context's)"
        )
        leaves.append(sub)
        return sub

    start = add("start", cmd_start, "start a window now, owned by you")
    start.add_argument(
        "--for",
        dest="length",
        type=_duration,
        required=True,
        metavar="DURATION",
        help="how long: 30m, 2h (at most the policies' spec.maintenance.maxWindow, default 24h)",
    )
    start.add_argument(
        "--selector",
        type=_selector,
        metavar="K=V[,K=V]",
        help="the workloads whose breaches it holds back, by label",
    )
    start.add_argument(
        "--alert-selector",
        type=_selector,
        metavar="K=V[,K=V]",
        help="the inbound alerts it holds back, by label",
    )
    start.add_argument("--reason", required=True, help="the planned work")
    start.add_argument("--name", help="the window's name (default: maintenance-<random>)")
    add("list", cmd_list, "the namespace's windows: active, when, owner, signals held back")
    end = add("end", cmd_end, "end an absolute window now")
    end.add_argument("window", metavar="NAME")
    return leaves
