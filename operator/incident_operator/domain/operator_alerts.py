"""The operator's own alerts, as a Prometheus rule file: an incident tool must not fail
silently.

Each alert reads the operator's metrics (adapters/metrics.py), carries a ``severity``
label (critical: nothing is being detected, paged or acted on; warning: it works, late
or partly) and a ``runbook_url`` to its section of docs/monitoring.md. The URL is a path
in the repository (``docs/monitoring.md#...``), as domain.links keeps paths: the chart's
``monitoring.prometheusRule.runbookBaseUrl`` puts a base in front of it.

Ratios divide by the total over the same window, so no traffic reads as no data (no
alert), not as a failure; ``for`` durations ride out a single retry or a restart.
``make dashboards`` writes the rule file; ``promtool check rules`` and ``promtool test
rules`` (tests/promtool/) run on it in ``make test``.
"""

from dataclasses import dataclass
from typing import Any, Final

RULE_GROUP: Final = "incident-operator"
RUNBOOK_DOC: Final = "docs/monitoring.md"


@dataclass(frozen=True)
class OperatorAlert:
    name: str
    expr: str
    # How long the expression must hold: Prometheus' ``for``.
    lasting: str
    severity: str
    summary: str
    description: str

    @property
    def runbook_url(self) -> str:
        # The heading's anchor, as GitHub and most Markdown renderers make it.
        return f"{RUNBOOK_DOC}#{self.name.lower()}"


def _failing_ratio(metric: str, failed: str, by: str, window: str = "10m") -> str:
    return (
        f"sum by ({by}) (rate({metric}{{{failed}}}[{window}])) / "
        f"sum by ({by}) (rate({metric}[{window}]))"
    )


def _p99(histogram: str, by: str, window: str = "10m") -> str:
    return f"histogram_quantile(0.99, sum by ({by}, le) (rate({histogram}_bucket[{window}])))"


# Thresholds the alerts use, named for the docs and the promtool tests.
NOTIFICATION_FAILURE_RATIO: Final = 0.1
QUERY_FAILURE_RATIO: Final = 0.1
INTAKE_REFUSAL_RATIO: Final = 0.05
RECONCILE_P99_SECONDS: Final = 5
DEADLINE_LATENESS_P99_SECONDS: Final = 30

OPERATOR_ALERTS: Final = (
    OperatorAlert(
        "IncidentOperatorDown",
        "absent(incident_operator_build_info)",
        "5m",
        "critical",
        "No incident-operator replica is scraped.",
        "Prometheus has no incident_operator_build_info series: every replica is down, or "
        "the ServiceMonitor no longer finds them. Nothing detects, escalates or notifies.",
    ),
    OperatorAlert(
        "IncidentOperatorNoLeader",
        "sum by (namespace) (incident_operator_leader) < 1",
        "5m",
        "critical",
        "No incident-operator replica in {{ $labels.namespace }} is the leader.",
        "Replicas run but none holds the Lease: nothing detects, escalates or notifies.",
    ),
    OperatorAlert(
        "IncidentOperatorNotificationsFailing",
        _failing_ratio(
            "incident_operator_notifications_total", 'outcome="failed"', "namespace, channel"
        )
        + f" > {NOTIFICATION_FAILURE_RATIO}",
        "10m",
        "critical",
        "{{ $value | humanizePercentage }} of {{ $labels.channel }} notifications fail.",
        "Deliveries to {{ $labels.channel }} channels fail: pages and updates may not reach "
        "people. Incidents' NotificationsFailing condition and Events name the channel "
        "and the error.",
    ),
    OperatorAlert(
        "IncidentOperatorPrometheusQueriesFailing",
        _failing_ratio("incident_operator_prometheus_queries_total", 'outcome="error"', "namespace")
        + f" > {QUERY_FAILURE_RATIO}",
        "10m",
        "warning",
        "{{ $value | humanizePercentage }} of detection's PromQL queries fail.",
        "Detection cannot read Prometheus (unreachable, refused or bad PromQL): its rules "
        "are Unknown and open no incidents. Policies' MetricsAvailable condition says why.",
    ),
    OperatorAlert(
        "IncidentOperatorIntakeRefusing",
        _failing_ratio(
            "incident_operator_intake_requests_total",
            'path!="other", code=~"4..|5.."',
            "namespace, path",
        )
        + f" > {INTAKE_REFUSAL_RATIO}",
        "10m",
        "warning",
        "The intake refuses {{ $value | humanizePercentage }} of deliveries to {{ $labels.path }}.",
        "Alertmanager, webhook, PagerDuty or Slack deliveries get 4xx or 5xx: a wrong token "
        "or signing secret (401), an unreadable Secret (503) or a failing intake (500).",
    ),
    OperatorAlert(
        "IncidentOperatorReconcileSlow",
        _p99("incident_operator_reconcile_duration_seconds", "namespace, kind")
        + f" > {RECONCILE_P99_SECONDS}",
        "15m",
        "warning",
        "Reconciling one {{ $labels.kind }} takes {{ $value | humanizeDuration }} (p99).",
        "The operator is slow to decide: API server latency, throttling, or CPU limits.",
    ),
    OperatorAlert(
        "IncidentOperatorDeadlinesLate",
        _p99("incident_operator_deadline_lateness_seconds", "namespace")
        + f" > {DEADLINE_LATENESS_P99_SECONDS}",
        "10m",
        "warning",
        "Deadlines are acted on {{ $value | humanizeDuration }} late (p99).",
        "Escalation steps, update reminders and SLA clocks fire late: the operator is "
        "overloaded or starved of CPU.",
    ),
)


def rule_groups() -> dict[str, Any]:
    """The rule file's content (``groups:``), also a PrometheusRule's ``spec``."""
    return {
        "groups": [
            {
                "name": RULE_GROUP,
                "rules": [
                    {
                        "alert": alert.name,
                        "expr": alert.expr,
                        "for": alert.lasting,
                        "labels": {"severity": alert.severity},
                        "annotations": {
                            "summary": alert.summary,
                            "description": alert.description,
                            "runbook_url": alert.runbook_url,
                        },
                    }
                    for alert in OPERATOR_ALERTS
                ],
            }
        ]
    }
