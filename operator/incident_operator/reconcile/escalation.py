"""What the escalation of an incident should be, given its status, its policy and the clock.

``plan_escalation`` is the whole decision; it changes nothing outside the returned plan.
It runs after the lifecycle (reconcile_incident, in the same pass of reconcile/pipeline.py)
has given the incident an ID, a phase and a
detection time, and it reads what that reconciler wrote (phase, conditions, deadlines)::

    matrix        policy steps for the severity, or the runbook's matrix
      |
      v
    schedule ---- a step whose `after` since detection has come is reached
    triggers ---- a trigger instance not yet fired reaches the next step at once
      |
      v
    reached step -> ReachedStep in status.escalation.steps
                 -> one NotificationRecord (Pending) per channel routing gives it
    declaration, reopening, updates, reminders, acknowledgement, resolution,
    role changes (Coordination, to #sre-team)
                 -> recorded once each, remembered in status.escalation
    (customer messages are people's: reconcile/customer_messages.py, after this)

Records are written to the Incident before anything is sent: in the same pass,
``claim_due`` marks the due ones Sending, so the one guarded write that records them
also claims them (whoever's write wins sends; a sender that dies leaves a Sending record
whose lease runs out, and it is sent again with the same key). ``apply_outcomes``, in a
later pass, records Sent, a retry time, or Failed.

A severity change restarts the count in the new severity's matrix. When raised, the new
matrix's steps that are already due go out at once (not marked late: they could not be
sent before). When lowered, steps of the new matrix already past are recorded as
superseded without notifying anyone: nobody is paged because an incident became less
severe.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incident_operator.api.contacts import Contact, ContactRole
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import (
    NOTIFICATION_LIMIT,
    ROLE_CHANGE_LIMIT,
    ContactReach,
    EscalationStatus,
    NotificationRecord,
    PagedContact,
    ReachedStep,
    RoleChange,
    StepCause,
    TriggerRecord,
)
from incident_operator.api.incident import Incident, IncidentStatus
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.durations import format_duration, parse_duration
from incident_operator.domain.escalation import (
    ContactMethod,
    PlannedStep,
    Role,
    contact_window,
    due_steps,
    runbook_steps,
)
from incident_operator.domain.notifications import (
    CHAT_CHANNEL_TYPES,
    ChannelInfo,
    ChannelType,
    DeliveryState,
    NotificationKind,
    after_failure,
    is_late,
    notification_key,
    pages,
    route,
    stamp,
)
from incident_operator.domain.reasons import EntryType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.domain.timeline import Entry
from incident_operator.domain.triggers import TriggerInputs, TriggerName, fired_triggers
from incident_operator.reconcile.contacts import (
    BACKUP,
    PAGING_METHODS,
    PRIMARY,
    contact_key,
    contact_roles,
    describe_contact,
    own_methods,
    pages_every_target_itself,
    reaches_by_method,
    step_reaches,
)
from incident_operator.reconcile.coordination import RoleMove
from incident_operator.reconcile.governing_policy import effective_level
from incident_operator.reconcile.joined_signals import (
    signal_number,
    signals_message_due,
    systems_of,
)
from incident_operator.reconcile.remediations import remediation_failed
from incident_operator.reconcile.rollback import rollback_failed

OPERATOR_ACTOR = "incident-operator"
_CONTACT_LIMIT = 64
_STEP_LIMIT = 80
_TRIGGER_LIMIT = 64
_ERROR_LIMIT = 512


@dataclass(frozen=True)
class EscalationPlan:
    escalation: EscalationStatus
    notifications: list[NotificationRecord]
    # Timeline entries this decision adds (also posted as Events).
    entries: list[Entry]
    # When to look again: the next step, reminder or delivery attempt.
    wake_at: datetime | None
    # The same without the delivery attempts: the next step or reminder.
    schedule_wake_at: datetime | None = None


def planned_steps(policy: EscalationPolicy | None, severity: Severity) -> list[PlannedStep]:
    """The policy's steps for ``severity`` in order of ``after``; the runbook's without any."""
    if policy is None or not policy.spec.escalation.steps:
        return runbook_steps(severity)
    selected = [s for s in policy.spec.escalation.steps if severity in s.severities]
    ordered = sorted(selected, key=lambda s: parse_duration(s.after))
    return [
        PlannedStep(
            severity=severity,
            ordinal=ordinal,
            after=parse_duration(spec.after),
            targets=tuple((target.name, target.method) for target in spec.targets),
            channel=spec.channel,
            roles=tuple((t.name, t.role) for t in spec.targets if t.role is not None),
        )
        for ordinal, spec in enumerate(ordered)
    ]


def channel_infos(policy: EscalationPolicy | None) -> list[ChannelInfo]:
    if policy is None:
        return []
    return [ChannelInfo(c.name, c.type, c.audience, c.chat_channel) for c in policy.spec.channels]


@dataclass
class _Scratch:
    """The decision in progress."""

    incident: Incident
    escalation: EscalationStatus
    records: list[NotificationRecord]
    channels: list[ChannelInfo]
    now: datetime
    started_at: datetime
    entries: list[Entry] = field(default_factory=list)
    policy: EscalationPolicy | None = None
    # The current severity's steps (contact windows end at the next one).
    steps: list[PlannedStep] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        return self.incident.spec.severity

    def record(self, kind: EntryType, message: str) -> None:
        self.entries.append(Entry(self.now, kind, OPERATOR_ACTOR, message))

    def route(self, kind: NotificationKind, step: PlannedStep | None = None) -> list[str]:
        return route(
            kind,
            self.severity,
            self.channels,
            methods=step.methods if step else (),
            explicit=step.channel if step else None,
            paged=self.paged(),
        )

    def paged(self) -> list[str]:
        pagerduty = {c.name for c in self.channels if c.type is ChannelType.PAGERDUTY}
        reached = [c for s in self.escalation.steps for c in s.channels if c in pagerduty]
        return list(dict.fromkeys(reached))

    def notify(
        self,
        kind: NotificationKind,
        event: str,
        channels: list[str],
        due_at: datetime,
        ref: str | None = None,
        late: bool | None = None,
        contact: str | None = None,
        method: ContactMethod | None = None,
    ) -> None:
        if late is None:
            late = is_late(due_at, self.now, self.started_at)
        for channel in channels:
            add_record(
                self.records,
                NotificationRecord(
                    key=notification_key(event, channel),
                    kind=kind,
                    channel=channel,
                    ref=ref,
                    due_at=due_at,
                    created_at=self.now,
                    late=late,
                    contact=contact,
                    method=method if self._is_pagerduty(channel) or contact else None,
                ),
            )

    def _is_pagerduty(self, channel: str) -> bool:
        return channel in self._pagerduty_channels()

    def reach(self, step: PlannedStep, cause: StepCause, reason: str, due_at: datetime) -> None:
        superseded = cause is StepCause.SUPERSEDED
        channels = [] if superseded else self.route(NotificationKind.ESCALATION, step)
        if not superseded and pages_every_target_itself(self.policy, step):
            # Each paged target has a service of its own: no shared alert besides.
            channels = [c for c in channels if c not in self._pagerduty_channels()]
        late = cause is StepCause.SCHEDULE and is_late(due_at, self.now, self.started_at)
        targets = step.describe_targets()
        self.escalation.steps.append(
            ReachedStep(
                key=step.key,
                severity=step.severity,
                ordinal=step.ordinal,
                after=format_duration(step.after),
                targets=targets,
                channels=channels,
                due_at=due_at,
                reached_at=self.now,
                cause=cause,
                reason=reason[:_ERROR_LIMIT],
                late=late,
            )
        )
        self.escalation.steps = self.escalation.steps[-_STEP_LIMIT:]
        if superseded:
            self.record(
                EntryType.ESCALATION_SUPERSEDED, f"{step.key} ({', '.join(targets)}): {reason}"
            )
            return
        self.escalation.last_escalated_at = self.now
        told = self._tell_step_contacts(step, reason, due_at, late, channels)
        via = f" via {', '.join([*channels, *told])}" if channels or told else ""
        lateness = f" [late: due {due_at.isoformat()}]" if late else ""
        self.record(
            EntryType.ESCALATED,
            f"{step.key} to {', '.join(targets)}: {reason}{via or ' (no channel routes it)'}"
            f"{lateness}",
        )
        self.notify(
            NotificationKind.ESCALATION,
            f"escalation-{step.key}",
            channels,
            due_at,
            ref=step.key,
            late=late,
            method=ContactMethod.PHONE if ContactMethod.PHONE in step.methods else None,
        )

    def _tell_step_contacts(
        self, step: PlannedStep, reason: str, due_at: datetime, late: bool, channels: list[str]
    ) -> list[str]:
        """Tells the contacts of the roles ``step`` reaches; who was told, for humans."""
        window_ends = due_at + contact_window(self.steps, step, timedelta(0))
        slack = [c for c in channels if c in self.slack_channels()]
        told = []
        for reached in step_reaches(self.policy, step):
            if reached.stands_in:
                # Told for information only: its backup is not chased.
                backup_due_at = None
            elif window_ends > due_at:
                backup_due_at = window_ends
            else:
                backup_due_at = due_at + parse_duration(reached.row.acknowledge_within)
            reach = self.tell_role(
                reached.row,
                f"{step.key}.{reached.row.role}",
                reached.methods,
                f"{step.key}: {reason}",
                due_at,
                late,
                step=step.key,
                backup_due_at=backup_due_at,
                slack=slack,
            )
            told.append(reach.target)
        return told

    def _pagerduty_channels(self) -> set[str]:
        return {c.name for c in self.channels if c.type is ChannelType.PAGERDUTY}

    def slack_channels(self) -> set[str]:
        return {c.name for c in self.channels if c.type in CHAT_CHANNEL_TYPES}

    def announcing_slack(self) -> list[str]:
        """The Slack channels the incident is announced in: where a mention goes that
        no step routes (the Security Lead's, a backup's) when the contact names none."""
        slack = self.slack_channels()
        return [c for c in self.route(NotificationKind.DECLARATION) if c in slack]

    def tell_role(
        self,
        row: ContactRole,
        key: str,
        methods: tuple[ContactMethod, ...],
        reason: str,
        due_at: datetime,
        late: bool,
        step: str | None,
        backup_due_at: datetime | None,
        slack: list[str],
    ) -> ContactReach:
        """Tells ``row``'s primary by ``methods`` and remembers when its backup is due."""
        told = self.tell_contact(row, PRIMARY, key, methods, due_at, late, slack)
        reach = ContactReach(
            key=key,
            role=row.role,
            step=step,
            methods=list(methods),
            target=f"{row.shown}: {told}"[:300],
            reason=reason[:_ERROR_LIMIT],
            reached_at=self.now,
            backup_due_at=backup_due_at if row.backup is not None else None,
        )
        self.escalation.contacts = [*self.escalation.contacts, reach][-_CONTACT_LIMIT:]
        return reach

    def tell_contact(
        self,
        row: ContactRole,
        which: str,
        key: str,
        methods: tuple[ContactMethod, ...],
        due_at: datetime,
        late: bool | None,
        slack: list[str],
    ) -> str:
        """Records a notification to ``row``'s primary or backup for each method it can
        be reached by; a page goes to its own service. Returns who and how, for humans."""
        contact: Contact | None = row.primary if which == PRIMARY else row.backup
        if contact is None:
            return "no contact"
        reached = []
        for method in methods:
            channel = _contact_channel(contact, method, slack)
            if channel is None:
                continue
            reached.append(method.value)
            who = contact_key(row.role, which)
            self.notify(
                NotificationKind.ESCALATION,
                f"escalation-{key}.{which}.{method.value}",
                [channel],
                due_at,
                ref=key,
                late=late,
                contact=who,
                method=method,
            )
            if method in PAGING_METHODS and not any(
                p.channel == channel and p.contact == who for p in self.escalation.paged_contacts
            ):
                self.escalation.paged_contacts.append(PagedContact(channel=channel, contact=who))
                self.escalation.paged_contacts = self.escalation.paged_contacts[-_CONTACT_LIMIT:]
        how = f" ({', '.join(reached)})" if reached else " (no method of theirs routes it)"
        return f"{describe_contact(contact, self.policy, self.now)}{how}"


