"""The rollback decision over the API models, with an injected clock and workloads."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentStatus,
    RollbackPhase,
    RollbackSource,
)
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import Reason
from incident_operator.domain.rollback_plan import (
    JSON_PATCH,
    Workload,
    template_digest,
    workload_from_objects,
)
from incident_operator.domain.rollback_state import TAKEOVER_AFTER
from incident_operator.domain.signals import Level
from incident_operator.reconcile.rollback import (
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_PROPOSAL,
    RECHECK_OPEN,
    RollbackDecision,
    RollbackInputs,
    decide_rollback,
    rollback_active,
    rollback_failed,
    rollback_recovered,
    rolled_back_condition,
    workloads_to_observe,
)
from incident_operator.reconcile.status_patch import status_difference

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
UID = "uid-web"
KEY = ("Deployment", "web")


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def _workload(
    images: list[tuple[str, datetime]],
    running: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> Workload:
    """A Deployment whose revisions 1..n ran ``images`` from the given times."""
    history = []
    for number, (image, created) in enumerate(images, start=1):
        template = _template(image)
        template["metadata"]["labels"]["pod-template-hash"] = f"h{number}"
        history.append(
            {
                "metadata": {
                    "name": f"web-h{number}",
                    "annotations": {"deployment.kubernetes.io/revision": str(number)},
                    "ownerReferences": [{"controller": True, "uid": UID}],
                    "creationTimestamp": _stamp(created),
                },
                "spec": {"template": template},
            }
        )
    raw = {
        "metadata": {
            "name": "web",
            "uid": UID,
            "resourceVersion": "100",
            "generation": 5,
            "labels": labels or {},
            "annotations": {"deployment.kubernetes.io/revision": str(len(images))}
            | (annotations or {}),
        },
        "spec": {"replicas": 2, "template": _template(running or images[-1][0]), **spec},
        "status": status or {},
    }
    return workload_from_objects("Deployment", raw, history)


# Revision 2 went out 10 minutes before detection.
RECENT = _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)])


def _incident(
    request: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    status: dict[str, Any] | None = None,
    severity: str = "P1",
    **spec: Any,
) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "shop",
                "uid": "inc-uid",
                "generation": 1,
                "resourceVersion": "7",
                "annotations": annotations or {},
            },
            "spec": {
                "title": "Checkout errors",
                "severity": severity,
                "affected": [{"kind": "Deployment", "name": "web"}],
                **({"rollback": request} if request else {}),
                **spec,
            },
            "status": {
                "id": "INC-0042",
                "phase": "Investigating",
                "detectedAt": _stamp(T0),
                **(status or {}),
            },
        }
    )


def _policy(**rollback: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {"rollback": rollback, "detection": {"monitoringWindow": "5m"}},
        }
    )


def _decide(
    incident: Incident,
    workloads: dict[tuple[str, str], Workload | None] | None = None,
    now: datetime = T0 + MIN,
    policy: EscalationPolicy | None = None,
    **extra: Any,
) -> RollbackDecision:
    return decide_rollback(
        RollbackInputs(
            incident=incident,
            policy=policy,
            workloads={KEY: RECENT} if workloads is None else workloads,
            now=now,
            attempt_id="a1",
            **extra,
        )
    )


def _after(incident: Incident, decision: RollbackDecision) -> Incident:
    """The incident once the handler performed ``decision``."""
    status = incident.status.model_copy(
        update={
            "rollback": decision.rollback,
            "timeline": [*incident.status.timeline, *decision.entries],
        }
    )
    annotations = dict(incident.metadata.annotations)
    if decision.remove_approval is not None:
        annotations.pop(APPROVE_ROLLBACK, None)
        annotations.pop(APPROVE_ROLLBACK_PROPOSAL, None)
    metadata = incident.metadata.model_copy(update={"annotations": annotations})
    return incident.model_copy(update={"status": status, "metadata": metadata})


def _proposed(**changes: Any) -> Incident:
    return _after(_incident(**changes), _decide(_incident(**changes)))


# ------------------------------------------------------------------ proposals


def test_a_recent_revision_is_proposed_for_rollback() -> None:
    decision = _decide(_incident())
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.PROPOSED
    assert rollback.source is RollbackSource.RECENT_REVISION
    assert (rollback.current_revision, rollback.target_revision) == (2, 1)
    assert rollback.current_revision_at == T0 - 10 * MIN
    assert rollback.current_digest == template_digest(_template("web:2"))
    assert rollback.target_digest == template_digest(_template("web:1"))
    assert rollback.diff == "container app: image web:2 -> web:1"
    assert rollback.approver_group == "incident-approvers"
    assert rollback.proposed_at == T0 + MIN
    assert "kubectl incident approve-rollback INC-0042" in (rollback.message or "")
    assert [e.type for e in decision.entries] == ["RollbackProposed"]
    assert decision.wake_at == T0 + MIN + RECHECK_OPEN
    assert decision.patch is None


@pytest.mark.parametrize(
    ("rolled_out", "window", "proposed"),
    [
        (T0 - 29 * MIN, "30m", True),
        (T0 - 31 * MIN, "30m", False),
        (T0 - 31 * MIN, "1h", True),
        # A revision after detection is a fix attempt, not a cause.
        (T0 + 30 * timedelta(seconds=1), "30m", False),
    ],
)
def test_the_proposal_window(rolled_out: datetime, window: str, proposed: bool) -> None:
    workload = _workload([("web:1", T0 - 2 * 60 * MIN), ("web:2", rolled_out)])
    decision = _decide(
        _incident(), {KEY: workload}, now=T0 + MIN, policy=_policy(proposalWindow=window)
    )
    assert (decision.rollback is not None) is proposed
    # Settled when nothing is proposed (a fix rolled out later is found when the runtime
    # reads the workloads again: WORKLOADS_RECHECKED_EVERY), but not while a fix attempt
    # (a revision after detection) is being judged against the rollback criteria.
    fix_attempt = rolled_out > T0
    assert decision.nothing_to_propose is not (proposed or fix_attempt)


def test_an_unrecorded_template_is_not_taken_for_nothing_to_propose() -> None:
    # The controller has not yet made the ReplicaSet of the template the Deployment runs.
    racing = _workload([("web:1", T0 - 60 * MIN)], running="web:2")
    decision = _decide(_incident(), {KEY: racing})
    assert decision.rollback is None
    assert not decision.nothing_to_propose


def test_nothing_is_proposed_without_history_or_workload() -> None:
    single = _workload([("web:1", T0 - MIN)])
    assert _decide(_incident(), {KEY: single}).rollback is None
    assert _decide(_incident(), {KEY: None}).rollback is None
    # Not read: no decision either way (and no memo that there is nothing).
    unread = _decide(_incident(), {})
    assert unread.rollback is None
    assert not unread.nothing_to_propose


def test_a_requested_rollback_to_a_revision() -> None:
    workload = _workload([("a", T0 - 90 * MIN), ("b", T0 - 80 * MIN), ("c", T0 - 70 * MIN)])
    request = {"target": {"kind": "Deployment", "name": "web"}, "toRevision": 1}
    decision = _decide(_incident(request), {KEY: workload})
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.PROPOSED
    assert rollback.source is RollbackSource.REQUESTED
    assert rollback.requested is not None
    assert rollback.requested.to_revision == 1
    assert (rollback.current_revision, rollback.target_revision) == (3, 1)


@pytest.mark.parametrize(
    ("request_", "workload", "reason", "words"),
    [
        ({"toRevision": 9}, RECENT, Reason.REVISION_NOT_FOUND, "no revision 9 (revisions: 1, 2)"),
        ({}, None, Reason.WORKLOAD_NOT_FOUND, "Deployment/web does not exist in namespace shop"),
        (
            {},
            _workload([("web:1", T0 - MIN), ("web:2", T0 - MIN), ("web:1", T0)], running="web:2"),
            Reason.ALREADY_AT_TARGET,
            "already runs the template of revision 2",
        ),
        (
            {},
            _workload(RECENT_IMAGES := [("web:1", T0 - 9 * MIN), ("web:2", T0 - MIN)], paused=True),
            Reason.PAUSED,
            "kubectl rollout resume deployment/web",
        ),
        (
            {},
            _workload(RECENT_IMAGES, labels={"argocd.argoproj.io/instance": "shop"}),
            Reason.GITOPS_MANAGED,
            "managed by Argo CD (Application shop)",
        ),
    ],
    ids=["no-revision", "no-workload", "at-target", "paused", "gitops"],
)
def test_a_request_that_cannot_be_done_is_refused_with_the_reason(
    request_: dict[str, Any], workload: Workload | None, reason: str, words: str
) -> None:
    request = {"target": {"kind": "Deployment", "name": "web"}, **request_}
    decision = _decide(_incident(request), {KEY: workload})
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.REFUSED
    assert rollback.reason == reason
    assert words in (rollback.message or "")
    assert [e.type for e in decision.entries] == ["RollbackRefused"]
    condition = rolled_back_condition(_after(_incident(), decision).status)
    assert condition == (ConditionStatus.FALSE, reason, rollback.message)


def test_the_policy_may_allow_gitops_managed_workloads() -> None:
    workload = _workload(
        [("web:1", T0 - 60 * MIN), ("web:2", T0 - MIN)],
        annotations={"argocd.argoproj.io/tracking-id": "shop:apps/Deployment:shop/web"},
    )
    refused = _decide(_incident(), {KEY: workload})
    assert refused.rollback is not None
    assert refused.rollback.reason == Reason.GITOPS_MANAGED
    assert refused.rollback.diff == "container app: image web:2 -> web:1", "still shows the plan"
    allowed = _decide(_incident(), {KEY: workload}, policy=_policy(allowGitOpsManaged=True))
    assert allowed.rollback is not None
    assert allowed.rollback.phase is RollbackPhase.PROPOSED
    assert allowed.rollback.approver_group == "incident-approvers"


def test_a_proposal_follows_its_workload_until_approved() -> None:
    incident = _proposed()
    assert _decide(incident).rollback == incident.status.rollback, "unchanged: nothing written"
    assert _decide(incident).entries == ()
    # Someone deploys web:3 after detection: the automatic proposal no longer applies.
    moved = _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN), ("web:3", T0 + MIN)])
    withdrawn = _decide(incident, {KEY: moved}, now=T0 + 2 * MIN)
    assert withdrawn.rollback is None
    assert [e.type for e in withdrawn.entries] == ["ProposalWithdrawn"]


def test_a_proposal_is_dropped_when_the_incident_is_resolved() -> None:
    incident = _proposed()
    resolved = incident.model_copy(
        update={"status": incident.status.model_copy(update={"phase": Phase.RESOLVED})}
    )
    decision = _decide(resolved)
    assert decision.rollback is not None
    assert decision.rollback.reason == Reason.INCIDENT_NOT_ACTIVE
    assert decision.wake_at is None


def test_the_approver_group_comes_from_the_policy() -> None:
    decision = _decide(_incident(), policy=_policy(approverGroup="sre-leads"))
    assert decision.rollback is not None
    assert decision.rollback.approver_group == "sre-leads"
    assert "a member of sre-leads approves" in (decision.rollback.message or "")


def test_observing_what_the_decision_needs() -> None:
    assert [o.reference.name for o in workloads_to_observe(_incident())] == ["web"]
    assert workloads_to_observe(_incident(), automatic=False) == []
    assert workloads_to_observe(_incident(status={"phase": "Closed"})) == []
    assert workloads_to_observe(_incident(status={"detectedAt": None})) == []
    proposed = _proposed()
    assert len(workloads_to_observe(proposed, automatic=False)) == 1, "open: always re-checked"


# ------------------------------------------------------------------ approvals


def _proposal_id() -> str:
    """The identifier of ``_proposed()``'s proposal (rolling web back from 2 to 1)."""
    rollback = _proposed().status.rollback
    assert rollback is not None
    assert rollback.proposal is not None
    return rollback.proposal


