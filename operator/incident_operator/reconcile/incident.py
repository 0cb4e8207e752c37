"""What an Incident's status should be, given its spec, what was observed, and the clock.

One pure function, ``reconcile_incident``, does the lifecycle's part of the decision
(reconcile/pipeline.py composes it with the rollback before it and escalation after it):
timeline entries for what changed since the status last recorded it
(``status.recorded``), the phase steps of the lifecycle, timestamps, SLA deadlines,
checklists, post-mortem deadlines, action item due dates, conditions, and the next time
anything of the lifecycle falls due.
"""

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from incident_operator.api.annotations import ACKNOWLEDGED_BY, CHANGED_BY
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    TIMELINE_LIMIT,
    ActionItemStatus,
    ChecklistItemStatus,
    Incident,
    IncidentState,
    IncidentStatus,
    PostMortemSpec,
    PostMortemStatus,
    PostMortemStatusWord,
    ResolutionStatus,
    Roles,
    Triage,
)
from incident_operator.domain.checklists import RUNBOOK_CHECKLISTS, open_required
from incident_operator.domain.conditions import (
    ConditionStatus,
    find_condition,
    set_condition,
)
from incident_operator.domain.lifecycle import LifecycleInputs, RefusedTransition, plan_transitions
from incident_operator.domain.notifications import DeliveryState, NotificationKind
from incident_operator.domain.phases import Phase, TransitionError, check_transition
from incident_operator.domain.postmortem import (
    ActionItemLine,
    PostMortemFacts,
    postmortem_deadlines,
    render_postmortem,
)
from incident_operator.domain.postmortem import postmortem_required as requires_postmortem
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.domain.severity import ACTION_ITEM_SLA, Severity, SeverityLevel
from incident_operator.domain.signals import Level
from incident_operator.domain.sla import compute_deadlines, next_wakeup, overdue
from incident_operator.domain.timeline import Entry, bound
from incident_operator.reconcile.chat_log import record_chat_log
from incident_operator.reconcile.governing_policy import (
    GoverningPolicy,
    auto_resolve_allowed,
    effective_level,
    monitoring_window,
)
from incident_operator.reconcile.joined_signals import record_joined
from incident_operator.reconcile.related_links import policy_links
from incident_operator.reconcile.remediations import remediation_active, remediation_recovered
from incident_operator.reconcile.resolution_gate import (
    Gate,
    held_message,
    override_message,
    resolution_gate,
)
from incident_operator.reconcile.rollback import (
    rollback_active,
    rollback_recovered,
    rolled_back_condition,
)
from incident_operator.reconcile.triage import triage_answered, triage_due, triage_summary

OPERATOR_ACTOR = "incident-operator"
# The runbook: "Establish incident commander within 5 minutes" (P0).
COMMANDER_DEADLINE = {Severity.P0: timedelta(minutes=5)}

_STATE_PHASE = {
    IncidentState.INVESTIGATING: Phase.INVESTIGATING,
    IncidentState.IDENTIFIED: Phase.IDENTIFIED,
    IncidentState.MITIGATING: Phase.MITIGATING,
    IncidentState.MONITORING: Phase.MONITORING,
    IncidentState.RESOLVED: Phase.RESOLVED,
}
_ROLE_NAMES = {
    "commander": "incident commander",
    "tech_lead": "technical lead",
    "comms_lead": "communications lead",
    "scribe": "scribe",
}


@dataclass(frozen=True)
class Outcome:
    status: IncidentStatus
    # Entries added by this reconcile, to be posted as Events too.
    new_entries: list[Entry]
    # When something next falls due; None when nothing will without a change.
    wake_at: datetime | None
    # The post-mortem draft to store, when it changed; None when there is nothing to write.
    postmortem_draft: str | None = None


