"""The Incident kind: one incident, its people-written spec and operator-written status."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from incident_operator.api.base import (
    ApiModel,
    CalendarDate,
    DNSName,
    LocalObjectReference,
    LongText,
    ObjectMeta,
    ShortText,
    Timestamp,
    UserName,
    cel,
    unique_by,
)
from incident_operator.api.chat import ChatStatus, SlackTs
from incident_operator.api.communication_status import CommunicationStatus
from incident_operator.api.escalation_status import (
    NOTIFICATION_LIMIT,
    EscalationStatus,
    NotificationRecord,
)
from incident_operator.api.remediation_status import RECORD_LIMIT, RemediationRecord
from incident_operator.domain.checklists import ChecklistName, TickedBy
from incident_operator.domain.conditions import Condition
from incident_operator.domain.customer_communication import CustomerMessageKind
from incident_operator.domain.ids import ID_PATTERN
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import FixCriterion, Reason
from incident_operator.domain.severity import ActionItemPriority, Severity, describe
from incident_operator.domain.signals import Level
from incident_operator.domain.timeline import Entry as TimelineEntry

# The most timeline entries kept; older ones are folded into a counted summary.
TIMELINE_LIMIT = 200


class IncidentState(StrEnum):
    """The runbook's status word, set by responders."""

    INVESTIGATING = "Investigating"
    IDENTIFIED = "Identified"
    # A workaround or fix is being applied; spec.mitigation says what was done.
    MITIGATING = "Mitigating"
    MONITORING = "Monitoring"
    RESOLVED = "Resolved"


class IncidentSource(StrEnum):
    """Who opened the incident."""

    MANUAL = "manual"
    PROMETHEUS = "prometheus"
    ALERTMANAGER = "alertmanager"
    # A PagerDuty incident (its v3 webhook) and the generic JSON webhook (docs/intake.md).
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"


class WorkloadKind(StrEnum):
    DEPLOYMENT = "Deployment"
    STATEFUL_SET = "StatefulSet"
    DAEMON_SET = "DaemonSet"


class WorkloadReference(ApiModel):
    """A workload in the incident's namespace."""

    kind: WorkloadKind
    name: DNSName


class Roles(ApiModel):
    """The runbook's incident roles, by Kubernetes user name."""

    commander: UserName | None = None
    tech_lead: UserName | None = None
    comms_lead: UserName | None = None
    scribe: UserName | None = None


class Triggers(ApiModel):
    """The runbook's "escalate immediately when" conditions, as responders know them."""

    data_loss: bool = False
    security_breach: bool = False
    sla_at_risk: bool = False
    multiple_systems: bool = False
    external_dependency: bool = False


class Triage(ApiModel):
    """The runbook's five triage questions; unanswered until set (P0/P1: within 15 minutes)."""

    affects_production: bool | None = Field(
        default=None, description="Triage question 1: is this affecting production?"
    )
    users_impacted: ShortText | None = Field(
        default=None,
        description="Triage question 2: how many users are impacted (a count or words).",
    )
    agents_impacted: ShortText | None = Field(
        default=None,
        description="Triage question 2: how many agents are impacted (a count or words).",
    )
    data_at_risk: bool | None = Field(
        default=None,
        description="Triage question 3: is data at risk? Yes fires the dataAtRisk escalation "
        "trigger.",
    )
    security_component: bool | None = Field(
        default=None,
        description="Triage question 4: is there a security component? Yes fires the "
        "securityBreach escalation trigger (security breach suspected).",
    )
    business_impact: ShortText | None = Field(
        default=None, description="Triage question 5: what is the business impact?"
    )

    def unanswered(self) -> list[str]:
        """The questions not answered yet, by field name (users or agents answers question 2)."""
        impacted = self.users_impacted if self.users_impacted is not None else self.agents_impacted
        return [
            name
            for name, value in (
                ("affectsProduction", self.affects_production),
                ("usersImpacted", impacted),
                ("dataAtRisk", self.data_at_risk),
                ("securityComponent", self.security_component),
                ("businessImpact", self.business_impact),
            )
            if value is None
        ]


