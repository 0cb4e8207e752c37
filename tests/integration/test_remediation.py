"""Remediations end to end on the local control plane, with the `scale` kind (the other
kinds have their own modules): request with the plugin, refusals (by the plugin, by the
operator, by the API server), approval, execution, verification, a killed operator, a
concurrent edit and concurrent approvals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.remediation_support import (
    APPROVE,
    REMEDIATE,
    annotations,
    approve,
    approver,
    catalog_policy,
    open_incident,
    record,
    request,
    scale_entry,
    wait_phase,
)
from tests.integration.rollback_support import (
    get,
    manifest,
    timeline_types,
    wait_rollout,
)


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _web(kubectl: Kubectl, namespace: str, replicas: int = 2) -> dict[str, Any]:
    kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(manifest("Deployment", "web", replicas=replicas)),
    )
    return wait_rollout(kubectl, "Deployment", namespace, "web")


def _replicas(kubectl: Kubectl, namespace: str) -> int:
    found: int = get(kubectl, "Deployment", namespace, "web")["spec"]["replicas"]
    return found


def test_request_approve_scale_and_succeed(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)

    requested = request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="0")
    assert (
        f"r1 Proposed: scale Deployment/web from 2 to 0 replicas (approve with: kubectl "
        f"incident approve {incident_id} r1)" in requested.stdout
    ), requested.stdout
    proposed = record(kubectl, namespace, "outage", "r1")
    assert proposed["approverGroup"] == "incident-approvers"
    assert proposed["parameters"] == {"replicas": "0"}
    assert _replicas(kubectl, namespace) == 2, "nothing happens before the approval"
    wait_until(
        lambda: REMEDIATE not in annotations(kubectl, namespace, "outage"),
        what="the request annotation to be removed",
        timeout=30,
    )

    approved = approve(alice, namespace, incident_id, "r1")
    assert "approved r1 as alice" in approved.stdout
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert done["previous"] == {"replicas": 2}
    assert done["attempt"]
    assert done["startedAt"] <= done["actedAt"]
    assert _replicas(kubectl, namespace) == 0
    wait_until(
        lambda: APPROVE not in annotations(kubectl, namespace, "outage"),
        what="the approval annotation to be removed",
        timeout=30,
    )
    types = timeline_types(kubectl, namespace, "outage")
    for expected in (
        "RemediationRequested",
        "RemediationProposed",
        "RemediationApproved",
        "RemediationStarted",
        "RemediationSucceeded",
    ):
        assert types.count(expected) == 1, (expected, types)
    shown = run_plugin(cluster.kubeconfig, namespace, "show", incident_id)
    assert "r1  Succeeded  kill-switch" in shown.stdout, shown.stdout
