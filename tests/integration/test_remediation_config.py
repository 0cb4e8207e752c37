"""The configRollback remediation end to end on the local control plane: the operator's
snapshot keeper keeps the versions of a ConfigMap and a Secret named by the policy's
catalog; a person requests a restore with the plugin, another approves it; the operator
restores the data, restarts the workload and records it all; a version not kept is
refused with the versions that are; a Secret's values never reach the incident.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
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
from tests.integration.rollback_support import get, manifest, timeline_types, wait_rollout

from incident_operator.adapters.config_snapshots import SNAPSHOT_OF, SNAPSHOT_OF_KIND

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# The keeper reads every 15 s by default; these tests' operators read every second.
FAST_KEEPER = {"INCIDENT_OPERATOR_CONFIG_SNAPSHOT_INTERVAL": "1"}
KEEPER_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator, as tests/cluster_fixtures.py starts it, with a one-second keeper."""
    process = OperatorProcess(
        cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "log", env=FAST_KEEPER
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _entry(kind: str = "ConfigMap", name: str = "app") -> dict[str, Any]:
    return {
        "name": f"{name}-rollback",
        "kind": "configRollback",
        "approverGroup": APPROVERS,
        "parameters": [
            {
                "name": "version",
                "required": False,
                "default": "previous",
                "pattern": "previous|[0-9]+",
            }
        ],
        "configRollback": {
            "kind": kind,
            "name": name,
            "version": "{{ params.version }}",
            "restart": [{"kind": "Deployment", "name": "web"}],
        },
    }


def _apply(kubectl: Kubectl, namespace: str, kind: str, name: str, data: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}, "data": data}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _versions(kubectl: Kubectl, namespace: str, kind: str, name: str) -> list[int]:
    resource = "controllerrevisions" if kind == "ConfigMap" else "secrets"
    selector = f"{SNAPSHOT_OF_KIND}={kind},{SNAPSHOT_OF}={name}"
    listed = json.loads(
        kubectl("get", resource, "-n", namespace, "-l", selector, "-o", "json").stdout
    )
    return sorted(
        int(
            item["metadata"]["annotations"][
                "incident-operator.sre.agentos.io/config-snapshot-version"
            ]
        )
        for item in listed["items"]
    )


def _wait_versions(
    kubectl: Kubectl, namespace: str, kind: str, name: str, count: int, operator: OperatorProcess
) -> None:
    wait_until(
        lambda: len(_versions(kubectl, namespace, kind, name)) >= count,
        what=f"the keeper to keep {count} versions of {kind}/{name}",
        timeout=KEEPER_TIMEOUT,
        detail=operator.log_tail,
    )


def _web(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest("Deployment", "web")))
    wait_rollout(kubectl, "Deployment", namespace, "web")


def test_a_config_map_is_restored_and_its_workload_restarted(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    _web(kubectl, namespace)
    _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "safe"})
    catalog_policy(kubectl, namespace, [_entry()])
    _wait_versions(kubectl, namespace, "ConfigMap", "app", 1, operator)
    _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "reckless"})
    _wait_versions(kubectl, namespace, "ConfigMap", "app", 2, operator)

    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)

    # A version not kept is refused, naming the versions that are.
    refused = request(
        cluster.kubeconfig, namespace, incident_id, "app-rollback", check=False, version="9"
    )
    assert refused.returncode == 1
    assert "r1 Refused" in refused.stdout, refused.stdout
    assert "version 9 is not kept; versions kept: 1, 2" in refused.stdout

    requested = request(cluster.kubeconfig, namespace, incident_id, "app-rollback")
    assert (
        "r2 Proposed: restore ConfigMap/app to version 1 (from version 2), then restart "
        "Deployment/web" in requested.stdout
    ), requested.stdout
    assert get(kubectl, "ConfigMap", namespace, "app")["data"] == {"mode": "reckless"}

    approve(alice, namespace, incident_id, "r2")
    done = wait_phase(kubectl, namespace, "outage", "r2", "Succeeded", operator.log_tail)
    assert "-mode: reckless" in done["diff"]
    assert "+mode: safe" in done["diff"]
    assert done["previous"]["version"] == 2
    assert done["previous"]["restoringVersion"] == 1
    assert get(kubectl, "ConfigMap", namespace, "app")["data"] == {"mode": "safe"}
    template = get(kubectl, "Deployment", namespace, "web")["spec"]["template"]["metadata"]
    assert RESTARTED_AT in template["annotations"]
    types = timeline_types(kubectl, namespace, "outage")
    assert types.count("RemediationStarted") == 1, types
    assert types.count("RemediationSucceeded") == 1, types

    history = run_plugin(cluster.kubeconfig, namespace, "config-history", "app").stdout
    assert "3 versions kept; its data now is version 3" in history, history
    assert "incident-operator" in history, "the restore is a version, changed by the operator"