def _level(steps: list[PlannedStep], escalation: EscalationStatus) -> int:
    """How many of ``steps`` were reached; they are reached in order."""
    reached = {s.key for s in escalation.steps}
    return next((i for i, step in enumerate(steps) if step.key not in reached), len(steps))


def _track_severity(scratch: _Scratch, steps: list[PlannedStep], detected_at: datetime) -> None:
    escalation, severity, now = scratch.escalation, scratch.severity, scratch.now
    if escalation.severity is None:
        # severitySince stays unset: the severity has held since detection.
        escalation.severity = severity
        return
    if escalation.severity is severity:
        return
    lowered = escalation.severity.is_more_severe_than(severity)
    previous = escalation.severity
    escalation.severity, escalation.severity_since = severity, now
    if not lowered:
        return
    for step in due_steps(steps, _level(steps, escalation), detected_at, now):
        scratch.reach(
            step,
            StepCause.SUPERSEDED,
            f"severity lowered from {previous.value} to {severity.value} after this step's "
            "time; not notified",
            detected_at + step.after,
        )


def _trigger_inputs(incident: Incident, policy: EscalationPolicy | None) -> TriggerInputs:
    spec = incident.spec
    failed = rollback_failed(incident.status)
    rollback = incident.status.rollback
    return TriggerInputs(
        # Applied rollbacks always carry their attempt's id; it names the instance.
        rollback_failed=(
            (rollback.attempt or "-", failed) if failed and rollback is not None else None
        ),
        remediation_failed=remediation_failed(incident.status),
        data_loss=spec.triggers.data_loss,
        # Triage answers feed the runbook's triggers (docs/resolution.md).
        data_at_risk=bool(spec.triage and spec.triage.data_at_risk),
        security_breach=spec.triggers.security_breach
        or bool(spec.triage and spec.triage.security_component),
        sla_at_risk=spec.triggers.sla_at_risk,
        multiple_systems=spec.triggers.multiple_systems,
        external_dependency=spec.triggers.external_dependency,
        affected_workloads=len(spec.affected),
        signal_systems=systems_of(incident.status.signals),
        conditions=tuple(incident.status.conditions),
        escalate_overdue_updates=bool(
            policy and policy.spec.communication.escalate_overdue_updates
        ),
    )