@dataclass
class _Scratch:
    """The decision in progress: the status copy and the entries added to it."""

    status: IncidentStatus
    generation: int | None
    now: datetime
    entries: list[Entry] = field(default_factory=list)

    def record(self, kind: EntryType, actor: str, message: str, at: datetime | None = None) -> None:
        entry = Entry(at or self.now, kind, actor, message)
        self.entries.append(entry)
        self.status.timeline.append(entry)

    def condition(
        self, type_: ConditionType, status: ConditionStatus, reason: Reason, message: str
    ) -> None:
        self.status.conditions = set_condition(
            self.status.conditions, type_, status, reason, message, self.now, self.generation
        )

    def became_true(self, type_: str) -> bool:
        found = find_condition(self.status.conditions, type_)
        return found is None or found.status is not ConditionStatus.TRUE


def _initial_phase(state: IncidentState) -> Phase:
    """A new incident starts Detected unless people declare it further along."""
    wanted = _STATE_PHASE[state]
    return Phase.DETECTED if wanted is Phase.INVESTIGATING else wanted


def _last_communication(incident: Incident) -> datetime | None:
    times = [update.time for update in incident.spec.updates]
    return max(times) if times else None


def _actor(incident: Incident) -> str:
    return incident.metadata.annotations.get(CHANGED_BY) or "a responder"


def _record_spec_changes(incident: Incident, scratch: _Scratch) -> None:
    spec, recorded = incident.spec, scratch.status.recorded
    actor = _actor(incident)
    if recorded.severity is not None and recorded.severity is not spec.severity:
        raised = spec.severity.is_more_severe_than(recorded.severity)
        detail = ""
        detection = scratch.status.detection
        if raised and detection is not None and detection.level.value == "critical":
            detail = f" ({detection.rule}: critical threshold breached)"
        scratch.record(
            EntryType.SEVERITY_CHANGED,
            actor,
            f"severity {'raised' if raised else 'lowered'} from {recorded.severity.value} "
            f"to {spec.severity.value}{detail}",
        )
    recorded.severity = spec.severity
    for attribute, title in _ROLE_NAMES.items():
        before, after = getattr(recorded.roles, attribute), getattr(spec.roles, attribute)
        if before != after:
            message = f"{title}: {after}" if after else f"{title} unassigned (was {before})"
            scratch.record(EntryType.ROLE_ASSIGNED, actor, message)
    recorded.roles = Roles.model_validate(spec.roles.model_dump())
    for update in spec.updates[recorded.update_count :]:
        scratch.record(EntryType.UPDATE_POSTED, update.author, update.message, at=update.time)
    recorded.update_count = len(spec.updates)
    post_mortem = spec.post_mortem.status if spec.post_mortem else None
    if post_mortem is not None and post_mortem is not recorded.post_mortem_status:
        scratch.record(EntryType.POST_MORTEM_STATUS, actor, f"post-mortem is {post_mortem.spelled}")
    recorded.post_mortem_status = post_mortem
    if spec.triage is not None and spec.triage != recorded.triage:
        scratch.record(EntryType.TRIAGE_ANSWERED, actor, f"triage: {triage_summary(spec.triage)}")
    recorded.triage = Triage.model_validate(spec.triage.model_dump()) if spec.triage else None
    if spec.mitigation and spec.mitigation != recorded.mitigation:
        scratch.record(EntryType.MITIGATION_RECORDED, actor, f"mitigation: {spec.mitigation}")
    recorded.mitigation = spec.mitigation


def _record_acknowledgement(incident: Incident, scratch: _Scratch) -> bool:
    acknowledged_by = incident.metadata.annotations.get(ACKNOWLEDGED_BY) or None
    status = scratch.status
    if acknowledged_by and acknowledged_by != status.recorded.acknowledged_by:
        if status.acknowledged_at is None:
            status.acknowledged_at = scratch.now
        scratch.record(
            EntryType.ACKNOWLEDGED, acknowledged_by, f"acknowledged by {acknowledged_by}"
        )
    status.recorded.acknowledged_by = acknowledged_by
    if acknowledged_by:
        scratch.condition(
            ConditionType.ACKNOWLEDGED,
            ConditionStatus.TRUE,
            Reason.ACKNOWLEDGED,
            f"acknowledged by {acknowledged_by}",
        )
    else:
        scratch.condition(
            ConditionType.ACKNOWLEDGED,
            ConditionStatus.FALSE,
            Reason.NOT_ACKNOWLEDGED,
            f"nobody has set the {ACKNOWLEDGED_BY} annotation",
        )
    return acknowledged_by is not None


