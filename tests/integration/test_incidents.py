"""The CRDs on a real API server, with the real operator giving incidents their status."""

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    event_messages,
    incident_manifest,
    wait_for_status_field,
)
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until

Kubectl = Callable[..., CompletedProcess[str]]
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
    kubectl("create", "-n", namespace, "-f", "-", input=incident_manifest("cat"))
    result = kubectl("get", "incident-response", "-n", namespace, "-o", "name")
    assert "incident.sre.agentos.io/cat" in result.stdout.split()


def test_printer_columns_show_real_values(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=incident_manifest("checkout", severity="P0", roles={"commander": "alice"}),
    )
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


def test_status_is_initialised_from_the_runbook(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=incident_manifest("p1"))
    status = wait_for_status_field(kubectl, namespace, "p1", "phase", operator.log_tail)["status"]
    detected = datetime.fromisoformat(status["detectedAt"])
    assert datetime.fromisoformat(status["responseDueAt"]) - detected == timedelta(minutes=15)
    assert datetime.fromisoformat(status["resolutionDueAt"]) - detected == timedelta(hours=4)
    assert datetime.fromisoformat(status["nextUpdateDueAt"]) - detected == timedelta(minutes=30)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["CommanderAssigned"]["status"] == "False"
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
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input="\n".join(incident_manifest(n) for n in names),
        )
        ids = [
            wait_for_status_field(kubectl, namespace, n, "id", operator.log_tail)["status"]["id"]
            for n in names
        ]
    assert len(set(ids)) == len(ids), f"duplicate IDs: {sorted(ids)}"
    assert all(i.startswith("INC-") and len(i) == 8 for i in ids)
    # Deleting incidents never frees a number.
    kubectl("delete", "incident", names[-1], "-n", namespace)
    kubectl("create", "-n", namespace, "-f", "-", input=incident_manifest("after-delete"))
    new_id = wait_for_status_field(kubectl, namespace, "after-delete", "id", operator.log_tail)[
        "status"
    ]["id"]
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
        result = kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=incident_manifest("old", severity="P9"),
            check=False,
        )
        return result.returncode == 0

    wait_until(accepted, timeout=30, what="the loosened schema to take effect")
    body = wait_for_status_field(kubectl, namespace, "old", "conditions", operator.log_tail)
    ready = {c["type"]: c for c in body["status"]["conditions"]}["Ready"]
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
    kubectl("create", "-n", namespace, "-f", "-", input=incident_manifest("fine"))
    wait_for_status_field(kubectl, namespace, "fine", "id", operator.log_tail)
    assert operator.process is not None
    assert operator.process.poll() is None


def test_policy_reports_ready_without_touching_its_metadata(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    policy = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "team"},
        "spec": {"default": True},
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(policy))

    def ready() -> dict[str, Any] | None:
        body = json.loads(kubectl("get", "escpol", "team", "-n", namespace, "-o", "json").stdout)
        conditions = {c["type"]: c for c in (body.get("status") or {}).get("conditions", [])}
        return body if conditions.get("Ready", {}).get("status") == "True" else None

    body = wait_until(
        ready, timeout=30, what="the policy's Ready condition", detail=operator.log_tail
    )
    assert body["status"]["observedGeneration"] == body["metadata"]["generation"]
    assert not body["metadata"].get("annotations"), "the operator writes no annotations"
    assert not body["metadata"].get("finalizers"), "the operator adds no finalizers"
    table = kubectl("get", "escpol", "-n", namespace).stdout.splitlines()
    assert table[1].split()[:3] == ["team", "True", "true"]
