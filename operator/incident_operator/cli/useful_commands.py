"""The runbook's "Useful Commands" as plugin commands (docs/useful-commands.md).

    ./scripts/health-check.sh                 kubectl incident health
    ./scripts/error-rates.sh --last 1h        kubectl incident errors --last 1h
    ./scripts/queue-status.sh                 kubectl incident queue
    ./scripts/recent-deploys.sh --last 24h    kubectl incident deploys --last 24h
    ./scripts/incident-summary.sh --id INC-X  kubectl incident summary INC-X

Everything is read as the caller, from the cluster and from Prometheus; nothing is
written. Prometheus is the one ``--prometheus-url`` names, else ``$PROMETHEUS_URL``
(a port-forward works: ``kubectl port-forward -n monitoring svc/prometheus 9090`` and
``http://127.0.0.1:9090``). The queries, thresholds and levels are detection's own
(reconcile/signal_levels.py); revisions are read as the rollback reads them
(domain/rollout_history.py); the judging of workloads and pods is
domain/workload_health.py, the summary reconcile/incident_summary.py.

``-o json`` and ``-o yaml`` print the same rows as data for scripts.
"""

import argparse
import asyncio
import dataclasses
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from kubernetes import client
from pydantic import ValidationError

from incident_operator.api import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.cli.cluster import Cluster, PluginError, api_message, utcnow
from incident_operator.cli.escape import escape, escape_block
from incident_operator.cli.render import table
from incident_operator.domain.detection import (
    InstantVector,
    RuleError,
    RuleThresholds,
    WorkloadKey,
    format_value,
)
from incident_operator.domain.durations import DurationError, format_duration, parse_duration
from incident_operator.domain.rollback_plan import KINDS, workload_from_objects
from incident_operator.domain.rollout_history import Rollout, change_causes, recent_rollouts
from incident_operator.domain.signals import Direction, Level, Signal
from incident_operator.domain.workload_health import (
    PodHealth,
    WorkloadHealth,
    pod_health,
    workload_health,
)
from incident_operator.reconcile.detection import compile_rule
from incident_operator.reconcile.incident_summary import (
    SummaryFormat,
    render_summary,
    summarize,
)
from incident_operator.reconcile.signal_levels import (
    Reading,
    RuleLevel,
    readings,
    rule_level,
    signal_source,
)

PROMETHEUS_ENV = "PROMETHEUS_URL"
PORT_FORWARD_HINT = (
    "e.g. `kubectl port-forward -n monitoring svc/prometheus 9090` and "
    "--prometheus-url http://127.0.0.1:9090"
)
OUTPUTS = ("json", "yaml")
# The AppsV1Api list methods of each workload kind, namespaced and cluster-wide.
_LISTS = {
    "Deployment": "deployment",
    "StatefulSet": "stateful_set",
    "DaemonSet": "daemon_set",
}
# A level's mark in a table: the thresholds a value is past. Worst first.
_MARKS = {Level.CRITICAL: "!!", Level.WARNING: "!", Level.OK: "", Level.UNKNOWN: "?"}


# ------------------------------------------------------------------------ reading


def _listed(cluster: Cluster, method: str, all_namespaces: bool) -> list[dict[str, Any]]:
    """Raw JSON items of a CoreV1 or AppsV1 list (``pod``, ``deployment``, ...)."""
    api: Any = client.CoreV1Api(cluster.api) if method == "pod" else client.AppsV1Api(cluster.api)
    try:
        if all_namespaces:
            response = getattr(api, f"list_{method}_for_all_namespaces")(
                _preload_content=False, _request_timeout=cluster.timeout
            )
        else:
            response = getattr(api, f"list_namespaced_{method}")(
                cluster.namespace, _preload_content=False, _request_timeout=cluster.timeout
            )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    items: list[dict[str, Any]] = json.loads(response.data)["items"]
    return items


def _workloads(cluster: Cluster, all_namespaces: bool) -> list[tuple[str, dict[str, Any]]]:
    """(kind, raw) of every Deployment, StatefulSet and DaemonSet."""
    return [
        (kind, item)
        for kind, method in _LISTS.items()
        for item in _listed(cluster, method, all_namespaces)
    ]


