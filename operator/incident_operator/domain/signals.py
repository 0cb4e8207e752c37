"""The runbook's Key Metrics and Thresholds as a catalog of signals.

Each signal has a warning and a critical threshold and a direction: most breach above
their threshold, success rate breaches below it. Ratios are fractions (0.95 is 95%),
times are seconds, rates are per the unit named.

One signal is not in the thresholds table but in the severity examples: API latency
relative to normal ("API latency > 10x normal" is P1, "2-5x latency" P2), the p99 now
over the p99 a week earlier; its thresholds are "times normal", 2 and 10.
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
    # The p99 now divided by the p99 at ``offset`` (default a week) before: "10x normal".
    API_LATENCY_RELATIVE = "apiLatencyRelative"
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
# The unit of a value relative to the same value at an offset before (shown as 12x).
TIMES_NORMAL = "times normal"

RUNBOOK_THRESHOLDS: dict[Signal, Thresholds] = {
    Signal.POD_RESTARTS: Thresholds(3, 10, _UP, "restarts/hour"),
    Signal.CPU_USAGE: Thresholds(0.70, 0.90, _UP, "ratio of limit"),
    Signal.MEMORY_USAGE: Thresholds(0.80, 0.95, _UP, "ratio of limit"),
    Signal.DISK_USAGE: Thresholds(0.75, 0.90, _UP, "ratio of capacity"),
    Signal.API_LATENCY_P99: Thresholds(0.5, 2.0, _UP, "seconds"),
    # The severity examples: "2-5x latency" is P2, "> 10x normal" P1.
    Signal.API_LATENCY_RELATIVE: Thresholds(2.0, 10.0, _UP, TIMES_NORMAL),
    Signal.API_ERROR_RATE: Thresholds(0.01, 0.05, _UP, "ratio of requests"),
    Signal.REQUEST_RATE_DROP: Thresholds(0.20, 0.50, _UP, "ratio of earlier rate"),
    Signal.CONNECTION_ERRORS: Thresholds(10, 100, _UP, "errors/minute"),
    Signal.AGENT_SUCCESS_RATE: Thresholds(0.95, 0.80, _DOWN, "ratio of executions"),
    Signal.AGENT_EXECUTION_TIME: Thresholds(30, 60, _UP, "seconds"),
    Signal.AGENT_QUEUE_DEPTH: Thresholds(1000, 5000, _UP, "items"),
    Signal.AGENT_ERROR_RATE: Thresholds(0.05, 0.20, _UP, "ratio of executions"),
}
