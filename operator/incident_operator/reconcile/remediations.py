"""What an incident's remediations (status.remediations) should be, given what was read.

``decide_remediations`` makes one pure decision per pass from the incident (its request
and approval annotations, its records), the governing policy's catalog, the objects read
for the open records and the clock. Every record moves on its own::

    request --checks--> Refused (unknown name, bad parameter, severity, Closed, limit,
       |                         GitOps-managed, nothing to do)
       v
    Proposed --approval naming rN:<proposal>--> Approved --mark--> InProgress --apply-->
       |  \\__ requiresApproval false: Approved at once          |
       |   \\_ re-planned every pass: a change is a new proposal   v
       `-- incident Closed: Withdrawn                 kind's progress DONE --> Verifying
                                                                 |
       Succeeded <--rules recovered and stayed so until verifyUntil-'
       Failed    <--no recovery / regression / action failed (an escalation trigger)

Requests and approvals arrive as annotations (api/annotations.py). A request is recorded
with a digest of the annotation (``record.request``); the next pass removes the
annotation and clears the digest, so the request is recorded once whatever happens in
between. An approval is recorded in the record (approvedBy) before its annotation is
removed, exactly as rollback approvals are.

Exactly once: the attempt (id, the targets' resourceVersions, ``previous``) is written
before the runtime applies the action (``RemediationDecision.actions``); after a restart
the kind's ``progress`` decides from the targets as they are whether it was taken.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from incident_operator.api.annotations import (
    APPROVE_REMEDIATION,
    APPROVE_REMEDIATION_REQUEST,
    REMEDIATE,
    REMEDIATE_BY,
)
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, IncidentStatus
from incident_operator.api.remediation_status import (
    FINAL_PHASES,
    RECORD_LIMIT,
    RemediationKind,
    RemediationPhase,
    RemediationRecord,
    TargetState,
)
from incident_operator.api.remediations import Remediation
from incident_operator.domain.durations import format_duration, parse_duration
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import EntryType, Reason
from incident_operator.domain.rollback_gitops import gitops_owner
from incident_operator.domain.rollback_state import (
    TAKEOVER_AFTER,
    DetectionView,
    VerificationStep,
    verification_step,
)
from incident_operator.domain.timeline import Entry
from incident_operator.reconcile.governing_policy import monitoring_window
from incident_operator.reconcile.remediation_config import ConfigRollbackPlanner
from incident_operator.reconcile.remediation_flag import FeatureFlagPlanner
from incident_operator.reconcile.remediation_job import JobPlanner
from incident_operator.reconcile.remediation_kind import (
    Action,
    KindPlanner,
    Observations,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError, resolve_parameters
from incident_operator.reconcile.remediation_rollout import RolloutUndoPlanner
from incident_operator.reconcile.remediation_scale import ScalePlanner
from incident_operator.reconcile.rollback import DOES_NOT_RESOLVE

OPERATOR = "incident-operator"
# The remediation name recorded for a request that names no catalog entry a record could
# carry (not JSON, or no valid name).
UNKNOWN_NAME = "unknown"
# How often an action that is still running is looked at again.
RUNNING_POLL = timedelta(seconds=2)
# How often an action in flight whose object cannot be read is tried again.
UNREADABLE_RETRY = timedelta(seconds=30)
# How often an open proposal is planned again from the objects as they are.
REPLAN_EVERY = timedelta(seconds=10)

# The pure half of every kind this operator runs (reconcile/remediation_kind.py).
PLANNERS: dict[RemediationKind, KindPlanner] = {
    RemediationKind.SCALE: ScalePlanner(),
    RemediationKind.ROLLOUT_UNDO: RolloutUndoPlanner(),
    RemediationKind.JOB: JobPlanner(),
    RemediationKind.CONFIG_ROLLBACK: ConfigRollbackPlanner(),
    RemediationKind.FEATURE_FLAG: FeatureFlagPlanner(),
}

# Records before acting: re-planned every pass until approved.
_OPEN = (RemediationPhase.PROPOSED, RemediationPhase.APPROVED)


@dataclass(frozen=True)
class Request:
    """A request annotation as set (the plugin's JSON, or whatever someone wrote)."""

    raw: str
    by: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.by}\n{self.raw}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RemediationApproval:
    user: str
    # The approve-remediation-request annotation: "rN:<proposal>" (or anything else).
    request: str

    @property
    def record_id(self) -> str:
        return self.request.split(":", 1)[0]

    @property
    def proposal(self) -> str | None:
        parts = self.request.split(":", 1)
        return parts[1] if len(parts) == 2 and parts[1] else None


