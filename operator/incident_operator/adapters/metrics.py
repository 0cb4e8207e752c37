"""The operator's own metrics (prometheus_client), in one place for every part to use."""

import platform
from collections import Counter as Tally
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Response times span seconds to days: buckets from 10 s to a week.
_HUMAN_BUCKETS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 604800)

TIME_TO_ACKNOWLEDGE = Histogram(
    "incident_operator_time_to_acknowledge_seconds",
    "From detection to the first acknowledgement.",
    ["severity"],
    buckets=_HUMAN_BUCKETS,
)
TIME_TO_RESOLVE = Histogram(
    "incident_operator_time_to_resolve_seconds",
    "From detection to resolution.",
    ["severity"],
    buckets=_HUMAN_BUCKETS,
)
ESCALATIONS = Counter(
    "incident_operator_escalations_total", "Escalation steps taken.", ["severity", "trigger"]
)
NOTIFICATIONS = Counter(
    "incident_operator_notifications_total",
    "Notification deliveries by channel type and outcome (sent, failed).",
    ["channel", "outcome"],
)
ROLLBACKS = Counter(
    "incident_operator_rollbacks_total",
    "Rollbacks by outcome (succeeded, failed, refused).",
    ["outcome"],
)
REMEDIATIONS = Counter(
    "incident_operator_remediations_total",
    "Remediations (status.remediations) by kind and outcome (succeeded, failed, refused, "
    "withdrawn).",
    ["kind", "outcome"],
)
PROMETHEUS_QUERIES = Counter(
    "incident_operator_prometheus_queries_total",
    "PromQL queries by outcome (ok, error, empty).",
    ["outcome"],
)
ALERTS_IGNORED = Counter(
    "incident_operator_alerts_ignored_total",
    "Alertmanager alerts answered without an incident written, by reason (SeverityNone, "
    "NamespaceNotFound, Refused, Failed).",
    ["reason"],
)
PROMETHEUS_QUERY_SECONDS = Histogram(
    "incident_operator_prometheus_query_duration_seconds", "PromQL query latency."
)
RECONCILE_SECONDS = Histogram(
    "incident_operator_reconcile_duration_seconds", "Time to reconcile one object.", ["kind"]
)
LEADING = Gauge("incident_operator_leader", "1 while this replica is the active one.")
INTAKE_REQUESTS = Counter(
    "incident_operator_intake_requests_total",
    "Deliveries to the intake receiver (/alerts, /webhook, /pagerduty, /slack/events) by "
    "path and HTTP status code; 4xx and 5xx are refusals.",
    ["path", "code"],
)
DEADLINE_LATENESS = Histogram(
    "incident_operator_deadline_lateness_seconds",
    "How long after an incident's deadline (escalation step, update reminder, SLA clock) "
    "the operator decided on it.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
)
BUILD_INFO = Gauge(
    "incident_operator_build_info",
    "Always 1; the labels say which operator, Python and kopf this replica runs.",
    ["version", "python", "kopf"],
)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(
    version=_version("incident-operator"),
    python=platform.python_version(),
    kopf=_version("kopf"),
).set(1)


class IncidentCensus(Collector):
    """Open incidents by severity and phase, counted at scrape time from the last decisions."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], tuple[str, str]] = {}

    def record(self, namespace: str, name: str, severity: str, phase: str) -> None:
        self._by_key[(namespace, name)] = (severity, phase)

    def forget(self, namespace: str, name: str) -> None:
        self._by_key.pop((namespace, name), None)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "incident_operator_incidents",
            "Incidents not yet closed, by severity and phase.",
            labels=["severity", "phase"],
        )
        counts = Tally(value for value in self._by_key.values() if value[1] != "Closed")
        for (severity, phase), count in sorted(counts.items()):
            family.add_metric([severity, phase], count)
        yield family


INCIDENTS = IncidentCensus()
REGISTRY.register(INCIDENTS)