def _checklist_done(incident: Incident, status: IncidentStatus) -> dict[str, bool]:
    spec = incident.spec
    resolved = status.resolved_at is not None
    breaching = bool(status.detection and status.detection.breaching) or any(
        reading.level.value in ("warning", "critical") for reading in status.metrics
    )
    after_mitigation = status.phase in (
        Phase.MONITORING,
        Phase.RESOLVED,
        Phase.POST_INCIDENT,
        Phase.CLOSED,
    )
    people = spec.checklist
    watched = monitored(status)
    # Ticked by the operator only on evidence that a message was delivered.
    sent = [n.kind for n in status.notifications if n.state is DeliveryState.SENT]
    paged = NotificationKind.DECLARATION in sent or NotificationKind.ESCALATION in sent
    # Unknown readings (no data, Prometheus away) confirm nothing.
    unknown = any(r.level is Level.UNKNOWN for r in status.metrics) or bool(
        status.detection and status.detection.level is Level.UNKNOWN
    )
    metrics_normal = watched and not breaching and not unknown
    # Ticked as the RolledBack condition turns True: rolled back and recovered (Succeeded,
    # or still inside its monitoring window with the rules back under their thresholds).
    rolled_back_now = rolled_back_condition(status)
    rolled_back = rolled_back_now is not None and rolled_back_now[0] is ConditionStatus.TRUE
    return {
        "alertAcknowledged": status.acknowledged_at is not None,
        "severityAssessed": True,
        "ticketCreated": status.id is not None,
        "onCallNotified": paged,
        "rootCauseIdentified": people.root_cause_identified,
        "fixVerified": people.fix_verified,
        "systemsRecovered": people.systems_recovered,
        "metricsNormal": after_mitigation and metrics_normal if watched else people.metrics_normal,
        "customerCommunicationSent": people.customer_communication_sent
        or any(kind.for_customers for kind in sent),
        "rootCauseDocumented": people.root_cause_documented
        or bool(spec.post_mortem and spec.post_mortem.root_cause),
        "fixInProduction": people.fix_in_production or rolled_back,
        "normalMetrics": metrics_normal if watched else people.normal_metrics,
        "errorRatesAtBaseline": metrics_normal if watched else people.error_rates_at_baseline,
        "noNewAlerts": metrics_normal if watched else people.no_new_alerts,
        "manualVerification": people.manual_verification,
        "customerImpactResolved": people.customer_impact_resolved,
        "ticketUpdated": resolved,
        "timelineDocumented": resolved and bool(status.timeline),
        "postMortemScheduled": bool(spec.post_mortem and spec.post_mortem.scheduled_at),
        "actionItemsCreated": bool(spec.action_items),
        "lessonsLearned": people.lessons_learned,
        "runbooksUpdated": people.runbooks_updated,
    }


def monitored(status: IncidentStatus) -> bool:
    """True when detection watches the incident: it opened it, or reads its metrics."""
    return status.detection is not None or bool(status.metrics)


def _update_action_items(incident: Incident, scratch: _Scratch) -> None:
    known = {item.id: item for item in scratch.status.action_items}
    updated = []
    for item in incident.spec.action_items:
        previous = known.get(item.id)
        if item.due_date is not None:
            due_at: datetime | None = datetime.combine(item.due_date, time.max, tzinfo=UTC)
        elif previous is not None:
            due_at = previous.due_at
        else:
            sla = ACTION_ITEM_SLA[item.priority]
            due_at = scratch.now + sla if sla is not None else None
        updated.append(
            ActionItemStatus(
                id=item.id,
                due_at=due_at,
                done=item.done,
                overdue=not item.done and overdue(due_at, scratch.now),
            )
        )
    scratch.status.action_items = updated


