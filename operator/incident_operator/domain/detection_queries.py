"""PromQL for each built-in signal: one query per rule, one series per workload.

Polling must cost the same for 10 workloads or 1,000, so a rule is one instant query
restricted to the policy's namespace and aggregated ``by (namespace, workload,
workload_kind)``; which workloads the rule watches is decided afterwards, on the result.

From pods to workloads
======================
Container and application metrics name a pod; kube-state-metrics says who owns it::

    pod --kube_pod_owner--> ReplicaSet --kube_replicaset_owner--> Deployment
    pod --kube_pod_owner--> StatefulSet | DaemonSet

``_pod_workloads`` turns that into one series per pod with the labels ``workload`` and
``workload_kind`` (value 1), and each signal joins its per-pod series onto it with
``* on (namespace, pod) group_left (workload, workload_kind)`` before aggregating. The
same join is what the kube-prometheus mixin records as
``namespace_workload_pod:kube_pod_owner:relabel``; inlining it needs no recording rules.
Application metrics therefore need ``namespace`` and ``pod`` labels, which Prometheus'
Kubernetes pod discovery gives every target.

Ratios whose numerator may have no series yet (no error has ever happened) use
``(numerator or denominator * 0)`` so that "no errors" reads as 0, not as no data.

The stretch of the past a query reads
=====================================
``query_window`` finds it in the PromQL text itself, built-in or custom alike: the
longest range selector (``[5m]``, a subquery's ``[1h:1m]``) and every ``offset``. Reading
the text, not the catalog, keeps one answer for both kinds of rule; a ``[...]`` inside a
label value is read as a range too, which only makes the rule wait longer after a gap
(domain.detection_gaps says what the window is for).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from incident_operator.domain.detection import RuleError
from incident_operator.domain.detection_gaps import QueryWindow
from incident_operator.domain.signals import Signal

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_BY_WORKLOAD: Final = "namespace, workload, workload_kind"
_JOIN: Final = "on (namespace, pod) group_left (workload, workload_kind)"


@dataclass(frozen=True)
class QueryInputs:
    """Everything a signal's query depends on."""

    namespace: str
    # Metric name by role, the catalog's defaults with the rule's overrides applied.
    metrics: Mapping[str, str]
    window: timedelta
    offset: timedelta


@dataclass(frozen=True)
class SignalQuery:
    # Default metric name by role; a rule's ``metrics`` may override any of these.
    metrics: Mapping[str, str]
    build: Callable[[QueryInputs], str]
    default_window: timedelta = timedelta(minutes=5)
    # Only requestRateDrop and apiLatencyRelative compare with the past.
    default_offset: timedelta = field(default=timedelta(days=1))


def promql_duration(value: timedelta) -> str:
    """``90s``, ``1500ms``: PromQL accepts no fractions, so sub-second parts become ms."""
    millis = round(value.total_seconds() * 1000)
    if millis <= 0:
        raise RuleError(f"a range must be positive, not {value}")
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pod_workloads(namespace: str) -> str:
    ns = _quote(namespace)

    def owned_by(kind: str) -> str:
        return (
            f"label_replace(max by (namespace, pod, workload) (label_replace(kube_pod_owner{{"
            f'namespace={ns}, owner_kind="{kind}"}}, "workload", "$1", "owner_name", "(.+)")),'
            f' "workload_kind", "{kind}", "", "")'
        )

    deployments = (
        "label_replace(max by (namespace, pod, workload) (max by (namespace, pod, replicaset) "
        f'(label_replace(kube_pod_owner{{namespace={ns}, owner_kind="ReplicaSet"}}, '
        '"replicaset", "$1", "owner_name", "(.+)")) * on (namespace, replicaset) '
        "group_left (workload) max by (namespace, replicaset, workload) (label_replace("
        f'kube_replicaset_owner{{namespace={ns}, owner_kind="Deployment"}}, "workload", "$1", '
        '"owner_name", "(.+)"))), "workload_kind", "Deployment", "", "")'
    )
    return f"({deployments} or {owned_by('StatefulSet')} or {owned_by('DaemonSet')})"


def _per_workload(aggregation: str, per_pod: str, namespace: str, extra_by: str = "") -> str:
    by = f"{_BY_WORKLOAD}, {extra_by}" if extra_by else _BY_WORKLOAD
    return f"{aggregation} by ({by}) ({per_pod} * {_JOIN} {_pod_workloads(namespace)})"


def _selector(metric: str, namespace: str, *matchers: str) -> str:
    return f"{metric}{{{', '.join((f'namespace={_quote(namespace)}', *matchers))}}}"