def _approve(user: str = "alice", proposal: str | None = "<proposed>") -> dict[str, str]:
    """An approval by ``user`` naming ``proposal`` (by default ``_proposed()``'s; None: none)."""
    annotations = {APPROVE_ROLLBACK: user}
    if proposal == "<proposed>":
        proposal = _proposal_id()
    if proposal is not None:
        annotations[APPROVE_ROLLBACK_PROPOSAL] = proposal
    return annotations


def _with_annotations(incident: Incident, annotations: dict[str, str]) -> Incident:
    metadata = incident.metadata.model_copy(update={"annotations": annotations})
    return incident.model_copy(update={"metadata": metadata})


def test_an_approval_of_the_proposal() -> None:
    incident = _with_annotations(_proposed(), _approve("alice"))
    decision = _decide(incident, now=T0 + 2 * MIN)
    rollback = decision.rollback
    assert rollback is not None
    # Approved, and at once marked: one status write carries both, then the patch.
    assert rollback.phase is RollbackPhase.IN_PROGRESS
    assert (rollback.approved_by, rollback.approved_at) == ("alice", T0 + 2 * MIN)
    assert (rollback.attempt, rollback.started_at) == ("a1", T0 + 2 * MIN)
    assert decision.patch is not None
    assert decision.remove_approval is None, "cleared once the approval is written"
    approved, started = decision.entries
    assert (approved.type, approved.actor, approved.time) == (
        "RollbackApproved",
        "alice",
        T0 + 2 * MIN,
    )
    assert approved.message == (
        "rollback of Deployment/web from revision 2 to revision 1 approved by alice"
    )
    assert (started.type, started.actor) == ("RollbackStarted", "incident-operator")
    assert rollback_active(_after(incident, decision).status)


