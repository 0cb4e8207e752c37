"""The runbook's four dashboards and the operator's own, as Grafana JSON.

The runbook's appendix lists four dashboards (System Overview, Agent Execution, API
Performance, Infrastructure) and its Key Metrics and Thresholds table says what each
watches. They are generated from the signal catalog that detection runs, so a panel
shows exactly what a detection rule measures: its ``expr`` is ``signal_query(signal,
"$namespace")`` (the catalog's PromQL for the namespace chosen in the dashboard's
``namespace`` variable) and its threshold steps are the runbook's warning and critical
thresholds (domain.signals.RUNBOOK_THRESHOLDS). Changing a query or a threshold changes
detection and the dashboards together; ``make dashboards`` writes the files and a test
fails while the committed ones are stale.

Each dashboard's uid is the last part of the appendix's link (``/d/system-overview``),
so the default links of a policy (domain.links) open them in Grafana.

The operator's own dashboard (uid ``incident-operator``) reads the operator's metrics
(adapters/metrics.py): MTTA and MTTR by severity, open incidents by phase and severity,
escalations, notifications by outcome, rollbacks and remediations, detection's query
health, and the signals its alerts (domain.operator_alerts) watch.
"""

from collections.abc import Mapping
from typing import Final

from incident_operator.domain import grafana
from incident_operator.domain.detection_queries import signal_query
from incident_operator.domain.grafana import Json, panel, target

# The appendix's dashboards (what they are called, show, and where they are) live in a
# module of their own: the plugin's `show` links them without loading this one.
from incident_operator.domain.runbook_dashboards import (
    AGENT_EXECUTION as AGENT_EXECUTION,
)
from incident_operator.domain.runbook_dashboards import (
    API_PERFORMANCE as API_PERFORMANCE,
)
from incident_operator.domain.runbook_dashboards import (
    INFRASTRUCTURE as INFRASTRUCTURE,
)
from incident_operator.domain.runbook_dashboards import (
    RUNBOOK_DASHBOARDS as RUNBOOK_DASHBOARDS,
)
from incident_operator.domain.runbook_dashboards import (
    SYSTEM_OVERVIEW as SYSTEM_OVERVIEW,
)
from incident_operator.domain.runbook_dashboards import (
    RunbookDashboard as RunbookDashboard,
)
from incident_operator.domain.signals import (
    RUNBOOK_THRESHOLDS,
    TIMES_NORMAL,
    Direction,
    Signal,
)

# Where a panel's namespace comes from: the dashboard's ``namespace`` variable.
NAMESPACE_VARIABLE: Final = "$namespace"
RUNBOOK_TAGS: Final = ("incident-operator", "runbook")


_AREAS: Final = (AGENT_EXECUTION, API_PERFORMANCE, INFRASTRUCTURE)

SIGNAL_TITLES: Final[Mapping[Signal, str]] = {
    Signal.AGENT_SUCCESS_RATE: "Agent success rate",
    Signal.AGENT_EXECUTION_TIME: "Agent execution time (p99)",
    Signal.AGENT_QUEUE_DEPTH: "Agent queue depth",
    Signal.AGENT_ERROR_RATE: "Agent error rate",
    Signal.API_LATENCY_P99: "API latency p99",
    Signal.API_LATENCY_RELATIVE: "API latency p99 relative to a week ago",
    Signal.API_ERROR_RATE: "API error rate",
    Signal.REQUEST_RATE_DROP: "Request rate drop (vs. a day ago)",
    Signal.CONNECTION_ERRORS: "Connection errors per minute",
    Signal.CPU_USAGE: "CPU usage of limit",
    Signal.MEMORY_USAGE: "Memory usage of limit",
    Signal.DISK_USAGE: "Disk usage of capacity",
    Signal.POD_RESTARTS: "Pod restarts per hour",
}

# Grafana units for the catalog's units; any other is shown as a plain number.
_GRAFANA_UNITS: Final[Mapping[str, str]] = {
    "ratio of limit": "percentunit",
    "ratio of capacity": "percentunit",
    "ratio of requests": "percentunit",
    "ratio of earlier rate": "percentunit",
    "ratio of executions": "percentunit",
    "seconds": "s",
    TIMES_NORMAL: "suffix:x",
}
_WORKLOAD_LEGEND: Final = "{{workload_kind}}/{{workload}}"


