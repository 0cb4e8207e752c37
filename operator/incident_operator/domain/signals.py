"""The runbook's Key Metrics and Thresholds as a catalog of signals.

Each signal has a warning and a critical threshold and a direction: most breach above
their threshold, success rate breaches below it. Ratios are fractions (0.95 is 95%),
times are seconds, rates are per the unit named.
"""

from dataclasses import dataclass
from enum import StrEnum


class Signal(StrEnum):
    """Built-in signals; a detection rule names one of these or brings its own query."""

    POD_RESTARTS = "podRestarts"
    CPU_USAGE = "cpuUsage"
    MEMORY_USAGE = "memoryUsage"
    DISK_USAGE = "diskUsage"
    API_LATENCY_P99 = "apiLatencyP99"
    API_ERROR_RATE = "apiErrorRate"
    REQUEST_RATE_DROP = "requestRateDrop"
    CONNECTION_ERRORS = "connectionErrors"
    AGENT_SUCCESS_RATE = "agentSuccessRate"
    AGENT_EXECUTION_TIME = "agentExecutionTime"
    AGENT_QUEUE_DEPTH = "agentQueueDepth"
    AGENT_ERROR_RATE = "agentErrorRate"


class Level(StrEnum):
    """How far past its thresholds a measured value is."""

    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"
    # No usable data: Prometheus unreachable, an error, an empty result or NaN.
    UNKNOWN = "unknown"


class Direction(StrEnum):
    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True)
class Thresholds:
    warning: float
    critical: float
    direction: Direction
    # What the number measures, for messages ("restarts/hour", "ratio", "seconds").
    unit: str


_UP, _DOWN = Direction.ABOVE, Direction.BELOW

RUNBOOK_THRESHOLDS: dict[Signal, Thresholds] = {
    Signal.POD_RESTARTS: Thresholds(3, 10, _UP, "restarts/hour"),
    Signal.CPU_USAGE: Thresholds(0.70, 0.90, _UP, "ratio of limit"),
    Signal.MEMORY_USAGE: Thresholds(0.80, 0.95, _UP, "ratio of limit"),
    Signal.DISK_USAGE: Thresholds(0.75, 0.90, _UP, "ratio of capacity"),
    Signal.API_LATENCY_P99: Thresholds(0.5, 2.0, _UP, "seconds"),
    Signal.API_ERROR_RATE: Thresholds(0.01, 0.05, _UP, "ratio of requests"),
    Signal.REQUEST_RATE_DROP: Thresholds(0.20, 0.50, _UP, "ratio of earlier rate"),
    Signal.CONNECTION_ERRORS: Thresholds(10, 100, _UP, "errors/minute"),
    Signal.AGENT_SUCCESS_RATE: Thresholds(0.95, 0.80, _DOWN, "ratio of executions"),
    Signal.AGENT_EXECUTION_TIME: Thresholds(30, 60, _UP, "seconds"),
    Signal.AGENT_QUEUE_DEPTH: Thresholds(1000, 5000, _UP, "items"),
    Signal.AGENT_ERROR_RATE: Thresholds(0.05, 0.20, _UP, "ratio of executions"),
}