class ResolutionOverride(ApiModel):
    """The commander resolving although pre-resolution items are open, and why."""

    by: UserName = Field(
        description="The incident commander; the admission policy requires it to be the "
        "requesting user and spec.roles.commander."
    )
    reason: Annotated[str, Field(min_length=1, max_length=1024)] = Field(
        description="Why the open items do not block the resolution; goes into the timeline."
    )


class ResolutionSpec(ApiModel):
    """What people say about resolving the incident."""

    override: ResolutionOverride | None = Field(
        default=None,
        description="Resolve with open pre-resolution items (the commander only).",
    )


class StatusUpdate(ApiModel):
    """A status update a responder posts; it resets the communication clock."""

    message: Annotated[str, Field(min_length=1, max_length=8192)]
    author: UserName
    time: Timestamp


class CustomerMessage(ApiModel):
    """A customer message the communications lead (or the commander) published.

    The operator sends each one once to the policy's customer-audience channels. The
    incident-operator-customer-messages admission policy lets only the communications
    lead or the commander append one, as themselves, and nobody change or remove one.
    """

    kind: CustomerMessageKind = Field(
        description="Which of the runbook's customer templates this is: Initial, Progress "
        "or Resolution."
    )
    subject: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="The e-mail subject; the runbook's subject for the kind when unset.",
    )
    text: Annotated[str, Field(min_length=1, max_length=8192)] = Field(
        description="The message as customers read it."
    )
    author: UserName = Field(description="Who published it: the requesting user.")
    time: Timestamp = Field(description="When it was published.")


class RollbackRequest(ApiModel):
    """A rollback a person asks for; the operator proposes, a person approves."""

    target: WorkloadReference
    to_revision: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="The revision to return to; the previous one when omitted."
    )


class ActionItem(ApiModel):
    """A post-mortem action item; its due date follows the runbook's SLA per priority."""

    id: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
    action: Annotated[str, Field(min_length=1, max_length=1024)]
    owner: UserName
    priority: ActionItemPriority
    due_date: CalendarDate | None = Field(
        default=None, description="Overrides the due date computed from the priority's SLA."
    )
    done: bool = False


class PostMortemStatusWord(StrEnum):
    """The post-mortem's status; CamelCase in the API, as the runbook spells it for people."""

    DRAFT = "Draft"
    IN_REVIEW = "InReview"
    FINAL = "Final"

    @property
    def spelled(self) -> str:
        """The runbook's spelling ("In Review"), for every text people read."""
        return "In Review" if self is PostMortemStatusWord.IN_REVIEW else self.value


# One entry of a post-mortem list people fill (a contributing factor, a lesson).
_PostMortemLine = Annotated[str, Field(min_length=1, max_length=1024)]


class LessonsLearned(ApiModel):
    """The post-mortem's Lessons Learned, as the runbook's template splits them."""

    went_well: Annotated[list[_PostMortemLine], Field(max_length=50)] = Field(
        default=[], description="What Went Well."
    )
    could_be_improved: Annotated[list[_PostMortemLine], Field(max_length=50)] = Field(
        default=[], description="What Could Be Improved."
    )


class PostMortemSpec(ApiModel):
    """What people write about the post-mortem; the operator drafts the rest.

    Fields left unset keep the runbook template's placeholders in the draft.
    """

    status: PostMortemStatusWord = PostMortemStatusWord.DRAFT
    owner: UserName | None = Field(
        default=None,
        description="Who owns the post-mortem; required before a post-mortem-required "
        "incident can be Closed.",
    )
    authors: Annotated[list[UserName], Field(max_length=20)] = Field(
        default=[],
        description="The draft's Authors; unset: the owner, the commander and the scribe.",
    )
    scheduled_at: Timestamp | None = None
    root_cause: LongText | None = None
    contributing_factors: Annotated[list[_PostMortemLine], Field(max_length=50)] = []
    lessons_learned: LessonsLearned = LessonsLearned()
    users_affected: LongText | None = Field(
        default=None, description="Users Affected (number/percentage); unset: spec.impact."
    )
    revenue_impact: LongText | None = None
    data_loss: LongText | None = Field(
        default=None,
        description="Data loss details; whether there was any is spec.triggers.dataLoss.",
    )
    document_url: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, description="Where the post-mortem document lives once it moves on."
    )