@pytest.mark.parametrize(
    ("incident", "words"),
    [
        (
            _with_annotations(_incident(affected=[]), _approve()),
            "no rollback is proposed for this incident",
        ),
        (
            _with_annotations(_proposed(), _approve("alice", None)),
            "it names no proposal (sre.agentos.io/approve-rollback-proposal is missing); "
            "approve with `kubectl incident approve-rollback`, or set it to "
            "status.rollback.proposal (",
        ),
        (
            _with_annotations(
                _proposed(request={"target": {"kind": "Deployment", "name": "web"}}),
                _approve(),
            ),
            "",
        ),
    ],
    ids=["no-proposal", "names-no-proposal", "requested"],
)
def test_approvals_that_do_nothing_say_why(incident: Incident, words: str) -> None:
    decision = _decide(incident, now=T0 + 2 * MIN)
    if not words:  # the control: a requested proposal is approved alike
        assert decision.rollback is not None
        assert decision.rollback.phase is RollbackPhase.IN_PROGRESS
        return
    assert decision.remove_approval is not None
    assert decision.patch is None
    assert decision.rollback is None or decision.rollback.phase is RollbackPhase.PROPOSED
    (entry,) = decision.entries
    assert entry.type == "ApprovalIgnored"
    assert entry.actor == "alice"
    assert entry.message.startswith("approval by alice ignored: ")
    assert words in entry.message
    if decision.rollback is not None:
        condition = rolled_back_condition(_after(incident, decision).status)
        assert condition is not None
        assert condition[:2] == (ConditionStatus.FALSE, Reason.APPROVAL_IGNORED)