def _policies(cluster: Cluster, all_namespaces: bool) -> tuple[list[EscalationPolicy], list[str]]:
    """The EscalationPolicies, and the names of the ones that do not validate."""
    custom = cluster.custom
    try:
        if all_namespaces:
            found: Any = custom.list_cluster_custom_object(
                GROUP, VERSION, "escalationpolicies", _request_timeout=cluster.timeout
            )
        else:
            found = custom.list_namespaced_custom_object(
                GROUP,
                VERSION,
                cluster.namespace,
                "escalationpolicies",
                _request_timeout=cluster.timeout,
            )
    except client.ApiException as error:
        raise PluginError(api_message(error)) from error
    policies, invalid = [], []
    for body in found["items"]:
        try:
            policies.append(EscalationPolicy.model_validate(body))
        except ValidationError:
            metadata = body.get("metadata") or {}
            invalid.append(f"{metadata.get('namespace')}/{metadata.get('name')}")
    return policies, invalid


def _prometheus_url(args: argparse.Namespace, required: bool) -> str | None:
    url: str | None = args.prometheus_url or os.environ.get(PROMETHEUS_ENV) or None
    if url is None and required:
        raise PluginError(
            f"no Prometheus to ask: give --prometheus-url or set {PROMETHEUS_ENV} "
            f"({PORT_FORWARD_HINT})"
        )
    return url


def _query(url: str, timeout: float | None, queries: Sequence[str]) -> list[InstantVector | str]:
    """Each query's instant vector, or why Prometheus refused it; asked at once.

    Raises PluginError naming the URL when Prometheus does not answer at all."""
    # Imported here: aiohttp alone would add a quarter of a second to every command's start.
    from incident_operator.adapters.prometheus import (
        Prometheus,
        PrometheusQueryError,
        PrometheusUnreachable,
    )

    async def ask_all() -> list[InstantVector | str]:
        prometheus = Prometheus(url, timeout=timeout or 30.0)

        async def ask(promql: str) -> InstantVector | str:
            try:
                return await prometheus.query(promql)
            except PrometheusQueryError as error:
                return f"Prometheus at {url} refused the query: {error}"

        try:
            return list(await asyncio.gather(*(ask(q) for q in queries)))
        finally:
            await prometheus.close()

    try:
        return asyncio.run(ask_all())
    except PrometheusUnreachable as error:
        raise PluginError(f"{error} ({PORT_FORWARD_HINT})") from error


# ------------------------------------------------------------------------- output


def _print_data(output: str, data: Any) -> None:
    if output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(yaml.safe_dump(data, sort_keys=True), end="")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _threshold_text(thresholds: RuleThresholds | None) -> tuple[str, str]:
    """(warning, critical) as ``> 1%``, ``< 95%``; ``-`` where unset."""
    if thresholds is None:
        return "-", "-"
    side = ">" if thresholds.direction is Direction.ABOVE else "<"

    def one(value: float | None) -> str:
        return "-" if value is None else f"{side} {format_value(value, thresholds.unit)}"

    return one(thresholds.warning), one(thresholds.critical)


