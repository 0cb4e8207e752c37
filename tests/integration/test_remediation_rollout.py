"""The rolloutUndo remediation end to end on the local control plane: requested with the
plugin, approved by an approver-group member, the same result as the real
`kubectl rollout undo` (a short version of test_rollback_equivalence.py), and a killed
operator acting exactly once or leaving someone else's change alone.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.integration.remediation_support import (
    APPROVERS,
    approve,
    approver,
    catalog_policy,
    open_incident,
    request,
    wait_phase,
    write_records,
)
from tests.integration.rollback_support import (
    build_history,
    get,
    template_without_hash,
    timeline_types,
    wait_rollout,
)

from incident_operator.domain.rollback_plan import (
    Plan,
    plan_rollback,
    template_digest,
    workload_from_objects,
)

NAME = "shop"


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


@pytest.fixture
def twin(k8s_api: k8s.ApiClient, namespace: str) -> Iterator[str]:
    """A second namespace beside ``namespace`` for the real kubectl, deleted afterwards."""
    core = k8s.CoreV1Api(k8s_api)
    name = f"{namespace[:50]}-b{secrets.token_hex(2)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _entry(kind: str, to_revision: bool) -> dict[str, Any]:
    """A rolloutUndo entry: the incident's affected workload to "previous", or the named
    workload to the revision the request gives."""
    entry: dict[str, Any] = {
        "name": "undo",
        "kind": "rolloutUndo",
        "approverGroup": APPROVERS,
        "rolloutUndo": {},
    }
    if to_revision:
        entry["parameters"] = [{"name": "revision", "type": "integer", "minimum": 1}]
        entry["rolloutUndo"] = {
            "workload": {"kind": kind, "name": NAME},
            "toRevision": "{{ params.revision }}",
        }
    return entry


def _history(kubectl: Kubectl, kind: str, namespace: str) -> list[tuple[int, dict[str, Any]]]:
    resource = "rs" if kind == "Deployment" else "controllerrevisions"
    items = json.loads(
        kubectl("get", resource, "-n", namespace, "-l", f"app={NAME}", "-o", "json").stdout
    )["items"]
    if kind == "Deployment":
        return sorted(
            (
                int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
                template_without_hash(rs["spec"]["template"]),
            )
            for rs in items
        )
    return sorted((cr["revision"], cr["data"]["spec"]["template"]) for cr in items)


@pytest.mark.parametrize(
    ("kind", "to_revision"),
    [("Deployment", None), ("StatefulSet", 1)],
    ids=["deployment-previous-of-affected", "statefulset-to-revision-param"],
)
def test_the_same_result_as_kubectl_rollout_undo(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    twin: str,
    operator: OperatorProcess,
    tmp_path: Path,
    kind: str,
    to_revision: int | None,
) -> None:
    by_kubectl, by_operator = twin, namespace
    for ns in (by_kubectl, by_operator):
        build_history(kubectl, k8s_api, kind, ns, NAME)
    before = get(kubectl, kind, by_operator, NAME)
    undo = ["rollout", "undo", f"{kind.lower()}/{NAME}", "-n", by_kubectl]
    if to_revision is not None:
        undo.append(f"--to-revision={to_revision}")
    assert "rolled back" in kubectl(*undo).stdout

    catalog_policy(kubectl, by_operator, [_entry(kind, to_revision is not None)])
    incident_id = open_incident(kubectl, by_operator, "outage", affected=((kind, NAME),))["status"][
        "id"
    ]
    alice = approver(cluster, kubectl, by_operator, tmp_path)
    parameters = {"revision": str(to_revision)} if to_revision is not None else {}
    requested = request(cluster.kubeconfig, by_operator, incident_id, "undo", **parameters)
    target = to_revision or 2
    summary = f"roll back {kind}/{NAME} from revision 3 to revision {target}"
    assert f"r1 Proposed: {summary}" in requested.stdout, requested.stdout
    proposed = wait_phase(kubectl, by_operator, "outage", "r1", "Proposed")
    assert 'container app: env FLAG "on" -> "off"' in proposed["diff"]
    assert get(kubectl, kind, by_operator, NAME)["spec"] == before["spec"], "not before approval"

    approve(alice, by_operator, incident_id, "r1")
    done = wait_phase(kubectl, by_operator, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert (done["previous"]["revision"], done["previous"]["targetRevision"]) == (3, target)

    expected = wait_rollout(kubectl, kind, by_kubectl, NAME)
    actual = wait_rollout(kubectl, kind, by_operator, NAME)
    assert actual["spec"]["template"] == expected["spec"]["template"]
    assert actual["spec"]["template"] != before["spec"]["template"]
    assert actual["metadata"].get("annotations") == expected["metadata"].get("annotations")
    assert _history(kubectl, kind, by_operator) == _history(kubectl, kind, by_kubectl)
    types = timeline_types(kubectl, by_operator, "outage")
    for entry in ("RemediationApproved", "RemediationStarted", "RemediationSucceeded"):
        assert types.count(entry) == 1, (entry, types)


def _plan(kubectl: Kubectl, namespace: str) -> tuple[dict[str, Any], Plan]:
    raw = get(kubectl, "Deployment", namespace, NAME)
    history = json.loads(
        kubectl("get", "rs", "-n", namespace, "-l", f"app={NAME}", "-o", "json").stdout
    )["items"]
    planned = plan_rollback(workload_from_objects("Deployment", raw, history), None)
    assert isinstance(planned, Plan)
    return raw, planned


def _in_progress(raw: dict[str, Any], planned: Plan) -> dict[str, Any]:
    """The record a killed operator left: approved, attempt recorded, not yet acted on."""
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert planned.current is not None
    return {
        "id": "r1",
        "remediation": "undo",
        "kind": "rolloutUndo",
        "requestedBy": "alice",
        "requestedAt": started,
        "phase": "InProgress",
        "approverGroup": APPROVERS,
        "affectedWorkload": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
        "summary": f"roll back Deployment/{NAME} from revision 3 to revision 2",
        "approvedBy": "alice",
        "approvedAt": started,
        "attempt": "deadbeef",
        "startedAt": started,
        "previous": {
            "revision": planned.current.number,
            "digest": planned.current_digest,
            "targetRevision": planned.target.number,
            "targetDigest": template_digest(planned.target.template),
        },
        "targets": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": NAME,
                "resourceVersion": raw["metadata"]["resourceVersion"],
            }
        ],
    }


@pytest.mark.parametrize("left_behind", ["marked", "changed-by-someone"])
def test_a_killed_operator_rolls_back_exactly_once(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    left_behind: str,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, NAME)
    catalog_policy(kubectl, namespace, [_entry("Deployment", to_revision=False)])
    open_incident(kubectl, namespace, "outage", affected=(("Deployment", NAME),))
    operator.stop(kill=True)
    try:
        raw, planned = _plan(kubectl, namespace)
        write_records(kubectl, namespace, "outage", [_in_progress(raw, planned)])
        if left_behind == "changed-by-someone":
            kubectl("set", "env", f"deployment/{NAME}", "HOTFIX=1", "-n", namespace)
        before = wait_rollout(kubectl, "Deployment", namespace, NAME)
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            phase = "Failed" if left_behind == "changed-by-someone" else "Succeeded"
            done = wait_phase(kubectl, namespace, "outage", "r1", phase, restarted.log_tail)
            after = wait_rollout(kubectl, "Deployment", namespace, NAME)
            restarted.stop(kill=True)
    finally:
        operator.start()
    generations = (before["metadata"]["generation"], after["metadata"]["generation"])
    if left_behind == "marked":
        assert template_digest(after["spec"]["template"]) == done["previous"]["targetDigest"]
        assert generations[1] == generations[0] + 1, "rolled back exactly once"
    else:
        env = after["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "HOTFIX", "value": "1"} in env, "their change stands"
        assert generations[1] == generations[0]
        assert done["reason"] == "RemediationFailed"
        assert (
            f"the pod template of Deployment/{NAME} was changed by someone else"
            in (done["message"])
        )
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 0