class ResponderChecklist(ApiModel):
    """The runbook's checklist items only people can tick; the operator ticks the rest."""

    root_cause_identified: bool = False
    fix_verified: bool = False
    systems_recovered: bool = False
    metrics_normal: bool = Field(
        default=False, description="Counts only when detection does not watch the incident."
    )
    customer_communication_sent: bool = Field(
        default=False, description="For a customer message sent outside the operator."
    )
    # The runbook's Pre-Resolution Verification: needed before state Resolved takes effect.
    root_cause_documented: bool = False
    fix_in_production: bool = Field(
        default=False, description="Also ticked by the operator when a rollback Succeeded."
    )
    normal_metrics: bool = Field(
        default=False, description="Counts only when detection does not watch the incident."
    )
    error_rates_at_baseline: bool = Field(
        default=False, description="Counts only when detection does not watch the incident."
    )
    no_new_alerts: bool = Field(
        default=False, description="Counts only when detection does not watch the incident."
    )
    manual_verification: bool = False
    customer_impact_resolved: bool = False
    lessons_learned: bool = False
    runbooks_updated: bool = False


_ROLLBACK_TARGET = "rollback.target must be one of the affected workloads"
_MITIGATION_REQUIRED = "mitigation is required when state is Mitigating (what was done)"


# ``kubectl explain incident.spec.severity``: the runbook's definitions and examples.
SEVERITY_DESCRIPTION = "The runbook's severity levels:\n" + "\n".join(
    describe(severity) for severity in Severity
)


class IncidentSpec(ApiModel):
    """What responders (or the operator, when detection opens one) say about the incident."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.rollback) || (has(self.affected) && self.affected.exists(w, "
                    "w.kind == self.rollback.target.kind && w.name == self.rollback.target.name))",
                    _ROLLBACK_TARGET,
                    ".rollback.target",
                ),
                cel(
                    "self.state != 'Mitigating' || (has(self.mitigation) && "
                    "size(self.mitigation) > 0)",
                    _MITIGATION_REQUIRED,
                    ".mitigation",
                ),
            ]
        }
    )

    title: Annotated[str, Field(min_length=1, max_length=200)]
    severity: Severity = Field(description=SEVERITY_DESCRIPTION)
    summary: LongText = ""
    impact: LongText = ""
    state: IncidentState = Field(
        default=IncidentState.INVESTIGATING,
        description="The runbook's status word. Resolved takes effect once the pre-resolution "
        "verification is done (or the commander overrides it in resolution.override).",
    )
    mitigation: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None,
        description="What was done to mitigate (the workaround in place); required with "
        "state Mitigating, recorded in the timeline.",
    )
    triage: Triage | None = Field(
        default=None,
        description="The runbook's five triage questions (kubectl incident triage).",
    )
    resolution: ResolutionSpec | None = Field(
        default=None,
        description="The commander's override of the pre-resolution verification.",
    )
    source: Annotated[
        IncidentSource,
        Field(
            json_schema_extra={
                "x-kubernetes-validations": [
                    cel("self == oldSelf", "source is immutable once the incident exists")
                ]
            }
        ),
    ] = IncidentSource.MANUAL
    affected: Annotated[
        list[WorkloadReference],
        Field(
            max_length=50,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["kind", "name"],
            },
        ),
        unique_by("kind", "name"),
    ] = []
    policy_ref: LocalObjectReference | None = None
    roles: Roles = Roles()
    triggers: Triggers = Triggers()
    updates: Annotated[list[StatusUpdate], Field(max_length=500)] = []
    customer_messages: Annotated[list[CustomerMessage], Field(max_length=100)] = Field(
        default=[],
        description="Customer messages as published (kubectl incident publish), oldest first; "
        "internal updates are never sent to customers.",
    )
    rollback: RollbackRequest | None = None
    action_items: Annotated[
        list[ActionItem],
        Field(
            max_length=100,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["id"],
            },
        ),
        unique_by("id"),
    ] = []
    post_mortem: PostMortemSpec | None = None
    checklist: ResponderChecklist = ResponderChecklist()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.rollback is not None and self.rollback.target not in self.affected:
            raise ValueError(_ROLLBACK_TARGET)
        if self.state is IncidentState.MITIGATING and not self.mitigation:
            raise ValueError(_MITIGATION_REQUIRED)
        return self


class RollbackPhase(StrEnum):
    """Where a rollback is; status.rollback, written only by the operator's rollback part."""

    # Planned and shown (revisions, diff); waits for a member of the approver group.
    PROPOSED = "Proposed"
    # Approved (status.rollback.approvedBy); the attempt is not marked yet.
    APPROVED = "Approved"
    # Marked before the workload is patched; after a restart the workload's actual
    # template tells whether the patch happened, so it is neither repeated nor lost.
    IN_PROGRESS = "InProgress"
    # Patched; waiting for the rollout to complete, then watching detection for the
    # monitoring window.
    VERIFYING = "Verifying"
    # Rolled back, rolled out, and (when detection watches the incident) recovered for
    # the whole monitoring window.
    SUCCEEDED = "Succeeded"
    # Rolled back without the hoped-for effect (rollout failed, no recovery), or the
    # patch was rejected: an escalation trigger. ``reason`` says which.
    FAILED = "Failed"
    # Not done, and nothing changed: GitOps-managed, paused, already at the target, the
    # revision is gone, the workload changed. ``reason`` says which, ``message`` what to do.
    REFUSED = "Refused"

    @property
    def executing(self) -> bool:
        """Approved and not finished: the plan is frozen, approvals no longer apply."""
        return self in (RollbackPhase.APPROVED, RollbackPhase.IN_PROGRESS, RollbackPhase.VERIFYING)