def _value(value: float | None, thresholds: RuleThresholds | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return format_value(value, thresholds.unit if thresholds else "")


def _number(value: float | None) -> float | None:
    """A value JSON can hold: NaN and infinities are null."""
    return value if value is not None and math.isfinite(value) else None


# ------------------------------------------------------------------------- health


def _health_rules(
    url: str,
    timeout: float | None,
    policies: Sequence[EscalationPolicy],
    workloads: Sequence[tuple[str, dict[str, Any]]],
    now: datetime,
) -> list[RuleLevel]:
    labelled: dict[str, list[tuple[WorkloadKey, Mapping[str, str]]]] = {}
    for kind, raw in workloads:
        metadata = raw.get("metadata") or {}
        labelled.setdefault(str(metadata.get("namespace")), []).append(
            (WorkloadKey(kind, str(metadata.get("name"))), dict(metadata.get("labels") or {}))
        )
    compiled = [
        (policy, compile_rule(policy.metadata.namespace or "", rule))
        for policy in sorted(
            policies, key=lambda p: (p.metadata.namespace or "", p.metadata.name or "")
        )
        for rule in policy.spec.detection.rules
    ]
    queries = [rule.query for _, rule in compiled if rule.query is not None]
    answers = iter(_query(url, timeout, queries) if queries else [])
    levels = []
    for policy, rule in compiled:
        namespace = policy.metadata.namespace or ""
        result: InstantVector | str = next(answers) if rule.query is not None else ""
        levels.append(rule_level(namespace, policy, rule, result, labelled.get(namespace, []), now))
    return levels


def _rule_row(level: RuleLevel) -> dict[str, Any]:
    return {
        "namespace": level.namespace,
        "policy": level.policy,
        "rule": level.rule,
        "signal": level.signal,
        "level": level.level.value,
        "workload": str(level.workload) if level.workload else None,
        "value": _number(level.value),
        "warning": level.thresholds.warning if level.thresholds else None,
        "critical": level.thresholds.critical if level.thresholds else None,
        "direction": level.thresholds.direction.value if level.thresholds else None,
        "workloads": {lvl.value: count for lvl, count in level.counts.items()},
        "problem": level.problem,
    }


def _workload_row(health: WorkloadHealth) -> dict[str, Any]:
    return dataclasses.asdict(health)


def _pod_row(health: PodHealth) -> dict[str, Any]:
    return {
        "namespace": health.namespace,
        "name": health.name,
        "phase": health.phase,
        "ready": f"{health.ready_containers}/{health.containers}",
        "restarts": health.restarts,
        "problem": health.problem,
    }


def cmd_health(cluster: Cluster, args: argparse.Namespace) -> int:
    everywhere = args.all_namespaces
    workloads = _workloads(cluster, everywhere)
    judged = [workload_health(kind, raw) for kind, raw in workloads]
    sick = [w for w in judged if w.problem]
    pods = [
        p for p in (pod_health(raw) for raw in _listed(cluster, "pod", everywhere)) if p.problem
    ]
    url = _prometheus_url(args, required=False)
    policies, invalid = _policies(cluster, everywhere)
    rules: list[RuleLevel] = []
    # Without Prometheus the cluster's half is still worth printing, then the error.
    unreachable: PluginError | None = None
    if url:
        try:
            rules = _health_rules(url, cluster.timeout, policies, workloads, utcnow())
        except PluginError as error:
            unreachable = error
    if args.output:
        _print_data(
            args.output,
            {
                "workloadsTotal": len(judged),
                "unavailableWorkloads": [_workload_row(w) for w in sick],
                "unhealthyPods": [_pod_row(p) for p in pods],
                "rules": [_rule_row(r) for r in rules],
                "prometheus": url,
                "prometheusError": str(unreachable) if unreachable else None,
                "invalidPolicies": invalid,
            },
        )
    else:
        print(_health_text(judged, sick, pods, rules, url, unreachable, invalid, everywhere))
    if unreachable:
        raise unreachable
    return 0


def _health_text(
    judged: Sequence[WorkloadHealth],
    sick: Sequence[WorkloadHealth],
    pods: Sequence[PodHealth],
    rules: Sequence[RuleLevel],
    url: str | None,
    unreachable: PluginError | None,
    invalid: Sequence[str],
    everywhere: bool,
) -> str:
    def with_namespace(header: list[str], rows: list[list[object]], namespaces: list[str]) -> str:
        if everywhere:
            header = ["NAMESPACE", *header]
            rows = [[ns, *row] for ns, row in zip(namespaces, rows, strict=True)]
        return table(header, rows)

    lines = [f"Workloads: {len(judged)}, {len(judged) - len(sick)} fully available"]
    if sick:
        lines.append(
            with_namespace(
                ["WORKLOAD", "READY", "UP-TO-DATE", "AVAILABLE", "PROBLEM"],
                [
                    [w.reference, f"{w.ready}/{w.desired}", w.updated, w.available, w.problem]
                    for w in sick
                ],
                [w.namespace for w in sick],
            )
        )
    lines += ["", f"Pods not Running or not Ready: {len(pods)}"]
    if pods:
        lines.append(
            with_namespace(
                ["POD", "PHASE", "READY", "RESTARTS", "PROBLEM"],
                [
                    [p.name, p.phase, f"{p.ready_containers}/{p.containers}", p.restarts, p.problem]
                    for p in pods
                ],
                [p.namespace for p in pods],
            )
        )
    lines.append("")
    if url is None:
        lines.append(
            f"Detection rules: not evaluated: no Prometheus (--prometheus-url or "
            f"{PROMETHEUS_ENV}; {PORT_FORWARD_HINT})"
        )
    elif unreachable is not None:
        lines.append(f"Detection rules: not evaluated: {unreachable}")
    elif not rules:
        lines.append(
            f"Detection rules: none (no EscalationPolicy with rules); Prometheus {escape(url)}"
        )
    else:
        lines.append(f"Detection rules (Prometheus {escape(url)}):")
        rows: list[list[object]] = []
        for r in rules:
            warning, critical = _threshold_text(r.thresholds)
            counts = ", ".join(
                f"{r.counts[level]} {level.value}" for level in _MARKS if r.counts.get(level)
            )
            rows.append(
                [
                    r.policy,
                    r.rule,
                    r.signal,
                    f"{r.level.value}{_MARKS[r.level] and ' ' + _MARKS[r.level]}",
                    str(r.workload) if r.workload else "-",
                    _value(r.value, r.thresholds),
                    warning,
                    critical,
                    counts or "-",
                    r.problem or "",
                ]
            )
        lines.append(
            with_namespace(
                [
                    "POLICY",
                    "RULE",
                    "SIGNAL",
                    "LEVEL",
                    "WORST",
                    "VALUE",
                    "WARNING",
                    "CRITICAL",
                    "WORKLOADS",
                    "PROBLEM",
                ],
                rows,
                [r.namespace for r in rules],
            )
        )
    if invalid:
        lines.append(f"Not valid, skipped: {escape(', '.join(invalid))}")
    return "\n".join(lines)


# ----------------------------------------------------------------- errors and queue


@dataclass(frozen=True)
class _SignalCommand:
    signal: Signal
    # The column heading of the value.
    column: str
    windowed: bool


_ERRORS = _SignalCommand(Signal.API_ERROR_RATE, "ERROR RATE", windowed=True)
_QUEUE = _SignalCommand(Signal.AGENT_QUEUE_DEPTH, "QUEUE DEPTH", windowed=False)


def _signal_command(command: _SignalCommand) -> Callable[[Cluster, argparse.Namespace], int]:
    def run(cluster: Cluster, args: argparse.Namespace) -> int:
        url = _prometheus_url(args, required=True)
        assert url is not None
        policies, _ = _policies(cluster, all_namespaces=False)
        window: timedelta | None = args.last if command.windowed else None
        try:
            source = signal_source(command.signal, cluster.namespace, policies, window)
        except RuleError as error:
            raise PluginError(f"{command.signal.value}: {error}") from error
        [answer] = _query(url, cluster.timeout, [source.promql])
        if isinstance(answer, str):
            raise PluginError(answer)
        found = readings(answer, source.thresholds)
        warning, critical = _threshold_text(source.thresholds)
        if args.output:
            _print_data(
                args.output,
                {
                    "signal": command.signal.value,
                    "namespace": cluster.namespace,
                    "window": format_duration(window) if window else None,
                    "thresholds": {
                        "warning": source.thresholds.warning,
                        "critical": source.thresholds.critical,
                        "direction": source.thresholds.direction.value,
                        "from": source.origin,
                    },
                    "workloads": [_reading_row(r) for r in found],
                },
            )
            return 0
        over = f" over the last {format_duration(window)}" if window else ""
        print(
            f"{command.signal.value}{over} in namespace {escape(cluster.namespace)}; "
            f"warning {warning} (!), critical {critical} (!!), from {escape(source.origin)}"
        )
        if not found:
            print(f"no workload has a series of {command.signal.value} (Prometheus {escape(url)})")
            return 0
        print(
            table(
                ["WORKLOAD", command.column, "LEVEL"],
                [
                    [
                        f"{r.kind or '?'}/{r.name}",
                        _value(r.value, source.thresholds),
                        f"{r.level.value}{_MARKS[r.level] and ' ' + _MARKS[r.level]}",
                    ]
                    for r in found
                ],
            )
        )
        return 0

    return run


def _reading_row(reading: Reading) -> dict[str, Any]:
    return {
        "namespace": reading.namespace,
        "kind": reading.kind,
        "name": reading.name,
        "value": _number(reading.value),
        "level": reading.level.value,
    }


# ------------------------------------------------------------------------ deploys


def _rollouts(cluster: Cluster, everywhere: bool, since: datetime) -> list[Rollout]:
    replica_sets = _listed(cluster, "replica_set", everywhere)
    revisions = _listed(cluster, "controller_revision", everywhere)
    found: list[Rollout] = []
    for kind, raw in _workloads(cluster, everywhere):
        namespace = str((raw.get("metadata") or {}).get("namespace", ""))
        history = [
            item
            for item in (replica_sets if kind == KINDS[0] else revisions)
            if (item.get("metadata") or {}).get("namespace") == namespace
        ]
        workload = workload_from_objects(kind, raw, history)
        found += recent_rollouts(namespace, workload, change_causes(history), since)
    # Newest first; creation times have whole seconds, so the revision breaks ties.
    return sorted(
        found,
        key=lambda r: (r.rolled_out_at, r.namespace, r.reference, r.revision),
        reverse=True,
    )


def cmd_deploys(cluster: Cluster, args: argparse.Namespace) -> int:
    now = utcnow()
    rollouts = _rollouts(cluster, args.all_namespaces, now - args.last)
    if args.output:
        _print_data(
            args.output,
            {
                "window": format_duration(args.last),
                "rollouts": [
                    {
                        "namespace": r.namespace,
                        "kind": r.kind,
                        "name": r.name,
                        "revision": r.revision,
                        "previousRevision": r.previous,
                        "rolledOutAt": _time(r.rolled_out_at),
                        "changes": list(r.changes),
                        "changeCause": r.change_cause,
                        "current": r.current,
                    }
                    for r in rollouts
                ],
            },
        )
        return 0
    if not rollouts:
        print(f"no rollouts in the last {format_duration(args.last)}")
        return 0
    header = ["ROLLED OUT", "WORKLOAD", "REVISION", "CHANGE", "CHANGE-CAUSE"]
    rows: list[list[object]] = []
    for r in rollouts:
        revision = f"{r.previous} -> {r.revision}" if r.previous is not None else str(r.revision)
        row: list[object] = [
            _time(r.rolled_out_at),
            r.reference,
            revision + (" (running)" if r.current else ""),
            "; ".join(r.changes) if r.previous is not None else "(first revision kept)",
            r.change_cause or "-",
        ]
        rows.append([r.namespace, *row] if args.all_namespaces else row)
    print(table(["NAMESPACE", *header] if args.all_namespaces else header, rows))
    return 0


# ------------------------------------------------------------------------ summary


def cmd_summary(cluster: Cluster, args: argparse.Namespace) -> int:
    body = cluster.find(args.incident)
    try:
        incident = Incident.model_validate(body)
    except ValidationError as error:
        raise PluginError(
            f"{body['metadata']['name']} is not a valid Incident: {error.errors()[0]['msg']}"
        ) from error
    text = render_summary(summarize(incident, utcnow()), SummaryFormat(args.format))
    print(escape_block(text), end="")
    return 0


# --------------------------------------------------------------------- registering


def _window(text: str) -> timedelta:
    """A --last: a duration such as 30m, 1h, 24h."""
    try:
        window = parse_duration(text)
    except DurationError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if window <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r}: the window must be longer than 0s")
    return window


