"""What an incident's rollback (status.rollback) should be, given what was observed.

``decide_rollback`` makes one decision from the incident, its governing policy, the
workloads read for it and the clock: the next status.rollback, the timeline entries that
go with it, and at most one action (remove the approval annotation, patch the
workload). The incident pipeline (runtime/incidents.py) writes it, performs the action
and decides again from the result, so every write
is made from the state it was decided on and each step is recorded before the next::

    (none) --plan--> Proposed --approval--> Approved --mark--> InProgress --patch-->
           \\           |  \\_ workload changed: re-planned, or withdrawn
            \\          \\__ no approval needed for the severity: Approved at once
             `-> Refused (GitOps-managed, paused, already at target, no such revision)

    Verifying --rollout complete--> (detection recovers) --window ends--> Succeeded
        \\__ rollout failed / no recovery / regression --> Failed (an escalation trigger)

Until a person approves, the plan is recomputed from the workload every time, so a
proposal always describes the workload as it is; an approval then freezes it. An
approval is the annotation ``sre.agentos.io/approve-rollback: <user>`` (the admission
policy makes sure it is the requester's own name and that they are in the approver
group published in ``status.rollback.approverGroup``), together with
``sre.agentos.io/approve-rollback-proposal: <status.rollback.proposal>``, which binds it
to the proposal the person saw: an approval naming another proposal, or none, does
nothing and says why. The operator removes both once it has recorded what it made of
them, so an approval never carries over to a later proposal.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from incident_operator.api.annotations import (  # re-exported: defined with the other annotations
    APPROVE_ROLLBACK as APPROVE_ROLLBACK,
)
from incident_operator.api.annotations import (
    APPROVE_ROLLBACK_PROPOSAL as APPROVE_ROLLBACK_PROPOSAL,
)
from incident_operator.api.escalation_policy import EscalationPolicy, RollbackSettings
from incident_operator.api.incident import (
    FixAttemptStatus,
    Incident,
    IncidentStatus,
    RollbackPhase,
    RollbackSource,
    RollbackStatus,
    WorkloadReference,
)
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.durations import format_duration, parse_duration
from incident_operator.domain.reasons import EntryType, Reason
from incident_operator.domain.rollback_gitops import gitops_owner, refusal_message
from incident_operator.domain.rollback_plan import (
    Plan,
    Refusal,
    Revision,
    Workload,
    WorkloadPatch,
    current_revision,
    plan_rollback,
    rollback_patch,
    template_digest,
)
from incident_operator.domain.rollback_proposal import proposal_id
from incident_operator.domain.rollback_state import (
    TAKEOVER_AFTER,
    DetectionView,
    ExecutionStep,
    RolloutState,
    VerificationStep,
    execution_step,
    rollout_progress,
    verification_step,
)
from incident_operator.domain.timeline import Entry
from incident_operator.reconcile.fix_rollback import (
    FixAttempt,
    judge_fix_attempt,
    latest_fix_attempt,
)
from incident_operator.reconcile.governing_policy import monitoring_window

OPERATOR = "incident-operator"
# How often an open proposal is checked against its workload, which sends no events.
RECHECK_OPEN = timedelta(seconds=10)
# How often a rolling-out workload is looked at.
ROLLOUT_POLL = timedelta(seconds=1)
# The runbook's "When to Rollback" wording for an escalation trigger.
DOES_NOT_RESOLVE = "fix does not resolve the original problem"

WorkloadKey = tuple[str, str]


def key_of(reference: WorkloadReference) -> WorkloadKey:
    return (reference.kind.value, reference.name)


def _ref(reference: WorkloadReference) -> str:
    return f"{reference.kind.value}/{reference.name}"


@dataclass(frozen=True)
class Approval:
    user: str
    # The approve-rollback-proposal annotation as written (the proposal approved), or None.
    proposal: str | None


def approval_of(incident: Incident) -> Approval | None:
    annotations = incident.metadata.annotations
    user = annotations.get(APPROVE_ROLLBACK)
    if not user:
        return None
    return Approval(user, annotations.get(APPROVE_ROLLBACK_PROPOSAL))


@dataclass(frozen=True)
class Observe:
    """A workload the decision needs; ``history`` when its revisions are needed too."""

    reference: WorkloadReference
    history: bool


@dataclass(frozen=True)
class RollbackInputs:
    incident: Incident
    policy: EscalationPolicy | None
    # What was read: a key with None is a workload that does not exist; a missing key
    # one that was not read.
    workloads: Mapping[WorkloadKey, Workload | None]
    now: datetime
    # The id a new attempt gets.
    attempt_id: str
    # Attempts this process started or took over.
    own_attempts: frozenset[str] = frozenset()
    # The API server's answer when the last patch was rejected (not a conflict).
    patch_error: str | None = None
    # The workload was patched by this process just before this decision.
    patched_now: bool = False


@dataclass(frozen=True)
class RollbackDecision:
    rollback: RollbackStatus | None
    entries: tuple[Entry, ...]
    # Approval annotations to remove before anything else: judged and ignored, or
    # already recorded in status.rollback.
    remove_approval: Approval | None
    patch: WorkloadPatch | None
    wake_at: datetime | None
    # Automatic planning ran on every candidate and found nothing to propose.
    nothing_to_propose: bool
    # status.fixAttempt: the latest fix attempt seen (as it was when nothing new).
    fix_attempt: FixAttemptStatus | None


@dataclass
class _Draft:
    rollback: RollbackStatus | None
    now: datetime
    entries: list[Entry] = field(default_factory=list)
    remove_approval: Approval | None = None
    patch: WorkloadPatch | None = None
    wake_at: datetime | None = None
    nothing_to_propose: bool = False
    fix_attempt: FixAttemptStatus | None = None

    def record(self, kind: EntryType, actor: str, message: str) -> None:
        self.entries.append(Entry(self.now, kind, actor, message))

    def wake(self, at: datetime) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)

    def rb(self) -> RollbackStatus:
        assert self.rollback is not None
        return self.rollback

    def finish(self, phase: RollbackPhase, reason: Reason, message: str, kind: EntryType) -> None:
        rollback = self.rb()
        rollback.phase, rollback.reason, rollback.message = phase, reason, message
        rollback.completed_at = self.now
        self.record(kind, OPERATOR, message)


def settings_of(policy: EscalationPolicy | None) -> RollbackSettings:
    return policy.spec.rollback if policy is not None else RollbackSettings()


# ------------------------------------------------------------------ what to read


def _is_open(rollback: RollbackStatus | None) -> bool:
    """No approval applies yet: the plan follows the workload."""
    return rollback is None or (
        rollback.approved_by is None
        and rollback.phase in (RollbackPhase.PROPOSED, RollbackPhase.REFUSED)
    )


def _new_request(incident: Incident) -> bool:
    request, rollback = incident.spec.rollback, incident.status.rollback
    return request is not None and (rollback is None or rollback.requested != request)


def _may_plan(incident: Incident) -> bool:
    status = incident.status
    return status.phase is not None and status.phase.is_active and status.detected_at is not None


def _planning(incident: Incident) -> bool:
    rollback = incident.status.rollback
    if rollback is not None and rollback.phase.executing:
        return False
    return _may_plan(incident) and (_is_open(rollback) or _new_request(incident))


def _candidates(incident: Incident) -> list[WorkloadReference]:
    """Affected workloads, and the one detection measured, in that order."""
    found = list(incident.spec.affected)
    detection = incident.status.detection
    measured = detection.workload if detection is not None else None
    if measured is not None and key_of(measured) not in {key_of(w) for w in found}:
        found.append(measured)
    return found


def workloads_to_observe(incident: Incident, automatic: bool = True) -> list[Observe]:
    """The workloads ``decide_rollback`` needs read for this incident.

    ``automatic=False`` skips the automatic proposal's candidates when the caller knows
    they had nothing to propose at this generation (none of them existed; a workload
    that exists is read on every pass, as a fix attempt may be rolled out to it at any
    time after detection).
    """
    rollback = incident.status.rollback
    if rollback is not None and rollback.phase.executing:
        if rollback.phase is RollbackPhase.VERIFYING:
            return [] if rollback.rolled_out_at else [Observe(rollback.target, history=False)]
        return [Observe(rollback.target, history=True)]
    if not _planning(incident):
        return []
    if incident.spec.rollback is not None:
        return [Observe(incident.spec.rollback.target, history=True)]
    if rollback is None and not automatic:
        return []
    return [Observe(reference, history=True) for reference in _candidates(incident)]


# ------------------------------------------------------------------ planning


def paused_refusal(
    workload: Workload, afterwards: str = "the rollback is proposed again"
) -> Refusal | None:
    """A paused Deployment would not roll a rollback out (rolloutUndo remediations too)."""
    if workload.paused:
        return Refusal(
            Reason.PAUSED,
            f"{workload.reference} is paused, so a rollback would not roll out; resume it "
            f"(kubectl rollout resume deployment/{workload.name}) and {afterwards}",
        )
    return None


def _blocked(workload: Workload, settings: RollbackSettings) -> Refusal | None:
    """Why the workload must not be rolled back now, whatever the plan."""
    paused = paused_refusal(workload)
    if paused is not None:
        return paused
    owner = gitops_owner(workload.labels, workload.annotations)
    if owner is not None and not settings.allow_git_ops_managed:
        return Refusal(Reason.GITOPS_MANAGED, refusal_message(workload.reference, owner))
    return None


def _summary(rollback: RollbackStatus) -> str:
    current = rollback.current_revision
    start = f"revision {current}" if current is not None else "its current template"
    return f"{_ref(rollback.target)} from {start} to revision {rollback.target_revision}"


def _diff_headline(diff: str | None, lines: int = 3) -> str:
    shown = (diff or "").splitlines()
    text = "; ".join(shown[:lines])
    return text + ("; ..." if len(shown) > lines else "")


def _planned(
    workload: Workload,
    to_revision: int | None,
    source: RollbackSource,
    incident: Incident,
    settings: RollbackSettings,
    plan: Plan | Refusal | None = None,
) -> RollbackStatus:
    request = incident.spec.rollback if source is RollbackSource.REQUESTED else None
    base: dict[str, Any] = {
        "target": WorkloadReference.model_validate({"kind": workload.kind, "name": workload.name}),
        "source": source,
        "requested": request.model_copy(deep=True) if request else None,
        "approver_group": settings.approver_group,
    }
    plan = plan if plan is not None else plan_rollback(workload, to_revision)
    if isinstance(plan, Refusal):
        return RollbackStatus(
            phase=RollbackPhase.REFUSED, reason=plan.reason, message=plan.message, **base
        )
    base |= {
        "current_revision": plan.current.number if plan.current else None,
        "current_revision_at": plan.current.rolled_out_at if plan.current else None,
        "current_digest": plan.current_digest,
        "target_revision": plan.target.number,
        "target_digest": template_digest(plan.target.template),
        "diff": plan.diff,
        "proposal": proposal_id(
            workload.kind,
            workload.name,
            plan.current.number if plan.current else None,
            plan.current_digest,
            plan.target.number,
            template_digest(plan.target.template),
        ),
    }
    blocked = _blocked(workload, settings)
    if blocked is not None:
        return RollbackStatus(
            phase=RollbackPhase.REFUSED, reason=blocked.reason, message=blocked.message, **base
        )
    proposal = RollbackStatus(phase=RollbackPhase.PROPOSED, reason=Reason.ROLLBACK_PROPOSED, **base)
    label = incident.status.id or incident.metadata.name
    proposal.message = (
        f"proposed: roll back {_summary(proposal)}; a member of {settings.approver_group} "
        f"approves with `kubectl incident approve-rollback {label}`"
    )
    return proposal


_UNOBSERVED = object()


def _fix_proposal(
    inputs: RollbackInputs, settings: RollbackSettings, attempt: FixAttempt
) -> RollbackStatus | None:
    """Rolling a fix attempt back, when one of the runbook's criteria holds for it."""
    findings, _ = judge_fix_attempt(inputs.incident, inputs.policy, attempt, inputs.now)
    if not findings:
        return None
    # The criterion already proposed for this fix stays named while it holds, so a second
    # criterion coming true does not turn the same proposal into a new one.
    old = inputs.incident.status.rollback
    same_fix = old is not None and old.current_digest == attempt.record.digest
    kept = old.criterion if old is not None and same_fix else None
    finding = next((f for f in findings if f.criterion == kept), findings[0])
    source, incident = RollbackSource.FIX_ATTEMPT, inputs.incident
    proposal = _planned(attempt.workload, attempt.before.number, source, incident, settings)
    proposal.criterion, proposal.evidence = finding.criterion, finding.evidence[:1024]
    return proposal


