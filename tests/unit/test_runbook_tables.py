"""The escalation matrix and the metric thresholds against the runbook."""

from datetime import timedelta

import pytest

from incident_operator.domain.escalation import RUNBOOK_MATRIX, ContactMethod, steps_for
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import RUNBOOK_THRESHOLDS, Direction, Signal

PAGER, PHONE, CHAT = ContactMethod.PAGER, ContactMethod.PHONE, ContactMethod.CHAT
EMAIL = ContactMethod.EMAIL


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (
            Severity.P0,
            [
                (0, "All on-call", (PAGER,)),
                # The P0 actions' "Notify executive leadership", at declaration.
                (0, "Executive leadership", (CHAT, EMAIL)),
                (15, "VP Engineering", (PHONE,)),
                (30, "CTO", (PHONE,)),
                (60, "CEO", (PHONE,)),
            ],
        ),
        (
            Severity.P1,
            [
                (0, "Primary on-call", (PAGER,)),
                (30, "Secondary on-call", (PAGER,)),
                (60, "Engineering Manager", (CHAT, PHONE)),
                (120, "VP Engineering", (CHAT, PHONE)),
            ],
        ),
        (
            Severity.P2,
            [
                (0, "Primary on-call", (CHAT,)),
                (120, "Team Lead", (CHAT,)),
                (240, "Engineering Manager", (CHAT,)),
            ],
        ),
        # Not in the matrix: the severity table's "Team Lead after 4 hours".
        (Severity.P3, [(240, "Team Lead", (CHAT,))]),
        (Severity.P4, []),
    ],
)
def test_escalation_matrix(
    severity: Severity, expected: list[tuple[int, str, tuple[ContactMethod, ...]]]
) -> None:
    steps = steps_for(severity, RUNBOOK_MATRIX)
    assert [(s.after, s.target.name, s.target.methods) for s in steps] == [
        (timedelta(minutes=m), name, methods) for m, name, methods in expected
    ]


@pytest.mark.parametrize(
    ("signal", "warning", "critical", "direction"),
    [
        # Agent Execution
        (Signal.AGENT_SUCCESS_RATE, 0.95, 0.80, Direction.BELOW),
        (Signal.AGENT_EXECUTION_TIME, 30, 60, Direction.ABOVE),
        (Signal.AGENT_QUEUE_DEPTH, 1000, 5000, Direction.ABOVE),
        (Signal.AGENT_ERROR_RATE, 0.05, 0.20, Direction.ABOVE),
        # API Performance
        (Signal.API_LATENCY_P99, 0.5, 2.0, Direction.ABOVE),
        (Signal.API_ERROR_RATE, 0.01, 0.05, Direction.ABOVE),
        (Signal.REQUEST_RATE_DROP, 0.20, 0.50, Direction.ABOVE),
        (Signal.CONNECTION_ERRORS, 10, 100, Direction.ABOVE),
        # The severity examples: "2-5x latency" (P2), "API latency > 10x normal" (P1).
        (Signal.API_LATENCY_RELATIVE, 2, 10, Direction.ABOVE),
        # Infrastructure
        (Signal.CPU_USAGE, 0.70, 0.90, Direction.ABOVE),
        (Signal.MEMORY_USAGE, 0.80, 0.95, Direction.ABOVE),
        (Signal.DISK_USAGE, 0.75, 0.90, Direction.ABOVE),
        (Signal.POD_RESTARTS, 3, 10, Direction.ABOVE),
    ],
)
def test_thresholds(signal: Signal, warning: float, critical: float, direction: Direction) -> None:
    thresholds = RUNBOOK_THRESHOLDS[signal]
    assert (thresholds.warning, thresholds.critical, thresholds.direction) == (
        warning,
        critical,
        direction,
    )


def test_every_signal_has_thresholds() -> None:
    assert set(RUNBOOK_THRESHOLDS) == set(Signal)