def add_useful_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Registers health, errors, queue, deploys and summary on the plugin's subparsers."""

    def add(
        name: str, handler: Callable[[Cluster, argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        # Also after the command; SUPPRESS keeps the one given before it.
        sub.add_argument(
            "-n",
            "--namespace",
            default=argparse.SUPPRESS,
            help="namespace (default: the context's)",
        )
        return sub

    def output(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-o", "--output", choices=OUTPUTS, help="print the rows as data")

    def prometheus(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--prometheus-url",
            metavar="URL",
            help=f"the Prometheus to query, as detection does (default: ${PROMETHEUS_ENV})",
        )

    health = add(
        "health",
        cmd_health,
        "workloads not fully available, pods not Running or not Ready, and each detection "
        "rule's level now (runbook: health-check.sh)",
    )
    health.add_argument("-A", "--all-namespaces", action="store_true")
    prometheus(health)
    output(health)
    errors = add(
        "errors",
        _signal_command(_ERRORS),
        "API error rate per workload over --last, worst first (runbook: error-rates.sh)",
    )
    errors.add_argument(
        "--last",
        type=_window,
        default=timedelta(hours=1),
        metavar="DURATION",
        help="the window, e.g. 15m, 1h (default 1h)",
    )
    queue = add(
        "queue",
        _signal_command(_QUEUE),
        "agent queue depth per workload, deepest first (runbook: queue-status.sh)",
    )
    deploys = add(
        "deploys",
        cmd_deploys,
        "rollouts within --last: revision, time, what changed, change-cause "
        "(runbook: recent-deploys.sh)",
    )
    deploys.add_argument("-A", "--all-namespaces", action="store_true")
    deploys.add_argument(
        "--last",
        type=_window,
        default=timedelta(hours=24),
        metavar="DURATION",
        help="the window, e.g. 2h, 24h (default 24h)",
    )
    output(deploys)
    for sub in (errors, queue):
        prometheus(sub)
        output(sub)
    summary = add(
        "summary",
        cmd_summary,
        "a one-page summary: what, impact, timeline highlights, actions, open items, "
        "durations (runbook: incident-summary.sh)",
    )
    summary.add_argument("incident", metavar="INCIDENT")
    summary.add_argument(
        "--format", choices=[f.value for f in SummaryFormat], default=SummaryFormat.TEXT.value
    )
    return [health, errors, queue, deploys, summary]
