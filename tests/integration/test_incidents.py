"""The CRDs on a real API server, with the real operator giving incidents their status."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    conditions,
    create_incident,
    event_messages,
    incident_manifest,
    policy_manifest,
    wait_for_condition,
    wait_for_status_field,
)
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

CRDS = Path(__file__).parents[2] / "crds"


@pytest.mark.parametrize("plural", ["incidents", "escalationpolicies"])
def test_crds_are_established(kubectl: Kubectl, plural: str) -> None:
    result = kubectl(
        "get",
        "crd",
        f"{plural}.sre.agentos.io",
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Established")].status}',
    )
    assert result.stdout == "True"
    names = kubectl("api-resources", "--api-group=sre.agentos.io", "-o", "name").stdout.split()
    assert f"{plural}.sre.agentos.io" in names


def test_category_lists_both_kinds(kubectl: Kubectl, namespace: str) -> None:
    create_incident(kubectl, namespace, "cat")
    result = kubectl("get", "incident-response", "-n", namespace, "-o", "name")
    assert "incident.sre.agentos.io/cat" in result.stdout.split()


def test_printer_columns_show_real_values(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(kubectl, namespace, "checkout", severity="P0", roles={"commander": "alice"})
    body = wait_for_status_field(kubectl, namespace, "checkout", "phase", operator.log_tail)
    incident_id = body["status"]["id"]
    table = kubectl("get", "incidents", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "ID", "SEVERITY", "PHASE", "STATE", "COMMANDER", "AGE"]
    assert table[1].split()[:6] == [
        "checkout",
        incident_id,
        "P0",
        "Detected",
        "Investigating",
        "alice",
    ]
    wide = kubectl("get", "inc", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-4:] == ["TITLE", "ESCALATION", "NEXT", "UPDATE"]
    assert "checkout is down" in wide[1]
    # The next update is due in the future: shown as the time, not "<invalid>".
    assert "<invalid>" not in wide[1]
    assert body["status"]["nextUpdateDueAt"].replace("+00:00", "Z")[:16] in wide[1]


def test_status_is_initialised_from_the_runbook(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(kubectl, namespace, "p1")
    body = wait_for_status_field(kubectl, namespace, "p1", "phase", operator.log_tail)
    status = body["status"]
    detected = datetime.fromisoformat(status["detectedAt"])
    assert datetime.fromisoformat(status["responseDueAt"]) - detected == timedelta(minutes=15)
    assert datetime.fromisoformat(status["resolutionDueAt"]) - detected == timedelta(hours=4)
    assert datetime.fromisoformat(status["nextUpdateDueAt"]) - detected == timedelta(minutes=30)
    assert conditions(body)["Ready"]["status"] == "True"
    assert conditions(body)["CommanderAssigned"]["status"] == "False"
    assert status["observedGeneration"] == 1
    wait_until(
        lambda: event_messages(kubectl, namespace, "p1", "Declared"),
        timeout=30,
        what="the Declared event: the timeline's entries are also Events",
    )


def test_ids_are_unique_with_two_operators_racing(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    names = [f"race-{i}" for i in range(12)]
    with OperatorProcess(cluster.kubeconfig, tmp_path / "second.log"):
        manifests = "\n".join(incident_manifest(n) for n in names)
        kubectl("create", "-n", namespace, "-f", "-", input=manifests)
        ids = [
            wait_for_status_field(kubectl, namespace, n, "id", operator.log_tail)["status"]["id"]
            for n in names
        ]
    assert len(set(ids)) == len(ids), f"duplicate IDs: {sorted(ids)}"
    assert all(i.startswith("INC-") and len(i) == 8 for i in ids)
    # Deleting incidents never frees a number.
    kubectl("delete", "incident", names[-1], "-n", namespace)
    create_incident(kubectl, namespace, "after-delete")
    body = wait_for_status_field(kubectl, namespace, "after-delete", "id", operator.log_tail)
    new_id = body["status"]["id"]
    assert new_id not in ids
    assert int(new_id[4:]) > max(int(i[4:]) for i in ids)


@pytest.fixture
def loosened_incident_schema(kubectl: Kubectl) -> Iterator[None]:
    """An older, looser schema: lets a test store what today's schema refuses."""
    loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    patch = [
        {
            "op": "replace",
            "path": "/spec/versions/0/schema/openAPIV3Schema/properties/spec",
            "value": loose,
        }
    ]
    kubectl("patch", "crd", "incidents.sre.agentos.io", "--type=json", "-p", json.dumps(patch))
    try:
        yield
    finally:
        kubectl("replace", "-f", str(CRDS / "incidents.yaml"))


def test_an_unreadable_incident_gets_a_condition_and_an_event_not_a_crash(
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    loosened_incident_schema: None,
) -> None:
    def accepted() -> bool:
        return (
            create_incident(kubectl, namespace, "old", check=False, severity="P9").returncode == 0
        )

    wait_until(accepted, timeout=30, what="the loosened schema to take effect")
    body = wait_for_status_field(kubectl, namespace, "old", "conditions", operator.log_tail)
    ready = conditions(body)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "spec.severity" in ready["message"]
    assert "id" not in body["status"]
    messages = wait_until(
        lambda: event_messages(kubectl, namespace, "old", "InvalidSpec"),
        timeout=30,
        what="an InvalidSpec event",
    )
    assert any("spec.severity" in m for m in messages)
    # The operator is still alive and still serves good incidents.
    create_incident(kubectl, namespace, "fine")
    wait_for_status_field(kubectl, namespace, "fine", "id", operator.log_tail)
    assert operator.process is not None
    assert operator.process.poll() is None


def test_policy_reports_ready_without_touching_its_metadata(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=policy_manifest("team", default=True))
    body = wait_for_condition(
        kubectl, namespace, "team", "Ready", kind="escalationpolicy", detail=operator.log_tail
    )
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    assert not body["metadata"].get("annotations"), "the operator writes no annotations"
    assert not body["metadata"].get("finalizers"), "the operator adds no finalizers"
    table = kubectl("get", "escpol", "-n", namespace).stdout.splitlines()
    assert table[1].split()[:3] == ["team", "True", "true"]
