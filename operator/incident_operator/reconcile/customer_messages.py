"""Customer communication: people publish, the operator drafts, sends once and keeps the clock.

The runbook gives customer communication to the communications lead ("Draft customer
communications"), not to the internal updates: nothing an incident's responders write
in spec.updates reaches customers. ``plan_customer_communication`` runs in the pipeline
right after escalation (reconcile/pipeline.py), on the same status copy::

    spec.customerMessages[n]  -> one NotificationRecord per customer-audience channel,
    (published by people)        key customer-message-<n>/<channel>, recorded once
                                 (status.communication.messagesRecorded counts them)
    the next message owed     -> status.communication.draft: the runbook's customer
                                 template (or the policy's override) for its kind,
                                 rendered with what is known
    its clock                 -> status.communication.customerDueAt
    (domain/customer_communication.py)  the CustomerCommunicationOverdue condition
                                 one CustomerCommunicationReminder per due time to the
                                 internal channels (naming the communications lead)

Records are written before anything is sent, by the same write that claims them, as for
every notification (reconcile/escalation.py): a restart sends nothing twice and loses
nothing.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incident_operator.api.communication_status import CommunicationStatus, CustomerDraft
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import Condition, ConditionStatus, find_condition
from incident_operator.domain.customer_communication import (
    FIRST_MESSAGE_WITHIN,
    CustomerClock,
    CustomerMessageKind,
    Published,
    customer_clock,
)
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.notifications import (
    NotificationKind,
    is_late,
    notification_key,
    route,
    stamp,
)
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.domain.timeline import Entry
from incident_operator.reconcile.escalation import (
    OPERATOR_ACTOR,
    add_record,
    channel_infos,
    prune_records,
)
from incident_operator.reconcile.governing_policy import effective_level
from incident_operator.reconcile.messages import message_context, render_message

# Each published kind goes out as the notification kind of the runbook's template.
NOTIFICATION_KIND = {
    CustomerMessageKind.INITIAL: NotificationKind.CUSTOMER_INITIAL,
    CustomerMessageKind.PROGRESS: NotificationKind.CUSTOMER_PROGRESS,
    CustomerMessageKind.RESOLUTION: NotificationKind.CUSTOMER_RESOLUTION,
}


@dataclass(frozen=True)
class CustomerPlan:
    communication: CommunicationStatus | None
    # Every record: the ones given, and the customer messages and reminders added.
    notifications: list[NotificationRecord]
    entries: list[Entry] = field(default_factory=list)
    # The CustomerCommunicationOverdue condition's status, reason and message.
    condition: tuple[ConditionStatus, Reason, str] | None = None
    # When the customer clock next falls due; None when it will not without a change.
    wake_at: datetime | None = None


def first_message_within(incident: Incident, policy: EscalationPolicy | None) -> timedelta | None:
    """The policy's customerCommunicationWithin for the severity, or the runbook's."""
    severity = incident.spec.severity
    override = getattr(policy.spec.severities, severity.value) if policy else None
    if override is not None and override.customer_communication_within is not None:
        return parse_duration(override.customer_communication_within)
    return FIRST_MESSAGE_WITHIN.get(severity)


def published_facts(incident: Incident) -> Published:
    messages = incident.spec.customer_messages
    return Published(
        last_at=max((m.time for m in messages), default=None),
        last_was_resolution=bool(messages) and messages[-1].kind is CustomerMessageKind.RESOLUTION,
    )


def draft_message(
    incident: Incident,
    policy: EscalationPolicy | None,
    kind: CustomerMessageKind,
    now: datetime,
    previous: CustomerDraft | None,
) -> CustomerDraft:
    """The runbook's template for ``kind`` rendered now; ``previous`` when it reads the same."""
    notification = NOTIFICATION_KIND[kind]
    cadence = effective_level(incident.spec.severity, policy).update_every
    # No ref, and no internal updates: a draft never quotes what responders wrote for
    # each other (the templates fall back to their customer wording).
    context = message_context(incident, notification, None, now, cadence)
    context["incident"] = {**context["incident"], "updates": [], "last_update": None}
    templates = policy.spec.communication.templates if policy else None
    rendered = render_message(notification, context, templates)
    draft = CustomerDraft(kind=kind, subject=rendered.subject, text=rendered.text, prepared_at=now)
    if previous is not None and (previous.kind, previous.subject, previous.text) == (
        draft.kind,
        draft.subject,
        draft.text,
    ):
        return previous
    return draft