def signal_panel(signal: Signal, kind: str = "timeseries") -> Json:
    """The catalog's query and the runbook's thresholds for ``signal``, as one panel."""
    thresholds = RUNBOOK_THRESHOLDS[signal]
    word = "above" if thresholds.direction is Direction.ABOVE else "below"
    description = (
        f"Detection's `{signal.value}` signal, one series per workload ({thresholds.unit}). "
        f"Warning {word} {thresholds.warning:g}, critical {word} {thresholds.critical:g} "
        "(the runbook's Key Metrics and Thresholds)."
    )
    return panel(
        kind,
        SIGNAL_TITLES[signal],
        [target(signal_query(signal, NAMESPACE_VARIABLE), _WORKLOAD_LEGEND)],
        unit=_GRAFANA_UNITS.get(thresholds.unit, "short"),
        description=description,
        steps=grafana.threshold_steps(
            thresholds.warning, thresholds.critical, thresholds.direction
        ),
    )


def _runbook_links() -> list[Json]:
    return [
        {
            "type": "dashboards",
            "title": "Runbook dashboards",
            "tags": list(RUNBOOK_TAGS),
            "asDropdown": False,
            "includeVars": True,
            "keepTime": True,
        }
    ]


def _variables() -> list[Json]:
    return [
        grafana.datasource_variable(),
        grafana.query_variable("namespace", "Namespace", "label_values(kube_pod_owner, namespace)"),
    ]


def runbook_dashboard(board: RunbookDashboard) -> Json:
    """One of the appendix's dashboards; the overview as stats, the others as graphs."""
    if board is SYSTEM_OVERVIEW:
        panels: list[Json] = []
        for area in _AREAS:
            panels.append(grafana.row(area.title))
            panels += [signal_panel(signal, "stat") for signal in area.signals]
        placed = grafana.layout(panels, per_row=4, height=5)
    else:
        placed = grafana.layout([signal_panel(signal) for signal in board.signals])
    return grafana.dashboard(
        board.uid,
        board.title,
        f"{board.purpose}: the runbook's Key Metrics and Thresholds, generated from the "
        "incident-operator's signal catalog (the same PromQL and thresholds as detection).",
        placed,
        _variables(),
        RUNBOOK_TAGS,
        _runbook_links(),
    )


# ------------------------------------------------------------ the operator's own dashboard

OPERATOR_DASHBOARD_UID: Final = "incident-operator"
_RANGE: Final = "$__range"
_RATE: Final = "$__rate_interval"


def _mean_by_severity(histogram: str) -> str:
    return (
        f"sum by (severity) (increase({histogram}_sum[{_RANGE}])) / "
        f"sum by (severity) (increase({histogram}_count[{_RANGE}]))"
    )


def _increase(metric: str, by: str) -> str:
    return f"sum by ({by}) (increase({metric}[{_RATE}]))"


def _p99(histogram: str, by: str = "") -> str:
    grouping = f"{by}, le" if by else "le"
    return f"histogram_quantile(0.99, sum by ({grouping}) (rate({histogram}_bucket[{_RATE}])))"


