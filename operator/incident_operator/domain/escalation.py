"""The runbook's escalation matrix: who is told, how long after detection, and how.

This is the default a policy without escalation steps uses. A step's ``after`` counts
from detection.
"""

from dataclasses import dataclass
from datetime import timedelta
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
)


def steps_for(severity: Severity, matrix: tuple[EscalationStep, ...]) -> list[EscalationStep]:
    """The steps for ``severity`` in the order they fall due."""
    return sorted((s for s in matrix if s.severity is severity), key=lambda s: s.after)
