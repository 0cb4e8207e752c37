"""An approved rollback has the same result as the real `kubectl rollout undo`.

The same history is built twice, in two namespaces; kubectl rolls one copy back, the
operator (after a proposal and an approval through the annotation) the other. The
templates and annotations must then be the same, and so must the revision histories.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.integration.rollback_support import (
    approve,
    build_history,
    get,
    incident,
    let_approve,
    template_without_hash,
    timeline_types,
    wait_rollback,
    wait_rollout,
)

NAME = "shop"


@pytest.fixture
def twin(k8s_api: k8s.ApiClient, namespace: str) -> Iterator[str]:
    """A second namespace beside ``namespace``, deleted afterwards."""
    core = k8s.CoreV1Api(k8s_api)
    name = f"{namespace[:50]}-b{secrets.token_hex(2)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def _history(kubectl: Kubectl, kind: str, namespace: str) -> list[tuple[int, dict[str, Any]]]:
    """(revision, template) of every entry of the workload's history, oldest first."""
    if kind == "Deployment":
        items = json.loads(
            kubectl("get", "rs", "-n", namespace, "-l", f"app={NAME}", "-o", "json").stdout
        )["items"]
        entries = [
            (
                int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
                template_without_hash(rs["spec"]["template"]),
            )
            for rs in items
        ]
    else:
        items = json.loads(
            kubectl(
                "get", "controllerrevisions", "-n", namespace, "-l", f"app={NAME}", "-o", "json"
            ).stdout
        )["items"]
        entries = [(cr["revision"], cr["data"]["spec"]["template"]) for cr in items]
    return sorted(entries, key=lambda entry: entry[0])


@pytest.mark.parametrize("to_revision", [None, 1], ids=["previous", "to-revision-1"])
@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet"])
def test_the_same_result_as_kubectl_rollout_undo(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    twin: str,
    operator: OperatorProcess,
    admission_policies: None,
    kind: str,
    to_revision: int | None,
) -> None:
    by_kubectl, by_operator = twin, namespace
    for ns in (by_kubectl, by_operator):
        build_history(kubectl, k8s_api, kind, ns, NAME)
    before = get(kubectl, kind, by_operator, NAME)
    assert _history(kubectl, kind, by_kubectl) == _history(kubectl, kind, by_operator)

    undo = ["rollout", "undo", f"{kind.lower()}/{NAME}", "-n", by_kubectl]
    if to_revision is not None:
        undo.append(f"--to-revision={to_revision}")
    assert "rolled back" in kubectl(*undo).stdout

    let_approve(kubectl, by_operator, "alice")
    incident(kubectl, by_operator, "outage", target=(kind, NAME), to_revision=to_revision)
    proposal = wait_rollback(kubectl, by_operator, "outage", "Proposed", operator.log_tail)
    expected_target = to_revision or 2
    assert (proposal["currentRevision"], proposal["targetRevision"]) == (3, expected_target)
    assert 'container app: env FLAG "on" -> "off"' in proposal["diff"]
    approve(kubectl, by_operator, "outage", proposal=proposal["proposal"])
    done = wait_rollback(kubectl, by_operator, "outage", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"

    expected = wait_rollout(kubectl, kind, by_kubectl, NAME)
    actual = wait_rollout(kubectl, kind, by_operator, NAME)
    assert actual["spec"]["template"] == expected["spec"]["template"]
    assert actual["spec"]["template"] != before["spec"]["template"]
    assert actual["metadata"].get("annotations") == expected["metadata"].get("annotations")
    assert _history(kubectl, kind, by_operator) == _history(kubectl, kind, by_kubectl)
    shown = kubectl(
        "get", kind.lower(), NAME, "-n", by_operator, "-o", "json", "--show-managed-fields"
    )
    managers = {entry["manager"] for entry in json.loads(shown.stdout)["metadata"]["managedFields"]}
    assert "incident-operator" in managers, "the operator's own field manager"
    kinds = timeline_types(kubectl, by_operator, "outage")
    assert kinds.count("RolledBack") == 1
    for entry in ("RollbackProposed", "RollbackApproved", "RollbackStarted", "RolloutComplete"):
        assert entry in kinds
