"""Rolling back a fix attempt that does not resolve the problem, on the local cluster.

Detection (real Prometheus scraping the tests' exporter) opens the incident; a person
then rolls out a fix (revision 2) while the error rate stays high. A monitoring window
later the operator proposes rolling the fix back (source FixAttempt, criterion
NotResolved), a member of the approver group approves, and the Deployment returns to
the template it ran before the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import get_incident, phase_of
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.exporters import WorkloadExporter
from tests.integration.rollback_support import approve, get, let_approve, rollback_of
from tests.integration.test_detection import (
    TIMEOUT,
    _after_cycles,
    _detected,
    _one_incident,
    _policy,
    _serving,
    _told,
)

ERROR_RATIO = 0.03


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, prometheus_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("fix-attempt") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig, log, extra_args=("--prometheus-url", prometheus_url)
    ).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _approval_policy_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _pods(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    """The Running pods of ``name`` and their images."""
    listed = kubectl("get", "pods", "-n", namespace, "-l", f"app={name}", "-o", "json")
    return {
        pod["metadata"]["name"]: pod["spec"]["containers"][0]["image"]
        for pod in json.loads(listed.stdout)["items"]
        if phase_of(pod) == "Running"
    }


def _image(kubectl: Kubectl, namespace: str, name: str) -> str:
    image: str = get(kubectl, "Deployment", namespace, name)["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    return image


def _erroring(
    kubectl: Kubectl, exporter: WorkloadExporter, namespace: str, name: str, image: str
) -> None:
    """Waits for a Running pod of ``name`` with ``image`` and serves errors for it too."""
    found: list[str] = wait_until(
        lambda: (
            [pod for pod, used in _pods(kubectl, namespace, name).items() if used == image] or None
        ),
        what=f"a running pod of {name} with {image}",
        timeout=TIMEOUT,
    )
    for pod in found:
        exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=ERROR_RATIO)


def test_a_fix_that_does_not_resolve_is_proposed_approved_and_rolled_back(
    operator: OperatorProcess,
    exporter: WorkloadExporter,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    _serving(
        kubectl, exporter, namespace, "checkout", requests_per_second=50, error_ratio=ERROR_RATIO
    )
    rules = [{"name": "errors", "signal": "apiErrorRate", "window": "10s"}]
    _policy(kubectl, namespace, rules, monitoringWindow="10s")
    opened = _one_incident(kubectl, namespace, operator, _detected, "an incident for errors")
    name = opened["metadata"]["name"]
    before = _image(kubectl, namespace, "checkout")
    # Revision times are whole seconds: let detection run on so the fix is after detection.
    _after_cycles(operator, namespace, 3)

    fixed = "registry.invalid/checkout:2"
    kubectl("set", "image", "deployment/checkout", f"main={fixed}", "-n", namespace)
    # The fix does not help: its pod errs as much as the one it replaces.
    _erroring(kubectl, exporter, namespace, "checkout", fixed)

    def fix_proposal() -> dict[str, object] | None:
        rollback = rollback_of(kubectl, namespace, name)
        return rollback if rollback.get("source") == "FixAttempt" else None

    proposal = wait_until(
        fix_proposal,
        what="a FixAttempt rollback proposal",
        timeout=TIMEOUT,
        detail=operator.log_tail,
    )
    assert proposal["phase"] == "Proposed"
    assert proposal["criterion"] == "NotResolved"
    assert (proposal["currentRevision"], proposal["targetRevision"]) == (2, 1)
    assert f"container main: image {fixed} -> {before}" in str(proposal["diff"])
    assert "errors still breaches" in str(proposal["evidence"])
    record = get_incident(kubectl, namespace, name)["status"]["fixAttempt"]
    assert (record["target"], record["revision"]) == (
        {"kind": "Deployment", "name": "checkout"},
        2,
    )
    # The timeline entry (and its Event) names the criterion and the evidence.
    assert _told(kubectl, namespace, name, "(fix attempt, NotResolved: errors still breaches")

    # A restarted operator judges the same fix against the same record: nothing repeated.
    operator.stop()
    operator.start()
    _after_cycles(operator, namespace, 5)
    assert rollback_of(kubectl, namespace, name)["proposedAt"] == proposal["proposedAt"]
    assert get_incident(kubectl, namespace, name)["status"]["fixAttempt"] == record
    timeline = get_incident(kubectl, namespace, name)["status"]["timeline"]
    assert [e["type"] for e in timeline].count("RollbackProposed") == 1

    let_approve(kubectl, namespace, "alice")
    approve(kubectl, namespace, name, user="alice")
    wait_until(
        lambda: rollback_of(kubectl, namespace, name).get("patchedAt"),
        what="the fix to be rolled back",
        timeout=TIMEOUT,
        detail=operator.log_tail,
    )
    done = rollback_of(kubectl, namespace, name)
    assert done["approvedBy"] == "alice"
    assert done["source"] == "FixAttempt"
    assert _image(kubectl, namespace, "checkout") == before
    # kubectl's numbering: the pre-fix revision comes back as revision 3.
    annotations = get(kubectl, "Deployment", namespace, "checkout")["metadata"]["annotations"]
    assert annotations["deployment.kubernetes.io/revision"] == "3"
    timeline = get_incident(kubectl, namespace, name)["status"]["timeline"]
    assert [e["type"] for e in timeline].count("RollbackProposed") == 1