class RollbackSource(StrEnum):
    # The affected workload had a new revision within the policy's window before detection.
    RECENT_REVISION = "RecentRevision"
    # A person asked in spec.rollback.
    REQUESTED = "Requested"
    # A revision rolled out after detection (a fix attempt) met one of the runbook's
    # "When to Rollback" criteria (status.rollback.criterion); back to the revision before it.
    FIX_ATTEMPT = "FixAttempt"


_Digest = Annotated[str, Field(max_length=64)]


class RollbackStatus(ApiModel):
    """One rollback: its plan, who approved it, and how its execution went."""

    phase: RollbackPhase
    # A CamelCase reason for the phase (domain.reasons.Reason), e.g. GitOpsManaged.
    reason: Reason | None = None
    message: Annotated[str, Field(max_length=1024)] | None = None
    source: RollbackSource = RollbackSource.REQUESTED
    criterion: FixCriterion | None = Field(
        default=None,
        description="FixAttempt proposals: the runbook criterion that fired (NewIssues, "
        "WiderImpact, NotResolved, TimeExceeded).",
    )
    evidence: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None,
        description="FixAttempt proposals: what showed the criterion (rule, values, times).",
    )
    target: WorkloadReference
    # spec.rollback as it was when planned, so a changed request is told from a handled one.
    requested: RollbackRequest | None = None
    # Who may approve: the governing policy's group. The admission policy reads it here.
    approver_group: Annotated[str, Field(min_length=1, max_length=256)] = "incident-approvers"
    current_revision: int | None = None
    current_revision_at: datetime | None = Field(
        default=None, description="When the current revision rolled out."
    )
    # Digests of the pod templates (without pod-template-hash), to recognise them later.
    current_digest: _Digest | None = None
    target_revision: int | None = None
    target_digest: _Digest | None = None
    proposal: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="The proposal's identifier: a digest of the target, the current and "
        "target revisions and their templates. An approval names it in the annotation "
        "sre.agentos.io/approve-rollback-proposal and applies only while it is current.",
    )
    diff: Annotated[str, Field(max_length=16384)] | None = None
    proposed_at: datetime | None = None
    approved_by: ShortText | None = None
    approved_at: datetime | None = None
    attempt: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="The execution attempt, marked before the patch."
    )
    started_at: datetime | None = None
    patched_at: datetime | None = Field(
        default=None, description="When the workload was found rolled back (the patch done)."
    )
    rollout_deadline: datetime | None = None
    rolled_out_at: datetime | None = None
    verify_until: datetime | None = Field(
        default=None, description="The end of the monitoring window after the rollout."
    )
    recovered_at: datetime | None = None
    completed_at: datetime | None = None