def test_an_approval_of_a_proposal_that_moved_does_nothing_and_names_both() -> None:
    request = {"target": {"kind": "Deployment", "name": "web"}}
    shown = _proposed(request=request)
    assert shown.status.rollback is not None
    seen = shown.status.rollback.proposal
    assert seen == _proposal_id(), "requested or automatic, the same plan is the same proposal"
    # A hotfix rolled out after alice looked: the proposal now starts from revision 3.
    hotfixed = _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN), ("web:3", T0)])
    decision = _decide(_with_annotations(shown, _approve("alice", seen)), {KEY: hotfixed})
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.PROPOSED
    assert (rollback.current_revision, rollback.target_revision) == (3, 2)
    assert rollback.proposal not in (None, seen)
    assert decision.patch is None
    assert decision.remove_approval is not None, "the stale approval is removed"
    assert [e.type for e in decision.entries] == ["RollbackProposed", "ApprovalIgnored"]
    expected = (
        f"approval by alice ignored: it approves proposal {seen}, but the current proposal "
        f"is {rollback.proposal} (roll back Deployment/web from revision 3 to revision 2); "
        "look at it again and approve the current proposal"
    )
    assert decision.entries[1].message == expected
    assert decision.entries[1].actor == "alice"
    assert (rollback.reason, rollback.message) == (Reason.APPROVAL_MISMATCH, expected)
    condition = rolled_back_condition(_after(shown, decision).status)
    assert condition == (ConditionStatus.FALSE, Reason.APPROVAL_MISMATCH, expected)
    # Approving what is proposed now works.
    moved = _after(shown, decision)
    again = _decide(_with_annotations(moved, _approve("alice", rollback.proposal)), {KEY: hotfixed})
    assert again.rollback is not None
    assert again.rollback.phase is RollbackPhase.IN_PROGRESS