def _closable(incident: Incident, status: IncidentStatus, postmortem_required: bool) -> list[str]:
    """What stands between the incident and Closed; empty when nothing does."""
    blockers = []
    if postmortem_required:
        word = incident.spec.post_mortem.status if incident.spec.post_mortem else None
        if word is not PostMortemStatusWord.FINAL:
            blockers.append("post-mortem is not Final")
        # The runbook's Close Incident step: "Assign post-mortem owner".
        if not (incident.spec.post_mortem and incident.spec.post_mortem.owner):
            blockers.append("no post-mortem owner (spec.postMortem.owner)")
    done = _checklist_done(incident, status)
    # An override by the commander stands for the pre-resolution items at closing too.
    overridden = bool(status.resolution and status.resolution.overridden_by)
    blockers += [
        item.key
        for item in open_required(done, postmortem_required, include_pre_resolution=not overridden)
    ]
    p1_open = [i.id for i in incident.spec.action_items if i.priority.value == "P1" and not i.done]
    if p1_open:
        blockers.append(f"P1 action items open: {', '.join(p1_open)}")
    return blockers


def _lifecycle(
    incident: Incident,
    scratch: _Scratch,
    acknowledged: bool,
    policy: EscalationPolicy | None,
    postmortem_required: bool,
) -> None:
    spec, status = incident.spec, scratch.status
    assert status.phase is not None
    detection = status.detection
    breaching = detection.breaching if detection else None
    recorded = status.recorded
    breaching_changed = breaching is not None and (
        (recorded.breaching is None and breaching is False)
        or (recorded.breaching is not None and breaching != recorded.breaching)
    )
    state_changed = recorded.state is not None and recorded.state is not spec.state
    gate = resolution_gate(incident, _checklist_done(incident, status), monitored(status))
    # People's Resolved waits for the pre-resolution verification (reconcile/resolution_gate).
    held = (
        state_changed
        and spec.state is IncidentState.RESOLVED
        and status.phase.is_active
        and gate.holds
    )
    inputs = LifecycleInputs(
        current=status.phase,
        stated=_STATE_PHASE[spec.state],
        state_changed=state_changed and not held,
        acknowledged=acknowledged,
        commander_named=spec.roles.commander is not None,
        investigation_started=spec.roles.tech_lead is not None or bool(spec.updates),
        breaching=breaching,
        breaching_changed=breaching_changed,
        recovered_at=detection.recovered_at if detection else None,
        monitoring_window=monitoring_window(policy),
        auto_resolve=auto_resolve_allowed(spec.severity, policy),
        action_in_progress=("rollback" if rollback_active(status) else remediation_active(status)),
        action_recovered="rolled back"
        if rollback_recovered(status)
        else (remediation_recovered(status)),
        postmortem_required=postmortem_required,
        closable=not _closable(incident, status, postmortem_required),
    )
    try:
        steps = plan_transitions(inputs, scratch.now)
    except RefusedTransition as refused:
        try:
            check_transition(refused.current, refused.step.phase)
            detail = ""
        except TransitionError as error:
            detail = str(error)
        message = f"refused {refused.step.cause}: {detail}"
        if scratch.became_true(ConditionType.TRANSITION_REFUSED):
            scratch.record(EntryType.TRANSITION_REFUSED, _actor(incident), message)
        scratch.condition(
            ConditionType.TRANSITION_REFUSED,
            ConditionStatus.TRUE,
            Reason.ILLEGAL_TRANSITION,
            message,
        )
        steps = []
    else:
        # While a Resolved is held, its condition stands (set below) whatever else moved.
        if (inputs.state_changed or steps) and not held:
            scratch.condition(
                ConditionType.TRANSITION_REFUSED,
                ConditionStatus.FALSE,
                Reason.NONE_REFUSED,
                "no phase change was refused",
            )
    for step in steps:
        previous = status.phase
        status.phase = step.phase
        _stamp(status, step.phase, scratch.now)
        by_people = step.cause.startswith("state set")
        actor = _actor(incident) if by_people else OPERATOR_ACTOR
        if by_people and step.phase is Phase.RESOLVED:
            _record_resolution(scratch, gate)
        scratch.record(
            EntryType.PHASE_CHANGED, actor, f"{previous.value} -> {step.phase.value}: {step.cause}"
        )
    if held:
        _hold_resolution(incident, scratch, gate)
    else:
        # A held Resolved stays unheard in recorded.state, so it is heard once items are done.
        recorded.state = spec.state
        if status.resolution is not None and status.resolution.overridden_by is None:
            # People took the Resolved back (or detection resolved it): nothing is held.
            status.resolution = None
    recorded.breaching = breaching


