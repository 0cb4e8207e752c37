"""The runbook's escalation matrix: who is told, how long after detection, and how.

This is the default a policy without escalation steps uses. A step's ``after`` counts
from detection.

The runbook's matrix has rows for P0 to P2 only, but its severity table says P3
escalates to the Team Lead after 4 hours; that row is the P3 step here (by chat, as the
matrix's P2 Team Lead row; routing sends it to the info level's #monitoring). P4 has no
escalation in either table.

The runbook's P0 actions also say "Notify executive leadership", next to "Page entire
on-call rotation immediately": that is a second target of the first P0 step, by chat and
e-mail (a notice, not a page); VP Engineering is still paged (phoned) at 15 minutes.

Each target names the roles of the policy's ``spec.contacts`` it reaches (the runbook's
Emergency Contact List): "All on-call" is both on-call rotations, "Executive leadership"
the ``executives`` role or, failing that, the VP Engineering, CTO and CEO contacts.
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


class Role(StrEnum):
    """The roles of the runbook's matrix and Emergency Contact List, as contact keys."""

    ON_CALL_PRIMARY = "on-call-primary"
    ON_CALL_SECONDARY = "on-call-secondary"
    TEAM_LEAD = "team-lead"
    ENGINEERING_MANAGER = "engineering-manager"
    VP_ENGINEERING = "vp-engineering"
    CTO = "cto"
    CEO = "ceo"
    # Notified at once when a security breach is suspected (and on any step naming it).
    SECURITY_LEAD = "security-lead"
    # Executive leadership, told of a P0 at its declaration.
    EXECUTIVES = "executives"


# A role without a contact of its own reaches these roles' contacts instead.
ROLE_FALLBACKS: dict[str, tuple[str, ...]] = {
    Role.EXECUTIVES: (Role.VP_ENGINEERING, Role.CTO, Role.CEO),
}


@dataclass(frozen=True)
class EscalationTarget:
    name: str
    # Methods in the order the runbook lists them ("Slack/Phone" is chat, then phone).
    methods: tuple[ContactMethod, ...]
    # The contact roles it reaches (spec.contacts of the policy).
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class EscalationStep:
    severity: Severity
    after: timedelta
    target: EscalationTarget


def _step(
    severity: Severity, minutes: int, name: str, roles: tuple[str, ...], *methods: ContactMethod
) -> EscalationStep:
    target = EscalationTarget(name, methods, roles)
    return EscalationStep(severity, timedelta(minutes=minutes), target)


_PAGER, _PHONE, _CHAT = ContactMethod.PAGER, ContactMethod.PHONE, ContactMethod.CHAT
_EMAIL = ContactMethod.EMAIL
_ALL_ON_CALL = (Role.ON_CALL_PRIMARY, Role.ON_CALL_SECONDARY)
_PRIMARY, _SECONDARY = (Role.ON_CALL_PRIMARY,), (Role.ON_CALL_SECONDARY,)
_MANAGER, _VP, _LEAD = (Role.ENGINEERING_MANAGER,), (Role.VP_ENGINEERING,), (Role.TEAM_LEAD,)

# Rows of one severity with the same time are one step (its targets in this order).
RUNBOOK_MATRIX: tuple[EscalationStep, ...] = (
    _step(Severity.P0, 0, "All on-call", _ALL_ON_CALL, _PAGER),
    # The P0 actions' "Notify executive leadership", at declaration; not a page.
    _step(Severity.P0, 0, "Executive leadership", (Role.EXECUTIVES,), _CHAT, _EMAIL),
    _step(Severity.P0, 15, "VP Engineering", _VP, _PHONE),
    _step(Severity.P0, 30, "CTO", (Role.CTO,), _PHONE),
    _step(Severity.P0, 60, "CEO", (Role.CEO,), _PHONE),
    _step(Severity.P1, 0, "Primary on-call", _PRIMARY, _PAGER),
    _step(Severity.P1, 30, "Secondary on-call", _SECONDARY, _PAGER),
    _step(Severity.P1, 60, "Engineering Manager", _MANAGER, _CHAT, _PHONE),
    _step(Severity.P1, 120, "VP Engineering", _VP, _CHAT, _PHONE),
    _step(Severity.P2, 0, "Primary on-call", _PRIMARY, _CHAT),
    _step(Severity.P2, 120, "Team Lead", _LEAD, _CHAT),
    _step(Severity.P2, 240, "Engineering Manager", _MANAGER, _CHAT),
    # Not in the matrix: the severity table's "Team Lead after 4 hours" for P3.
    _step(Severity.P3, 240, "Team Lead", _LEAD, _CHAT),
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
    # (target name, contact role) pairs: whom of spec.contacts each target reaches.
    roles: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.severity.value}-{self.ordinal}"

    @property
    def methods(self) -> tuple[ContactMethod, ...]:
        return tuple(dict.fromkeys(method for _, method in self.targets))

    def describe_targets(self) -> list[str]:
        return [f"{name} ({method.value})" for name, method in self.targets]

    def roles_of(self, name: str) -> list[str]:
        """The contact roles the target ``name`` reaches."""
        return [role for target, role in self.roles if target == name]


def runbook_steps(severity: Severity) -> list[PlannedStep]:
    """The runbook's matrix rows for ``severity`` as planned steps, a step per time."""
    rows: dict[timedelta, list[EscalationTarget]] = {}
    for row in steps_for(severity, RUNBOOK_MATRIX):
        rows.setdefault(row.after, []).append(row.target)
    return [
        PlannedStep(
            severity=severity,
            ordinal=ordinal,
            after=after,
            targets=tuple((t.name, method) for t in targets for method in t.methods),
            roles=tuple((t.name, role) for t in targets for role in t.roles),
        )
        for ordinal, (after, targets) in enumerate(rows.items())
    ]


def contact_window(
    steps: list[PlannedStep], step: PlannedStep, acknowledge_within: timedelta
) -> timedelta:
    """How long a step's primary contacts have to acknowledge before their backups are
    told: until the severity's next later step, or ``acknowledge_within`` after the last."""
    later = [s.after for s in steps if s.after > step.after]
    return (min(later) - step.after) if later else acknowledge_within


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