def test_a_proposal_stored_without_an_identifier_gets_one() -> None:
    proposed = _proposed()
    assert proposed.status.rollback is not None
    older = proposed.status.rollback.model_copy(update={"proposal": None})
    stored = proposed.model_copy(
        update={"status": proposed.status.model_copy(update={"rollback": older})}
    )
    decision = _decide(stored)
    assert decision.rollback is not None
    assert decision.rollback.proposal == _proposal_id()


def test_an_approval_of_a_refused_rollback_is_ignored() -> None:
    workload = _workload([("web:1", T0 - 9 * MIN), ("web:2", T0 - MIN)], paused=True)
    incident = _after(_incident(), _decide(_incident(), {KEY: workload}))
    decision = _decide(_with_annotations(incident, _approve()), {KEY: workload})
    assert decision.rollback is not None
    assert decision.rollback.phase is RollbackPhase.REFUSED
    assert "the rollback is refused (Paused)" in decision.entries[0].message


def test_a_severity_may_need_no_approval() -> None:
    policy = _policy(approvalNotRequiredFor=["P0"])
    p1 = _decide(_incident(severity="P1"), policy=policy)
    assert p1.rollback is not None
    assert p1.rollback.phase is RollbackPhase.PROPOSED
    p0 = _decide(_incident(severity="P0"), policy=policy)
    assert p0.rollback is not None
    assert p0.rollback.phase is RollbackPhase.IN_PROGRESS
    assert p0.rollback.approved_by == "incident-operator"
    assert [e.type for e in p0.entries] == [
        "RollbackProposed",
        "RollbackApproved",
        "RollbackStarted",
    ]
    assert p0.patch is not None
    assert "policy shop requires no approval for P0" in p0.entries[1].message


# ------------------------------------------------------------------ execution


def _approved() -> Incident:
    """Approved and not yet marked: as a process that died between the two leaves it."""
    incident = _proposed()
    assert incident.status.rollback is not None
    rollback = incident.status.rollback.model_copy(
        update={
            "phase": RollbackPhase.APPROVED,
            "approved_by": "alice",
            "approved_at": T0 + 2 * MIN,
        }
    )
    status = incident.status.model_copy(update={"rollback": rollback})
    return incident.model_copy(update={"status": status})


def _in_progress() -> Incident:
    incident = _approved()
    return _after(incident, _decide(incident, now=T0 + 3 * MIN))


def test_an_approved_rollback_is_marked_and_its_patch_planned() -> None:
    decision = _decide(_approved(), now=T0 + 3 * MIN)
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.IN_PROGRESS
    assert (rollback.attempt, rollback.started_at) == ("a1", T0 + 3 * MIN)
    # Sent by the handler only after the mark above is written.
    assert decision.patch is not None
    assert [e.type for e in decision.entries] == ["RollbackStarted"]


@pytest.mark.parametrize(
    ("workload", "reason"),
    [
        (None, Reason.WORKLOAD_NOT_FOUND),
        (
            _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)], paused=True),
            Reason.PAUSED,
        ),
        (
            _workload(
                [("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)],
                labels={"kustomize.toolkit.fluxcd.io/name": "apps"},
            ),
            Reason.GITOPS_MANAGED,
        ),
        (
            _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN), ("web:1", T0)]),
            Reason.ALREADY_AT_TARGET,
        ),
        (
            _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN), ("web:3", T0)]),
            Reason.CONCURRENT_CHANGE,
        ),
        (
            _workload([("web:0", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)]),
            Reason.REVISION_NOT_FOUND,
        ),
    ],
    ids=["gone", "paused", "flux", "at-target", "changed", "revision-changed"],
)
def test_an_approved_rollback_that_cannot_start_is_refused(
    workload: Workload | None, reason: str
) -> None:
    decision = _decide(_approved(), {KEY: workload}, now=T0 + 3 * MIN)
    rollback = decision.rollback
    assert rollback is not None
    assert (rollback.phase, rollback.reason) == (RollbackPhase.REFUSED, reason)
    assert rollback.approved_by == "alice"
    assert rollback.completed_at == T0 + 3 * MIN
    assert decision.patch is None
    assert not rollback_active(_after(_approved(), decision).status)