def _pod_restarts(q: QueryInputs) -> str:
    window = promql_duration(q.window)
    per_hour = timedelta(hours=1) / q.window
    scale = "" if per_hour == 1 else f" * {per_hour:g}"
    restarts = _selector(q.metrics["restarts"], q.namespace)
    return _per_workload("sum", f"increase({restarts}[{window}])", q.namespace) + scale


def _usage_of_limit(resource: str, container_usage: str) -> Callable[[QueryInputs], str]:
    def build(q: QueryInputs) -> str:
        containers = ('container!=""', 'container!="POD"')
        usage = _selector(q.metrics["usage"], q.namespace, *containers)
        if container_usage == "rate":
            usage = f"rate({usage}[{promql_duration(q.window)}])"
        limits = _selector(q.metrics["limits"], q.namespace, f'resource="{resource}"')
        return (
            f"{_per_workload('sum', usage, q.namespace)} / "
            f"{_per_workload('sum', limits, q.namespace)}"
        )

    return build


def _disk_usage(q: QueryInputs) -> str:
    used = _selector(q.metrics["used"], q.namespace)
    capacity = _selector(q.metrics["capacity"], q.namespace)
    claims = _selector("kube_pod_spec_volumes_persistentvolumeclaims_info", q.namespace)
    claim_workloads = (
        f"max by (namespace, persistentvolumeclaim, workload, workload_kind) "
        f"({claims} * {_JOIN} {_pod_workloads(q.namespace)})"
    )
    return (
        f"max by ({_BY_WORKLOAD}) ((max by (namespace, persistentvolumeclaim) ({used}) / "
        f"max by (namespace, persistentvolumeclaim) ({capacity})) * on (namespace, "
        f"persistentvolumeclaim) group_left (workload, workload_kind) {claim_workloads})"
    )


def _p99(role: str) -> Callable[[QueryInputs], str]:
    def build(q: QueryInputs) -> str:
        buckets = _selector(f"{q.metrics[role]}_bucket", q.namespace)
        rate = f"rate({buckets}[{promql_duration(q.window)}])"
        return f"histogram_quantile(0.99, {_per_workload('sum', rate, q.namespace, 'le')})"

    return build


def _p99_relative(role: str) -> Callable[[QueryInputs], str]:
    """The p99 now over the p99 ``offset`` before, per workload: 10 is "10x normal"."""

    def build(q: QueryInputs) -> str:
        window, offset = promql_duration(q.window), promql_duration(q.offset)
        buckets = _selector(f"{q.metrics[role]}_bucket", q.namespace)
        now = _per_workload("sum", f"rate({buckets}[{window}])", q.namespace, "le")
        before = _per_workload(
            "sum", f"rate({buckets}[{window}] offset {offset})", q.namespace, "le"
        )
        return f"histogram_quantile(0.99, {now}) / histogram_quantile(0.99, {before})"

    return build


def _ratio(role: str, part: str) -> Callable[[QueryInputs], str]:
    """sum(rate(part)) / sum(rate(all)) per workload; a part with no series yet reads 0."""

    def build(q: QueryInputs) -> str:
        window = promql_duration(q.window)
        numerator = _per_workload(
            "sum", f"rate({_selector(q.metrics[role], q.namespace, part)}[{window}])", q.namespace
        )
        total = _per_workload(
            "sum", f"rate({_selector(q.metrics[role], q.namespace)}[{window}])", q.namespace
        )
        return f"({numerator} or {total} * 0) / {total}"

    return build


def _rate_drop(q: QueryInputs) -> str:
    window, offset = promql_duration(q.window), promql_duration(q.offset)
    requests = _selector(q.metrics["requests"], q.namespace)
    now = _per_workload("sum", f"rate({requests}[{window}])", q.namespace)
    before = _per_workload("sum", f"rate({requests}[{window}] offset {offset})", q.namespace)
    return f"1 - {now} / {before}"


def _per_minute(q: QueryInputs) -> str:
    errors = _selector(q.metrics["errors"], q.namespace)
    rate = f"rate({errors}[{promql_duration(q.window)}])"
    return f"{_per_workload('sum', rate, q.namespace)} * 60"


def _gauge_max(q: QueryInputs) -> str:
    return _per_workload("max", _selector(q.metrics["depth"], q.namespace), q.namespace)


_FAILED_REQUEST = 'code=~"5.."'
_SUCCEEDED_EXECUTION = 'status="success"'
_FAILED_EXECUTION = 'status!="success"'

