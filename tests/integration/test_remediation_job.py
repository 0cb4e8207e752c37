"""The `job` remediation kind on the local control plane (docs/remediation/job.md): the
adapter on its own (create once, its own Job found again, someone else's refused), then
end to end through the plugin: the runbook's database migration rollback requested,
refused with bad parameters and for an approver outside the group, approved and run; a
read-only diagnostic run at once; a Job that fails escalating; and a killed operator
that neither runs the Job twice nor forgets it.

kwok plays the kubelet: a Job's pods are scheduled on fake nodes and complete at once
(tests/harness/kwok/kwok.yaml, stage pod-complete); their logs are not served, so the
record's output says why instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.remediation_support import (
    APPROVERS,
    approve,
    approver,
    catalog_policy,
    open_incident,
    record,
    request,
    wait_phase,
    write_records,
)
from tests.integration.rollback_support import get, timeline_types

from incident_operator.adapters.kubernetes import api_client
from incident_operator.adapters.remediation_job import JobAdapter
from incident_operator.api.job_template import NEEDS_CONTAINERS, NO_TTL
from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import Remediation
from incident_operator.domain.remediation_action import Action, ActionRejected
from incident_operator.reconcile.remediation_job import JobPlanner, job_name

IMAGE = "registry.invalid/db-tools:1.4"


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


@pytest.fixture
def _adapter_client(cluster: ClusterInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The adapters' Kubernetes client, pointed at the local cluster for this test (the
    client reads $KUBECONFIG once, at import, into this default)."""
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    api_client.cache_clear()
    yield
    api_client.cache_clear()


def rollback_entry(**extra: Any) -> dict[str, Any]:
    """The runbook's `./scripts/db-rollback.sh --version [previous_version]` as a Job."""
    return {
        "name": "db-migration-rollback",
        "kind": "job",
        "approverGroup": APPROVERS,
        "parameters": [
            {
                "name": "version",
                "description": "the migration version to roll back to",
                "pattern": "^[0-9]{8,14}$",
            }
        ],
        "job": {
            "template": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "rollback",
                                "image": IMAGE,
                                "command": ["./scripts/db-rollback.sh"],
                                "args": ["--version", "{{ params.version }}"],
                            }
                        ]
                    }
                }
            },
            "timeout": "5m",
            "logsTailLines": 10,
        },
        **extra,
    }


def diagnostic_entry(name: str = "health-check", **job: Any) -> dict[str, Any]:
    """The runbook's "useful commands": read-only, so no approval and nothing to verify."""
    return {
        "name": name,
        "kind": "job",
        "requiresApproval": False,
        "verify": {"rulesRecover": False},
        "job": {
            "template": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "check",
                                "image": "registry.invalid/sre-tools:2",
                                "command": ["./scripts/health-check.sh"],
                            }
                        ]
                    }
                }
            },
            **job,
        },
    }


def _job(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return get(kubectl, "Job", namespace, name)


def _jobs(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout
    )["items"]
    return found


def _record_of(found: dict[str, Any]) -> RemediationRecord:
    return RemediationRecord.model_validate(found)


# ------------------------------------------------------------------ the adapter alone


@pytest.mark.usefixtures("_adapter_client")
def test_the_adapter_creates_once_finds_its_own_and_refuses_another(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    catalog_policy(kubectl, namespace, [])
    incident = open_incident(kubectl, namespace, "outage")
    entry = Remediation.model_validate(rollback_entry())
    mine = RemediationRecord(
        id="r1",
        remediation=entry.name,
        kind=entry.kind,
        parameters={"version": "20240101"},
        requested_by="bob",
        requested_at=datetime.now(UTC),
        phase="Approved",
    )
    planner, adapter = JobPlanner(), JobAdapter()
    planned = planner.plan(entry, mine.parameters, mine, {})
    assert isinstance(planned, Action)
    (target,) = planned.targets
    assert not adapter.read(namespace, target).exists

    adapter.apply(namespace, "outage", "r1", planned)
    created = _job(kubectl, namespace, target.name)
    assert created["metadata"]["labels"]["sre.agentos.io/incident"] == "outage"
    assert created["metadata"]["labels"]["sre.agentos.io/remediation-record"] == "r1"
    (owner,) = created["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Incident",
        "outage",
        incident["metadata"]["uid"],
    )
    spec = created["spec"]
    assert (spec["activeDeadlineSeconds"], spec["backoffLimit"]) == (300, 0)
    assert spec["template"]["spec"]["containers"][0]["args"] == ["--version", "20240101"]

    # Applying again (a restart after the create) finds its own Job: no second one.
    adapter.apply(namespace, "outage", "r1", planned)
    again = _job(kubectl, namespace, target.name)
    assert again["metadata"]["uid"] == created["metadata"]["uid"]

    def finished() -> Any:
        seen = adapter.read(namespace, target)
        done = any(c["type"] == "Complete" for c in seen.state["conditions"])
        return seen if done and seen.state["conditions"][-1]["status"] == "True" else None

    seen = wait_until(finished, what=f"Job/{target.name} to complete", timeout=60)
    progress = planner.progress(entry, mine.parameters, mine, {target.key: seen})
    assert progress.state.value == "Done", progress
    assert progress.output, "a log tail, or why there is none"

    # A Job of the name the next record would get, made by someone else: refused, named.
    theirs = mine.model_copy(update={"id": "r2"})
    planned_theirs = planner.plan(entry, theirs.parameters, theirs, {})
    assert isinstance(planned_theirs, Action)
    name = job_name(theirs)
    kubectl(
        "create",
        "job",
        name,
        f"--image={IMAGE}",
        "-n",
        namespace,
    )
    with pytest.raises(ActionRejected, match=f"Job/{name} already exists and was not made"):
        adapter.apply(namespace, "outage", "r2", planned_theirs)


# ------------------------------------------------------------------ bad templates


def _policy_with(kubectl: Kubectl, namespace: str, entry: dict[str, Any]) -> Any:
    body = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"remediations": [entry]},
    }
    return kubectl("apply", "-f", "-", input=json.dumps(body), check=False)


