"""The rolloutUndo remediation kind (reconcile/remediation_rollout.py): which workload,
the rollback's plan and refusals, progress from the template the workload runs, and the
pipeline choosing the incident's first affected workload."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.remediation_status import (
    RemediationKind,
    RemediationPhase,
    RemediationRecord,
    TargetState,
)
from incident_operator.api.remediations import Remediation
from incident_operator.domain.reasons import Reason
from incident_operator.domain.rollback_plan import (
    JSON_PATCH,
    STRATEGIC_MERGE_PATCH,
    template_digest,
    workload_from_objects,
)
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError
from incident_operator.reconcile.remediation_rollout import RolloutUndoPlanner
from incident_operator.reconcile.remediations import (
    RemediationInputs,
    decide_remediations,
    remediation_targets,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "uid-1"
PLANNER = RolloutUndoPlanner()


def _template(image: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def _replica_set(revision: int, image: str) -> dict[str, Any]:
    template = _template(image)
    template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [{"controller": True, "uid": UID}],
            "creationTimestamp": "2026-03-01T11:00:00Z",
        },
        "spec": {"template": template},
    }


def _controller_revision(number: int, image: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"db-{number}",
            "ownerReferences": [{"controller": True, "uid": UID}],
            "creationTimestamp": "2026-03-01T11:00:00Z",
        },
        "revision": number,
        "data": {"spec": {"template": {**_template(image), "$patch": "replace"}}},
    }


def _status(rolled_out: bool = True, failed: bool = False) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 5,
        "replicas": 2,
        "updatedReplicas": 2 if rolled_out else 1,
        "availableReplicas": 2 if rolled_out else 1,
    }
    if failed:
        status["conditions"] = [
            {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "too slow"}
        ]
    return status


def _observed(
    image: str = "v3",
    images: tuple[str, ...] = ("v1", "v2", "v3"),
    *,
    kind: str = "Deployment",
    name: str = "web",
    paused: bool = False,
    version: str = "42",
    status: dict[str, Any] | None = None,
) -> Observations:
    raw = {
        "metadata": {"name": name, "uid": UID, "resourceVersion": version, "generation": 5},
        "spec": {"replicas": 2, "template": _template(image), "paused": paused},
        "status": status if status is not None else _status(),
    }
    make = _replica_set if kind == "Deployment" else _controller_revision
    history = [make(n, i) for n, i in enumerate(images, start=1)]
    workload = workload_from_objects(kind, raw, history)
    target = Target("apps/v1", kind, name, frozenset({"history"}))
    return {
        target.key: Observation(
            target,
            exists=True,
            resource_version=version,
            labels=workload.labels,
            annotations=workload.annotations,
            state={"workload": workload},
        )
    }


def _entry(**settings: Any) -> Remediation:
    return Remediation.model_validate(
        {
            "name": "undo",
            "kind": "rolloutUndo",
            "parameters": [{"name": "service", "allowed": ["web", "db"], "required": False}],
            "rolloutUndo": settings,
        }
    )


NAMED = _entry(workload={"kind": "Deployment", "name": "web"})
AFFECTED = _entry()


def _record(**changes: Any) -> RemediationRecord:
    base: dict[str, Any] = {
        "id": "r1",
        "remediation": "undo",
        "kind": RemediationKind.ROLLOUT_UNDO,
        "requested_by": "bob",
        "requested_at": T0,
        "phase": RemediationPhase.PROPOSED,
    }
    return RemediationRecord.model_validate(base | changes)


def _affected(kind: str = "Deployment", name: str = "web") -> TargetState:
    return TargetState(api_version="apps/v1", kind=kind, name=name)


# ------------------------------------------------------------------ which workload


@pytest.mark.parametrize(
    ("entry", "parameters", "record", "expected"),
    [
        (NAMED, {}, _record(), ("Deployment", "web")),
        (
            _entry(workload={"kind": "StatefulSet", "name": "{{ params.service }}"}),
            {"service": "db"},
            _record(),
            ("StatefulSet", "db"),
        ),
        (AFFECTED, {}, _record(affected_workload=_affected("DaemonSet", "agent")), None),
        (AFFECTED, {}, _record(), None),
    ],
    ids=["named", "templated", "affected", "none"],
)
def test_the_workload_is_the_entrys_or_the_incidents_first_affected(
    entry: Remediation,
    parameters: dict[str, str],
    record: RemediationRecord,
    expected: tuple[str, str] | None,
) -> None:
    targets = PLANNER.targets(entry, parameters, record)
    keys = [t.key for t in targets]
    if record.affected_workload is not None:
        expected = (record.affected_workload.kind, record.affected_workload.name)
    assert keys == ([] if expected is None else [expected])
    assert all("history" in t.extras for t in targets)


def test_a_templated_name_must_come_out_a_workload_name() -> None:
    entry = _entry(workload={"kind": "Deployment", "name": "web-{{ params.service }}"})
    with pytest.raises(ParameterError, match="not a workload name"):
        PLANNER.targets(entry, {"service": "Bad_Name"}, _record())


def test_a_templated_name_pattern_is_checked_by_the_schema() -> None:
    with pytest.raises(ValueError, match="name"):
        _entry(workload={"kind": "Deployment", "name": "{{ oops }}"})


# ------------------------------------------------------------------ plan


def test_plan_is_the_rollbacks_patch_of_the_previous_revision() -> None:
    observations = _observed()
    planned = PLANNER.plan(NAMED, {}, _record(), observations)
    assert isinstance(planned, Action)
    assert planned.summary == "roll back Deployment/web from revision 3 to revision 2"
    assert "image v3 -> v2" in planned.diff
    assert planned.guards == {("Deployment", "web"): "42"}
    assert planned.previous == {
        "revision": 3,
        "digest": template_digest(_template("v3")),
        "targetRevision": 2,
        "targetDigest": template_digest(_template("v2")),
    }
    assert planned.payload["contentType"] == JSON_PATCH
    guard, template, _annotations = planned.payload["body"]
    assert guard == {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"}
    assert template["value"] == _template("v2")  # without pod-template-hash


def test_plan_to_a_chosen_revision_of_a_stateful_set() -> None:
    entry = _entry(workload={"kind": "StatefulSet", "name": "db"}, toRevision="1")
    observations = _observed(kind="StatefulSet", name="db")
    planned = PLANNER.plan(entry, {}, _record(), observations)
    assert isinstance(planned, Action)
    assert planned.summary == "roll back StatefulSet/db from revision 3 to revision 1"
    assert planned.payload["contentType"] == STRATEGIC_MERGE_PATCH
    assert planned.payload["body"]["metadata"] == {"resourceVersion": "42"}


@pytest.mark.parametrize(
    ("entry", "observations", "reason", "message"),
    [
        (NAMED, {}, Reason.WORKLOAD_NOT_FOUND, "Deployment/web does not exist"),
        (AFFECTED, _observed(), Reason.WORKLOAD_NOT_FOUND, "names no workload"),
        (
            _entry(workload={"kind": "Deployment", "name": "web"}, toRevision="7"),
            _observed(),
            Reason.REVISION_NOT_FOUND,
            "has no revision 7 (revisions: 1, 2, 3)",
        ),
        (NAMED, _observed(images=("v3",)), Reason.REVISION_NOT_FOUND, "no earlier revision"),
        (
            _entry(workload={"kind": "Deployment", "name": "web"}, toRevision="3"),
            _observed(),
            Reason.ALREADY_AT_TARGET,
            "already runs the template of revision 3",
        ),
        (
            NAMED,
            _observed(paused=True),
            Reason.PAUSED,
            "kubectl rollout resume deployment/web) and request the remediation again",
        ),
    ],
    ids=["gone", "no-workload", "no-such-revision", "no-history", "at-target", "paused"],
)
def test_plan_refuses_as_rollbacks_do(
    entry: Remediation, observations: Observations, reason: Reason, message: str
) -> None:
    planned = PLANNER.plan(entry, {}, _record(), observations)
    assert isinstance(planned, Refusal)
    assert planned.reason == reason
    assert message in planned.message


def test_a_bad_to_revision_is_a_parameter_error() -> None:
    entry = _entry(
        workload={"kind": "Deployment", "name": "web"}, toRevision="{{ params.service }}"
    )
    with pytest.raises(ParameterError, match="not a revision number"):
        PLANNER.plan(entry, {"service": "web"}, _record(), _observed())


def _started(image_from: str = "v3", image_to: str = "v2", revision: int = 2) -> RemediationRecord:
    return _record(
        phase=RemediationPhase.IN_PROGRESS,
        attempt="a1",
        previous={
            "revision": 3,
            "digest": template_digest(_template(image_from)),
            "targetRevision": revision,
            "targetDigest": template_digest(_template(image_to)),
        },
    )


def test_an_attempt_not_taken_is_planned_to_the_recorded_revision() -> None:
    # The entry says "previous"; the record says 1: the approved target wins.
    planned = PLANNER.plan(NAMED, {}, _started(image_to="v1", revision=1), _observed())
    assert isinstance(planned, Action)
    assert planned.summary.endswith("to revision 1")


def test_an_attempt_whose_revision_changed_template_is_refused() -> None:
    planned = PLANNER.plan(NAMED, {}, _started(image_to="v9"), _observed())
    assert isinstance(planned, Refusal)
    assert "no longer holds the template" in planned.message


# ------------------------------------------------------------------ progress


@pytest.mark.parametrize(
    ("observations", "state", "message"),
    [
        ({}, ProgressState.FAILED, "Deployment/web was deleted"),
        (_observed("v3"), ProgressState.NOT_TAKEN, ""),
        (_observed("v2", status=_status(rolled_out=False)), ProgressState.RUNNING, "1 of 2"),
        (_observed("v2"), ProgressState.DONE, "runs revision 2"),
        (_observed("v2", status=_status(failed=True)), ProgressState.FAILED, "too slow"),
        (_observed("v7"), ProgressState.FAILED, "changed by someone else"),
    ],
    ids=["deleted", "not-taken", "rolling-out", "done", "rollout-failed", "changed"],
)
def test_progress_follows_the_template_and_the_rollout(
    observations: Observations, state: ProgressState, message: str
) -> None:
    progress = PLANNER.progress(NAMED, {}, _started(), observations)
    assert progress.state is state
    assert message in progress.message


# ------------------------------------------------------------------ through the pipeline


def _policy() -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "default", "namespace": "shop"},
            "spec": {
                "remediations": [
                    {"name": "undo", "kind": "rolloutUndo", "rolloutUndo": {}},
                ]
            },
        }
    )


def _incident(affected: list[dict[str, str]]) -> Incident:
    request = json.dumps({"remediation": "undo", "parameters": {}})
    return Incident.model_validate(
        {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": "checkout-down",
                "namespace": "shop",
                "uid": "u1",
                "annotations": {
                    "sre.agentos.io/remediate": request,
                    "sre.agentos.io/remediate-by": "bob",
                },
            },
            "spec": {"title": "checkout down", "severity": "P1", "affected": affected},
            "status": {"phase": "Investigating", "id": "INC-0001"},
        }
    )


def test_a_request_without_a_workload_uses_the_incidents_first_affected() -> None:
    incident = _incident(
        [{"kind": "Deployment", "name": "web"}, {"kind": "Deployment", "name": "api"}]
    )
    policy = _policy()
    assert remediation_targets(incident, policy)["r1"][0][1].key == ("Deployment", "web")
    decision = decide_remediations(
        RemediationInputs(
            incident=incident, policy=policy, now=T0, observations={"r1": _observed()}
        )
    )
    (record,) = decision.records
    assert record.affected_workload == _affected()
    assert record.phase is RemediationPhase.PROPOSED
    assert record.summary == "roll back Deployment/web from revision 3 to revision 2"


def test_a_request_with_no_workload_anywhere_is_refused() -> None:
    incident, policy = _incident([]), _policy()
    # Nothing to read, so the runtime reads nothing for r1 and the plan refuses.
    assert remediation_targets(incident, policy) == {"r1": []}
    decision = decide_remediations(
        RemediationInputs(incident=incident, policy=policy, now=T0, observations={"r1": {}})
    )
    (record,) = decision.records
    assert record.phase is RemediationPhase.REFUSED
    assert record.reason == Reason.WORKLOAD_NOT_FOUND


# ------------------------------------------------------------------ rights not granted


def _forbidden_read() -> dict[str, Observations]:
    target = Target("apps/v1", "Deployment", "web", frozenset({"history"}))
    error = 'cannot read Deployment/web (forbidden): deployments.apps "web" is forbidden'
    seen = Observation(target, exists=False, error=error)
    return {"r1": {target.key: seen}}


def test_a_read_the_api_server_forbids_refuses_the_request_naming_the_object() -> None:
    incident = _incident([{"kind": "Deployment", "name": "web"}])
    decision = decide_remediations(
        RemediationInputs(
            incident=incident, policy=_policy(), now=T0, observations=_forbidden_read()
        )
    )
    (record,) = decision.records
    assert record.phase is RemediationPhase.REFUSED
    assert record.reason == Reason.TARGET_UNREADABLE
    assert record.message is not None
    assert "cannot read Deployment/web (forbidden)" in record.message
    assert "rolloutUndo remediation kind's rights (or its CRD) are not installed" in record.message
    assert not decision.actions


def test_a_forbidden_read_while_acting_holds_the_attempt() -> None:
    incident = _incident([{"kind": "Deployment", "name": "web"}])
    incident.metadata.annotations.clear()
    incident.status.remediations = [
        _started().model_copy(update={"affected_workload": _affected()})
    ]
    decision = decide_remediations(
        RemediationInputs(
            incident=incident, policy=_policy(), now=T0, observations=_forbidden_read()
        )
    )
    (record,) = decision.records
    # Recorded, so neither forgotten nor repeated: it waits until the read is allowed.
    assert record.phase is RemediationPhase.IN_PROGRESS
    assert record.reason == Reason.TARGET_UNREADABLE
    assert not decision.actions


@pytest.mark.parametrize("allowed", [False, True], ids=["refused", "allowed"])
def test_a_gitops_managed_workload_is_refused_unless_the_entry_allows_it(allowed: bool) -> None:
    policy = _policy()
    policy.spec.remediations[0].allow_git_ops_managed = allowed
    observations = _observed()
    (key,) = observations
    seen = observations[key]
    managed = Observation(
        seen.target,
        exists=True,
        resource_version=seen.resource_version,
        labels={"kustomize.toolkit.fluxcd.io/name": "shop"},
        state=seen.state,
    )
    decision = decide_remediations(
        RemediationInputs(
            incident=_incident([{"kind": "Deployment", "name": "web"}]),
            policy=policy,
            now=T0,
            observations={"r1": {key: managed}},
        )
    )
    (record,) = decision.records
    if allowed:
        assert record.phase is RemediationPhase.PROPOSED
    else:
        assert record.phase is RemediationPhase.REFUSED
        assert record.reason == Reason.GITOPS_MANAGED
        assert record.message is not None
        assert "managed by Flux (Kustomization shop)" in record.message
