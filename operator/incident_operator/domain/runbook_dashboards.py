"""The runbook appendix's four dashboards: uid, title, purpose and the signals each shows.

``domain.dashboards`` builds their Grafana JSON from these; ``domain.links`` links them.
Kept apart from the JSON building (and its PromQL) so linking them is cheap.
"""

from dataclasses import dataclass
from typing import Final

from incident_operator.domain.signals import Signal


@dataclass(frozen=True)
class RunbookDashboard:
    """One dashboard of the runbook's appendix."""

    # The ``/d/<uid>`` of the appendix's link.
    uid: str
    title: str
    purpose: str
    # The Key Metrics and Thresholds rows it shows, in the runbook's order.
    signals: tuple[Signal, ...]

    @property
    def path(self) -> str:
        return f"/d/{self.uid}"


AGENT_EXECUTION = RunbookDashboard(
    "agent-execution",
    "Agent Execution",
    "Agent performance metrics",
    (
        Signal.AGENT_SUCCESS_RATE,
        Signal.AGENT_EXECUTION_TIME,
        Signal.AGENT_QUEUE_DEPTH,
        Signal.AGENT_ERROR_RATE,
    ),
)
API_PERFORMANCE = RunbookDashboard(
    "api-performance",
    "API Performance",
    "API latency and errors",
    (
        Signal.API_LATENCY_P99,
        Signal.API_LATENCY_RELATIVE,
        Signal.API_ERROR_RATE,
        Signal.REQUEST_RATE_DROP,
        Signal.CONNECTION_ERRORS,
    ),
)
INFRASTRUCTURE = RunbookDashboard(
    "infrastructure",
    "Infrastructure",
    "Resource utilization",
    (Signal.CPU_USAGE, Signal.MEMORY_USAGE, Signal.DISK_USAGE, Signal.POD_RESTARTS),
)
# The three areas at a glance: one stat per signal, grouped as the runbook's table is.
SYSTEM_OVERVIEW = RunbookDashboard(
    "system-overview",
    "System Overview",
    "High-level system health",
    AGENT_EXECUTION.signals + API_PERFORMANCE.signals + INFRASTRUCTURE.signals,
)
# The appendix's Dashboard Links table, row by row.
RUNBOOK_DASHBOARDS: Final = (SYSTEM_OVERVIEW, AGENT_EXECUTION, API_PERFORMANCE, INFRASTRUCTURE)