def request_of(incident: Incident) -> Request | None:
    annotations = incident.metadata.annotations
    raw = annotations.get(REMEDIATE)
    if raw is None:
        return None
    return Request(raw, annotations.get(REMEDIATE_BY) or "unknown")


def approval_of(incident: Incident) -> RemediationApproval | None:
    annotations = incident.metadata.annotations
    user = annotations.get(APPROVE_REMEDIATION)
    if not user:
        return None
    return RemediationApproval(user, annotations.get(APPROVE_REMEDIATION_REQUEST) or "")


@dataclass(frozen=True)
class ActOutcome:
    """What happened when the runtime applied a record's action just before this pass."""

    # The API server's refusal (ActionRejected); None when applied or in conflict.
    rejected: str | None = None
    # The object changed since it was read (ActionConflict).
    conflict: bool = False


@dataclass(frozen=True)
class RemediationInputs:
    incident: Incident
    policy: EscalationPolicy | None
    now: datetime
    # What was read per record id (remediation_targets), including the pending request
    # under the id it gets; a record missing here was not read this pass.
    observations: Mapping[str, Observations] = field(default_factory=dict)
    # The id a new attempt gets, and the attempts this process started.
    attempt_id: str = "-"
    own_attempts: frozenset[str] = frozenset()
    # Applies made by this process just before this pass, by record id.
    acted: Mapping[str, ActOutcome] = field(default_factory=dict)
    planners: Mapping[RemediationKind, KindPlanner] = field(default_factory=lambda: PLANNERS)


@dataclass(frozen=True)
class PendingAction:
    """An action whose InProgress mark the decided status carries: apply after the write."""

    record_id: str
    kind: RemediationKind
    action: Action


@dataclass(frozen=True)
class RemediationDecision:
    records: list[RemediationRecord]
    entries: list[Entry]
    # Annotations to remove before the status write (already recorded, or judged).
    remove_annotations: tuple[str, ...]
    actions: list[PendingAction]
    wake_at: datetime | None


@dataclass
class _Draft:
    now: datetime
    records: list[RemediationRecord]
    entries: list[Entry] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    actions: list[PendingAction] = field(default_factory=list)
    wake_at: datetime | None = None

    def record(self, kind: EntryType, actor: str, message: str) -> None:
        self.entries.append(Entry(self.now, kind, actor, message))

    def wake(self, at: datetime) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)


# ------------------------------------------------------------------ catalog


def catalog_entry(policy: EscalationPolicy | None, name: str) -> Remediation | None:
    if policy is None:
        return None
    return next((e for e in policy.spec.remediations if e.name == name), None)


def catalog_names(policy: EscalationPolicy | None) -> list[str]:
    return [e.name for e in policy.spec.remediations] if policy is not None else []


def approver_group(entry: Remediation, policy: EscalationPolicy | None) -> str:
    """The entry's approverGroup, or the policy's rollback approver group."""
    if entry.approver_group:
        return entry.approver_group
    return policy.spec.rollback.approver_group if policy is not None else "sre-oncall"


def next_record_id(records: list[RemediationRecord]) -> str:
    numbers = [int(r.id[1:]) for r in records]
    return f"r{max(numbers, default=0) + 1}"


def parse_request(raw: str) -> tuple[str, dict[str, str]]:
    """The remediation name and parameters of a request annotation; ValueError says what
    is wrong with it."""
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{REMEDIATE} is not JSON ({error})") from error
    if not isinstance(body, dict) or not isinstance(body.get("remediation"), str):
        raise ValueError(f'{REMEDIATE} must be {{"remediation": NAME, "parameters": {{...}}}}')
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise ValueError(f"{REMEDIATE}: parameters must be an object of strings")
    return body["remediation"], {str(k): str(v) for k, v in parameters.items()}