def test_our_attempt_patches_the_workload_with_kubectls_patch() -> None:
    decision = _decide(_in_progress(), own_attempts=frozenset({"a1"}), now=T0 + 3 * MIN)
    assert decision.rollback == _in_progress().status.rollback, "nothing written before it"
    assert decision.patch is not None
    assert decision.patch.content_type == JSON_PATCH
    template = next(op for op in decision.patch.body if op["path"] == "/spec/template")
    assert template["value"] == _template("web:1")


ROLLED_BACK = _workload(
    [("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)],
    running="web:1",
    status={"observedGeneration": 5, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2},
)


@pytest.mark.parametrize("patched_now", [True, False])
def test_the_patch_is_recorded_from_the_workload(patched_now: bool) -> None:
    decision = _decide(
        _in_progress(),
        {KEY: ROLLED_BACK},
        own_attempts=frozenset({"a1"}) if patched_now else frozenset(),
        patched_now=patched_now,
        now=T0 + 3 * MIN,
    )
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.VERIFYING
    assert rollback.patched_at == T0 + 3 * MIN
    assert rollback.rollout_deadline == T0 + 13 * MIN
    assert decision.patch is None, "never patched twice"
    (entry,) = decision.entries
    assert entry.type == "RolledBack"
    assert ("found applied on resuming" in entry.message) is not patched_now


def test_another_replicas_fresh_attempt_is_left_alone() -> None:
    decision = _decide(_in_progress(), now=T0 + 3 * MIN + timedelta(seconds=1))
    assert decision.patch is None
    assert decision.entries == ()
    assert decision.wake_at == T0 + 3 * MIN + TAKEOVER_AFTER
    taken_over = _decide(_in_progress(), now=T0 + 3 * MIN + TAKEOVER_AFTER)
    assert taken_over.patch is not None


def test_a_workload_changed_during_the_attempt_is_left_alone() -> None:
    changed = _workload([("web:1", T0), ("web:2", T0), ("web:3", T0)])
    decision = _decide(_in_progress(), {KEY: changed}, own_attempts=frozenset({"a1"}))
    assert decision.rollback is not None
    assert decision.rollback.reason == Reason.CONCURRENT_CHANGE
    assert "it runs revision 3" in (decision.rollback.message or "")
    assert decision.patch is None


def test_a_rejected_patch_fails_the_rollback() -> None:
    decision = _decide(
        _in_progress(), own_attempts=frozenset({"a1"}), patch_error="admission webhook said no"
    )
    assert decision.rollback is not None
    assert (decision.rollback.phase, decision.rollback.reason) == (
        RollbackPhase.FAILED,
        Reason.PATCH_FAILED,
    )
    assert rollback_failed(_after(_in_progress(), decision).status) is None, "nothing changed"


# ------------------------------------------------------------------ verification


def _verifying() -> Incident:
    incident = _in_progress()
    decision = _decide(incident, {KEY: ROLLED_BACK}, own_attempts=frozenset({"a1"}))
    return _after(incident, decision)


DONE = _workload(
    [("web:1", T0 - 60 * MIN), ("web:2", T0 - 10 * MIN)],
    running="web:1",
    status={"observedGeneration": 5, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2},
)


def _detected(incident: Incident, breaching: bool, at: datetime) -> Incident:
    detection = DetectionStatus(
        fingerprint="f",
        policy="shop",
        rule="error-rate",
        level=Level.OK if not breaching else Level.CRITICAL,
        breaching=breaching,
        last_evaluated_at=at,
    )
    return incident.model_copy(
        update={"status": incident.status.model_copy(update={"detection": detection})}
    )


def test_rolling_out_is_polled_and_a_timeout_fails_it() -> None:
    verifying = _verifying()
    condition = rolled_back_condition(verifying.status)
    assert condition is not None
    assert condition[:2] == (ConditionStatus.UNKNOWN, Reason.ROLLING_OUT)
    assert rollback_active(verifying.status)
    polling = _decide(verifying, {KEY: ROLLED_BACK}, now=T0 + 4 * MIN)
    assert polling.wake_at == T0 + 4 * MIN + timedelta(seconds=1)
    assert polling.entries == ()
    late = _decide(verifying, {KEY: ROLLED_BACK}, now=T0 + 13 * MIN)
    assert late.rollback is not None
    assert late.rollback.reason == Reason.ROLLOUT_FAILED
    failed = _after(verifying, late).status
    assert (rollback_failed(failed) or "").startswith(
        "rollback: fix does not resolve the original problem: "
    )


def test_without_detection_a_completed_rollout_succeeds() -> None:
    decision = _decide(_verifying(), {KEY: DONE}, now=T0 + 4 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.phase is RollbackPhase.SUCCEEDED
    assert [e.type for e in decision.entries] == ["RolloutComplete", "RollbackSucceeded"]
    status = _after(_verifying(), decision).status
    condition = rolled_back_condition(status)
    assert condition is not None
    assert condition[:2] == (ConditionStatus.TRUE, Reason.ROLLED_BACK)
    assert "confirm the recovery by hand" in condition[2]


def test_recovery_then_the_whole_window_succeeds() -> None:
    verifying = _detected(_verifying(), breaching=True, at=T0 + 3 * MIN)
    rolled_out = _after(
        verifying, _decide(verifying, {KEY: DONE}, now=T0 + 4 * MIN, policy=_policy())
    )
    rollback = rolled_out.status.rollback
    assert rollback is not None
    assert rollback.verify_until == T0 + 9 * MIN, "the policy's 5m monitoring window"
    assert not rollback_active(rolled_out.status), "the lifecycle may move on"
    assert rolled_back_condition(rolled_out.status)[:2] == (  # type: ignore[index]
        ConditionStatus.UNKNOWN,
        Reason.VERIFYING,
    )
    recovered = _detected(rolled_out, breaching=False, at=T0 + 5 * MIN)
    step = _decide(recovered, {}, now=T0 + 5 * MIN, policy=_policy())
    recovered = _after(recovered, step)
    assert [e.type for e in step.entries] == ["RollbackRecovered"]
    assert rollback_recovered(recovered.status)
    assert rolled_back_condition(recovered.status)[:2] == (  # type: ignore[index]
        ConditionStatus.TRUE,
        Reason.ROLLED_BACK,
    )
    done = _decide(recovered, {}, now=T0 + 9 * MIN)
    assert done.rollback is not None
    assert done.rollback.phase is RollbackPhase.SUCCEEDED
    assert "stayed recovered for 5m" in (done.rollback.message or "")


@pytest.mark.parametrize(
    ("recovered_first", "last_word", "now", "words"),
    [
        (False, True, T0 + 9 * MIN, "did not recover within 5m"),
        (True, True, T0 + 7 * MIN, "breached again within 5m"),
    ],
    ids=["no-recovery", "regression"],
)
def test_a_rollback_that_does_not_help_is_an_escalation_trigger(
    recovered_first: bool, last_word: bool, now: datetime, words: str
) -> None:
    verifying = _detected(_verifying(), breaching=True, at=T0 + 3 * MIN)
    incident = _after(
        verifying, _decide(verifying, {KEY: DONE}, now=T0 + 4 * MIN, policy=_policy())
    )
    if recovered_first:
        incident = _detected(incident, breaching=False, at=T0 + 5 * MIN)
        incident = _after(incident, _decide(incident, {}, now=T0 + 5 * MIN))
    incident = _detected(incident, breaching=last_word, at=now - MIN)
    decision = _decide(incident, {}, now=now)
    assert decision.rollback is not None
    assert (decision.rollback.phase, decision.rollback.reason) == (
        RollbackPhase.FAILED,
        Reason.VERIFICATION_FAILED,
    )
    assert words in (decision.rollback.message or "")
    trigger = rollback_failed(_after(incident, decision).status)
    assert trigger is not None
    assert "fix does not resolve the original problem" in trigger


def test_a_new_request_after_a_finished_rollback_is_planned_again() -> None:
    finished = _after(_verifying(), _decide(_verifying(), {KEY: DONE}, now=T0 + 4 * MIN))
    assert finished.status.rollback is not None
    assert _decide(finished, {KEY: DONE}).rollback == finished.status.rollback
    request = {"target": {"kind": "Deployment", "name": "web"}, "toRevision": 2}
    asked = finished.model_copy(
        update={"spec": finished.spec.model_copy(update={"rollback": None})}
    )
    asked = Incident.model_validate(
        {**asked.model_dump(by_alias=True), "spec": {**asked.spec.to_wire(), "rollback": request}}
    )
    decision = _decide(asked, {KEY: DONE})
    assert decision.rollback is not None
    assert decision.rollback.phase is RollbackPhase.PROPOSED
    assert (decision.rollback.current_revision, decision.rollback.target_revision) == (1, 2)


def test_a_leftover_approval_is_cleared_and_a_late_one_ignored() -> None:
    same = _decide(_with_annotations(_in_progress(), _approve("alice")), {KEY: ROLLED_BACK})
    assert same.remove_approval is not None
    assert [e.type for e in same.entries] == ["RolledBack"]
    other = _decide(_with_annotations(_in_progress(), _approve("bob")), {KEY: ROLLED_BACK})
    assert [e.type for e in other.entries] == ["ApprovalIgnored", "RolledBack"]
    assert "already approved by alice" in other.entries[0].message


# ------------------------------------------------------------------ writing


def _status_patch(incident: Incident, decision: RollbackDecision) -> dict[str, Any]:
    """The merge patch the pipeline writes for ``decision`` (reconcile.status_patch)."""
    return status_difference(incident.status.to_wire(), _after(incident, decision).status.to_wire())


def test_the_status_patch_removes_dropped_fields_and_appends_entries() -> None:
    incident = _proposed()
    withdrawn = _decide(incident, {KEY: _workload([("a", T0), ("b", T0 + MIN)])})
    patch = _status_patch(incident, withdrawn)
    assert patch["rollback"] is None
    assert [e["type"] for e in patch["timeline"]][-1] == "ProposalWithdrawn"
    approved = _decide(_with_annotations(incident, _approve()))
    patch = _status_patch(incident, approved)
    assert patch["rollback"]["phase"] == "InProgress"
    assert patch["rollback"]["approvedBy"] == "alice"
    assert "diff" not in patch["rollback"], "only what changed"
    assert _status_patch(incident, _decide(incident)) == {}


def test_no_rollback_no_condition() -> None:
    assert rolled_back_condition(IncidentStatus()) is None
    assert rollback_failed(IncidentStatus()) is None
    assert not rollback_active(IncidentStatus())


def test_the_same_request_made_again_after_a_finished_rollback_is_new() -> None:
    request = {"target": {"kind": "Deployment", "name": "web"}}
    refused = _after(_incident(request), _decide(_incident(request), {KEY: None}))
    assert refused.status.rollback is not None
    assert refused.status.rollback.reason == Reason.WORKLOAD_NOT_FOUND
    refused = refused.model_copy(
        update={
            "status": refused.status.model_copy(
                update={
                    "rollback": refused.status.rollback.model_copy(
                        update={"approved_by": "alice", "phase": RollbackPhase.REFUSED}
                    )
                }
            )
        }
    )
    assert _decide(refused).rollback == refused.status.rollback, "the same request: done"
    withdrawn = refused.model_copy(
        update={"spec": refused.spec.model_copy(update={"rollback": None})}
    )
    forgotten = _after(withdrawn, _decide(withdrawn))
    assert forgotten.status.rollback is not None
    assert forgotten.status.rollback.requested is None
    again = forgotten.model_copy(update={"spec": refused.spec})
    decision = _decide(again)
    assert decision.rollback is not None
    assert decision.rollback.phase is RollbackPhase.PROPOSED
