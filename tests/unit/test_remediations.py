"""The remediation pipeline (reconcile/remediations.py) with a fake kind, and the scale kind."""

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiException

from incident_operator.adapters import metrics
from incident_operator.adapters.remediation_adapters import ADAPTERS, read_target
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.remediation_status import (
    RECORD_LIMIT,
    RemediationKind,
    RemediationPhase,
    RemediationRecord,
)
from incident_operator.api.remediations import Remediation
from incident_operator.cli.render import remediations_section
from incident_operator.domain.reasons import EntryType, Reason
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.pipeline import IncidentDecision, IncidentInputs, decide_incident
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_scale import ScalePlanner
from incident_operator.reconcile.remediations import (
    ActOutcome,
    RemediationDecision,
    RemediationInputs,
    decide_remediations,
    remediation_failed,
    remediation_targets,
)
from incident_operator.runtime.incidents import _count_remediations

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
THING = Target("v1", "Thing", "t")
REQUEST = "sre.agentos.io/remediate"
REQUEST_BY = "sre.agentos.io/remediate-by"
APPROVE = "sre.agentos.io/approve-remediation"
APPROVE_REQUEST = "sre.agentos.io/approve-remediation-request"


class FakePlanner:
    """A kind over one object whose state["value"] the action sets to params.value."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        return [THING]

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        seen = observations[THING.key]
        now, wanted = seen.state.get("value"), parameters["value"]
        if now == wanted:
            return Refusal(Reason.NOTHING_TO_DO, f"value is {wanted} already")
        return Action(
            summary=f"set value from {now} to {wanted}",
            diff="",
            targets=(THING,),
            guards={THING.key: seen.resource_version},
            previous={"value": now},
            payload={"value": wanted},
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        value = observations[THING.key].state.get("value")
        if value == parameters["value"]:
            return Progress(ProgressState.DONE, "value set")
        if value == (record.previous or {}).get("value"):
            return Progress(ProgressState.NOT_TAKEN)
        return Progress(ProgressState.FAILED, f"value changed to {value} by someone else")


PLANNERS = {RemediationKind.SCALE: FakePlanner()}


def _entry(**extra: Any) -> dict[str, Any]:
    return {
        "name": "set-value",
        "kind": "scale",
        "parameters": [{"name": "value", "allowed": ["a", "b"]}],
        "scale": {"workload": {"kind": "Deployment", "name": "web"}},
        **extra,
    }


def _policy(*entries: dict[str, Any], **spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {
                "remediations": list(entries) or [_entry()],
                "rollback": {"approverGroup": "sre-leads"},
                "detection": {"monitoringWindow": "5m"},
                **spec,
            },
        }
    )


def _request(name: str = "set-value", by: str = "bob", **parameters: str) -> dict[str, str]:
    body = json.dumps({"remediation": name, "parameters": parameters or {"value": "b"}})
    return {REQUEST: body, REQUEST_BY: by}


def _incident(
    annotations: dict[str, str] | None = None,
    records: list[RemediationRecord] | None = None,
    severity: str = "P1",
    **status: Any,
) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "shop",
                "uid": "u",
                "generation": 1,
                "resourceVersion": "7",
                "annotations": annotations or {},
            },
            "spec": {"title": "Checkout errors", "severity": severity},
            "status": {
                "id": "INC-0042",
                "phase": "Investigating",
                "detectedAt": T0.isoformat(),
                "remediations": [r.to_wire() for r in records or []],
                **status,
            },
        }
    )


def _seen(value: str = "a", version: str = "10", **meta: Any) -> dict[str, Observations]:
    return {"r1": {THING.key: Observation(THING, True, version, state={"value": value}, **meta)}}


def _decide(
    incident: Incident,
    policy: EscalationPolicy | None = None,
    observations: Mapping[str, Observations] | None = None,
    now: datetime = T0,
    **extra: Any,
) -> RemediationDecision:
    return decide_remediations(
        RemediationInputs(
            incident=incident,
            policy=_policy() if policy is None else policy,
            now=now,
            observations=_seen() if observations is None else observations,
            attempt_id="a1",
            planners=PLANNERS,
            **extra,
        )
    )


def _only(decision: RemediationDecision) -> RemediationRecord:
    (record,) = decision.records
    return record


def _proposed(**changes: Any) -> RemediationRecord:
    """r1 as the first pass records a request for value b (current a)."""
    decision = _decide(_incident(_request()))
    return _only(decision).model_copy(update={"request": None, **changes})


# ------------------------------------------------------------------ requests


def test_a_request_is_recorded_and_proposed_and_its_annotation_removed_next_pass() -> None:
    decision = _decide(_incident(_request()))
    record = _only(decision)
    assert record.phase is RemediationPhase.PROPOSED
    assert (record.id, record.requested_by, record.parameters) == ("r1", "bob", {"value": "b"})
    assert record.summary == "set value from a to b"
    assert record.approver_group == "sre-leads", "the policy's rollback group by default"
    assert record.proposal
    assert record.request is not None
    assert [t.resource_version for t in record.targets] == ["10"]
    assert [e.type for e in decision.entries] == [
        EntryType.REMEDIATION_REQUESTED,
        EntryType.REMEDIATION_PROPOSED,
    ]
    assert "kubectl incident approve INC-0042 r1" in (record.message or "")
    assert decision.remove_annotations == ()
    assert decision.actions == []

    again = _decide(_incident(_request(), [record]))
    assert _only(again).request is None
    assert set(again.remove_annotations) == {REQUEST, REQUEST_BY}
    assert [e.type for e in again.entries] == []


@pytest.mark.parametrize(
    ("annotations", "severity", "phase", "reason", "words"),
    [
        (_request("nope"), "P1", None, Reason.UNKNOWN_REMEDIATION, "the catalog has: set-value"),
        ({REQUEST: "{", REQUEST_BY: "bob"}, "P1", None, Reason.UNKNOWN_REMEDIATION, "not JSON"),
        (
            _request(value="c"),
            "P1",
            None,
            Reason.INVALID_PARAMETER,
            "'c' is not allowed; allowed values: a, b",
        ),
        (_request(other="x"), "P1", None, Reason.INVALID_PARAMETER, "has no parameter other"),
        (_request(), "P3", None, Reason.SEVERITY_NOT_ALLOWED, "this one is P3"),
        (_request(), "P1", "Closed", Reason.INCIDENT_NOT_ACTIVE, "Closed"),
    ],
    ids=["unknown", "not-json", "not-allowed", "unknown-parameter", "severity", "closed"],
)
def test_bad_requests_make_refused_records(
    annotations: dict[str, str], severity: str, phase: str | None, reason: Reason, words: str
) -> None:
    policy = _policy(_entry(severities=["P0", "P1"]))
    status = {"phase": phase} if phase else {}
    decision = _decide(_incident(annotations, severity=severity, **status), policy)
    record = _only(decision)
    assert record.phase is RemediationPhase.REFUSED
    assert record.reason == reason
    assert words in (record.message or "")
    assert decision.entries[-1].type is EntryType.REMEDIATION_REFUSED
    assert decision.actions == []


def test_a_request_beyond_the_record_limit_is_refused_without_a_record() -> None:
    full = [
        _proposed(id=f"r{n}", phase=RemediationPhase.REFUSED) for n in range(1, RECORD_LIMIT + 1)
    ]
    decision = _decide(_incident(_request(), full))
    assert len(decision.records) == RECORD_LIMIT
    assert "already has 16 remediations" in decision.entries[-1].message
    assert set(decision.remove_annotations) == {REQUEST, REQUEST_BY}


def test_targets_include_a_pending_request_under_its_new_id() -> None:
    old = _proposed(phase=RemediationPhase.SUCCEEDED)
    incident = _incident(_request(), [old])
    wanted = remediation_targets(incident, _policy(), PLANNERS)
    assert wanted == {"r2": [(RemediationKind.SCALE, THING)]}


# ------------------------------------------------------------------ approvals


def _approval(
    record: RemediationRecord, user: str = "alice", proposal: str | None = None
) -> dict[str, str]:
    return {APPROVE: user, APPROVE_REQUEST: f"{record.id}:{proposal or record.proposal}"}


def test_an_approval_of_the_current_proposal_starts_it_in_the_same_pass() -> None:
    proposed = _proposed()
    decision = _decide(_incident(_approval(proposed), [proposed]))
    record = _only(decision)
    assert record.phase is RemediationPhase.IN_PROGRESS
    assert (record.approved_by, record.attempt, record.previous) == ("alice", "a1", {"value": "a"})
    (action,) = decision.actions
    assert action.record_id == "r1"
    assert action.action.payload == {"value": "b"}
    assert [e.type for e in decision.entries] == [
        EntryType.REMEDIATION_APPROVED,
        EntryType.REMEDIATION_STARTED,
    ]
    # Recorded: the next pass removes the annotations and does not act again.
    after = _decide(_incident(_approval(proposed), [record]), observations=_seen("a", "11"))
    assert set(after.remove_annotations) == {APPROVE, APPROVE_REQUEST}


@pytest.mark.parametrize(
    ("request_value", "reason", "words"),
    [
        ("r1:0000", Reason.APPROVAL_MISMATCH, "it approves proposal 0000 of r1, but the current"),
        ("r1", Reason.APPROVAL_MISMATCH, "it approves proposal (none)"),
        ("r7:abc", None, "names no remediation of this incident"),
    ],
)
def test_an_approval_that_does_not_name_the_current_proposal_does_nothing(
    request_value: str, reason: Reason | None, words: str
) -> None:
    proposed = _proposed()
    annotations = {APPROVE: "alice", APPROVE_REQUEST: request_value}
    decision = _decide(_incident(annotations, [proposed]))
    record = _only(decision)
    assert record.phase is RemediationPhase.PROPOSED
    assert decision.actions == []
    assert set(decision.remove_annotations) == {APPROVE, APPROVE_REQUEST}
    (entry,) = decision.entries
    assert entry.type is EntryType.REMEDIATION_APPROVAL_IGNORED
    assert words in entry.message
    if reason is not None:
        assert record.reason == reason


def test_the_proposal_follows_the_object_and_an_old_approval_misses() -> None:
    proposed = _proposed()
    moved = _decide(_incident(records=[proposed]), observations=_seen("c", "12"))
    record = _only(moved)
    assert record.proposal != proposed.proposal
    assert record.summary == "set value from c to b"
    assert "proposal changed" in moved.entries[0].message
    # The controller writing status only (a new resourceVersion) is not a new proposal.
    same = _decide(_incident(records=[proposed]), observations=_seen("a", "99"))
    assert _only(same).proposal == proposed.proposal
    assert same.entries == []


def test_no_approval_needed_starts_at_once() -> None:
    policy = _policy(_entry(requiresApproval=False))
    decision = _decide(_incident(_request()), policy)
    record = _only(decision)
    assert record.phase is RemediationPhase.IN_PROGRESS
    assert record.approved_by == "incident-operator"
    assert len(decision.actions) == 1


def test_gitops_managed_objects_are_refused_unless_allowed() -> None:
    managed = {"labels": {"argocd.argoproj.io/instance": "shop"}}
    decision = _decide(_incident(_request()), observations={"r1": _seen(**managed)["r1"]})
    record = _only(decision)
    assert record.phase is RemediationPhase.REFUSED
    assert record.reason == Reason.GITOPS_MANAGED
    assert "Argo CD" in (record.message or "")
    assert "allowGitOpsManaged: true" in (record.message or "")
    allowed = _decide(
        _incident(_request()),
        _policy(_entry(allowGitOpsManaged=True)),
        observations=_seen(**managed),
    )
    assert _only(allowed).phase is RemediationPhase.PROPOSED


def test_one_action_per_object_at_a_time() -> None:
    busy = _started(attempt="x")
    waiting = _proposed(id="r2", phase=RemediationPhase.APPROVED, approved_by="alice")
    observations = {**_seen(), "r2": _seen()["r1"]}
    decision = _decide(
        _incident(records=[busy, waiting]),
        observations=observations,
        own_attempts=frozenset({"x"}),
    )
    second = decision.records[1]
    assert second.phase is RemediationPhase.APPROVED
    assert second.reason == Reason.TARGET_BUSY
    assert "waiting for r1" in (second.message or "")


def test_an_open_proposal_is_withdrawn_when_the_incident_closes() -> None:
    decision = _decide(_incident(records=[_proposed()], phase="Closed"))
    assert _only(decision).phase is RemediationPhase.WITHDRAWN


# ------------------------------------------------------------------ acting


def _started(**changes: Any) -> RemediationRecord:
    started: dict[str, Any] = {
        "phase": RemediationPhase.IN_PROGRESS,
        "approved_by": "alice",
        "attempt": "a0",
        "started_at": T0,
        "previous": {"value": "a"},
    }
    return _proposed(**{**started, **changes})


def _detection(breaching: bool, at: datetime) -> dict[str, Any]:
    return {
        "detection": {
            "fingerprint": "f",
            "policy": "shop",
            "rule": "error-rate",
            "level": "critical" if breaching else "ok",
            "breaching": breaching,
            "lastEvaluatedAt": at.isoformat(),
        }
    }


@pytest.mark.parametrize(
    ("owner", "now", "acts"),
    [
        ("own", T0 + timedelta(seconds=1), True),
        ("other", T0 + timedelta(seconds=1), False),
        ("other", T0 + timedelta(minutes=1), True),
    ],
    ids=["ours", "another-replica-recent", "abandoned"],
)
def test_an_attempt_not_taken_is_applied_again_by_its_owner_or_after_takeover(
    owner: str, now: datetime, acts: bool
) -> None:
    own = frozenset({"a0"}) if owner == "own" else frozenset()
    decision = _decide(_incident(records=[_started()]), now=now, own_attempts=own)
    assert bool(decision.actions) is acts
    assert _only(decision).phase is RemediationPhase.IN_PROGRESS


def test_done_without_detection_succeeds_and_with_detection_verifies() -> None:
    done = _decide(_incident(records=[_started()]), observations=_seen("b", "11"))
    record = _only(done)
    assert record.phase is RemediationPhase.SUCCEEDED
    assert "confirm the recovery by hand" in (record.message or "")

    watched = _incident(records=[_started()], **_detection(True, T0))
    verifying = _only(_decide(watched, observations=_seen("b", "11")))
    assert verifying.phase is RemediationPhase.VERIFYING
    assert verifying.verify_until == T0 + timedelta(minutes=5), "the policy's window"
    assert verifying.acted_at == T0


@pytest.mark.parametrize(
    ("detections", "phase", "words"),
    [
        ([(False, 1), (False, 400)], RemediationPhase.SUCCEEDED, "stayed recovered for 5m"),
        ([(True, 1), (True, 400)], RemediationPhase.FAILED, "did not recover within 5m"),
        ([(False, 1), (True, 2)], RemediationPhase.FAILED, "breached again within 5m"),
    ],
    ids=["recovers", "no-recovery", "regresses"],
)
def test_verification_judges_detection_until_verify_until(
    detections: list[tuple[bool, int]], phase: RemediationPhase, words: str
) -> None:
    record = _started(
        phase=RemediationPhase.VERIFYING, acted_at=T0, verify_until=T0 + timedelta(minutes=5)
    )
    for breaching, seconds in detections:
        now = T0 + timedelta(seconds=seconds)
        incident = _incident(records=[record], **_detection(breaching, now))
        record = _only(_decide(incident, now=now))
    assert record.phase is phase
    assert words in (record.message or "")
    failed = remediation_failed(_incident(records=[record]).status)
    assert (failed is not None) is (phase is RemediationPhase.FAILED)
    if failed is not None:
        assert failed[0] == "r1"
        assert "r1 (set-value): fix does not resolve the original problem" in failed[1]


def test_someone_elses_change_fails_the_attempt_and_a_rejection_too() -> None:
    changed = _only(_decide(_incident(records=[_started()]), observations=_seen("z", "12")))
    assert changed.phase is RemediationPhase.FAILED
    assert "value changed to z by someone else" in (changed.message or "")
    rejected = _only(
        _decide(_incident(records=[_started()]), acted={"r1": ActOutcome(rejected="forbidden")})
    )
    assert rejected.phase is RemediationPhase.FAILED
    assert "the API server refused the action: forbidden" in (rejected.message or "")


# ------------------------------------------------------------------ the scale kind

SCALE = Remediation.model_validate(
    {
        "name": "kill-switch",
        "kind": "scale",
        "scale": {"workload": {"kind": "Deployment", "name": "web"}, "replicas": "0"},
    }
)
WEB = Target("apps/v1", "Deployment", "web")


def _web(replicas: int | None, generation: int = 2, observed: int = 2) -> Observations:
    state = {"replicas": replicas, "generation": generation, "observedGeneration": observed}
    return {WEB.key: Observation(WEB, True, "5", state=state)}


@pytest.mark.parametrize(
    ("observations", "expected"),
    [
        (_web(3), "scale Deployment/web from 3 to 0 replicas"),
        (_web(0), "Deployment/web already has 0 replicas"),
        ({WEB.key: Observation(WEB, False)}, "Deployment/web does not exist"),
    ],
)
def test_scale_plans(observations: Observations, expected: str) -> None:
    record = _proposed()
    planned = ScalePlanner().plan(SCALE, {}, record, observations)
    described = planned.summary if isinstance(planned, Action) else planned.message
    assert expected in described
    if isinstance(planned, Action):
        assert planned.previous == {"replicas": 3}
        assert planned.guards == {WEB.key: "5"}
        assert planned.payload == {"replicas": 0}


@pytest.mark.parametrize(
    ("observations", "state"),
    [
        (_web(0), ProgressState.DONE),
        (_web(0, generation=3, observed=2), ProgressState.RUNNING),
        (_web(3), ProgressState.NOT_TAKEN),
        (_web(5), ProgressState.FAILED),
    ],
)
def test_scale_progress(observations: Observations, state: ProgressState) -> None:
    record = _proposed(previous={"replicas": 3})
    assert ScalePlanner().progress(SCALE, {}, record, observations).state is state


def test_only_records_before_or_while_acting_are_read() -> None:
    records = [
        _proposed(),
        _started(id="r2"),
        _started(id="r3", phase=RemediationPhase.VERIFYING),
        _proposed(id="r4", phase=RemediationPhase.SUCCEEDED),
    ]
    wanted = remediation_targets(_incident(records=records), _policy(), PLANNERS)
    assert sorted(wanted) == ["r1", "r2"]


def test_show_lists_the_records_and_how_to_approve() -> None:
    status = _incident(records=[_proposed(), _started(id="r2")]).status
    lines = remediations_section({"id": "INC-0042", **status.to_wire()})
    text = "\n".join(lines)
    assert "r1  Proposed   set-value  set value from a to b  (requested by bob)" in text
    assert "approve: kubectl incident approve INC-0042 r1 (members of sre-leads)" in text
    assert 'previous: {"value": "a"}' in text
    assert remediations_section({}) == []


def test_outcomes_are_counted_once_per_record() -> None:
    counter = metrics.REMEDIATIONS.labels(kind="scale", outcome="failed")
    before = counter._value.get()
    started = _started()
    failed = started.model_copy(update={"phase": RemediationPhase.FAILED})
    _count_remediations([started], [failed])
    _count_remediations([failed], [failed])
    assert counter._value.get() == before + 1


def _whole_pass(approved_by: str, observations: Observations) -> IncidentDecision:
    """decide_incident over one InProgress kill-switch (3 replicas before) of ours."""
    policy = EscalationPolicy.model_validate(
        {
            "metadata": {"name": "shop", "namespace": "shop", "generation": 1},
            "spec": {"default": True, "remediations": [SCALE.to_wire()]},
        }
    )
    started = RemediationRecord(
        id="r1",
        remediation="kill-switch",
        kind=RemediationKind.SCALE,
        requested_by="bob",
        requested_at=T0,
        phase=RemediationPhase.IN_PROGRESS,
        approved_by=approved_by,
        attempt="a0",
        started_at=T0,
        previous={"replicas": 3},
    )
    incident = _incident(records=[started])
    return decide_incident(
        IncidentInputs(
            incident=incident,
            governing=governing_policy(incident, [policy], []),
            now=T0 + timedelta(seconds=5),
            started_at=T0 - timedelta(hours=1),
            lease=timedelta(seconds=15),
            own_attempts=frozenset({"a0"}),
            remediation_observations={"r1": observations},
        )
    )


def test_a_failed_remediation_escalates_in_the_same_pass() -> None:
    decision = _whole_pass("alice", _web(5))
    (record,) = decision.status.remediations
    assert record.phase is RemediationPhase.FAILED
    assert decision.status.escalation is not None
    instances = [t.instance for t in decision.status.escalation.triggers]
    assert "remediationFailed/r1" in instances
    assert decision.remediation_actions == ()


def _unreadable() -> dict[str, Observations]:
    error = "cannot read Thing/t (forbidden): things is forbidden"
    return {"r1": {THING.key: Observation(THING, False, error=error)}}


def test_an_object_the_operator_cannot_read_refuses_a_proposal_and_holds_an_action() -> None:
    proposal = _decide(_incident(records=[_proposed()]), observations=_unreadable())
    record = _only(proposal)
    assert (record.phase, record.reason) == (RemediationPhase.REFUSED, Reason.TARGET_UNREADABLE)
    assert "forbidden" in (record.message or "")
    assert "rbac.md" in (record.message or "")
    assert [e.type for e in proposal.entries] == [EntryType.REMEDIATION_REFUSED]

    # An attempt already recorded is neither given up nor repeated: it waits and says why.
    in_flight = _decide(_incident(records=[_started()]), observations=_unreadable())
    record = _only(in_flight)
    assert (record.phase, record.reason) == (
        RemediationPhase.IN_PROGRESS,
        Reason.TARGET_UNREADABLE,
    )
    assert (record.message or "").startswith("waiting: cannot read Thing/t")
    assert in_flight.actions == []
    assert in_flight.wake_at == T0 + timedelta(seconds=30)


class _Refusing:
    """An adapter whose reads the API server answers with ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status

    def read(self, namespace: str, target: Target) -> Observation:
        return _raise(self.status, json.dumps({"message": f'things "{target.name}" is forbidden'}))

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        raise AssertionError("not called")