def _escalate(
    scratch: _Scratch,
    steps: list[PlannedStep],
    detected_at: datetime,
    policy: EscalationPolicy | None,
) -> None:
    escalation, severity = scratch.escalation, scratch.severity
    since = escalation.severity_since or detected_at
    for step in due_steps(steps, _level(steps, escalation), detected_at, scratch.now):
        scratch.reach(
            step,
            StepCause.SCHEDULE,
            f"{severity.value} matrix step {step.ordinal + 1}: "
            f"{format_duration(step.after)} after detection",
            max(detected_at + step.after, since),
        )
    known = {t.instance for t in escalation.triggers}
    fired = [f for f in fired_triggers(_trigger_inputs(scratch.incident, policy))]
    new = [f for f in fired if f.instance not in known]
    if not new:
        return
    why = "; ".join(f.message for f in new)
    for breach in (f for f in new if f.name is TriggerName.SECURITY_BREACH):
        _tell_security_lead(scratch, breach.message)
    level = _level(steps, escalation)
    target = steps[level] if level < len(steps) else None
    if target is not None:
        scratch.reach(target, StepCause.TRIGGER, f"escalation trigger: {why}", scratch.now)
    else:
        scratch.record(
            EntryType.ESCALATION_TRIGGERED,
            f"{why}; no further step in the {severity.value} matrix",
        )
    for fired_trigger in new:
        escalation.triggers.append(
            TriggerRecord(
                name=fired_trigger.name,
                instance=fired_trigger.instance,
                fired_at=scratch.now,
                message=fired_trigger.message,
                step=target.key if target else None,
            )
        )
    escalation.triggers = escalation.triggers[-_TRIGGER_LIMIT:]


