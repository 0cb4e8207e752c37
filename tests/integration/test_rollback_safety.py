"""Rollbacks that must not happen twice, must not overwrite others, or must not happen.

A killed operator leaves one of two states behind: the attempt marked InProgress and
the workload untouched, or the workload patched and the attempt not yet recorded. The
tests stop the operator, leave exactly that state (written as the operator writes it),
start a new operator and check that the rollback happens once, or is recorded without
a second patch. A third variant has someone else change the workload in between.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.rollback_support import (
    build_history,
    get,
    incident,
    rollback_of,
    timeline_types,
    wait_rollback,
    wait_rollout,
)

from incident_operator.domain.rollback_plan import (
    JSON_PATCH,
    Plan,
    plan_rollback,
    rollback_patch,
    workload_from_objects,
)

WEB = ("Deployment", "web")
REVISION = "deployment.kubernetes.io/revision"


def _image(workload: dict[str, Any]) -> str:
    image: str = workload["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def _write_status(kubectl: Kubectl, namespace: str, name: str, status: dict[str, Any]) -> None:
    kubectl(
        "patch",
        "incident",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def _policy(kubectl: Kubectl, namespace: str, **spec: Any) -> None:
    body = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"default": True, **spec},
    }
    kubectl("apply", "-f", "-", input=json.dumps(body))

    def ready() -> bool:
        found = get(kubectl, "EscalationPolicy", namespace, "shop")
        conditions = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        return conditions.get("Ready", {}).get("status") == "True"

    wait_until(ready, what="the policy to be Ready", timeout=30)


@pytest.mark.parametrize("left_behind", ["marked", "patched", "changed-by-someone"])
def test_a_killed_operator_neither_repeats_nor_forgets_the_rollback(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    left_behind: str,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    incident(kubectl, namespace, "outage", target=WEB)
    wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
    operator.stop(kill=True)
    try:
        # What the killed operator had recorded: approved and marked, its attempt
        # started long enough ago to count as abandoned.
        started = datetime.now(UTC) - timedelta(minutes=1)
        _write_status(
            kubectl,
            namespace,
            "outage",
            {
                "rollback": {
                    "phase": "InProgress",
                    "approvedBy": "alice",
                    "approvedAt": started.isoformat(),
                    "attempt": "deadbeef",
                    "startedAt": started.isoformat(),
                }
            },
        )
        if left_behind == "patched":
            kubectl("rollout", "undo", "deployment/web", "-n", namespace)
        elif left_behind == "changed-by-someone":
            kubectl(
                "set", "image", "deployment/web", "app=registry.invalid/shop:9.9.9", "-n", namespace
            )
        before = wait_rollout(kubectl, "Deployment", namespace, "web")
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            if left_behind == "changed-by-someone":
                rollback = wait_rollback(
                    kubectl, namespace, "outage", "Refused", restarted.log_tail
                )
            else:
                rollback = wait_rollback(
                    kubectl, namespace, "outage", "Succeeded", restarted.log_tail
                )
            after = wait_rollout(kubectl, "Deployment", namespace, "web")
            restarted.stop(kill=True)  # the test is done with it; no need for a clean exit
    finally:
        operator.start()
    entries = get(kubectl, "Incident", namespace, "outage")["status"]["timeline"]
    rolled_back = [e["message"] for e in entries if e["type"] == "RolledBack"]
    if left_behind == "marked":
        assert before["metadata"]["annotations"][REVISION] == "2"
        assert after["metadata"]["annotations"][REVISION] == "3", "rolled back exactly once"
        assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
        assert _image(after) == "registry.invalid/shop:1.0.0"
        assert rolled_back == ["rolled back Deployment/web from revision 2 to revision 1"]
    elif left_behind == "patched":
        assert after["metadata"]["annotations"][REVISION] == "3"
        assert after["metadata"]["generation"] == before["metadata"]["generation"], (
            "not patched a second time"
        )
        assert rolled_back == [
            "rolled back Deployment/web from revision 2 to revision 1 "
            "(found applied on resuming; not patched again)"
        ]
    else:
        assert rollback["reason"] == "ConcurrentChange"
        assert "changed by someone else during the rollback" in rollback["message"]
        assert after["metadata"]["generation"] == before["metadata"]["generation"]
        assert _image(after) == "registry.invalid/shop:9.9.9", "their change stands"
        assert rolled_back == []


def test_two_replicas_racing_roll_back_once(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """Two operators without leader election see the same events: the guarded writes
    let one mark the attempt and one patch land."""
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    _policy(kubectl, namespace, rollback={"approvalNotRequiredFor": ["P1"]})
    with OperatorProcess(cluster.kubeconfig, tmp_path / "second.log") as second:
        incident(kubectl, namespace, "outage", target=WEB, severity="P1")
        wait_rollback(kubectl, namespace, "outage", "Succeeded", second.log_tail)
        after = wait_rollout(kubectl, "Deployment", namespace, "web")
        second.stop(kill=True)
    assert after["metadata"]["annotations"][REVISION] == "3", "one rollback, not two"
    kinds = timeline_types(kubectl, namespace, "outage")
    assert kinds.count("RollbackStarted") == 1
    assert kinds.count("RolledBack") == 1
    replica_sets = json.loads(kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    assert len(replica_sets) == 2, "the old ReplicaSet was reused, no third one made"


def test_a_concurrent_edit_makes_the_patch_fail_instead_of_overwriting_it(
    kubectl: Kubectl, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    apps = k8s.AppsV1Api(k8s_api)
    raw = get(kubectl, "Deployment", namespace, "web")
    history = json.loads(kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    workload = workload_from_objects("Deployment", raw, history)
    plan = plan_rollback(workload, None)
    assert isinstance(plan, Plan)
    patch = rollback_patch(workload, plan.target)
    assert patch.content_type == JSON_PATCH
    # Someone deploys between the operator's read and its patch.
    kubectl("set", "image", "deployment/web", "app=registry.invalid/shop:2.0.0", "-n", namespace)
    with pytest.raises(ApiException) as refused:
        apps.patch_namespaced_deployment(
            "web", namespace, patch.body, _content_type=patch.content_type
        )
    assert refused.value.status == 409
    assert _image(get(kubectl, "Deployment", namespace, "web")) == "registry.invalid/shop:2.0.0"


@pytest.mark.parametrize("why", ["paused", "gitops", "at-target"])
def test_refusals_change_nothing_and_say_what_to_do(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    why: str,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    if why == "paused":
        kubectl("rollout", "pause", "deployment/web", "-n", namespace)
    elif why == "gitops":
        kubectl(
            "label",
            "deployment",
            "web",
            "-n",
            namespace,
            "kustomize.toolkit.fluxcd.io/name=apps",
            "kustomize.toolkit.fluxcd.io/namespace=flux-system",
        )
    before = get(kubectl, "Deployment", namespace, "web")
    incident(
        kubectl, namespace, "outage", target=WEB, to_revision=2 if why == "at-target" else None
    )
    rollback = wait_rollback(kubectl, namespace, "outage", "Refused", operator.log_tail)
    expected = {
        "paused": (
            "Paused",
            "Deployment/web is paused, so a rollback would not roll out; resume it "
            "(kubectl rollout resume deployment/web)",
        ),
        "gitops": (
            "GitOpsManaged",
            "Deployment/web is managed by Flux (Kustomization flux-system/apps); a rollback "
            "here would be undone by its next sync. To roll back: revert the change in Git",
        ),
        "at-target": (
            "AlreadyAtTarget",
            "Deployment/web already runs the template of revision 2: nothing to roll back",
        ),
    }[why]
    assert rollback["reason"] == expected[0]
    assert rollback["message"].startswith(expected[1])
    assert "RollbackRefused" in timeline_types(kubectl, namespace, "outage")
    after = get(kubectl, "Deployment", namespace, "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["template"] == before["spec"]["template"]
    if why == "at-target":
        return
    # Once the cause is gone, the rollback is proposed again.
    if why == "paused":
        kubectl("rollout", "resume", "deployment/web", "-n", namespace)
    else:
        _policy(kubectl, namespace, rollback={"allowGitOpsManaged": True})
    proposal = wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
    assert (proposal["currentRevision"], proposal["targetRevision"]) == (2, 1)


def _detection(breaching: bool) -> dict[str, Any]:
    return {
        "detection": {
            "fingerprint": "test",
            "policy": "shop",
            "rule": "error-rate",
            "workload": {"kind": "Deployment", "name": "web"},
            "level": "critical" if breaching else "ok",
            "breaching": breaching,
            "lastEvaluatedAt": datetime.now(UTC).isoformat(),
        }
    }


@pytest.mark.parametrize("recovers", [True, False], ids=["recovers", "does-not-recover"])
def test_verification_watches_detection_for_the_monitoring_window(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    recovers: bool,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    # No approval for P1 under this policy, and a short monitoring window.
    _policy(
        kubectl,
        namespace,
        rollback={"approvalNotRequiredFor": ["P1"]},
        detection={"monitoringWindow": "4s"},
    )
    incident(kubectl, namespace, "outage", affected=[WEB], severity="P1")
    # What detection would write while the error rate is above its threshold.
    _write_status(kubectl, namespace, "outage", _detection(breaching=True))

    def verifying() -> dict[str, Any] | None:
        # The pass that records the finished rollout may show it as RolledBack for a
        # moment before the next one starts verifying (seen once in a full run).
        rollback = rollback_of(kubectl, namespace, "outage")
        return (
            rollback if rollback.get("rolledOutAt") and rollback["reason"] == "Verifying" else None
        )

    rollback = wait_until(
        verifying, what="the rollout, then its verification", timeout=90, detail=operator.log_tail
    )
    assert rollback["approvedBy"] == "incident-operator"
    if recovers:
        _write_status(kubectl, namespace, "outage", _detection(breaching=False))
        done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
        assert done["recoveredAt"] >= done["rolledOutAt"]
        assert "error-rate stayed recovered for 4s" in done["message"]
        assert "RollbackRecovered" in timeline_types(kubectl, namespace, "outage")
    else:
        failed = wait_rollback(kubectl, namespace, "outage", "Failed", operator.log_tail)
        assert failed["reason"] == "VerificationFailed"
        assert failed["message"].startswith("error-rate did not recover within 4s")
        assert "fix does not resolve the original problem" in failed["message"]