def _hold_resolution(incident: Incident, scratch: _Scratch, gate: Gate) -> None:
    """The condition, the status and (once) the timeline entry of a held Resolved."""
    message = held_message(gate)
    existing = find_condition(scratch.status.conditions, ConditionType.TRANSITION_REFUSED)
    if existing is None or existing.reason != Reason.PRE_RESOLUTION_OPEN:
        scratch.record(EntryType.TRANSITION_REFUSED, _actor(incident), message)
    scratch.condition(
        ConditionType.TRANSITION_REFUSED,
        ConditionStatus.TRUE,
        Reason.PRE_RESOLUTION_OPEN,
        message,
    )
    scratch.status.resolution = ResolutionStatus(open_items=[i.key for i in gate.open_items])


def _record_resolution(scratch: _Scratch, gate: Gate) -> None:
    """A Resolved by people: with the override's entry when it let open items through."""
    if not gate.open_items or gate.override is None:
        scratch.status.resolution = None
        return
    scratch.record(EntryType.RESOLUTION_OVERRIDDEN, gate.override.by, override_message(gate))
    scratch.status.resolution = ResolutionStatus(
        open_items=[i.key for i in gate.open_items],
        overridden_by=gate.override.by,
        override_reason=gate.override.reason,
        overridden_at=scratch.now,
    )


def _stamp(status: IncidentStatus, phase: Phase, now: datetime) -> None:
    if phase in (Phase.MITIGATING, Phase.MONITORING) and status.mitigated_at is None:
        status.mitigated_at = now
    if phase is Phase.RESOLVED:
        status.resolved_at = now
    if phase is Phase.INVESTIGATING and status.resolved_at is not None:
        # Reopened: the resolution and its post-mortem clock no longer stand.
        status.resolved_at = None
        status.post_mortem = None
        status.resolution = None
    if phase is Phase.CLOSED:
        status.closed_at = now


def _deadline_condition(
    scratch: _Scratch, type_: ConditionType, due: datetime | None, running: bool, what: str
) -> None:
    if not running or due is None:
        scratch.condition(type_, ConditionStatus.FALSE, Reason.NOT_APPLICABLE, f"no {what} due")
    elif overdue(due, scratch.now):
        if scratch.became_true(type_):
            # The entry is named as the condition is (ResponseOverdue, ...).
            scratch.record(EntryType(type_), OPERATOR_ACTOR, f"{what} was due at {due.isoformat()}")
        scratch.condition(
            type_,
            ConditionStatus.TRUE,
            Reason.DEADLINE_PASSED,
            f"{what} was due at {due.isoformat()}",
        )
    else:
        scratch.condition(
            type_, ConditionStatus.FALSE, Reason.WITHIN_DEADLINE, f"{what} due at {due.isoformat()}"
        )