def _no_containers(entry: dict[str, Any]) -> None:
    entry["job"]["template"]["template"]["spec"]["containers"] = []


def _with_ttl(entry: dict[str, Any]) -> None:
    entry["job"]["template"]["ttlSecondsAfterFinished"] = 60


def _chosen_image(entry: dict[str, Any]) -> None:
    container = entry["job"]["template"]["template"]["spec"]["containers"][0]
    container["image"] = "registry.invalid/{{ params.version }}"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_no_containers, NEEDS_CONTAINERS),
        (_with_ttl, NO_TTL),
        (_chosen_image, "job.template.template.spec.containers[0].image refers to a parameter"),
    ],
)
def test_a_bad_template_makes_the_policy_not_ready_naming_the_field(
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    spoil: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    # The template is free-form to the API server (CEL cannot see into it): the operator
    # names the field in the policy's Ready condition, and no request can use the entry.
    entry = rollback_entry()
    spoil(entry)
    _policy_with(kubectl, namespace, entry).check_returncode()

    def not_ready() -> dict[str, Any] | None:
        status = get(kubectl, "EscalationPolicy", namespace, "shop").get("status") or {}
        ready = {c["type"]: c for c in status.get("conditions") or []}.get("Ready") or {}
        return ready if ready.get("status") == "False" else None

    ready = wait_until(not_ready, what="the policy to be not Ready", timeout=30)
    assert ready["reason"] == "InvalidSpec"
    assert message in ready["message"], ready


# ------------------------------------------------------------------ end to end


def test_request_refuse_approve_run_and_succeed(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    catalog_policy(kubectl, namespace, [rollback_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)
    mallory = approver(cluster, kubectl, namespace, tmp_path, "mallory", groups=("developers",))

    bad = request(
        cluster.kubeconfig,
        namespace,
        incident_id,
        "db-migration-rollback",
        version="latest; drop",
        check=False,
    )
    assert bad.returncode != 0
    assert "version" in bad.stderr
    assert "nothing was requested" in bad.stderr

    requested = request(
        cluster.kubeconfig, namespace, incident_id, "db-migration-rollback", version="20240101"
    )
    proposed = record(kubectl, namespace, "outage", "r1")
    name = job_name(_record_of(proposed))
    assert proposed["phase"] == "Proposed"
    assert (
        f"run Job/{name}: {IMAGE} ./scripts/db-rollback.sh --version 20240101 (a new Job; it "
        "replaces nothing)"
    ) in requested.stdout, requested.stdout
    assert "args: ['--version', '20240101']" in requested.stdout
    assert not _jobs(kubectl, namespace), "nothing runs before the approval"

    refused = approve(mallory, namespace, incident_id, "r1", check=False)
    assert refused.returncode != 0
    assert "only members of group" in refused.stderr, refused.stderr
    assert not _jobs(kubectl, namespace)

    approve(alice, namespace, incident_id, "r1")
    # No detection rule watches this incident: done is success, said so.
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert done["previous"] == {}
    assert done["targets"] == [{"apiVersion": "batch/v1", "kind": "Job", "name": name}]
    assert f"Job/{name} completed" in done["message"]
    assert done["output"], "the log tail, or why there is none"
    last_line = done["output"].splitlines()[-1]
    timeline = get(kubectl, "Incident", namespace, "outage")["status"]["timeline"]
    succeeded = next(e for e in timeline if e["type"] == "RemediationSucceeded")
    assert last_line in succeeded["message"], "the timeline carries the log's last lines"
    (job,) = _jobs(kubectl, namespace)
    assert job["metadata"]["name"] == name
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["--version", "20240101"]
    types = timeline_types(kubectl, namespace, "outage")
    for expected in ("RemediationProposed", "RemediationApproved", "RemediationStarted"):
        assert types.count(expected) == 1, (expected, types)
    assert types.count("RemediationSucceeded") == 1, types


def test_a_diagnostic_runs_at_once_and_a_failing_job_escalates(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    # A Job no node will take, with a 1 s deadline: the Job controller fails it.
    stuck = diagnostic_entry("queue-status", timeout="1s")
    stuck["job"]["template"]["template"]["spec"]["nodeSelector"] = {"no-such-node": "x"}
    catalog_policy(kubectl, namespace, [diagnostic_entry(), stuck])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]

    request(cluster.kubeconfig, namespace, incident_id, "health-check")
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "incident-operator"
    assert "verify.rulesRecover is false" in done["message"]

    request(cluster.kubeconfig, namespace, incident_id, "queue-status")
    failed = wait_phase(kubectl, namespace, "outage", "r2", "Failed", operator.log_tail)
    assert failed["reason"] == "RemediationFailed"
    assert "failed (DeadlineExceeded" in failed["message"], failed["message"]

    def triggered() -> list[dict[str, Any]] | None:
        status = get(kubectl, "Incident", namespace, "outage")["status"]
        triggers = (status.get("escalation") or {}).get("triggers") or []
        return [t for t in triggers if t["name"] == "remediationFailed"] or None

    (trigger,) = wait_until(triggered, what="the remediationFailed trigger", timeout=30)
    assert trigger["instance"] == "remediationFailed/r2"


def _in_progress() -> dict[str, Any]:
    """The record a killed operator left: approved, attempt recorded, maybe not acted on."""
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {
        "id": "r1",
        "remediation": "db-migration-rollback",
        "kind": "job",
        "parameters": {"version": "20240101"},
        "requestedBy": "alice",
        "requestedAt": started,
        "phase": "InProgress",
        "approverGroup": APPROVERS,
        "approvedBy": "alice",
        "approvedAt": started,
        "attempt": "deadbeef",
        "startedAt": started,
        "previous": {},
    }


@pytest.mark.usefixtures("_adapter_client")
@pytest.mark.parametrize("left_behind", ["marked", "created", "someone-elses"])
def test_a_killed_operator_runs_the_job_exactly_once(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    left_behind: str,
) -> None:
    catalog_policy(kubectl, namespace, [rollback_entry()])
    open_incident(kubectl, namespace, "outage")
    left = _in_progress()
    name = job_name(_record_of(left))
    operator.stop(kill=True)
    try:
        write_records(kubectl, namespace, "outage", [left])
        if left_behind == "created":
            # The killed operator had created it: the adapter as the operator calls it.
            entry = Remediation.model_validate(rollback_entry())
            planned = JobPlanner().plan(entry, left["parameters"], _record_of(left), {})
            assert isinstance(planned, Action)
            JobAdapter().apply(namespace, "outage", "r1", planned)
        elif left_behind == "someone-elses":
            kubectl("create", "job", name, f"--image={IMAGE}", "-n", namespace)
        before = (
            _job(kubectl, namespace, name)["metadata"]["uid"] if left_behind != "marked" else None
        )
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            phase = "Failed" if left_behind == "someone-elses" else "Succeeded"
            done = wait_phase(kubectl, namespace, "outage", "r1", phase, restarted.log_tail)
            restarted.stop(kill=True)
    finally:
        operator.start()
    (job,) = _jobs(kubectl, namespace)
    assert job["metadata"]["name"] == name
    if before is not None:
        assert job["metadata"]["uid"] == before, "not created a second time"
    if left_behind == "someone-elses":
        assert f"Job/{name} exists but was not made for r1" in done["message"]
        assert "ownerReferences" not in job["metadata"], "their Job is left alone"
    else:
        assert f"Job/{name} completed" in done["message"]
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 0