class FixAttemptStatus(ApiModel):
    """A revision of an affected workload rolled out after detection, as first seen."""

    target: WorkloadReference
    revision: int = Field(description="The revision the fix attempt rolled out.")
    rolled_out_at: datetime = Field(description="When the fix attempt's revision rolled out.")
    digest: Annotated[str, Field(max_length=64)] = Field(
        description="Digest of the fix attempt's pod template (without pod-template-hash)."
    )
    # "rule Kind/name": a rule and a workload name of up to 253 characters each.
    breaching_before: Annotated[
        list[Annotated[str, Field(max_length=600)]], Field(max_length=200)
    ] = Field(
        default=[],
        description="The breaching rule/workload pairs (status.metrics) when the fix was "
        "first seen: the baseline of the WiderImpact criterion.",
    )


class PostMortemStatus(ApiModel):
    schedule_due_at: datetime | None = None
    complete_due_at: datetime | None = None
    # The ConfigMap holding the generated draft (key postmortem.md).
    config_map: DNSName | None = None
    # A digest of the draft last written there, so it is rewritten only when it changes.
    draft_digest: Annotated[str, Field(max_length=64)] | None = None


class DetectionStatus(ApiModel):
    """What detection observed for the incident it opened; written only by detection.

    The lifecycle reads it (``breaching``, ``recoveredAt``) to move the incident to
    Monitoring, back to Investigating on a regression, or to Resolved after the
    monitoring window.
    """

    fingerprint: Annotated[str, Field(max_length=128)]
    # The policy and rule (prometheus), or the receiver and alert name (alertmanager).
    policy: Annotated[str, Field(max_length=253)]
    rule: Annotated[str, Field(max_length=253)]
    workload: WorkloadReference | None = None
    level: Level
    value: float | None = None
    threshold: float | None = None
    breaching: bool
    breach_started_at: datetime | None = None
    recovered_at: datetime | None = None
    last_evaluated_at: datetime


# The most signals one incident holds (spec.grouping.maxSignals is at most this).
SIGNAL_LIMIT = 200


class SignalStatus(DetectionStatus):
    """One signal of the incident: a rule on a workload, an alert, a PagerDuty incident.

    The first is the one that opened the incident; grouping (``spec.grouping`` of the
    policy) adds the others. ``status.detection`` is their aggregate
    (``domain.grouping.aggregate``): breaching while any breaches, recovered once all have.
    """

    id: Annotated[str, Field(pattern=r"^s[0-9]{1,4}$")] = Field(
        description="s1, s2, ... in the order they joined; never reused in the incident."
    )
    source: IncidentSource
    severity: Severity = Field(description="The severity this signal alone would open at.")
    first_seen: datetime = Field(description="When it joined (or opened) the incident.")
    # Where the signal came from before a split or merge moved it here (an incident name).
    moved_from: DNSName | None = None


class MetricReading(ApiModel):
    """The current value of one rule for one affected workload, refreshed every cycle."""

    rule: Annotated[str, Field(max_length=253)]
    workload: WorkloadReference
    level: Level
    value: float | None = None
    warning: float | None = None
    critical: float | None = None
    at: datetime


class ChecklistItemStatus(ApiModel):
    checklist: ChecklistName
    key: Annotated[str, Field(max_length=64)]
    text: Annotated[str, Field(max_length=128)]
    done: bool
    ticked_by: TickedBy
    required: bool


class ResolutionStatus(ApiModel):
    """The pre-resolution gate: what holds a Resolved state word back, or who overrode it."""

    open_items: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=16)] = Field(
        default=[],
        description="The pre-resolution items (spec.checklist keys) open when people set "
        "Resolved: while held, or as overridden.",
    )
    overridden_by: ShortText | None = Field(
        default=None, description="The commander who resolved with the items open."
    )
    override_reason: Annotated[str, Field(max_length=1024)] | None = None
    overridden_at: datetime | None = None