def overdue_condition(
    clock: CustomerClock, now: datetime, incident_id: str
) -> tuple[ConditionStatus, Reason, str]:
    """CustomerCommunicationOverdue: True from the due time until a message is published."""
    if clock.due_at is None or clock.due is None:
        return ConditionStatus.FALSE, Reason.NOT_APPLICABLE, "no customer message is due"
    due = clock.due_at.isoformat()
    if now >= clock.due_at:
        return (
            ConditionStatus.TRUE,
            Reason.DEADLINE_PASSED,
            f"the {clock.due.value} was due at {due}; the communications lead (or the "
            f"commander) publishes it: kubectl incident publish {incident_id}",
        )
    return ConditionStatus.FALSE, Reason.WITHIN_DEADLINE, f"the {clock.due.value} is due at {due}"


def plan_customer_communication(
    incident: Incident,
    policy: EscalationPolicy | None,
    records: list[NotificationRecord],
    now: datetime,
    started_at: datetime,
) -> CustomerPlan:
    """Customer messages to send, the draft, the clock and its reminder, at ``now``.

    ``incident`` carries the status decided so far in this pass (lifecycle, escalation);
    ``records`` are the notifications escalation decided.
    """
    status, spec = incident.status, incident.spec
    if status.id is None or status.phase is None or status.detected_at is None:
        # The lifecycle has not initialised the incident yet.
        return CustomerPlan(status.communication, records)
    communication = (status.communication or CommunicationStatus()).model_copy(deep=True)
    records = list(records)
    entries: list[Entry] = []
    channels = channel_infos(policy)

    def record(
        kind: NotificationKind, event: str, ref: str, due_at: datetime, late: bool
    ) -> list[str]:
        routed = route(kind, spec.severity, channels)
        for channel in routed:
            add_record(
                records,
                NotificationRecord(
                    key=notification_key(event, channel),
                    kind=kind,
                    channel=channel,
                    ref=ref,
                    due_at=due_at,
                    created_at=now,
                    late=late,
                ),
            )
        return routed

    messages = spec.customer_messages
    for number in range(communication.messages_recorded + 1, len(messages) + 1):
        message = messages[number - 1]
        # Published times are people's; the message is due when it is seen.
        sent_to = record(
            NOTIFICATION_KIND[message.kind], f"customer-message-{number}", str(number), now, False
        )
        where = ", ".join(sent_to) if sent_to else "no customer channel routes it"
        entries.append(
            Entry(
                now,
                EntryType.CUSTOMER_MESSAGE_PUBLISHED,
                message.author,
                f"{message.kind.value} customer message {number} published: to {where}",
            )
        )
        if communication.first_published_at is None:
            communication.first_published_at = message.time
    communication.messages_recorded = max(communication.messages_recorded, len(messages))

    phase = status.phase
    clock = customer_clock(
        detected_at=status.detected_at,
        first_within=first_message_within(incident, policy),
        update_every=effective_level(spec.severity, policy).update_every,
        published=published_facts(incident),
        active=phase.is_active,
        resolved_at=status.resolved_at,
        closed=phase is Phase.CLOSED,
    )
    communication.customer_due_at = clock.due_at
    told = bool(messages)
    if phase is Phase.CLOSED or (not phase.is_active and not told):
        communication.draft = None
    else:
        drafted = incident.model_copy(
            update={"status": status.model_copy(update={"communication": communication})}
        )
        communication.draft = draft_message(drafted, policy, clock.kind, now, communication.draft)

    due_at, wake_at = clock.due_at, None
    if due_at is not None and clock.due is not None and communication.reminded_for != due_at:
        if now >= due_at:
            communication.reminded_for = due_at
            record(
                NotificationKind.CUSTOMER_REMINDER,
                f"customer-reminder-{stamp(due_at)}",
                clock.due.value,
                due_at,
                is_late(due_at, now, started_at),
            )
        else:
            wake_at = due_at
    condition = overdue_condition(clock, now, status.id)
    existing = find_condition(status.conditions, ConditionType.CUSTOMER_COMMUNICATION_OVERDUE)
    if condition[0] is ConditionStatus.TRUE and not _is_true(existing):
        entries.append(
            Entry(
                now,
                EntryType.CUSTOMER_COMMUNICATION_OVERDUE,
                OPERATOR_ACTOR,
                f"{clock.due.value if clock.due else 'customer message'} was due at "
                f"{due_at.isoformat() if due_at else '-'}",
            )
        )
    return CustomerPlan(communication, prune_records(records), entries, condition, wake_at)


def _is_true(condition: Condition | None) -> bool:
    return condition is not None and condition.status is ConditionStatus.TRUE
