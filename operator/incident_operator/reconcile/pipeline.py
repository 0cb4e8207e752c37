"""The whole decision for one Incident: one pure pass over one copy of its status.

runtime/incidents.py gathers everything once (the object, its governing policy, the
workloads its rollback needs, the outcomes of sends that finished) and calls
``decide_incident``; it then writes the difference once, guarded by the resourceVersion
decided from, and only after that write acts (patches the workload, sends the claimed
notifications, posts the Events, stores the post-mortem draft)::

    delivery outcomes -> notifications Sent / retry at / Failed
          |
          v
    rollback    (decide_rollback: propose, judge approvals, execute, verify)
          |      a rollback that did not help is on the status the next steps read
          v
    remediations (decide_remediations: requests, approvals, InProgress marks, progress,
          |      verification of status.remediations; a failed one is a trigger)
          v
    lifecycle   (reconcile_incident: timeline, phase, SLA clocks, checklists, conditions)
          |      a phase change is on the status escalation reads
          v
    escalation  (plan_escalation: matrix steps, triggers incl. a failed rollback,
          |      declaration, updates, reminders, resolution, and the role changes
          |      the lifecycle recorded (reconcile/coordination.py): NotificationRecords)
          v
    customers   (plan_customer_communication: published customer messages, the draft,
          |      the customer clock, its reminder and CustomerCommunicationOverdue)
          v
    claim       (claim_due: due records marked Sending with a lease; sent after the write)
          |
          v
    conditions derived from all of the above (Escalated, NotificationsFailing)

A merged incident (status.mergedInto, reconcile/merge.py) stops after the outcomes: it
is closed, and decides and sends nothing more. The lifecycle tells each signal that
joined the incident once, and escalation sends at most one SignalsJoined message per
update interval (reconcile/joined_signals.py).

Each step sees what the earlier ones decided in the same pass, so they cannot disagree
about what they saw, and everything they decide is written in one merge patch.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import TIMELINE_LIMIT, Incident, IncidentStatus
from incident_operator.domain.conditions import set_condition
from incident_operator.domain.notifications import DeliveryState
from incident_operator.domain.reasons import ConditionType, EntryType
from incident_operator.domain.rollback_plan import Workload, WorkloadPatch
from incident_operator.domain.timeline import Entry, bound
from incident_operator.reconcile.coordination import changed_roles
from incident_operator.reconcile.customer_messages import plan_customer_communication
from incident_operator.reconcile.escalation import (
    DeliveryOutcome,
    apply_outcomes,
    claim_due,
    escalation_condition,
    notification_condition,
    plan_escalation,
    records_due_at,
)
from incident_operator.reconcile.governing_policy import GoverningPolicy
from incident_operator.reconcile.incident import reconcile_incident
from incident_operator.reconcile.merge import is_merged
from incident_operator.reconcile.remediation_kind import Observations
from incident_operator.reconcile.remediations import (
    ActOutcome,
    PendingAction,
    RemediationInputs,
    decide_remediations,
)
from incident_operator.reconcile.rollback import (
    Approval,
    RollbackInputs,
    WorkloadKey,
    decide_rollback,
)

OPERATOR_ACTOR = "incident-operator"


@dataclass(frozen=True)
class IncidentInputs:
    """Everything one pass decides from; gathered once by the runtime."""

    incident: Incident
    governing: GoverningPolicy
    now: datetime
    # When this operator process started: a step due before then was due while none ran.
    started_at: datetime
    # How long a claimed notification may stay Sending before another pass may resend it.
    lease: timedelta
    # The ID to record when the incident has none yet (allocated by the runtime).
    incident_id: str | None = None
    # The workloads the rollback needs (reconcile.rollback.workloads_to_observe): a key
    # with None does not exist; a missing key was not read.
    workloads: Mapping[WorkloadKey, Workload | None] = field(default_factory=dict)
    # The id a new rollback attempt gets, and the attempts this process started.
    attempt_id: str = "-"
    own_attempts: frozenset[str] = frozenset()
    # The API server's answer when the last workload patch was rejected (not a conflict).
    patch_error: str | None = None
    # The workload was patched by this process just before this pass.
    patched_now: bool = False
    # Sends that finished since the last pass; stale ones (another attempt) are ignored.
    outcomes: Sequence[DeliveryOutcome] = ()
    # What was read for the remediations (reconcile.remediations.remediation_targets), by
    # record id, and what became of the actions this process applied before this pass.
    remediation_observations: Mapping[str, Observations] = field(default_factory=dict)
    remediation_acted: Mapping[str, ActOutcome] = field(default_factory=dict)


@dataclass(frozen=True)
class IncidentDecision:
    """The status to write, and what to do once it is written."""

    status: IncidentStatus
    # New timeline entries, in order; each is posted as an Event after the write.
    entries: list[Entry]
    # Events that are not timeline entries (a notification attempt that will be retried).
    events_only: list[Entry]
    # Approval annotations to remove (judged: recorded in status.rollback, or ignored).
    remove_approval: Approval | None
    # The workload patch of a rollback whose InProgress mark this status carries.
    patch: WorkloadPatch | None
    # Notifications this status marks Sending: to send once it is written.
    claimed: list[NotificationRecord]
    # The post-mortem draft to store, when it changed.
    postmortem_draft: str | None
    # When anything next falls due; None when nothing will without a change.
    wake_at: datetime | None
    # The automatic rollback proposal looked at every candidate and found nothing.
    nothing_to_propose: bool
    # Remediation request/approval annotations to remove (recorded already, or judged).
    remove_annotations: tuple[str, ...] = ()
    # Remediation actions whose InProgress mark this status carries: applied after it.
    remediation_actions: tuple[PendingAction, ...] = ()


def _retrying(
    records: list[NotificationRecord], outcomes: Sequence[DeliveryOutcome]
) -> list[Entry]:
    failed = {(o.key, o.attempt): o.at for o in outcomes if o.error is not None}
    return [
        Entry(
            failed[(r.key, r.attempts)],
            EntryType.NOTIFICATION_RETRYING,
            OPERATOR_ACTOR,
            f"{r.key} attempt {r.attempts} failed: {r.error}; next attempt at "
            f"{r.next_attempt_at.isoformat() if r.next_attempt_at else '-'}",
        )
        for r in records
        if (r.key, r.attempts) in failed and r.state is DeliveryState.PENDING
    ]


def _earliest(*times: datetime | None) -> datetime | None:
    ahead = [t for t in times if t is not None]
    return min(ahead) if ahead else None


def decide_incident(inputs: IncidentInputs) -> IncidentDecision:
    """The next status of ``inputs.incident`` and the actions that follow its write."""
    incident, now = inputs.incident, inputs.now
    # Shallow: this pass only assigns whole fields here; the sub-decisions copy what they
    # change inside (reconcile_incident works on a deep copy of its own).
    status = incident.status.model_copy()
    entries: list[Entry] = []

    # Outcomes of earlier sends first: the rest of the pass sees what was delivered.
    events_only: list[Entry] = []
    if inputs.outcomes:
        records, delivered = apply_outcomes(status.notifications, list(inputs.outcomes), now)
        events_only = _retrying(records, inputs.outcomes)
        status.notifications = records
        status.timeline = [*status.timeline, *delivered]
        entries += delivered

    if is_merged(incident):
        # Closed by its merge (reconcile/merge.py): it decides nothing more and sends
        # nothing; sends that were in flight still get their outcomes written.
        return IncidentDecision(
            status=status,
            entries=entries,
            events_only=events_only,
            remove_approval=None,
            patch=None,
            claimed=[],
            postmortem_draft=None,
            wake_at=None,
            nothing_to_propose=False,
        )

    rollback = decide_rollback(
        RollbackInputs(
            incident=incident.model_copy(update={"status": status}),
            policy=inputs.governing.policy,
            workloads=inputs.workloads,
            now=now,
            attempt_id=inputs.attempt_id,
            own_attempts=inputs.own_attempts,
            patch_error=inputs.patch_error,
            patched_now=inputs.patched_now,
        )
    )
    status.rollback = rollback.rollback
    status.fix_attempt = rollback.fix_attempt
    status.timeline = [*status.timeline, *rollback.entries]
    entries += rollback.entries

    remediations = decide_remediations(
        RemediationInputs(
            incident=incident.model_copy(update={"status": status}),
            policy=inputs.governing.policy,
            now=now,
            observations=inputs.remediation_observations,
            attempt_id=inputs.attempt_id,
            own_attempts=inputs.own_attempts,
            acted=inputs.remediation_acted,
        )
    )
    status.remediations = remediations.records
    status.timeline = [*status.timeline, *remediations.entries]
    entries += remediations.entries

    roles_before = status.recorded.roles
    lifecycle = reconcile_incident(
        incident.model_copy(update={"status": status}), inputs.governing, now, inputs.incident_id
    )
    status = lifecycle.status
    entries += lifecycle.new_entries

    plan = plan_escalation(
        incident.model_copy(update={"status": status}),
        inputs.governing.policy,
        now,
        inputs.started_at,
        # The role changes the lifecycle just recorded, told to #sre-team.
        changed_roles(roles_before, status.recorded.roles),
    )
    status.escalation = plan.escalation
    status.timeline = [*status.timeline, *plan.entries]
    entries += plan.entries

    customer = plan_customer_communication(
        incident.model_copy(update={"status": status}),
        inputs.governing.policy,
        plan.notifications,
        now,
        inputs.started_at,
    )
    status.communication = customer.communication
    status.timeline = [*status.timeline, *customer.entries]
    entries += customer.entries
    if customer.condition is not None:
        status.conditions = set_condition(
            status.conditions,
            ConditionType.CUSTOMER_COMMUNICATION_OVERDUE,
            *customer.condition,
            now,
            incident.metadata.generation or None,
        )
    status.notifications, claimed = claim_due(customer.notifications, now, inputs.lease)

    generation = incident.metadata.generation or None
    for type_, derive in (
        (ConditionType.ESCALATED, escalation_condition),
        (ConditionType.NOTIFICATIONS_FAILING, notification_condition),
    ):
        condition_status, reason, message = derive(status)
        status.conditions = set_condition(
            status.conditions, type_, condition_status, reason, message, now, generation
        )
    status.timeline = bound(status.timeline, TIMELINE_LIMIT)
    return IncidentDecision(
        status=status,
        entries=entries,
        events_only=events_only,
        remove_approval=rollback.remove_approval,
        patch=rollback.patch,
        claimed=claimed,
        postmortem_draft=lifecycle.postmortem_draft,
        wake_at=_earliest(
            rollback.wake_at,
            remediations.wake_at,
            lifecycle.wake_at,
            plan.schedule_wake_at,
            customer.wake_at,
            # After the claim: the claimed ones at their lease's end.
            records_due_at(status.notifications),
        ),
        nothing_to_propose=rollback.nothing_to_propose,
        remove_annotations=remediations.remove_annotations,
        remediation_actions=tuple(remediations.actions),
    )