class ActionItemStatus(ApiModel):
    id: Annotated[str, Field(max_length=32)]
    # Set when the item is first seen, from its priority's SLA (None: the backlog).
    due_at: datetime | None = None
    done: bool = False
    overdue: bool = False


class Recorded(ApiModel):
    """What the timeline already says about the spec, so each change is told once."""

    severity: Severity | None = None
    state: IncidentState | None = None
    roles: Roles = Roles()
    update_count: int = 0
    acknowledged_by: Annotated[str, Field(max_length=256)] | None = None
    breaching: bool | None = None
    post_mortem_status: PostMortemStatusWord | None = None
    triage: Triage | None = None
    mitigation: Annotated[str, Field(max_length=1024)] | None = None
    signals: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="The highest signal number (s3 -> 3) the timeline told of as joined.",
    )
    chat_log: SlackTs | None = Field(
        default=None,
        description="The ts of the last line of status.chat.log the timeline told of "
        "(ChatLogged); the lines after it are new.",
    )


class IncidentStatus(ApiModel):
    """Written only by the operator."""

    id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="INC-0001 style, unique in the namespace, never reused."
    )
    phase: Phase | None = None
    observed_generation: int | None = None
    conditions: Annotated[
        list[Condition],
        Field(
            max_length=32,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        ),
    ] = []
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    next_update_due_at: datetime | None = None
    communication: CommunicationStatus | None = Field(
        default=None,
        description="Customer communication: the next message's draft and when it is due.",
    )
    triage_due_at: datetime | None = Field(
        default=None, description="When the triage questions are due (P0/P1: 15 minutes)."
    )
    triaged_at: datetime | None = Field(
        default=None, description="When every triage question was first answered."
    )
    resolution: ResolutionStatus | None = Field(
        default=None,
        description="The pre-resolution gate: what holds a Resolved back, or its override.",
    )
    escalation: EscalationStatus | None = None
    # Delivery records of notifications, written by escalation only.
    notifications: Annotated[list[NotificationRecord], Field(max_length=NOTIFICATION_LIMIT)] = []
    timeline: Annotated[list[TimelineEntry], Field(max_length=TIMELINE_LIMIT)] = []
    rollback: RollbackStatus | None = None
    fix_attempt: FixAttemptStatus | None = Field(
        default=None,
        description="The latest fix attempt (a revision rolled out after detection) the "
        "rollback proposal watches.",
    )
    remediations: Annotated[
        list[RemediationRecord],
        Field(
            max_length=RECORD_LIMIT,
            description="Requested remediations (`kubectl incident remediate`), oldest first.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["id"],
            },
        ),
    ] = []
    post_mortem: PostMortemStatus | None = None
    detection: DetectionStatus | None = None
    signals: Annotated[
        list[SignalStatus],
        Field(
            max_length=SIGNAL_LIMIT,
            description="Every signal of the incident, the one that opened it first.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["id"],
            },
        ),
    ] = []
    merged_into: DNSName | None = Field(
        default=None,
        description="The incident this one was merged into (`kubectl incident merge`).",
    )
    merged_from: Annotated[list[DNSName], Field(max_length=50)] = Field(
        default=[], description="Incidents merged into this one."
    )
    split_from: DNSName | None = Field(
        default=None,
        description="The incident a signal was split out of to open this one.",
    )
    metrics: Annotated[list[MetricReading], Field(max_length=200)] = []
    checklist: Annotated[list[ChecklistItemStatus], Field(max_length=32)] = []
    action_items: Annotated[list[ActionItemStatus], Field(max_length=100)] = []
    recorded: Recorded = Recorded()
    chat: ChatStatus | None = Field(
        default=None,
        description="Chat-ops through the operator's Slack app: the incident's channel, the "
        "messages kept updated, lines logged from chat (docs/chat-ops.md).",
    )


class Incident(ApiModel):
    """An incident as the API server stores it."""

    api_version: Literal["sre.agentos.io/v1alpha1"] = "sre.agentos.io/v1alpha1"
    kind: Literal["Incident"] = "Incident"
    metadata: ObjectMeta = ObjectMeta()
    spec: IncidentSpec
    status: IncidentStatus = IncidentStatus()