def _plan(
    inputs: RollbackInputs, settings: RollbackSettings, attempt: FixAttempt | None = None
) -> RollbackStatus | object | None:
    """The desired open rollback; ``_UNOBSERVED`` when a needed workload was not read.

    Automatic: a revision rolled out shortly before detection, else ``attempt`` (a fix
    rolled out after detection) when a rollback criterion holds for it."""
    incident = inputs.incident
    request = incident.spec.rollback
    if request is not None:
        key = key_of(request.target)
        if key not in inputs.workloads:
            return _UNOBSERVED
        workload = inputs.workloads[key]
        if workload is None:
            return RollbackStatus(
                phase=RollbackPhase.REFUSED,
                reason=Reason.WORKLOAD_NOT_FOUND,
                message=f"{_ref(request.target)} does not exist in namespace "
                f"{incident.metadata.namespace}",
                source=RollbackSource.REQUESTED,
                target=request.target,
                requested=request.model_copy(deep=True),
                approver_group=settings.approver_group,
            )
        return _planned(workload, request.to_revision, RollbackSource.REQUESTED, incident, settings)
    detected_at = incident.status.detected_at
    assert detected_at is not None
    window = parse_duration(settings.proposal_window)
    best: tuple[Revision, Workload, Plan] | None = None
    for reference in _candidates(incident):
        key = key_of(reference)
        if key not in inputs.workloads:
            return _UNOBSERVED
        workload = inputs.workloads[key]
        current = current_revision(workload) if workload is not None else None
        if workload is None or current is None or current.rolled_out_at is None:
            continue
        if not detected_at - window <= current.rolled_out_at <= detected_at:
            continue
        plan = plan_rollback(workload, None)
        if isinstance(plan, Refusal):
            continue
        assert current.rolled_out_at is not None
        if best is None or (best[0].rolled_out_at or detected_at) < current.rolled_out_at:
            best = (current, workload, plan)
    if best is None:
        return _fix_proposal(inputs, settings, attempt) if attempt is not None else None
    _, workload, plan = best
    return _planned(workload, None, RollbackSource.RECENT_REVISION, incident, settings, plan)


