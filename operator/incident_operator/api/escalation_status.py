"""The escalation's part of an Incident's status: steps reached, triggers, deliveries.

Written only by the escalation reconciler (handlers/escalation.py). Everything that must
survive a restart lives here: which steps were reached and why, which triggers fired,
what was announced (so nothing is announced twice), and each notification's delivery
record, written before the send (claimed) and after it (outcome).
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from incident_operator.api.base import ApiModel, DNSName, Duration, UserName
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import DeliveryState, NotificationKind
from incident_operator.domain.severity import Severity
from incident_operator.domain.triggers import TriggerName

# Delivery records kept; the oldest final (Sent or Failed) ones go first. What was
# announced is remembered in EscalationStatus, not by these records, so dropping one
# never makes it go out again.
NOTIFICATION_LIMIT = 128
ErrorText = Annotated[str, Field(max_length=512)]
Key = Annotated[str, Field(min_length=1, max_length=320)]


class StepCause(StrEnum):
    """Why a step was reached."""

    # Its time since detection came.
    SCHEDULE = "Schedule"
    # An escalation trigger fired (triggers names it).
    TRIGGER = "Trigger"
    # The severity was lowered past its time: recorded, not notified.
    SUPERSEDED = "Superseded"


class ReachedStep(ApiModel):
    """One step of the matrix that was reached."""

    # P0-1: severity and place among its steps.
    key: Annotated[str, Field(max_length=8)]
    severity: Severity
    ordinal: Annotated[int, Field(ge=0)]
    after: Duration
    targets: Annotated[list[Annotated[str, Field(max_length=160)]], Field(max_length=16)] = []
    channels: Annotated[list[DNSName], Field(max_length=32)] = []
    due_at: datetime
    reached_at: datetime
    cause: StepCause
    reason: Annotated[str, Field(max_length=512)]
    late: bool = False


class TriggerRecord(ApiModel):
    """An escalation trigger that fired, and the step it escalated to."""

    name: TriggerName
    instance: Annotated[str, Field(max_length=256)]
    fired_at: datetime
    message: Annotated[str, Field(max_length=256)]
    # The step it escalated to; None when there was no further step.
    step: Annotated[str, Field(max_length=8)] | None = None


class IncidentRole(StrEnum):
    """The runbook's incident roles, by their field in spec.roles."""

    COMMANDER = "commander"
    TECH_LEAD = "techLead"
    COMMS_LEAD = "commsLead"
    SCRIBE = "scribe"


# Role changes kept for the coordination messages that tell them; older ones were sent.
ROLE_CHANGE_LIMIT = 32


class RoleChange(ApiModel):
    """A role assigned, handed off or unassigned, as #sre-team is told of it."""

    # 1, 2, ...: the change's place among the incident's role changes; in its key.
    number: Annotated[int, Field(ge=1)]
    role: IncidentRole
    # Who held the role before (unset: nobody) and who holds it now (unset: nobody).
    previous: UserName | None = None
    current: UserName | None = None
    at: datetime


# A contact of spec.contacts: its role and which of the two, e.g. vp-engineering/backup.
ContactKey = Annotated[
    str, Field(max_length=80, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?/(primary|backup)$")
]
ReachKey = Annotated[str, Field(min_length=1, max_length=64)]


class ContactReach(ApiModel):
    """A role of spec.contacts that was told (its primary), and whether its backup was."""

    # Names it in notification refs: the step and the role (P0-1.vp-engineering), or the
    # security breach's time (security-20261125T101500Z).
    key: ReachKey
    role: Annotated[str, Field(max_length=63)]
    # The step it was told for, when a step told it.
    step: Annotated[str, Field(max_length=8)] | None = None
    methods: Annotated[list[ContactMethod], Field(max_length=5)] = []
    # Who was told, e.g. "VP Engineering: Dana Smith"; and why.
    target: Annotated[str, Field(max_length=300)]
    reason: Annotated[str, Field(max_length=512)]
    reached_at: datetime
    # When the backup is told if nobody acknowledged; unset: the role has no backup.
    backup_due_at: datetime | None = None
    backup_reached_at: datetime | None = None


class PagedContact(ApiModel):
    """A contact's own PagerDuty alert (routing key and dedup key of its own)."""

    channel: DNSName
    contact: ContactKey
    # Told of the acknowledgement; the resolvedAt it was resolved for, and reopened for.
    acknowledged: bool = False
    resolved_for: datetime | None = None
    reopened_for: datetime | None = None


class EscalationStatus(ApiModel):
    """How far the incident has been escalated, and what was announced."""

    policy: DNSName | None = None
    # Steps reached of the current severity's matrix.
    level: Annotated[int, Field(ge=0)] = 0
    # How many steps that matrix has.
    steps_total: Annotated[int, Field(ge=0)] = 0
    last_escalated_at: datetime | None = None
    next_step_due_at: datetime | None = None
    # The severity the level counts in, and since when it changed (unset: since
    # detection); a change restarts the count.
    severity: Severity | None = None
    severity_since: datetime | None = None
    steps: Annotated[list[ReachedStep], Field(max_length=80)] = []
    triggers: Annotated[list[TriggerRecord], Field(max_length=64)] = []
    # What was announced, so each announcement is recorded once.
    declared: bool = False
    # No longer written: customers hear only what people publish, counted in
    # status.communication.messagesRecorded. Kept so older statuses still read.
    customer_notified: bool = False
    updates_announced: Annotated[int, Field(ge=0)] = 0
    signals_announced: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="The highest signal number a SignalsJoined message told of (at most "
        "one such message per update interval).",
    )
    signals_announced_at: datetime | None = Field(
        default=None, description="When the last SignalsJoined message was recorded."
    )
    # The nextUpdateDueAt a reminder was sent for.
    reminded_for: datetime | None = None
    # The resolvedAt a resolution notice was sent for (a reopened incident resolves anew).
    resolved_for: datetime | None = None
    # The resolvedAt a reopening undid and was announced for (once per reopening).
    reopened_for: datetime | None = None
    # PagerDuty channels told of the acknowledgement.
    acknowledged_on: Annotated[list[DNSName], Field(max_length=32)] = []
    # Role changes told to #sre-team (Coordination), the latest ROLE_CHANGE_LIMIT, and
    # how many there were in all (the next one's number follows it).
    role_changes: Annotated[list[RoleChange], Field(max_length=ROLE_CHANGE_LIMIT)] = []
    role_changes_announced: Annotated[int, Field(ge=0)] = 0
    # Roles of spec.contacts told, and the contacts' own PagerDuty alerts.
    contacts: Annotated[list[ContactReach], Field(max_length=64)] = []
    paged_contacts: Annotated[list[PagedContact], Field(max_length=64)] = []


class NotificationRecord(ApiModel):
    """One notification's delivery: recorded before it is sent and after."""

    key: Key
    kind: NotificationKind
    channel: DNSName
    # What it is about: a step (P0-1) or an update's number.
    ref: Annotated[str, Field(max_length=64)] | None = None
    state: DeliveryState = DeliveryState.PENDING
    attempts: Annotated[int, Field(ge=0)] = 0
    # When it fell due (a step's time, an update's time) and when it was recorded.
    due_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    late: bool = False
    # The last failure, without secrets.
    error: ErrorText | None = None
    # To a contact of spec.contacts (its own routing key, address or mention), and how.
    contact: ContactKey | None = None
    method: ContactMethod | None = None