def _contact_channel(contact: Contact, method: ContactMethod, slack: list[str]) -> str | None:
    """The policy channel that carries ``method`` to ``contact``; None when none does."""
    if not reaches_by_method(contact, method):
        return None
    if method in PAGING_METHODS and contact.pagerduty is not None:
        return contact.pagerduty.channel
    if method is ContactMethod.CHAT and contact.slack is not None:
        return contact.slack.channel or (slack[0] if slack else None)
    if method is ContactMethod.EMAIL and contact.email is not None:
        return contact.email.channel
    return None


def _tell_security_lead(scratch: _Scratch, why: str) -> None:
    """The runbook's "Security breach suspected": the Security Lead is told at once, by
    every way they can be reached, besides the move to the next step."""
    rows = contact_roles(scratch.policy, Role.SECURITY_LEAD)
    if not rows:
        scratch.record(
            EntryType.CONTACT_NOTIFIED,
            f"Security Lead not notified: no {Role.SECURITY_LEAD} in spec.contacts ({why})",
        )
        return
    row = rows[0]
    key = f"security-{stamp(scratch.now)}"
    methods = tuple(own_methods(row.primary))
    reason = f"security breach suspected: {why}"
    reach = scratch.tell_role(
        row,
        key,
        methods,
        reason,
        scratch.now,
        False,
        step=None,
        backup_due_at=scratch.now + parse_duration(row.acknowledge_within),
        slack=scratch.announcing_slack(),
    )
    scratch.record(EntryType.CONTACT_NOTIFIED, f"{reach.target}: {reason}")


