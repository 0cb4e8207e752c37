"""The runbook's escalation matrix: who is told, how long after detection, and how.

This is the default a policy without escalation steps uses. A step's ``after`` counts
from detection.

The runbook's matrix has rows for P0 to P2 only, but its severity table says P3
escalates to the Team Lead after 4 hours; that row is the P3 step here (by chat, as the
matrix's P2 Team Lead row; routing sends it to the info level's #monitoring). P4 has no
escalation in either table.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incident_operator.domain.severity import Severity


class ContactMethod(StrEnum):
    """How a target is reached."""

    PAGER = "pager"
    PHONE = "phone"
    CHAT = "chat"
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class EscalationTarget:
    name: str
    # Methods in the order the runbook lists them ("Slack/Phone" is chat, then phone).
    methods: tuple[ContactMethod, ...]


@dataclass(frozen=True)
class EscalationStep:
    severity: Severity
    after: timedelta
    target: EscalationTarget


def _step(severity: Severity, minutes: int, name: str, *methods: ContactMethod) -> EscalationStep:
    return EscalationStep(severity, timedelta(minutes=minutes), EscalationTarget(name, methods))


_PAGER, _PHONE, _CHAT = ContactMethod.PAGER, ContactMethod.PHONE, ContactMethod.CHAT

RUNBOOK_MATRIX: tuple[EscalationStep, ...] = (
    _step(Severity.P0, 0, "All on-call", _PAGER),
    _step(Severity.P0, 15, "VP Engineering", _PHONE),
    _step(Severity.P0, 30, "CTO", _PHONE),
    _step(Severity.P0, 60, "CEO", _PHONE),
    _step(Severity.P1, 0, "Primary on-call", _PAGER),
    _step(Severity.P1, 30, "Secondary on-call", _PAGER),
    _step(Severity.P1, 60, "Engineering Manager", _CHAT, _PHONE),
    _step(Severity.P1, 120, "VP Engineering", _CHAT, _PHONE),
    _step(Severity.P2, 0, "Primary on-call", _CHAT),
    _step(Severity.P2, 120, "Team Lead", _CHAT),
    _step(Severity.P2, 240, "Engineering Manager", _CHAT),
    # Not in the matrix: the severity table's "Team Lead after 4 hours" for P3.
    _step(Severity.P3, 240, "Team Lead", _CHAT),
)


def steps_for(severity: Severity, matrix: tuple[EscalationStep, ...]) -> list[EscalationStep]:
    """The steps for ``severity`` in the order they fall due."""
    return sorted((s for s in matrix if s.severity is severity), key=lambda s: s.after)


@dataclass(frozen=True)
class PlannedStep:
    """One step of the matrix that applies to an incident, numbered within its severity.

    ``ordinal`` is the step's place among its severity's steps; with the severity it names
    the step for good (``P0-1``), so a step reached is never reached again.
    """

    severity: Severity
    ordinal: int
    after: timedelta
    # (name, method) pairs; a runbook row "Slack/Phone" is two targets of one step.
    targets: tuple[tuple[str, ContactMethod], ...]
    # The channel the policy names for it; None leaves it to the alert-level routing.
    channel: str | None = None

    @property
    def key(self) -> str:
        return f"{self.severity.value}-{self.ordinal}"

    @property
    def methods(self) -> tuple[ContactMethod, ...]:
        return tuple(dict.fromkeys(method for _, method in self.targets))

    def describe_targets(self) -> list[str]:
        return [f"{name} ({method.value})" for name, method in self.targets]


def runbook_steps(severity: Severity) -> list[PlannedStep]:
    """The runbook's matrix rows for ``severity`` as planned steps."""
    return [
        PlannedStep(
            severity=severity,
            ordinal=ordinal,
            after=step.after,
            targets=tuple((step.target.name, method) for method in step.target.methods),
        )
        for ordinal, step in enumerate(steps_for(severity, RUNBOOK_MATRIX))
    ]


def due_steps(
    steps: list[PlannedStep], level: int, detected_at: datetime, now: datetime
) -> list[PlannedStep]:
    """Steps after the first ``level`` whose time since detection has come, in order.

    Steps are reached in order, so a later step never goes out before an earlier one,
    even when both fell due while nobody was looking.
    """
    due = []
    for step in steps[level:]:
        if detected_at + step.after > now:
            break
        due.append(step)
    return due