_PLAN_FIELDS = (
    "phase",
    "target",
    "requested",
    "approver_group",
    "source",
    "criterion",
    "current_revision",
    "current_digest",
    "target_revision",
    "target_digest",
    # Derived from the fields above; listed so a proposal stored before identifiers
    # existed gets one on its next re-plan.
    "proposal",
)


def _same_plan(old: RollbackStatus | None, new: RollbackStatus | None) -> bool:
    if old is None or new is None:
        return old is new
    if any(getattr(old, name) != getattr(new, name) for name in _PLAN_FIELDS):
        return False
    # A refusal for another reason is a new refusal; a proposal keeps its message
    # (which may say that an approval was ignored).
    return new.phase is not RollbackPhase.REFUSED or old.reason == new.reason


def _watch_fix(draft: _Draft, inputs: RollbackInputs) -> FixAttempt | None:
    """The latest fix attempt, recorded in draft.fix_attempt; wakes for its time criteria."""
    incident = inputs.incident
    candidates = _candidates(incident)
    if incident.spec.rollback is not None or any(
        key_of(reference) not in inputs.workloads for reference in candidates
    ):
        return None
    attempt = latest_fix_attempt(incident, inputs.workloads, candidates)
    if attempt is None:
        return None
    draft.fix_attempt = attempt.record
    _, wake = judge_fix_attempt(incident, inputs.policy, attempt, draft.now)
    if wake is not None:
        draft.wake(wake)
    return attempt