def _tell_backups(scratch: _Scratch) -> None:
    """Backups of roles whose window ran out with nobody acknowledging, each once."""
    if scratch.incident.status.acknowledged_at is not None:
        return
    for reach in scratch.escalation.contacts:
        due = reach.backup_due_at
        if due is None or reach.backup_reached_at is not None or due > scratch.now:
            continue
        row = scratch.policy.spec.contact_role(reach.role) if scratch.policy else None
        reach.backup_reached_at = scratch.now
        if row is None or row.backup is None:
            continue
        methods = tuple(reach.methods)
        slack = scratch.announcing_slack()
        told = scratch.tell_contact(row, BACKUP, reach.key, methods, due, None, slack)
        scratch.record(
            EntryType.BACKUP_NOTIFIED,
            f"{row.shown} backup {told}: nobody acknowledged within "
            f"{format_duration(max(due - reach.reached_at, timedelta(0)))} of {reach.key}",
        )


def _follow_up_pages(scratch: _Scratch) -> None:
    """Acknowledge, resolve and re-trigger every contact's own alert, as the channels'."""
    escalation, status = scratch.escalation, scratch.incident.status
    for page in escalation.paged_contacts:
        who = page.contact.replace("/", ".")
        if status.acknowledged_at is not None and not page.acknowledged:
            page.acknowledged = True
            scratch.notify(
                NotificationKind.ACKNOWLEDGEMENT,
                f"acknowledgement.{who}",
                [page.channel],
                status.acknowledged_at,
                late=False,
                contact=page.contact,
            )
        resolved = escalation.resolved_for
        if (
            resolved is not None
            and status.resolved_at == resolved
            and page.resolved_for != resolved
        ):
            page.resolved_for = resolved
            scratch.notify(
                NotificationKind.RESOLUTION,
                f"resolution-{stamp(resolved, exact=True)}.{who}",
                [page.channel],
                resolved,
                contact=page.contact,
            )
        undone = escalation.reopened_for
        if (
            undone is not None
            and status.resolved_at is None
            and page.reopened_for != undone
            and pages(scratch.severity)
        ):
            page.reopened_for = undone
            scratch.notify(
                NotificationKind.REOPENED,
                f"reopened-{stamp(undone, exact=True)}.{who}",
                [page.channel],
                scratch.now,
                late=False,
                contact=page.contact,
            )


def _backups_due_at(scratch: _Scratch) -> datetime | None:
    if scratch.incident.status.acknowledged_at is not None:
        return None
    return _earliest(
        [r.backup_due_at for r in scratch.escalation.contacts if r.backup_reached_at is None]
    )