def proposal_digest(record: RemediationRecord, action: Action) -> str:
    """A short digest of everything an approval approves: any change of what would be
    done (parameters, the summary and diff the kind writes from the objects as read, which
    objects) changes it.

    The targets' resourceVersions are not in it: a controller's status writes change them
    every few seconds, and an approval must not miss for that. Each kind's summary and diff
    name the state it changes (replicas from 3 to 0, the flag's variant), so a change of
    that state is a new proposal; the resourceVersions guard the action itself."""
    material = json.dumps(
        {
            "remediation": record.remediation,
            "kind": record.kind,
            "parameters": record.parameters,
            "summary": action.summary,
            "diff": action.diff,
            "targets": sorted(f"{t.kind}/{t.name}" for t in action.targets),
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:12]


# ------------------------------------------------------------------ what to read


def _entry_and_planner(
    record: RemediationRecord,
    policy: EscalationPolicy | None,
    planners: Mapping[RemediationKind, KindPlanner],
) -> tuple[Remediation, KindPlanner] | None:
    entry = catalog_entry(policy, record.remediation)
    if entry is None or entry.kind is not record.kind or entry.kind not in planners:
        return None
    return entry, planners[entry.kind]


def first_affected_workload(incident: Incident) -> TargetState | None:
    """The incident's first affected workload, else the one detection measured: recorded
    with a request, for kinds whose entry may name no workload (rolloutUndo)."""
    detection = incident.status.detection
    measured = [detection.workload] if detection is not None and detection.workload else []
    candidates = [*incident.spec.affected, *measured]
    if not candidates:
        return None
    first = candidates[0]
    return TargetState(api_version="apps/v1", kind=first.kind.value, name=first.name)


def _request_record(
    incident: Incident, policy: EscalationPolicy | None, request: Request, now: datetime
) -> tuple[RemediationRecord, Remediation | None, Refusal | None]:
    """The record a request makes, its entry, and why it is refused (None: plan it)."""
    records = incident.status.remediations
    base = {
        "id": next_record_id(records),
        "requested_by": request.by[:256],
        "requested_at": now,
        "phase": RemediationPhase.PROPOSED,
        "request": request.digest,
        "affected_workload": first_affected_workload(incident),
    }
    try:
        name, given = parse_request(request.raw)
    except ValueError as error:
        refusal = Refusal(Reason.UNKNOWN_REMEDIATION, str(error))
        return RemediationRecord(remediation=UNKNOWN_NAME, **base), None, refusal
    entry = catalog_entry(policy, name)
    if entry is None:
        names = ", ".join(catalog_names(policy)) or "none"
        where = f"policy {policy.metadata.name}" if policy is not None else "no policy"
        refusal = Refusal(
            Reason.UNKNOWN_REMEDIATION,
            f"remediation {name!r} is not in the catalog of {where} "
            f"(spec.remediations); the catalog has: {names}",
        )
        return RemediationRecord(remediation=UNKNOWN_NAME, **base), None, refusal
    record = RemediationRecord(
        remediation=entry.name,
        kind=entry.kind,
        approver_group=approver_group(entry, policy),
        **base,
    )
    try:
        record.parameters = resolve_parameters(entry, given)
    except ParameterError as error:
        record.parameters = {k: v[:1024] for k, v in list(given.items())[:16]}
        return record, entry, Refusal(Reason.INVALID_PARAMETER, str(error))
    severity = incident.spec.severity
    if severity not in entry.severities:
        allowed = ", ".join(s.value for s in entry.severities)
        return (
            record,
            entry,
            Refusal(
                Reason.SEVERITY_NOT_ALLOWED,
                f"remediation {entry.name} may be used for {allowed} incidents "
                f"(spec.remediations[].severities); this one is {severity.value}",
            ),
        )
    if incident.status.phase is Phase.CLOSED:
        return record, entry, Refusal(Reason.INCIDENT_NOT_ACTIVE, "the incident is Closed")
    if len(records) >= RECORD_LIMIT:
        return (
            record,
            entry,
            Refusal(
                Reason.TOO_MANY_REMEDIATIONS,
                f"the incident already has {RECORD_LIMIT} remediations (the most "
                "status.remediations holds); open a new incident",
            ),
        )
    return record, entry, None


def remediation_targets(
    incident: Incident,
    policy: EscalationPolicy | None,
    planners: Mapping[RemediationKind, KindPlanner] | None = None,
) -> dict[str, list[tuple[RemediationKind, Target]]]:
    """The objects to read this pass, by record id (a pending request under its new id):
    every record before or while acting (Verifying ones watch detection only) and, for a
    new request, the objects its plan needs."""
    planners = PLANNERS if planners is None else planners
    wanted: dict[str, list[tuple[RemediationKind, Target]]] = {}
    for record in incident.status.remediations:
        if record.phase in FINAL_PHASES or record.phase is RemediationPhase.VERIFYING:
            continue
        found = _entry_and_planner(record, policy, planners)
        if found is None:
            continue
        entry, planner = found
        try:
            targets = planner.targets(entry, record.parameters, record)
        except ParameterError:
            continue
        wanted[record.id] = [(entry.kind, t) for t in targets]
    request = request_of(incident)
    if request is not None and not _recorded(incident.status.remediations, request):
        new, requested, refusal = _request_record(incident, policy, request, datetime.min)
        if requested is not None and refusal is None and requested.kind in planners:
            try:
                targets = planners[requested.kind].targets(requested, new.parameters, new)
            except ParameterError:
                targets = []
            wanted[new.id] = [(requested.kind, t) for t in targets]
    return wanted


def _recorded(records: list[RemediationRecord], request: Request) -> RemediationRecord | None:
    digest = request.digest
    return next((r for r in records if r.request == digest), None)


# ------------------------------------------------------------------ steps


def _refuse(draft: _Draft, record: RemediationRecord, reason: str, message: str) -> None:
    record.phase, record.reason, record.message = RemediationPhase.REFUSED, reason, message[:1024]
    record.completed_at = draft.now
    draft.record(EntryType.REMEDIATION_REFUSED, OPERATOR, f"{record.id} refused: {message}")


def _finish(
    draft: _Draft,
    record: RemediationRecord,
    phase: RemediationPhase,
    reason: Reason,
    message: str,
    kind: EntryType,
) -> None:
    record.phase, record.reason, record.message = phase, reason, message[:1024]
    record.completed_at = draft.now
    draft.record(kind, OPERATOR, f"{record.id} {record.remediation}: {message}")


def _gitops_refusal(
    entry: Remediation, action: Action, observations: Observations
) -> Refusal | None:
    if entry.allow_git_ops_managed:
        return None
    for target in action.targets:
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            continue
        owner = gitops_owner(seen.labels, seen.annotations)
        if owner is not None:
            return Refusal(
                Reason.GITOPS_MANAGED,
                f"{target.kind}/{target.name} is managed by {owner.tool} ({owner.owner}); "
                f"a change here would be undone by its next sync. Instead: {owner.advice}; "
                "or set allowGitOpsManaged: true on the catalog entry",
            )
    return None


def _plan(
    entry: Remediation,
    planner: KindPlanner,
    record: RemediationRecord,
    observations: Observations,
) -> Action | Refusal:
    try:
        planned = planner.plan(entry, record.parameters, record, observations)
    except ParameterError as error:
        return Refusal(Reason.INVALID_PARAMETER, str(error))
    if isinstance(planned, Refusal):
        return planned
    return _gitops_refusal(entry, planned, observations) or planned


def _set_proposal(record: RemediationRecord, action: Action) -> bool:
    """Writes the action into the record; True when the proposal changed."""
    digest = proposal_digest(record, action)
    changed = digest != record.proposal
    record.proposal, record.summary, record.diff = digest, action.summary[:1024], action.diff[:8192]
    record.targets = [
        TargetState(
            api_version=t.api_version,
            kind=t.kind,
            name=t.name,
            resource_version=action.guards.get(t.key),
        )
        for t in action.targets
    ]
    return changed


def _approve_command(incident: Incident, record: RemediationRecord) -> str:
    name = incident.status.id or incident.metadata.name
    return f"kubectl incident approve {name} {record.id}"


def _propose(
    draft: _Draft,
    inputs: RemediationInputs,
    record: RemediationRecord,
    entry: Remediation,
    planner: KindPlanner,
    observations: Observations,
) -> None:
    """Plans a new or open record from what was read."""
    planned = _plan(entry, planner, record, observations)
    if isinstance(planned, Refusal):
        _refuse(draft, record, planned.reason, planned.message)
        return
    fresh = record.proposal is None
    changed = _set_proposal(record, planned)
    if not entry.requires_approval:
        record.phase = RemediationPhase.APPROVED
        record.approved_by, record.approved_at = OPERATOR, draft.now
        record.reason = Reason.REMEDIATION_APPROVED
        record.message = f"{entry.name} needs no approval (requiresApproval: false)"
        draft.record(
            EntryType.REMEDIATION_APPROVED,
            OPERATOR,
            f"{record.id} {planned.summary}: no approval needed (requiresApproval: false)",
        )
        return
    if changed:
        record.reason = Reason.REMEDIATION_PROPOSED
        record.message = (
            f"proposal {record.proposal}: {planned.summary}; approve with "
            f"{_approve_command(inputs.incident, record)} (group {record.approver_group})"
        )[:1024]
        what = (
            "proposed"
            if fresh
            else "proposal changed (an approval of the old one no longer applies)"
        )
        draft.record(
            EntryType.REMEDIATION_PROPOSED,
            OPERATOR,
            f"{record.id} {what}: {planned.summary} [proposal {record.proposal}]",
        )
    draft.wake(draft.now + REPLAN_EVERY)


def _judge_approval(
    draft: _Draft, inputs: RemediationInputs, approval: RemediationApproval
) -> None:
    """An approval annotation: approves its record's current proposal, or is ignored (and
    removed) with a reason."""
    record = next((r for r in draft.records if r.id == approval.record_id), None)
    if (
        record is not None
        and record.approved_by == approval.user
        and record.phase not in (RemediationPhase.PROPOSED,)
    ):
        draft.remove += [APPROVE_REMEDIATION, APPROVE_REMEDIATION_REQUEST]
        return  # recorded already: the annotation only needs removing
    why: str | None = None
    reason = Reason.APPROVAL_IGNORED
    if record is None:
        why = f"{approval.request!r} names no remediation of this incident (rN:<proposal>)"
    elif record.phase is not RemediationPhase.PROPOSED:
        why = f"{record.id} is {record.phase.value}; there is nothing to approve"
    elif approval.proposal != record.proposal:
        reason = Reason.APPROVAL_MISMATCH
        why = (
            f"it approves proposal {approval.proposal or '(none)'} of {record.id}, but the "
            f"current proposal is {record.proposal} ({record.summary}); look at it again "
            "and approve the current one"
        )
    if why is not None:
        draft.remove += [APPROVE_REMEDIATION, APPROVE_REMEDIATION_REQUEST]
        message = f"approval by {approval.user} ignored: {why}"
        if record is not None and record.phase is RemediationPhase.PROPOSED:
            record.reason, record.message = reason, message[:1024]
        draft.record(EntryType.REMEDIATION_APPROVAL_IGNORED, approval.user, message)
        return
    assert record is not None
    record.phase = RemediationPhase.APPROVED
    record.approved_by, record.approved_at = approval.user[:256], draft.now
    record.reason = Reason.REMEDIATION_APPROVED
    record.message = f"approved by {approval.user}: {record.summary}"[:1024]
    draft.record(
        EntryType.REMEDIATION_APPROVED,
        approval.user,
        f"{record.id} approved by {approval.user}: {record.summary} [proposal {record.proposal}]",
    )


def _busy(draft: _Draft, record: RemediationRecord, action: Action) -> RemediationRecord | None:
    """Another record acting on one of the same objects (at most one at a time)."""
    keys = {t.key for t in action.targets}
    for other in draft.records:
        if other.id == record.id or other.phase is not RemediationPhase.IN_PROGRESS:
            continue
        if keys & {(t.kind, t.name) for t in other.targets}:
            return other
    return None


def _start(
    draft: _Draft,
    inputs: RemediationInputs,
    record: RemediationRecord,
    entry: Remediation,
    planner: KindPlanner,
    observations: Observations,
) -> None:
    """Approved: re-plan from what was read; the same proposal is marked InProgress (the
    attempt, targets and ``previous`` recorded) and its action handed to the runtime."""
    planned = _plan(entry, planner, record, observations)
    if isinstance(planned, Refusal):
        _refuse(draft, record, planned.reason, planned.message)
        return
    if proposal_digest(record, planned) != record.proposal:
        # The objects changed between the approval and now: the approval was of
        # something else. Propose again.
        approved_by = record.approved_by
        record.phase, record.approved_by, record.approved_at = (
            RemediationPhase.PROPOSED,
            None,
            None,
        )
        _set_proposal(record, planned)
        record.reason = Reason.APPROVAL_MISMATCH
        record.message = (
            f"the objects changed after {approved_by} approved; proposal {record.proposal}: "
            f"{planned.summary}; approve again with {_approve_command(inputs.incident, record)}"
        )[:1024]
        draft.record(EntryType.REMEDIATION_PROPOSED, OPERATOR, f"{record.id} {record.message}")
        draft.wake(draft.now + REPLAN_EVERY)
        return
    other = _busy(draft, record, planned)
    if other is not None:
        message = f"waiting for {other.id} ({other.remediation}), which acts on the same object"
        if record.message != message:
            record.reason, record.message = Reason.TARGET_BUSY, message
        draft.wake(draft.now + RUNNING_POLL)
        return
    _set_proposal(record, planned)  # the same proposal, with the resourceVersions read now
    record.phase = RemediationPhase.IN_PROGRESS
    record.attempt, record.started_at = inputs.attempt_id, draft.now
    record.previous = dict(planned.previous)
    record.reason = Reason.REMEDIATION_STARTED
    record.message = f"acting: {planned.summary}"[:1024]
    draft.record(
        EntryType.REMEDIATION_STARTED,
        OPERATOR,
        f"{record.id} started (attempt {record.attempt}): {planned.summary}",
    )
    assert record.kind is not None
    draft.actions.append(PendingAction(record.id, record.kind, planned))
    draft.wake(draft.now + RUNNING_POLL)


def _verify_window(entry: Remediation, inputs: RemediationInputs) -> timedelta:
    if entry.verify.within:
        return parse_duration(entry.verify.within)
    return monitoring_window(inputs.policy)


def _detection(inputs: RemediationInputs) -> tuple[DetectionView | None, str]:
    detection = inputs.incident.status.detection
    if detection is None:
        return None, ""
    return DetectionView(detection.breaching, detection.last_evaluated_at), detection.rule


def _completed(
    draft: _Draft,
    inputs: RemediationInputs,
    record: RemediationRecord,
    entry: Remediation,
    message: str,
) -> None:
    record.acted_at = draft.now
    view, rule = _detection(inputs)
    if view is None or not entry.verify.rules_recover:
        why = (
            "no detection rule watches this incident, so confirm the recovery by hand"
            if entry.verify.rules_recover
            else "verify.rulesRecover is false"
        )
        _finish(
            draft,
            record,
            RemediationPhase.SUCCEEDED,
            Reason.REMEDIATION_SUCCEEDED,
            f"{record.summary}: done ({message}); {why}",
            EntryType.REMEDIATION_SUCCEEDED,
        )
        return
    record.phase = RemediationPhase.VERIFYING
    record.verify_until = draft.now + _verify_window(entry, inputs)
    record.reason = Reason.REMEDIATION_COMPLETED
    record.message = (f"done ({message}); watching {rule} until {record.verify_until.isoformat()}")[
        :1024
    ]
    draft.record(
        EntryType.REMEDIATION_COMPLETED,
        OPERATOR,
        f"{record.id} {record.summary}: done ({message}); watching {rule}",
    )
    draft.wake(record.verify_until)


def _act(
    draft: _Draft,
    inputs: RemediationInputs,
    record: RemediationRecord,
    entry: Remediation,
    planner: KindPlanner,
    observations: Observations,
) -> None:
    """InProgress: how far the recorded attempt got, from what is read now."""
    outcome = inputs.acted.get(record.id)
    if outcome is not None and outcome.rejected is not None:
        _finish(
            draft,
            record,
            RemediationPhase.FAILED,
            Reason.REMEDIATION_FAILED,
            f"the API server refused the action: {outcome.rejected}",
            EntryType.REMEDIATION_FAILED,
        )
        return
    progress = planner.progress(entry, record.parameters, record, observations)
    if progress.output is not None:
        record.output = progress.output[-4096:]
    if progress.state is ProgressState.DONE:
        _completed(draft, inputs, record, entry, progress.message)
    elif progress.state is ProgressState.FAILED:
        _finish(
            draft,
            record,
            RemediationPhase.FAILED,
            Reason.REMEDIATION_FAILED,
            progress.message or "the action failed",
            EntryType.REMEDIATION_FAILED,
        )
    elif progress.state is ProgressState.RUNNING:
        if progress.message and record.message != progress.message:
            record.message = progress.message[:1024]
        draft.wake(draft.now + RUNNING_POLL)
    else:
        # Not taken: the attempt was recorded but not applied (a restart, or the apply
        # raced a change). Only its owner, or anyone once the owner is presumed gone,
        # applies it again, guarded by the recorded resourceVersions.
        ours = record.attempt in inputs.own_attempts
        started = record.started_at or draft.now
        if not ours and draft.now < started + TAKEOVER_AFTER:
            draft.wake(started + TAKEOVER_AFTER)
            return
        planned = _plan(entry, planner, record, observations)
        if isinstance(planned, Refusal):
            _finish(
                draft,
                record,
                RemediationPhase.FAILED,
                Reason.REMEDIATION_FAILED,
                f"cannot act any more: {planned.message}",
                EntryType.REMEDIATION_FAILED,
            )
            return
        assert record.kind is not None
        draft.actions.append(PendingAction(record.id, record.kind, planned))
        draft.wake(draft.now + RUNNING_POLL)


def _verify(draft: _Draft, inputs: RemediationInputs, record: RemediationRecord) -> None:
    """Verifying: detection must see the rules recover and stay so until verifyUntil."""
    assert record.acted_at is not None
    assert record.verify_until is not None
    view, rule = _detection(inputs)
    step = verification_step(
        rolled_out_at=record.acted_at,
        verify_until=record.verify_until,
        recovered_at=record.recovered_at,
        detection=view,
        now=draft.now,
    )
    watched = format_duration(record.verify_until - record.acted_at)
    if step is VerificationStep.RECOVERED:
        record.recovered_at = draft.now
        record.message = f"{rule} recovered; watched until {record.verify_until.isoformat()}"
        draft.record(
            EntryType.REMEDIATION_RECOVERED,
            OPERATOR,
            f"{record.id} {record.remediation}: {rule} recovered",
        )
        draft.wake(record.verify_until)
    elif step is VerificationStep.SUCCEEDED:
        _finish(
            draft,
            record,
            RemediationPhase.SUCCEEDED,
            Reason.REMEDIATION_SUCCEEDED,
            f"{record.summary}; {rule} stayed recovered for {watched}",
            EntryType.REMEDIATION_SUCCEEDED,
        )
    elif step in (VerificationStep.REGRESSED, VerificationStep.NO_RECOVERY):
        what = "breached again" if step is VerificationStep.REGRESSED else "did not recover"
        _finish(
            draft,
            record,
            RemediationPhase.FAILED,
            Reason.VERIFICATION_FAILED,
            f"{rule} {what} within {watched} of {record.summary}: the {DOES_NOT_RESOLVE}",
            EntryType.REMEDIATION_FAILED,
        )
    else:
        draft.wake(record.verify_until)


def _unreadable(draft: _Draft, record: RemediationRecord, error: str) -> None:
    """An object the record needs cannot be read: refused before acting; an action in
    flight waits (it was recorded, so it is neither forgotten nor repeated) and says why."""
    if record.phase in _OPEN:
        _refuse(
            draft,
            record,
            Reason.TARGET_UNREADABLE,
            f"{error}; the {record.kind} remediation kind's rights (or its CRD) are not "
            "installed here: see docs/remediation/rbac.md",
        )
        return
    message = f"waiting: {error}"[:1024]
    if record.message != message:
        record.reason = Reason.TARGET_UNREADABLE
        record.message = message
    draft.wake(draft.now + UNREADABLE_RETRY)


def _step(
    draft: _Draft,
    inputs: RemediationInputs,
    record: RemediationRecord,
    observations: Observations | None,
) -> None:
    """One record, one pass (Approved moves on to InProgress in the same pass)."""
    if record.phase in FINAL_PHASES:
        return
    found = _entry_and_planner(record, inputs.policy, inputs.planners)
    if record.phase in _OPEN and inputs.incident.status.phase is Phase.CLOSED:
        _finish(
            draft,
            record,
            RemediationPhase.WITHDRAWN,
            Reason.INCIDENT_NOT_ACTIVE,
            "withdrawn: the incident closed before it was acted on",
            EntryType.REMEDIATION_WITHDRAWN,
        )
        return
    if record.phase is RemediationPhase.VERIFYING:
        _verify(draft, inputs, record)
        return
    if found is None:
        if record.phase in _OPEN:
            _finish(
                draft,
                record,
                RemediationPhase.WITHDRAWN,
                Reason.UNKNOWN_REMEDIATION,
                f"withdrawn: remediation {record.remediation} ({record.kind}) is no longer in "
                "the governing policy's catalog, or its kind is not installed",
                EntryType.REMEDIATION_WITHDRAWN,
            )
        return  # InProgress without its entry: keep the record; nothing to judge it by
    if observations is None:
        return  # not read this pass
    unreadable = [seen.error for seen in observations.values() if seen.error is not None]
    if unreadable:
        _unreadable(draft, record, unreadable[0])
        return
    entry, planner = found
    if record.phase is RemediationPhase.PROPOSED:
        _propose(draft, inputs, record, entry, planner, observations)
    if record.phase is RemediationPhase.APPROVED:
        _start(draft, inputs, record, entry, planner, observations)
    elif record.phase is RemediationPhase.IN_PROGRESS:
        _act(draft, inputs, record, entry, planner, observations)


def _take_request(draft: _Draft, inputs: RemediationInputs) -> set[str]:
    """The request annotation: recorded already (remove it), or a new record. Returns the
    ids of records made this pass."""
    incident = inputs.incident
    request = request_of(incident)
    for record in draft.records:
        if record.request is not None and (request is None or record.request != request.digest):
            record.request = None  # its annotation is gone: a same request is a new one
    if request is None:
        return set()
    if _recorded(draft.records, request) is not None:
        draft.remove += [REMEDIATE, REMEDIATE_BY]
        for record in draft.records:
            if record.request == request.digest:
                record.request = None
        return set()
    record, entry, refusal = _request_record(incident, inputs.policy, request, draft.now)
    name = record.remediation if entry is not None else "a remediation"
    draft.record(
        EntryType.REMEDIATION_REQUESTED,
        request.by,
        f"{record.id}: {request.by} requested {name}"
        + (
            " with " + ", ".join(f"{k}={v}" for k, v in record.parameters.items())
            if record.parameters
            else ""
        ),
    )
    if refusal is None and entry is not None and entry.kind not in inputs.planners:
        refusal = Refusal(
            Reason.KIND_NOT_SUPPORTED,
            f"remediation {entry.name} is of kind {entry.kind.value}, which this operator "
            "does not run",
        )
    if len(draft.records) >= RECORD_LIMIT:
        # No room for even a refused record: the newest refused one makes room.
        assert refusal is not None
        draft.record(EntryType.REMEDIATION_REFUSED, OPERATOR, f"refused: {refusal.message}")
        draft.remove += [REMEDIATE, REMEDIATE_BY]
        return set()
    draft.records.append(record)
    if refusal is not None:
        _refuse(draft, record, refusal.reason, refusal.message)
    return {record.id}


def decide_remediations(inputs: RemediationInputs) -> RemediationDecision:
    """The next status.remediations, the entries, the annotations to remove and the
    actions to apply after the write; ``inputs`` are not modified."""
    records = [r.model_copy(deep=True) for r in inputs.incident.status.remediations]
    draft = _Draft(inputs.now, records)
    _take_request(draft, inputs)
    approval = approval_of(inputs.incident)
    if approval is not None:
        _judge_approval(draft, inputs, approval)
    for record in draft.records:
        _step(draft, inputs, record, inputs.observations.get(record.id))
    return RemediationDecision(
        records=draft.records,
        entries=draft.entries,
        remove_annotations=tuple(dict.fromkeys(draft.remove)),
        actions=draft.actions,
        wake_at=draft.wake_at,
    )


# ------------------------------------------------------------------ for escalation


def remediation_failed(status: IncidentStatus) -> tuple[str, str] | None:
    """An escalation trigger (domain.triggers' remediationFailed): the latest remediation
    that was applied and did not help, as (record id, why); None when none.

    A refused or withdrawn one changed nothing; it is on the record, not a trigger."""
    failed = [r for r in status.remediations if r.phase is RemediationPhase.FAILED]
    if not failed:
        return None
    record = failed[-1]
    # A trigger's message is at most 256 characters (TriggerRecord); a record's, 1024.
    return record.id, (
        f"remediation {record.id} ({record.remediation}): {DOES_NOT_RESOLVE}: "
        f"{record.message or record.reason}"
    )[:256]


# ------------------------------------------------------------------ for the lifecycle


def _mitigating(record: RemediationRecord) -> bool:
    # An entry that needs no approval is a read-only diagnostic (docs/remediation.md): it
    # runs beside the response and is not a mitigation.
    return record.approved_by is not None and record.approved_by != OPERATOR


def remediation_active(status: IncidentStatus) -> str | None:
    """What is being applied (an approved remediation acting, or whose action is not done
    yet), or None. The lifecycle holds the incident in Mitigating meanwhile, as for a
    rollback."""
    for record in status.remediations:
        if _mitigating(record) and record.phase in (
            RemediationPhase.APPROVED,
            RemediationPhase.IN_PROGRESS,
        ):
            return f"remediation {record.id} ({record.remediation})"
    return None


def remediation_recovered(status: IncidentStatus) -> str | None:
    """The remediation after which detection saw the metrics recover, or None."""
    for record in reversed(status.remediations):
        if (
            _mitigating(record)
            and record.recovered_at is not None
            and record.phase in (RemediationPhase.VERIFYING, RemediationPhase.SUCCEEDED)
        ):
            return f"remediated by {record.id} ({record.remediation})"
    return None