def test_a_secret_is_restored_and_its_values_never_reach_the_incident(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    def encoded(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    _web(kubectl, namespace)
    _apply(kubectl, namespace, "Secret", "db", {"password": encoded("hunter2")})
    catalog_policy(kubectl, namespace, [_entry("Secret", "db")])
    _wait_versions(kubectl, namespace, "Secret", "db", 1, operator)
    _apply(kubectl, namespace, "Secret", "db", {"password": encoded("swordfish")})
    _wait_versions(kubectl, namespace, "Secret", "db", 2, operator)

    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)
    request(cluster.kubeconfig, namespace, incident_id, "db-rollback", version="1")
    approve(alice, namespace, incident_id, "r1")
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["diff"] == "~ password (changed)"
    restored = get(kubectl, "Secret", namespace, "db")["data"]["password"]
    assert base64.b64decode(restored) == b"hunter2"

    incident = json.dumps(get(kubectl, "Incident", namespace, "outage"))
    for value in ("hunter2", "swordfish", encoded("hunter2"), encoded("swordfish")):
        assert value not in incident


def _digest_of(kubectl: Kubectl, namespace: str, version: int) -> str:
    revision = get(kubectl, "ControllerRevision", namespace, f"app.v{version}")
    digest: str = revision["metadata"]["annotations"][
        "incident-operator.sre.agentos.io/config-snapshot-digest"
    ]
    return digest


@pytest.mark.parametrize("left_behind", ["marked", "restored", "restarted", "changed-by-someone"])
def test_a_killed_operator_restores_and_restarts_exactly_once(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    left_behind: str,
) -> None:
    _web(kubectl, namespace)
    _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "safe"})
    catalog_policy(kubectl, namespace, [_entry()])
    _wait_versions(kubectl, namespace, "ConfigMap", "app", 1, operator)
    _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "reckless"})
    _wait_versions(kubectl, namespace, "ConfigMap", "app", 2, operator)
    open_incident(kubectl, namespace, "outage")
    operator.stop(kill=True)
    started = datetime.now(UTC) - timedelta(minutes=1)
    try:
        write_records(
            kubectl,
            namespace,
            "outage",
            [
                {
                    "id": "r1",
                    "remediation": "app-rollback",
                    "kind": "configRollback",
                    "parameters": {"version": "previous"},
                    "requestedBy": "bob",
                    "requestedAt": started.isoformat(),
                    "phase": "InProgress",
                    "approverGroup": APPROVERS,
                    "summary": "restore ConfigMap/app to version 1 (from version 2), then "
                    "restart Deployment/web",
                    "approvedBy": "alice",
                    "approvedAt": started.isoformat(),
                    "attempt": "deadbeef",
                    "startedAt": started.isoformat(),
                    "previous": {
                        "version": 2,
                        "digest": _digest_of(kubectl, namespace, 2),
                        "restoringVersion": 1,
                        "restoringDigest": _digest_of(kubectl, namespace, 1),
                    },
                }
            ],
        )
        if left_behind in ("restored", "restarted"):
            _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "safe"})
        if left_behind == "restarted":
            kubectl("rollout", "restart", "deployment/web", "-n", namespace)
        if left_behind == "changed-by-someone":
            _apply(kubectl, namespace, "ConfigMap", "app", {"mode": "theirs"})
        before = wait_rollout(kubectl, "Deployment", namespace, "web")
        with OperatorProcess(
            cluster.kubeconfig, tmp_path / "restarted.log", env=FAST_KEEPER
        ) as restarted:
            phase = "Failed" if left_behind == "changed-by-someone" else "Succeeded"
            done = wait_phase(kubectl, namespace, "outage", "r1", phase, restarted.log_tail)
            after = wait_rollout(kubectl, "Deployment", namespace, "web")
            restarted.stop(kill=True)
    finally:
        operator.start()
    generations = (before["metadata"]["generation"], after["metadata"]["generation"])
    data = get(kubectl, "ConfigMap", namespace, "app")["data"]
    if left_behind == "changed-by-someone":
        assert data == {"mode": "theirs"}, "their change stands"
        assert generations[1] == generations[0], "nothing restarted"
        assert "ConfigMap/app was changed by kubectl-client-side-apply" in done["message"]
    else:
        assert data == {"mode": "safe"}
        restarts = 0 if left_behind == "restarted" else 1
        assert generations[1] == generations[0] + restarts, "restarted exactly once"
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 0