def _announce(scratch: _Scratch, active: bool) -> None:
    """Declaration, reopening, updates, reminders, acknowledgement and resolution, each once."""
    incident, escalation, now = scratch.incident, scratch.escalation, scratch.now
    status = incident.status
    detected_at = status.detected_at or now
    if not escalation.declared:
        escalation.declared = True
        if active:
            kind = NotificationKind.DECLARATION
            scratch.notify(kind, "declaration", scratch.route(kind), detected_at)
    undone = escalation.resolved_for
    if (
        active
        and undone is not None
        and status.resolved_at is None
        and escalation.reopened_for != undone
    ):
        # Resolved, announced, and active again: said once per resolution undone, and
        # PagerDuty's resolved alert is triggered again on the same dedup key.
        escalation.reopened_for = undone
        kind = NotificationKind.REOPENED
        event = f"reopened-{stamp(undone, exact=True)}"
        scratch.notify(kind, event, scratch.route(kind), now, late=False)
    if status.acknowledged_at is not None:
        kind = NotificationKind.ACKNOWLEDGEMENT
        channels = [c for c in scratch.route(kind) if c not in escalation.acknowledged_on]
        scratch.notify(kind, "acknowledgement", channels, status.acknowledged_at, late=False)
        escalation.acknowledged_on += channels
    updates = incident.spec.updates
    for number in range(escalation.updates_announced + 1, len(updates) + 1):
        # Update times are people's; the notification is due when it is seen.
        kind = NotificationKind.STATUS_UPDATE
        scratch.notify(kind, f"update-{number}", scratch.route(kind), now, str(number), False)
    escalation.updates_announced = max(escalation.updates_announced, len(updates))
    if active:
        _announce_signals(scratch)
    due = status.next_update_due_at
    if active and due is not None and now >= due and escalation.reminded_for != due:
        escalation.reminded_for = due
        kind = NotificationKind.UPDATE_REMINDER
        scratch.notify(kind, f"reminder-{stamp(due)}", scratch.route(kind), due)
    resolved = status.resolved_at
    if resolved is not None and escalation.resolved_for != resolved:
        escalation.resolved_for = resolved
        # Exact: a resolution undone and made again within a second still has its own key.
        event = f"resolution-{stamp(resolved, exact=True)}"
        scratch.notify(
            NotificationKind.RESOLUTION, event, scratch.route(NotificationKind.RESOLUTION), resolved
        )


def _signals_interval(scratch: _Scratch) -> timedelta | None:
    return effective_level(scratch.severity, scratch.policy).update_every


def _announce_signals(scratch: _Scratch) -> None:
    """One SignalsJoined message for the signals that joined since the last, at most one
    per update interval (reconcile/joined_signals.py); to chat channels and webhooks."""
    escalation, now = scratch.escalation, scratch.now
    told, _ = signals_message_due(
        scratch.incident.status.signals,
        escalation.signals_announced,
        escalation.signals_announced_at,
        _signals_interval(scratch),
        now,
    )
    if not told:
        return
    low, high = signal_number(told[0]), signal_number(told[-1])
    kind = NotificationKind.SIGNALS_JOINED
    scratch.notify(kind, f"signals-joined-{high}", scratch.route(kind), now, f"{low}-{high}", False)
    escalation.signals_announced = high
    escalation.signals_announced_at = now


def _signals_due_at(scratch: _Scratch) -> datetime | None:
    escalation = scratch.escalation
    _, due = signals_message_due(
        scratch.incident.status.signals,
        escalation.signals_announced,
        escalation.signals_announced_at,
        _signals_interval(scratch),
        scratch.now,
    )
    return due


def _coordinate(scratch: _Scratch, moves: Sequence[RoleMove], active: bool) -> None:
    """One Coordination notification per role change (to #sre-team and #incident-all),
    numbered in status; a change while the incident is not active is not told."""
    escalation = scratch.escalation
    if not active:
        return
    for move in moves:
        number = escalation.role_changes_announced + 1
        escalation.role_changes_announced = number
        escalation.role_changes = [
            *escalation.role_changes,
            RoleChange(
                number=number,
                role=move.role,
                previous=move.previous,
                current=move.current,
                at=scratch.now,
            ),
        ][-ROLE_CHANGE_LIMIT:]
        kind = NotificationKind.COORDINATION
        event = f"coordination-{number}-{move.role.value}"
        scratch.notify(kind, event, scratch.route(kind), scratch.now, str(number), False)


def add_record(records: list[NotificationRecord], record: NotificationRecord) -> None:
    """Appends ``record`` unless one with its key is there: a notification is recorded
    once, whichever pass or part of the decision asks for it again."""
    if all(existing.key != record.key for existing in records):
        records.append(record)


def prune_records(records: list[NotificationRecord]) -> list[NotificationRecord]:
    """At most NOTIFICATION_LIMIT records: the oldest final ones go first."""
    excess = len(records) - NOTIFICATION_LIMIT
    if excess <= 0:
        return records
    final = [r for r in records if r.state.is_final]
    final.sort(key=lambda r: r.sent_at or r.last_attempt_at or r.created_at)
    dropped = {r.key for r in final[:excess]}
    kept = [r for r in records if r.key not in dropped]
    return kept[-NOTIFICATION_LIMIT:]