def operator_dashboard() -> Json:
    """The operator's own dashboard: response times, incidents, what it did, its health."""
    tta = "incident_operator_time_to_acknowledge_seconds"
    ttr = "incident_operator_time_to_resolve_seconds"
    panels = [
        grafana.row("Response"),
        panel(
            "bargauge",
            "MTTA by severity (time range)",
            [target(_mean_by_severity(tta), "{{severity}}")],
            unit="s",
            description="Mean time from detection to the first acknowledgement, over the "
            "dashboard's time range.",
        ),
        panel(
            "bargauge",
            "MTTR by severity (time range)",
            [target(_mean_by_severity(ttr), "{{severity}}")],
            unit="s",
            description="Mean time from detection to resolution, over the time range.",
        ),
        panel(
            "timeseries",
            "Open incidents by phase and severity",
            [
                target(
                    "sum by (severity, phase) (incident_operator_incidents)",
                    "{{severity}} {{phase}}",
                )
            ],
            description="Incidents not yet closed, as the leader last decided them.",
            stacked=True,
        ),
        panel(
            "timeseries",
            "Escalations",
            [
                target(
                    _increase("incident_operator_escalations_total", "severity, trigger"),
                    "{{severity}} {{trigger}}",
                )
            ],
            description="Escalation steps reached, by severity and what escalated "
            "(Schedule, or the trigger's name).",
            stacked=True,
        ),
        grafana.row("Actions"),
        panel(
            "timeseries",
            "Notifications by outcome",
            [
                target(
                    _increase("incident_operator_notifications_total", "channel, outcome"),
                    "{{channel}} {{outcome}}",
                )
            ],
            description="Delivery attempts by channel type and outcome (sent, failed).",
            stacked=True,
        ),
        panel(
            "timeseries",
            "Rollbacks and remediations",
            [
                target(
                    _increase("incident_operator_rollbacks_total", "outcome"),
                    "rollback {{outcome}}",
                ),
                target(
                    _increase("incident_operator_remediations_total", "kind, outcome"),
                    "{{kind}} {{outcome}}",
                ),
            ],
            description="Rollbacks and remediations reaching an outcome.",
            stacked=True,
        ),
        grafana.row("Detection and intake"),
        panel(
            "timeseries",
            "Detection query health",
            [
                target(
                    f"sum by (outcome) (rate(incident_operator_prometheus_queries_total[{_RATE}]))",
                    "{{outcome}}",
                ),
            ],
            unit="reqps",
            description="PromQL queries per second by outcome (ok, empty, error).",
            stacked=True,
        ),
        panel(
            "timeseries",
            "Detection query latency p99",
            [target(_p99("incident_operator_prometheus_query_duration_seconds"), "p99")],
            unit="s",
        ),
        panel(
            "timeseries",
            "Intake deliveries by path and code",
            [
                target(
                    f"sum by (path, code) (rate(incident_operator_intake_requests_total[{_RATE}]))",
                    "{{path}} {{code}}",
                )
            ],
            unit="reqps",
            description="Alertmanager, webhook, PagerDuty and Slack deliveries; 4xx and 5xx "
            "are refusals.",
            stacked=True,
        ),
        panel(
            "timeseries",
            "Alerts ignored by reason",
            [target(_increase("incident_operator_alerts_ignored_total", "reason"), "{{reason}}")],
        ),
        grafana.row("Operator"),
        panel(
            "stat",
            "Leader",
            [target("sum(incident_operator_leader)", "leaders")],
            description="Replicas leading: 1 is healthy, 0 means nothing acts.",
            # One leader is right; none, or two (a split brain), is red.
            steps=[
                {"color": grafana.CRITICAL_COLOR, "value": None},
                {"color": grafana.OK_COLOR, "value": 1},
                {"color": grafana.CRITICAL_COLOR, "value": 2},
            ],
        ),
        panel(
            "table",
            "Build",
            [target("incident_operator_build_info", "{{version}}")],
            description="The operator, Python and kopf version each replica runs.",
        ),
        panel(
            "timeseries",
            "Reconcile duration p99",
            [target(_p99("incident_operator_reconcile_duration_seconds", "kind"), "{{kind}}")],
            unit="s",
        ),
        panel(
            "timeseries",
            "Deadline lateness p99",
            [target(_p99("incident_operator_deadline_lateness_seconds"), "p99")],
            unit="s",
            description="How long after an incident's deadline (escalation step, reminder, "
            "SLA clock) the operator acted on it.",
        ),
    ]
    return grafana.dashboard(
        OPERATOR_DASHBOARD_UID,
        "Incident Operator",
        "The incident-operator's own metrics: response times, incidents, escalations, "
        "notifications, rollbacks, remediations, detection and its health.",
        grafana.layout(panels),
        [grafana.datasource_variable()],
        ("incident-operator",),
        _runbook_links(),
    )


def all_dashboards() -> dict[str, Json]:
    """Every dashboard by file name: the four of the runbook and the operator's own."""
    boards = {f"{board.uid}.json": runbook_dashboard(board) for board in RUNBOOK_DASHBOARDS}
    boards[f"{OPERATOR_DASHBOARD_UID}.json"] = operator_dashboard()
    return boards