def reconcile_incident(
    incident: Incident,
    governing: GoverningPolicy,
    now: datetime,
    incident_id: str | None,
) -> Outcome:
    """The desired status; ``incident`` is not modified."""
    spec = incident.spec
    policy = governing.policy
    level: SeverityLevel = effective_level(spec.severity, policy)
    scratch = _Scratch(
        incident.status.model_copy(deep=True), incident.metadata.generation or None, now
    )
    status = scratch.status
    if incident_id is not None:
        status.id = incident_id
    if status.detected_at is None:
        status.detected_at = now
    if status.phase is None:
        status.phase = _initial_phase(spec.state)
        status.recorded.state = spec.state
        if (
            status.phase is Phase.RESOLVED
            and resolution_gate(incident, _checklist_done(incident, status)).holds
        ):
            # Declared resolved with the verification open: held like a later Resolved.
            status.phase = Phase.DETECTED
            status.recorded.state = IncidentState.INVESTIGATING
        _stamp(status, status.phase, now)
        status.recorded.severity = spec.severity
        scratch.record(
            EntryType.DECLARED,
            incident.metadata.annotations.get(CHANGED_BY) or spec.source.value,
            f"{spec.severity.value} incident opened ({spec.source.value}): {spec.title}; "
            f"phase {status.phase.value}",
        )
    _record_spec_changes(incident, scratch)
    for joined in record_joined(status, now):
        scratch.entries.append(joined)
        status.timeline.append(joined)
    for logged in record_chat_log(status):
        scratch.entries.append(logged)
        status.timeline.append(logged)
    acknowledged = _record_acknowledgement(incident, scratch)
    postmortem_required = requires_postmortem(level)
    _update_action_items(incident, scratch)
    _lifecycle(incident, scratch, acknowledged, policy, postmortem_required)
    phase = status.phase
    active = phase.is_active
    wake: list[datetime | None] = []

    # SLA clocks: from detection; the update cadence restarts with each update posted.
    deadlines = compute_deadlines(level, status.detected_at, _last_communication(incident))
    status.response_due_at = deadlines.response_due
    status.resolution_due_at = deadlines.resolution_due
    status.next_update_due_at = deadlines.next_update_due if active else None
    _deadline_condition(
        scratch,
        ConditionType.RESPONSE_OVERDUE,
        deadlines.response_due,
        active and not acknowledged,
        "first response",
    )
    _deadline_condition(
        scratch, ConditionType.RESOLUTION_OVERDUE, deadlines.resolution_due, active, "resolution"
    )
    _deadline_condition(
        scratch, ConditionType.UPDATE_OVERDUE, status.next_update_due_at, active, "status update"
    )
    # Triage: the runbook's five questions, due 15 minutes after detection for P0/P1.
    answered = triage_answered(spec.triage)
    if answered and status.triaged_at is None:
        status.triaged_at = now
    status.triage_due_at = triage_due(spec.severity, status.detected_at, policy)
    unanswered = spec.triage.unanswered() if spec.triage else ["all five questions"]
    _deadline_condition(
        scratch,
        ConditionType.TRIAGE_OVERDUE,
        status.triage_due_at,
        active and not answered,
        f"triage (spec.triage: {', '.join(unanswered)})",
    )
    wake += [status.triage_due_at if active and not answered else None]
    wake += [deadlines.response_due if active and not acknowledged else None]
    wake += [deadlines.resolution_due, status.next_update_due_at] if active else []

    commander = spec.roles.commander
    commander_due = (
        status.detected_at + COMMANDER_DEADLINE[spec.severity]
        if spec.severity in COMMANDER_DEADLINE
        else None
    )
    if commander:
        scratch.condition(
            ConditionType.COMMANDER_ASSIGNED,
            ConditionStatus.TRUE,
            Reason.ASSIGNED,
            f"{commander} is the incident commander",
        )
    elif active and commander_due is not None and overdue(commander_due, now):
        existing = find_condition(status.conditions, ConditionType.COMMANDER_ASSIGNED)
        if existing is None or existing.reason != Reason.COMMANDER_OVERDUE:
            scratch.record(
                EntryType.COMMANDER_OVERDUE,
                OPERATOR_ACTOR,
                "no incident commander within 5 minutes",
            )
        scratch.condition(
            ConditionType.COMMANDER_ASSIGNED,
            ConditionStatus.FALSE,
            Reason.COMMANDER_OVERDUE,
            f"no commander named; the runbook asks for one by {commander_due.isoformat()}",
        )
    else:
        scratch.condition(
            ConditionType.COMMANDER_ASSIGNED,
            ConditionStatus.FALSE,
            Reason.NOT_ASSIGNED,
            "no commander is named",
        )
        wake.append(commander_due if active and not commander else None)

    detection = status.detection
    if detection is not None:
        if detection.breaching:
            scratch.condition(
                ConditionType.METRICS_RECOVERED,
                ConditionStatus.FALSE,
                Reason.BREACHING,
                f"{detection.rule} is {detection.level.value}: {detection.value} "
                f"(threshold {detection.threshold})",
            )
        else:
            scratch.condition(
                ConditionType.METRICS_RECOVERED,
                ConditionStatus.TRUE,
                Reason.RECOVERED,
                f"{detection.rule} back under its threshold since "
                f"{detection.recovered_at.isoformat() if detection.recovered_at else 'now'}",
            )
            if phase is Phase.MONITORING and detection.recovered_at is not None:
                wake.append(detection.recovered_at + monitoring_window(policy))

    # Post-mortem deadlines count from the resolution.
    if status.resolved_at is not None and postmortem_required:
        schedule_by, complete_by = postmortem_deadlines(level, status.resolved_at) or (
            None,
            None,
        )
        previous_digest = status.post_mortem.draft_digest if status.post_mortem else None
        status.post_mortem = PostMortemStatus(
            schedule_due_at=schedule_by,
            complete_due_at=complete_by,
            config_map=postmortem_configmap_name(incident.metadata.name),
            draft_digest=previous_digest,
        )
        word = spec.post_mortem.status if spec.post_mortem else PostMortemStatusWord.DRAFT
        scheduled = bool(spec.post_mortem and spec.post_mortem.scheduled_at)
        late = (not scheduled and overdue(schedule_by, now)) or (
            word is not PostMortemStatusWord.FINAL and overdue(complete_by, now)
        )
        if late:
            if scratch.became_true(ConditionType.POST_MORTEM_OVERDUE):
                scratch.record(EntryType.POST_MORTEM_OVERDUE, OPERATOR_ACTOR, "post-mortem overdue")
            what = "scheduled" if not scheduled and overdue(schedule_by, now) else "final"
            due = schedule_by if what == "scheduled" else complete_by
            scratch.condition(
                ConditionType.POST_MORTEM_OVERDUE,
                ConditionStatus.TRUE,
                Reason.DEADLINE_PASSED,
                f"post-mortem was to be {what} by {due.isoformat() if due else '?'}",
            )
        else:
            scratch.condition(
                ConditionType.POST_MORTEM_OVERDUE,
                ConditionStatus.FALSE,
                Reason.WITHIN_DEADLINE,
                f"schedule by {schedule_by.isoformat() if schedule_by else '-'}, "
                f"complete by {complete_by.isoformat() if complete_by else '-'}",
            )
        if word is not PostMortemStatusWord.FINAL:
            wake += [None if scheduled else schedule_by, complete_by]

    late_items = [item.id for item in status.action_items if item.overdue]
    if late_items:
        scratch.condition(
            ConditionType.ACTION_ITEMS_OVERDUE,
            ConditionStatus.TRUE,
            Reason.DEADLINE_PASSED,
            f"overdue: {', '.join(late_items)}",
        )
    else:
        scratch.condition(
            ConditionType.ACTION_ITEMS_OVERDUE,
            ConditionStatus.FALSE,
            Reason.WITHIN_DEADLINE,
            "no action item is overdue",
        )
    wake += [item.due_at for item in status.action_items if not item.done]

    done = _checklist_done(incident, status)
    status.checklist = [
        ChecklistItemStatus(
            checklist=item.checklist,
            key=item.key,
            text=item.text,
            done=done[item.key],
            ticked_by=item.who_ticks(monitored(status)),
            required=item.required,
        )
        for item in RUNBOOK_CHECKLISTS
        if postmortem_required or item.checklist.value != "postIncident"
    ]
    blockers = _closable(incident, status, postmortem_required)
    if blockers:
        scratch.condition(
            ConditionType.READY_TO_CLOSE,
            ConditionStatus.FALSE,
            Reason.ITEMS_OPEN,
            "cannot close yet: " + "; ".join(blockers),
        )
    else:
        scratch.condition(
            ConditionType.READY_TO_CLOSE,
            ConditionStatus.TRUE,
            Reason.ALL_DONE,
            "nothing required is open",
        )

    rolled_back = rolled_back_condition(status)
    if rolled_back is not None:
        scratch.condition(ConditionType.ROLLED_BACK, *rolled_back)
    scratch.condition(
        ConditionType.POLICY_RESOLVED,
        ConditionStatus.TRUE if governing.policy else ConditionStatus.FALSE,
        governing.reason,
        governing.message,
    )
    scratch.condition(
        ConditionType.READY, ConditionStatus.TRUE, Reason.RECONCILED, f"phase {phase.value}"
    )
    status.timeline = bound(status.timeline, TIMELINE_LIMIT)
    status.observed_generation = scratch.generation
    draft = _postmortem_draft(incident, status, now, policy)
    return Outcome(status, scratch.entries, next_wakeup(wake, now), draft)