def plan_escalation(
    incident: Incident,
    policy: EscalationPolicy | None,
    now: datetime,
    started_at: datetime,
    role_moves: Sequence[RoleMove] = (),
) -> EscalationPlan:
    """The escalation status and delivery records ``incident`` should have at ``now``.

    ``started_at`` is when this operator process started: a step due before it was due
    while no operator ran, and goes out marked late. ``role_moves`` are the role changes
    the lifecycle recorded in this pass (reconcile/coordination.py).
    """
    status = incident.status
    escalation = (status.escalation or EscalationStatus()).model_copy(deep=True)
    records = [record.model_copy() for record in status.notifications]
    if status.id is None or status.phase is None or status.detected_at is None:
        # The lifecycle has not initialised the incident yet.
        return EscalationPlan(escalation, records, [], None)
    detected_at = status.detected_at
    steps = planned_steps(policy, incident.spec.severity)
    infos = channel_infos(policy)
    scratch = _Scratch(
        incident, escalation, records, infos, now, started_at, policy=policy, steps=steps
    )
    escalation.policy = policy.metadata.name if policy else None
    active = status.phase.is_active
    _track_severity(scratch, steps, detected_at)
    _announce(scratch, active)
    _coordinate(scratch, role_moves, active)
    _follow_up_pages(scratch)
    if active:
        _escalate(scratch, steps, detected_at, policy)
        _tell_backups(scratch)
    level = _level(steps, escalation)
    escalation.level = level
    escalation.steps_total = len(steps)
    since = escalation.severity_since or detected_at
    escalation.next_step_due_at = (
        max(detected_at + steps[level].after, since) if active and level < len(steps) else None
    )
    records = prune_records(scratch.records)
    wake = [escalation.next_step_due_at]
    due = status.next_update_due_at
    if active and due is not None and escalation.reminded_for != due:
        wake.append(due)
    if active:
        wake.append(_backups_due_at(scratch))
        wake.append(_signals_due_at(scratch))
    schedule_wake_at = _earliest(wake)
    return EscalationPlan(
        escalation,
        records,
        scratch.entries,
        _earliest([schedule_wake_at, records_due_at(records)]),
        schedule_wake_at,
    )


def records_due_at(records: list[NotificationRecord]) -> datetime | None:
    """When a record next wants a send: one not yet attempted now; one waiting, at its
    next attempt or at the end of its claim's lease."""
    return _earliest([r.next_attempt_at or r.created_at for r in records if not r.state.is_final])


def _earliest(times: list[datetime | None]) -> datetime | None:
    ahead = [t for t in times if t is not None]
    return min(ahead) if ahead else None


# ---------------------------------------------------------------------------- delivery


def is_claimable(record: NotificationRecord, now: datetime) -> bool:
    next_at = record.next_attempt_at
    if record.state is DeliveryState.PENDING:
        return next_at is None or next_at <= now
    # A Sending record whose lease ran out: its sender died in the middle of the send.
    return record.state is DeliveryState.SENDING and next_at is not None and next_at <= now


