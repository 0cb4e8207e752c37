"""The story a newcomer would try: a workload breaks, an incident is run to its end.

Written only against a kubeconfig (kind, a real cluster, or the local control plane), so
the same scenario proves an installed chart in `make e2e-kind` and the code in `make test`.
"""

import json
from datetime import UTC, datetime

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    PRE_RESOLUTION_BY_PEOPLE,
    REQUIRED_BY_PEOPLE,
    conditions,
    patch_incident,
    policy_manifest,
    wait_for_phase,
)
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.harness.workloads import PART_OF_AGENTOS, deployment_manifest

DEPLOYMENT = deployment_manifest(
    "checkout",
    {"name": "api", "image": "registry.example/checkout:1.0"},
    replicas=2,
    labels=PART_OF_AGENTOS,
)
POLICY = policy_manifest("runbook", default=True, selector={"matchLabels": PART_OF_AGENTOS})


def test_an_incident_from_declaration_to_close(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    admission_policies: None,
    operator_running: OperatorProcess | None,
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(DEPLOYMENT))
    kubectl("apply", "-n", namespace, "-f", "-", input=POLICY)
    kubectl("rollout", "status", "deployment/checkout", "-n", namespace, "--timeout=60s")

    detail = operator_running.log_tail if operator_running else None

    def plugin(*args: str) -> str:
        return run_plugin(cluster.kubeconfig, namespace, *args).stdout

    declared = plugin(
        "declare",
        "--name",
        "checkout-down",
        "--title",
        "Checkout failing",
        "--severity",
        "P1",
        "--affected",
        "Deployment/checkout",
        "--commander",
        "me",
    )
    incident_id = declared.split()[0]
    body = wait_for_phase(kubectl, namespace, "checkout-down", "Detected", detail, timeout=60)
    assert body["status"]["id"] == incident_id
    policy = conditions(body)["PolicyResolved"]
    assert policy["message"] == "policy runbook (selector matches)", "by the Deployment's labels"
    table = kubectl("get", "incidents", "-n", namespace).stdout
    assert incident_id in table
    assert "P1" in table

    plugin("ack", incident_id)
    plugin("assign", incident_id, "tech-lead", "me")
    plugin("update", incident_id, "Error rate at 30% since the 1.1 rollout")
    wait_for_phase(kubectl, namespace, "checkout-down", "Investigating", detail, timeout=60)
    plugin("state", incident_id, "Identified")
    plugin("state", incident_id, "Monitoring")
    wait_for_phase(kubectl, namespace, "checkout-down", "Monitoring", detail, timeout=60)
    plugin("check", incident_id, *PRE_RESOLUTION_BY_PEOPLE)
    plugin("state", incident_id, "Resolved")
    wait_for_phase(kubectl, namespace, "checkout-down", "PostIncident", detail, timeout=60)
    draft = wait_until(
        lambda: (
            run_plugin(cluster.kubeconfig, namespace, "postmortem", incident_id, check=False).stdout
        ),
        timeout=60,
        what="the post-mortem draft",
    )
    assert "# Post-Mortem: Checkout failing" in draft
    plugin("check", incident_id, *REQUIRED_BY_PEOPLE)
    plugin(
        "postmortem",
        incident_id,
        "--status",
        "Final",
        "--owner",
        "me",
        "--scheduled",
        datetime.now(UTC).replace(microsecond=0).isoformat(),
    )
    item = {"id": "AI-1", "action": "Gate rollouts on error rate", "owner": "sre", "priority": "P2"}
    patch_incident(kubectl, namespace, "checkout-down", actionItems=[item])
    closed = wait_for_phase(kubectl, namespace, "checkout-down", "Closed", detail, timeout=60)
    assert len(closed["status"]["timeline"]) >= 10
    assert "Closed" not in run_plugin(cluster.kubeconfig, namespace, "list").stdout