def _postmortem_draft(
    incident: Incident, status: IncidentStatus, now: datetime, policy: EscalationPolicy | None
) -> str | None:
    """The draft when it must be (re)written: resolved, required, still a draft, changed."""
    spec = incident.spec
    written = spec.post_mortem or PostMortemSpec()
    word = written.status
    if status.post_mortem is None or status.resolved_at is None or status.detected_at is None:
        return None
    if word is PostMortemStatusWord.FINAL:
        return None
    authors = written.authors or [
        name for name in (written.owner, spec.roles.commander, spec.roles.scribe) if name
    ]
    facts = PostMortemFacts(
        title=spec.title,
        incident_id=status.id or incident.metadata.name,
        severity=spec.severity,
        status=word.spelled,
        authors=list(dict.fromkeys(authors)),
        detected_at=status.detected_at,
        resolved_at=status.resolved_at,
        summary=spec.summary,
        impact=spec.impact,
        data_loss=spec.triggers.data_loss,
        root_cause=written.root_cause,
        resolution=[update.message for update in spec.updates[-10:]],
        timeline=[(e.time, f"{e.type}: {e.message} ({e.actor})") for e in status.timeline],
        action_items=[
            ActionItemLine(
                id=item.id,
                action=item.action,
                owner=item.owner,
                due=(due.date() if (due := _due(status, item.id)) else None),
                priority=item.priority.value,
            )
            for item in spec.action_items
        ],
        contributing_factors=written.contributing_factors,
        went_well=written.lessons_learned.went_well,
        could_be_improved=written.lessons_learned.could_be_improved,
        users_affected=written.users_affected,
        revenue_impact=written.revenue_impact,
        data_loss_details=written.data_loss,
        document_url=written.document_url,
        owner=written.owner,
        links=policy_links(policy),
    )
    text = render_postmortem(facts, now)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    if status.post_mortem.draft_digest == digest:
        return None
    status.post_mortem.draft_digest = digest
    return text


def _due(status: IncidentStatus, item_id: str) -> datetime | None:
    return next((i.due_at for i in status.action_items if i.id == item_id), None)


def postmortem_configmap_name(incident_name: str) -> str:
    return f"{incident_name}-postmortem"[:253]