def claim_due(
    records: list[NotificationRecord], now: datetime, lease: timedelta
) -> tuple[list[NotificationRecord], list[NotificationRecord]]:
    """All records with the due ones marked Sending, and the claimed ones.

    The claim is written (guarded) before anything is sent; the lease is how long the
    claimer has to record the outcome before another sender may take the record over.
    """
    updated, claimed = [], []
    for record in records:
        if not is_claimable(record, now):
            updated.append(record)
            continue
        error = record.error
        if record.state is DeliveryState.SENDING:
            error = (
                f"attempt {record.attempts} was interrupted (operator restarted?); "
                "sent again with the same key"
            )
        new = record.model_copy(
            update={
                "state": DeliveryState.SENDING,
                "attempts": record.attempts + 1,
                "last_attempt_at": now,
                "next_attempt_at": now + lease,
                "error": error,
            }
        )
        updated.append(new)
        claimed.append(new)
    return updated, claimed


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt came to."""

    key: str
    # The attempt number the claim gave the record; stale outcomes are ignored.
    attempt: int
    at: datetime
    # None when the receiver accepted it; else why not, without secrets.
    error: str | None = None
    retryable: bool = True


def apply_outcomes(
    records: list[NotificationRecord], outcomes: list[DeliveryOutcome], now: datetime
) -> tuple[list[NotificationRecord], list[Entry]]:
    """The records with each outcome applied, and the timeline entries that tell it."""
    # By attempt too: an outcome of an earlier attempt of the same record is stale.
    by_attempt = {(outcome.key, outcome.attempt): outcome for outcome in outcomes}
    updated, entries = [], []
    for record in records:
        outcome = by_attempt.get((record.key, record.attempts))
        if outcome is None or record.state is not DeliveryState.SENDING:
            updated.append(record)
            continue
        what = f"{record.kind.value} to {record.channel}"
        if outcome.error is None:
            late = f" (late: due {record.due_at.isoformat()})" if record.late else ""
            entries.append(
                Entry(outcome.at, EntryType.NOTIFICATION_SENT, OPERATOR_ACTOR, f"{what} sent{late}")
            )
            updated.append(
                record.model_copy(
                    update={
                        "state": DeliveryState.SENT,
                        "sent_at": outcome.at,
                        "next_attempt_at": None,
                        "error": None,
                    }
                )
            )
            continue
        error = outcome.error[:_ERROR_LIMIT]
        retry = after_failure(record.attempts, outcome.retryable, now)
        if retry.next_attempt_at is None:
            entries.append(
                Entry(
                    outcome.at,
                    EntryType.NOTIFICATION_FAILED,
                    OPERATOR_ACTOR,
                    f"{what} failed after {record.attempts} attempts: {error}",
                )
            )
            state = DeliveryState.FAILED
        else:
            state = DeliveryState.PENDING
        updated.append(
            record.model_copy(
                update={"state": state, "next_attempt_at": retry.next_attempt_at, "error": error}
            )
        )
    return updated, entries


# -------------------------------------------------------------------------- conditions

_SHOWN = 3


def notification_condition(status: IncidentStatus) -> tuple[ConditionStatus, Reason, str]:
    """NotificationsFailing: True while a notification is retried or was given up."""
    failed = [r for r in status.notifications if r.state is DeliveryState.FAILED]
    retrying = [r for r in status.notifications if not r.state.is_final and r.error]
    if failed:
        detail = "; ".join(f"{r.key}: {r.error}" for r in failed[:_SHOWN])
        return ConditionStatus.TRUE, Reason.DELIVERY_FAILED, f"{len(failed)} failed: {detail}"
    if retrying:
        detail = "; ".join(f"{r.key} (attempt {r.attempts}): {r.error}" for r in retrying[:_SHOWN])
        return (
            ConditionStatus.TRUE,
            Reason.DELIVERY_RETRYING,
            f"{len(retrying)} being retried: {detail}",
        )
    sent = sum(1 for r in status.notifications if r.state is DeliveryState.SENT)
    pending = len(status.notifications) - sent
    return ConditionStatus.FALSE, Reason.DELIVERING, f"{sent} sent, {pending} pending"


def escalation_condition(status: IncidentStatus) -> tuple[ConditionStatus, Reason, str]:
    """Escalated: True once a step of the current matrix is reached."""
    escalation = status.escalation
    if escalation is None or escalation.level == 0 or not escalation.steps:
        due = escalation.next_step_due_at if escalation else None
        when = f"; the first step is due at {due.isoformat()}" if due else ""
        return ConditionStatus.FALSE, Reason.NOT_ESCALATED, f"no escalation step reached{when}"
    current = [
        s
        for s in escalation.steps
        if s.severity is escalation.severity and s.cause is not StepCause.SUPERSEDED
    ]
    last = current[-1] if current else escalation.steps[-1]
    reason = Reason.TRIGGERED if last.cause is StepCause.TRIGGER else Reason.ON_SCHEDULE
    due = escalation.next_step_due_at
    after = f"; next step due at {due.isoformat()}" if due else ""
    return (
        ConditionStatus.TRUE,
        reason,
        f"level {escalation.level} of {escalation.steps_total}: {', '.join(last.targets)} "
        f"({last.reason}){after}",
    )