CATALOG: Final[Mapping[Signal, SignalQuery]] = {
    Signal.POD_RESTARTS: SignalQuery(
        {"restarts": "kube_pod_container_status_restarts_total"},
        _pod_restarts,
        default_window=timedelta(hours=1),
    ),
    Signal.CPU_USAGE: SignalQuery(
        {
            "usage": "container_cpu_usage_seconds_total",
            "limits": "kube_pod_container_resource_limits",
        },
        _usage_of_limit("cpu", "rate"),
    ),
    Signal.MEMORY_USAGE: SignalQuery(
        {
            "usage": "container_memory_working_set_bytes",
            "limits": "kube_pod_container_resource_limits",
        },
        _usage_of_limit("memory", "gauge"),
    ),
    Signal.DISK_USAGE: SignalQuery(
        {
            "used": "kubelet_volume_stats_used_bytes",
            "capacity": "kubelet_volume_stats_capacity_bytes",
        },
        _disk_usage,
    ),
    Signal.API_LATENCY_P99: SignalQuery(
        {"histogram": "http_request_duration_seconds"}, _p99("histogram")
    ),
    Signal.API_LATENCY_RELATIVE: SignalQuery(
        {"histogram": "http_request_duration_seconds"},
        _p99_relative("histogram"),
        # "Normal" is the same hour of the same weekday a week before.
        default_offset=timedelta(weeks=1),
    ),
    Signal.API_ERROR_RATE: SignalQuery(
        {"requests": "http_requests_total"}, _ratio("requests", _FAILED_REQUEST)
    ),
    Signal.REQUEST_RATE_DROP: SignalQuery({"requests": "http_requests_total"}, _rate_drop),
    Signal.CONNECTION_ERRORS: SignalQuery({"errors": "connection_errors_total"}, _per_minute),
    Signal.AGENT_SUCCESS_RATE: SignalQuery(
        {"executions": "agent_executions_total"}, _ratio("executions", _SUCCEEDED_EXECUTION)
    ),
    Signal.AGENT_EXECUTION_TIME: SignalQuery(
        {"histogram": "agent_execution_duration_seconds"}, _p99("histogram")
    ),
    Signal.AGENT_QUEUE_DEPTH: SignalQuery({"depth": "agent_queue_depth"}, _gauge_max),
    Signal.AGENT_ERROR_RATE: SignalQuery(
        {"executions": "agent_executions_total"}, _ratio("executions", _FAILED_EXECUTION)
    ),
}


def signal_query(
    signal: Signal,
    namespace: str,
    overrides: Mapping[str, str] | None = None,
    window: timedelta | None = None,
    offset: timedelta | None = None,
) -> str:
    """The PromQL for ``signal`` in ``namespace``; RuleError names a bad override."""
    entry = CATALOG[signal]
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(entry.metrics))
    if unknown:
        roles = ", ".join(sorted(entry.metrics))
        raise RuleError(
            f"{signal.value} has no metric role {', '.join(unknown)}; its roles are {roles}"
        )
    for role, name in overrides.items():
        if not _METRIC_NAME.match(name):
            raise RuleError(f"metrics.{role}: {name!r} is not a Prometheus metric name")
    inputs = QueryInputs(
        namespace=namespace,
        metrics={**entry.metrics, **overrides},
        window=entry.default_window if window is None else window,
        offset=entry.default_offset if offset is None else offset,
    )
    return entry.build(inputs)


# ------------------------------------------------------------- the stretch a query reads

_PROMQL_DURATION = r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h|d|w|y))+|[0-9]+(?:\.[0-9]+)?"
_RANGE = re.compile(rf"\[\s*({_PROMQL_DURATION})\s*(?::[^\]]*)?\]")
_OFFSET = re.compile(rf"\boffset\s+(-?)\s*({_PROMQL_DURATION})", re.IGNORECASE)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w|y)?")
_PROMQL_UNIT_SECONDS: Final = {
    None: 1.0,
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
# Longer ranges and offsets are read as this: beyond any retention that matters, and
# far from timedelta's limits, so adding them to a time never overflows.
LONGEST_REACH: Final = timedelta(days=3660)


def _promql_seconds(text: str) -> timedelta:
    seconds = sum(
        float(number) * _PROMQL_UNIT_SECONDS[unit or None]
        for number, unit in _DURATION_PART.findall(text)
    )
    return timedelta(seconds=min(seconds, LONGEST_REACH.total_seconds()))


def query_window(promql: str) -> QueryWindow:
    """The stretches of the past ``promql`` reads (see "The stretch of the past ...")."""
    ranges = [_promql_seconds(found) for found in _RANGE.findall(promql)]
    offsets = {timedelta(0)}
    for sign, found in _OFFSET.findall(promql):
        offset = _promql_seconds(found)
        offsets.add(-offset if sign else offset)
    return QueryWindow(max(ranges, default=timedelta(0)), tuple(sorted(offsets)))