def _replan(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    attempt = _watch_fix(draft, inputs)
    planned = _plan(inputs, settings, attempt)
    if planned is _UNOBSERVED:
        return
    new = planned if isinstance(planned, RollbackStatus) else None
    if new is None and inputs.incident.spec.rollback is None:
        # Nothing to propose now: every candidate's current revision is known (a template
        # the controller has not recorded yet may still turn out to be a recent revision)
        # and no fix attempt is being judged. A fix rolled out later is found when the
        # caller reads the workloads again (runtime/incidents.py re-reads them every
        # WORKLOADS_RECHECKED_EVERY even then).
        draft.nothing_to_propose = attempt is None and all(
            workload is None or current_revision(workload) is not None
            for workload in inputs.workloads.values()
        )
    old = draft.rollback
    if _same_plan(old if _is_open(old) else None, new):
        return
    draft.rollback = new
    if new is None:
        assert old is not None
        why = (
            f"no rollback criterion holds for its fix attempt any more (was {old.criterion})"
            if old.source is RollbackSource.FIX_ATTEMPT
            else "its current revision is no longer one rolled out shortly before detection"
        )
        draft.record(
            EntryType.PROPOSAL_WITHDRAWN,
            OPERATOR,
            f"rollback of {_ref(old.target)} no longer proposed: {why} (ask with spec.rollback)",
        )
    elif new.phase is RollbackPhase.PROPOSED:
        new.proposed_at = draft.now
        because = (
            f" (fix attempt, {new.criterion}: {new.evidence})" if new.criterion is not None else ""
        )
        draft.record(
            EntryType.ROLLBACK_PROPOSED,
            OPERATOR,
            f"proposed rolling back {_summary(new)}{because}: {_diff_headline(new.diff)}",
        )
    else:
        draft.record(EntryType.ROLLBACK_REFUSED, OPERATOR, new.message or "rollback refused")


def _judge_approval(draft: _Draft, approval: Approval) -> None:
    rollback = draft.rollback
    reason = Reason.APPROVAL_IGNORED
    if rollback is None:
        why = "no rollback is proposed for this incident"
    elif rollback.phase is RollbackPhase.REFUSED:
        why = f"the rollback is refused ({rollback.reason}): {rollback.message}"
    elif rollback.phase is not RollbackPhase.PROPOSED:
        why = f"the rollback is already {rollback.phase.value}; there is nothing to approve"
    elif approval.proposal is None:
        why = (
            f"it names no proposal ({APPROVE_ROLLBACK_PROPOSAL} is missing); approve with "
            "`kubectl incident approve-rollback`, or set it to status.rollback.proposal "
            f"({rollback.proposal})"
        )
    elif approval.proposal != rollback.proposal:
        reason = Reason.APPROVAL_MISMATCH
        why = (
            f"it approves proposal {approval.proposal}, but the current proposal is "
            f"{rollback.proposal} (roll back {_summary(rollback)}); look at it again and "
            "approve the current proposal"
        )
    else:
        rollback.phase = RollbackPhase.APPROVED
        rollback.approved_by, rollback.approved_at = approval.user, draft.now
        rollback.reason = Reason.ROLLBACK_IN_PROGRESS
        rollback.message = f"approved by {approval.user}: rolling back {_summary(rollback)}"
        # Its annotations are cleared by the next decision, once this one is written.
        draft.record(
            EntryType.ROLLBACK_APPROVED,
            approval.user,
            f"rollback of {_summary(rollback)} approved by {approval.user}",
        )
        return
    draft.remove_approval = approval
    message = f"approval by {approval.user} ignored: {why}"
    if rollback is not None and rollback.phase is RollbackPhase.PROPOSED:
        rollback.reason, rollback.message = reason, message[:1024]
    draft.record(EntryType.APPROVAL_IGNORED, approval.user, message)


def _approve_by_policy(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    rollback, severity = draft.rollback, inputs.incident.spec.severity
    if rollback is None or rollback.phase is not RollbackPhase.PROPOSED:
        return
    if severity not in settings.approval_not_required_for:
        return
    policy = inputs.policy.metadata.name if inputs.policy else "?"
    rollback.phase = RollbackPhase.APPROVED
    rollback.approved_by, rollback.approved_at = OPERATOR, draft.now
    rollback.reason = Reason.ROLLBACK_IN_PROGRESS
    rollback.message = f"approved by policy {policy} ({severity.value} needs no approval)"
    draft.record(
        EntryType.ROLLBACK_APPROVED,
        OPERATOR,
        f"rollback of {_summary(rollback)} approved without a person: policy {policy} "
        f"requires no approval for {severity.value}",
    )


def _open_phase(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    incident = inputs.incident
    finished = draft.rollback
    if incident.spec.rollback is None and finished is not None and not _is_open(finished):
        # The request it answered is gone: the same request made again is a new one.
        finished.requested = None
    if _planning(incident):
        _replan(draft, inputs, settings)
    elif (
        draft.rollback is not None
        and draft.rollback.phase is RollbackPhase.PROPOSED
        and incident.status.phase is not None
        and not incident.status.phase.is_active
    ):
        draft.finish(
            RollbackPhase.REFUSED,
            Reason.INCIDENT_NOT_ACTIVE,
            f"proposal withdrawn: the incident is {incident.status.phase.value}",
            EntryType.ROLLBACK_REFUSED,
        )
    approval = approval_of(incident)
    if approval is not None:
        _judge_approval(draft, approval)
    _approve_by_policy(draft, inputs, settings)
    if draft.rollback is not None and draft.rollback.phase is RollbackPhase.APPROVED:
        _start(draft, inputs, settings)
    if _is_open(draft.rollback) and draft.rollback is not None and _may_plan(incident):
        draft.wake(draft.now + RECHECK_OPEN)


# ------------------------------------------------------------------ execution


def _target_in_history(workload: Workload, rollback: RollbackStatus) -> Revision | None:
    """The approved target revision, if it still exists with the same template."""
    for revision in workload.history:
        if revision.number == rollback.target_revision and (
            template_digest(revision.template) == rollback.target_digest
        ):
            return revision
    return None


def _preflight(
    workload: Workload | None, rollback: RollbackStatus, settings: RollbackSettings, namespace: str
) -> tuple[Workload, Revision] | Refusal:
    """The workload and the revision an approved rollback returns it to, or why it cannot."""
    if workload is None:
        return Refusal(
            Reason.WORKLOAD_NOT_FOUND,
            f"{_ref(rollback.target)} no longer exists in namespace {namespace}",
        )
    blocked = _blocked(workload, settings)
    if blocked is not None:
        return blocked
    actual = template_digest(workload.template)
    if actual == rollback.target_digest:
        return Refusal(
            Reason.ALREADY_AT_TARGET,
            f"{workload.reference} already runs the template of revision "
            f"{rollback.target_revision}: nothing to roll back",
        )
    if actual != rollback.current_digest:
        now_running = current_revision(workload)
        running = f"revision {now_running.number}" if now_running else "a new template"
        return Refusal(
            Reason.CONCURRENT_CHANGE,
            f"{workload.reference} changed since the proposal (it now runs {running}); nothing "
            "was rolled back. Ask again with spec.rollback if the rollback is still wanted",
        )
    target = _target_in_history(workload, rollback)
    if target is None:
        return Refusal(
            Reason.REVISION_NOT_FOUND,
            f"revision {rollback.target_revision} of {workload.reference} no longer exists "
            "with the proposed template; nothing was rolled back",
        )
    return workload, target


def _start(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    rollback = draft.rb()
    key = key_of(rollback.target)
    if key not in inputs.workloads:
        return
    ready = _preflight(
        inputs.workloads[key], rollback, settings, inputs.incident.metadata.namespace
    )
    if isinstance(ready, Refusal):
        draft.finish(RollbackPhase.REFUSED, ready.reason, ready.message, EntryType.ROLLBACK_REFUSED)
        return
    workload, target = ready
    rollback.phase = RollbackPhase.IN_PROGRESS
    rollback.attempt, rollback.started_at = inputs.attempt_id, draft.now
    rollback.message = f"rolling back {_summary(rollback)} (attempt {inputs.attempt_id})"
    draft.record(EntryType.ROLLBACK_STARTED, OPERATOR, rollback.message)
    # The pipeline sends the patch only once this mark is written, so approval to patch
    # takes one round (and one write) instead of waiting for the mark to come back.
    draft.patch = rollback_patch(workload, target)


def _apply(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    rollback = draft.rb()
    key = key_of(rollback.target)
    if key not in inputs.workloads:
        return
    workload = inputs.workloads[key]
    if workload is None:
        draft.finish(
            RollbackPhase.REFUSED,
            Reason.WORKLOAD_NOT_FOUND,
            f"{_ref(rollback.target)} was deleted during the rollback",
            EntryType.ROLLBACK_REFUSED,
        )
        return
    if inputs.patch_error is not None:
        draft.finish(
            RollbackPhase.FAILED,
            Reason.PATCH_FAILED,
            f"the API server rejected the rollback of {workload.reference}: {inputs.patch_error}",
            EntryType.ROLLBACK_FAILED,
        )
        return
    if not rollback.current_digest or not rollback.target_digest:
        draft.finish(
            RollbackPhase.FAILED,
            Reason.PATCH_FAILED,
            "the recorded attempt names no start and target templates; nothing was patched",
            EntryType.ROLLBACK_FAILED,
        )
        return
    started_at = rollback.started_at or draft.now
    step = execution_step(
        from_digest=rollback.current_digest,
        target_digest=rollback.target_digest,
        actual_digest=template_digest(workload.template),
        attempt_is_ours=rollback.attempt in inputs.own_attempts,
        started_at=started_at,
        now=draft.now,
    )
    if step is ExecutionStep.RECORD_DONE:
        timeout = parse_duration(settings.rollout_timeout)
        rollback.phase, rollback.reason = RollbackPhase.VERIFYING, Reason.ROLLING_OUT
        rollback.patched_at, rollback.rollout_deadline = draft.now, draft.now + timeout
        restarted = "" if inputs.patched_now else " (found applied on resuming; not patched again)"
        rollback.message = f"rolled back {_summary(rollback)}{restarted}; rolling out"
        draft.record(
            EntryType.ROLLED_BACK, OPERATOR, f"rolled back {_summary(rollback)}{restarted}"
        )
        draft.wake(draft.now + ROLLOUT_POLL)
    elif step is ExecutionStep.WAIT_FOR_OWNER:
        draft.wake(started_at + TAKEOVER_AFTER)
    elif step is ExecutionStep.PATCH:
        blocked = _blocked(workload, settings)
        target = _target_in_history(workload, rollback)
        if blocked is None and target is None:
            blocked = Refusal(
                Reason.REVISION_NOT_FOUND,
                f"revision {rollback.target_revision} of {workload.reference} disappeared "
                "before the patch; nothing was rolled back",
            )
        if blocked is not None:
            draft.finish(
                RollbackPhase.REFUSED, blocked.reason, blocked.message, EntryType.ROLLBACK_REFUSED
            )
            return
        assert target is not None
        draft.patch = rollback_patch(workload, target)
    else:
        now_running = current_revision(workload)
        running = f"revision {now_running.number}" if now_running else "another template"
        draft.finish(
            RollbackPhase.REFUSED,
            Reason.CONCURRENT_CHANGE,
            f"{workload.reference} was changed by someone else during the rollback (it runs "
            f"{running}, neither the proposed start nor the target); the operator leaves it "
            "alone",
            EntryType.ROLLBACK_REFUSED,
        )


def _detection(inputs: RollbackInputs) -> tuple[DetectionView | None, str]:
    detection = inputs.incident.status.detection
    if detection is None:
        return None, ""
    return DetectionView(detection.breaching, detection.last_evaluated_at), detection.rule


def _verify(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    rollback = draft.rb()
    view, rule = _detection(inputs)
    if rollback.rolled_out_at is None:
        key = key_of(rollback.target)
        if key not in inputs.workloads:
            return
        workload = inputs.workloads[key]
        if workload is None:
            draft.finish(
                RollbackPhase.FAILED,
                Reason.ROLLOUT_FAILED,
                f"{_ref(rollback.target)} was deleted while rolling out",
                EntryType.ROLLBACK_FAILED,
            )
            return
        progress = rollout_progress(workload.kind, workload.raw)
        if progress.state is RolloutState.FAILED:
            draft.finish(
                RollbackPhase.FAILED,
                Reason.ROLLOUT_FAILED,
                f"{workload.reference} did not roll out after the rollback: {progress.message}",
                EntryType.ROLLBACK_FAILED,
            )
        elif progress.state is RolloutState.COMPLETE:
            window = monitoring_window(inputs.policy)
            rollback.rolled_out_at, rollback.verify_until = draft.now, draft.now + window
            draft.record(
                EntryType.ROLLOUT_COMPLETE,
                OPERATOR,
                f"{workload.reference} rolled out revision {rollback.target_revision}'s "
                f"template ({progress.message})",
            )
            if view is None:
                draft.finish(
                    RollbackPhase.SUCCEEDED,
                    Reason.ROLLED_BACK,
                    f"rolled back {_summary(rollback)} and rolled out; no detection rule "
                    "watches this incident, so confirm the recovery by hand",
                    EntryType.ROLLBACK_SUCCEEDED,
                )
                return
            rollback.reason = Reason.VERIFYING
            rollback.message = (
                f"rolled back {_summary(rollback)} and rolled out; watching {rule} until "
                f"{rollback.verify_until.isoformat()}"
            )
            draft.wake(rollback.verify_until)
        elif rollback.rollout_deadline is not None and draft.now >= rollback.rollout_deadline:
            draft.finish(
                RollbackPhase.FAILED,
                Reason.ROLLOUT_FAILED,
                f"{workload.reference} did not roll out within {settings.rollout_timeout} of the "
                f"rollback: {progress.message}",
                EntryType.ROLLBACK_FAILED,
            )
        else:
            deadline = rollback.rollout_deadline or draft.now + ROLLOUT_POLL
            draft.wake(min(draft.now + ROLLOUT_POLL, deadline))
        return
    assert rollback.verify_until is not None
    step = verification_step(
        rolled_out_at=rollback.rolled_out_at,
        verify_until=rollback.verify_until,
        recovered_at=rollback.recovered_at,
        detection=view,
        now=draft.now,
    )
    watched = format_duration(rollback.verify_until - rollback.rolled_out_at)
    if step is VerificationStep.RECOVERED:
        rollback.recovered_at, rollback.reason = draft.now, Reason.ROLLED_BACK
        rollback.message = (
            f"rolled back {_summary(rollback)}; {rule} recovered, watched until "
            f"{rollback.verify_until.isoformat()}"
        )
        draft.record(EntryType.ROLLBACK_RECOVERED, OPERATOR, f"{rule} recovered after the rollback")
        draft.wake(rollback.verify_until)
    elif step is VerificationStep.REGRESSED:
        draft.finish(
            RollbackPhase.FAILED,
            Reason.VERIFICATION_FAILED,
            f"{rule} breached again within {watched} of the rollback of "
            f"{_ref(rollback.target)}: the {DOES_NOT_RESOLVE}",
            EntryType.ROLLBACK_FAILED,
        )
    elif step is VerificationStep.SUCCEEDED:
        draft.finish(
            RollbackPhase.SUCCEEDED,
            Reason.ROLLED_BACK,
            f"rolled back {_summary(rollback)}; {rule} stayed recovered for {watched}",
            EntryType.ROLLBACK_SUCCEEDED,
        )
    elif step is VerificationStep.NO_RECOVERY:
        draft.finish(
            RollbackPhase.FAILED,
            Reason.VERIFICATION_FAILED,
            f"{rule} did not recover within {watched} of the rollback of "
            f"{_ref(rollback.target)}: the {DOES_NOT_RESOLVE}",
            EntryType.ROLLBACK_FAILED,
        )
    else:
        draft.wake(rollback.verify_until)


def _executing(draft: _Draft, inputs: RollbackInputs, settings: RollbackSettings) -> None:
    rollback = draft.rb()
    approval = approval_of(inputs.incident)
    if approval is not None:
        # Already judged: the approval that started this rollback (its removal did not
        # get through), or a late one, said so once.
        draft.remove_approval = approval
        if approval.user != rollback.approved_by:
            draft.record(
                EntryType.APPROVAL_IGNORED,
                approval.user,
                f"approval by {approval.user} ignored: the rollback was already approved "
                f"by {rollback.approved_by}",
            )
    phase = rollback.phase
    if phase is RollbackPhase.APPROVED:
        _start(draft, inputs, settings)
    elif phase is RollbackPhase.IN_PROGRESS:
        _apply(draft, inputs, settings)
    else:
        _verify(draft, inputs, settings)


def decide_rollback(inputs: RollbackInputs) -> RollbackDecision:
    """The next status.rollback and action; ``inputs`` are not modified."""
    current = inputs.incident.status.rollback
    draft = _Draft(current.model_copy(deep=True) if current else None, inputs.now)
    draft.fix_attempt = inputs.incident.status.fix_attempt
    settings = settings_of(inputs.policy)
    if current is not None and current.phase.executing:
        _executing(draft, inputs, settings)
    else:
        _open_phase(draft, inputs, settings)
    return RollbackDecision(
        rollback=draft.rollback,
        entries=tuple(draft.entries),
        remove_approval=draft.remove_approval,
        patch=draft.patch,
        wake_at=draft.wake_at,
        nothing_to_propose=draft.nothing_to_propose,
        fix_attempt=draft.fix_attempt,
    )


# ------------------------------------------------------------------ for the lifecycle


def rollback_active(status: IncidentStatus) -> bool:
    """True while a rollback is being applied: approved, running, or rolling out.

    The lifecycle holds the incident in Mitigating meanwhile.
    """
    rollback = status.rollback
    if rollback is None:
        return False
    return rollback.phase in (RollbackPhase.APPROVED, RollbackPhase.IN_PROGRESS) or (
        rollback.phase is RollbackPhase.VERIFYING and rollback.rolled_out_at is None
    )


def rollback_recovered(status: IncidentStatus) -> bool:
    """True once detection saw the metrics recover after a rollback rolled out."""
    rollback = status.rollback
    return (
        rollback is not None
        and rollback.recovered_at is not None
        and rollback.phase in (RollbackPhase.VERIFYING, RollbackPhase.SUCCEEDED)
    )


def rolled_back_condition(
    status: IncidentStatus,
) -> tuple[ConditionStatus, Reason, str] | None:
    """The RolledBack condition (status, reason, message); None when no rollback is involved."""
    rollback = status.rollback
    if rollback is None:
        return None
    message = rollback.message or ""
    phase = rollback.phase
    if phase is RollbackPhase.SUCCEEDED or rollback_recovered(status):
        return ConditionStatus.TRUE, Reason.ROLLED_BACK, message
    if phase in (RollbackPhase.APPROVED, RollbackPhase.IN_PROGRESS):
        return ConditionStatus.UNKNOWN, Reason.ROLLBACK_IN_PROGRESS, message
    if phase is RollbackPhase.VERIFYING:
        reason = Reason.VERIFYING if rollback.rolled_out_at else Reason.ROLLING_OUT
        return ConditionStatus.UNKNOWN, reason, message
    return ConditionStatus.FALSE, rollback.reason or Reason.ROLLBACK_PROPOSED, message


def rollback_failed(status: IncidentStatus) -> str | None:
    """An escalation trigger (domain.triggers' rollbackFailed): why the rollback did not
    resolve the problem, or None.

    Only a rollback that was applied and did not help counts (its rollout failed, or
    detection saw no recovery or a regression): the runbook's "fix does not resolve the
    original problem". A refused or rejected rollback changed nothing and is a condition.
    """
    rollback = status.rollback
    if rollback is None or rollback.phase is not RollbackPhase.FAILED:
        return None
    if rollback.reason not in (Reason.ROLLOUT_FAILED, Reason.VERIFICATION_FAILED):
        return None
    return f"rollback: {DOES_NOT_RESOLVE}: {rollback.message or rollback.reason}"