def _raise(status: int, body: str) -> Observation:
    error = ApiException(status=status, reason="Forbidden")
    error.body = body
    raise error


def test_a_read_retrying_cannot_fix_is_an_observation_error_and_others_propagate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(ADAPTERS, RemediationKind.SCALE, _Refusing(403))
    seen = read_target(RemediationKind.SCALE, "shop", THING)
    assert not seen.exists
    assert seen.error == 'cannot read Thing/t (forbidden): things "t" is forbidden'

    monkeypatch.setitem(ADAPTERS, RemediationKind.SCALE, _Refusing(503))
    with pytest.raises(ApiException):
        read_target(RemediationKind.SCALE, "shop", THING)


@pytest.mark.parametrize(
    ("approved_by", "phase"),
    [("alice", "Mitigating"), ("incident-operator", "Investigating")],
    ids=["approved-mitigation", "diagnostic-needing-no-approval"],
)
def test_an_approved_remediation_in_progress_holds_the_incident_in_mitigating(
    approved_by: str, phase: str
) -> None:
    decision = _whole_pass(approved_by, _web(3))
    assert decision.status.phase is not None
    assert decision.status.phase.value == phase
    said = [e.message for e in decision.entries if "in progress" in e.message]
    moved = "Investigating -> Mitigating: remediation r1 (kill-switch) in progress"
    assert said == ([moved] if approved_by == "alice" else [])


def test_the_catalog_example_in_the_docs_is_a_valid_policy() -> None:
    """docs/remediation.md shows one entry of every kind; it must stay a policy we accept."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "remediation.md").read_text()
    policies = [
        doc
        for block in re.findall(r"```yaml\n(.*?)```", text, re.S)
        for doc in yaml.safe_load_all(block)
        if isinstance(doc, dict) and doc.get("kind") == "EscalationPolicy"
    ]
    assert policies, "docs/remediation.md shows a policy"
    kinds = {
        entry.kind
        for policy in policies
        for entry in EscalationPolicy.model_validate(policy).spec.remediations
    }
    assert kinds == set(RemediationKind)


def test_an_entry_without_its_kinds_settings_is_refused_in_the_schemas_words() -> None:
    with pytest.raises(
        ValueError, match="a featureFlag remediation needs its featureFlag settings"
    ):
        Remediation.model_validate({"name": "flag-off", "kind": "featureFlag"})
