"""Config history on the local control plane, without the operator: snapshots taken,
numbered, bounded and stored as docs/remediation/config-rollback.md says (ControllerRevisions
for ConfigMaps, immutable Secrets for Secrets), the keeper's pass, `kubectl incident
config-history`, and the configRollback adapter's restore and restart called directly.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config
from tests.harness.cluster import ClusterInfo
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.integration.rollback_support import get, manifest, wait_rollout

from incident_operator.adapters import kubernetes as operator_client
from incident_operator.adapters.config_snapshots import (
    SECRET_SNAPSHOT_TYPE,
    SNAPSHOT_CHANGED_BY,
    SNAPSHOT_OF,
    SNAPSHOT_OF_KIND,
    list_snapshots,
    take_snapshot,
)
from incident_operator.adapters.remediation_config import RESTARTED_AT, ConfigRollbackAdapter
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.remediation_status import RemediationPhase, RemediationRecord
from incident_operator.api.remediations import Remediation
from incident_operator.domain.remediation_action import Action, ActionConflict
from incident_operator.reconcile.remediation_config import ConfigRollbackPlanner
from incident_operator.reconcile.remediation_kind import ProgressState
from incident_operator.runtime.config_history import ConfigHistoryKeeper
from incident_operator.runtime.policies import PolicyRegistry


@pytest.fixture
def operator_api(cluster: ClusterInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The operator's own API client (adapters/kubernetes.py) pointed at the test cluster."""
    # The client reads $KUBECONFIG once, when imported: its default location is set here.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(cluster.kubeconfig))
    operator_client.api_client.cache_clear()
    yield
    operator_client.api_client.cache_clear()


def _config_map(kubectl: Kubectl, namespace: str, name: str, **data: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _secret(kubectl: Kubectl, namespace: str, name: str, **values: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _revisions(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    selector = f"{SNAPSHOT_OF_KIND}=ConfigMap,{SNAPSHOT_OF}={name}"
    listed = json.loads(
        kubectl("get", "controllerrevisions", "-n", namespace, "-l", selector, "-o", "json").stdout
    )
    items: list[dict[str, Any]] = sorted(listed["items"], key=lambda r: r["revision"])
    return items


def test_config_map_versions_are_numbered_bounded_and_taken_only_on_change(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator_api: None
) -> None:
    _config_map(kubectl, namespace, "app", mode="safe", limit="10")
    first = take_snapshot(namespace, "ConfigMap", "app", keep=2)
    assert first is not None
    assert first.version == 1
    again = take_snapshot(namespace, "ConfigMap", "app", keep=2)
    assert again is not None
    assert again.version == 1, "the same data is not a new version"

    _config_map(kubectl, namespace, "app", mode="fast", limit="10")
    take_snapshot(namespace, "ConfigMap", "app", keep=2)
    _config_map(kubectl, namespace, "app", mode="fast", limit="50")
    take_snapshot(namespace, "ConfigMap", "app", keep=2)

    revisions = _revisions(kubectl, namespace, "app")
    assert [r["revision"] for r in revisions] == [2, 3], "keep: 2, the oldest pruned"
    newest = revisions[-1]
    assert newest["data"]["data"] == {"mode": "fast", "limit": "50"}
    assert newest["metadata"]["annotations"][SNAPSHOT_CHANGED_BY] == "kubectl-client-side-apply"
    assert not newest["metadata"].get("ownerReferences"), "deleting the ConfigMap keeps its history"

    shown = run_plugin(cluster.kubeconfig, namespace, "config-history", "app").stdout
    assert "ConfigMap/app in namespace" in shown
    assert "2 versions kept; its data now is version 3" in shown, shown
    assert "version 3 (from version 2):" in shown
    assert "-limit: 10" in shown
    assert "+limit: 50" in shown

    kubectl("delete", "configmap", "app", "-n", namespace)
    assert len(_revisions(kubectl, namespace, "app")) == 2
    gone = run_plugin(cluster.kubeconfig, namespace, "config-history", "app").stdout
    assert "it does not exist now" in gone


def test_secret_versions_are_immutable_secrets_and_values_never_show(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator_api: None
) -> None:
    _secret(kubectl, namespace, "db", password="hunter2")
    take_snapshot(namespace, "Secret", "db", keep=5)
    _secret(kubectl, namespace, "db", password="swordfish", user="app")
    take_snapshot(namespace, "Secret", "db", keep=5)

    kept = list_snapshots(namespace, "Secret", "db")
    assert [s.version for s in kept] == [1, 2]
    assert all(s.data is None for s in kept), "a Secret's values are not read out by default"
    snapshot = get(kubectl, "Secret", namespace, kept[0].object_name)
    assert snapshot["type"] == SECRET_SNAPSHOT_TYPE
    assert snapshot["immutable"] is True
    assert base64.b64decode(snapshot["data"]["password"]) == b"hunter2"

    shown = run_plugin(
        cluster.kubeconfig, namespace, "config-history", "db", "--kind", "Secret"
    ).stdout
    assert "~ password (changed)" in shown
    assert "+ user (added)" in shown
    for value in ("hunter2", "swordfish", base64.b64encode(b"hunter2").decode()):
        assert value not in shown


def test_the_keeper_keeps_what_the_policies_name(
    kubectl: Kubectl, namespace: str, operator_api: None
) -> None:
    _config_map(kubectl, namespace, "app", mode="safe")
    policy = EscalationPolicy.model_validate(
        {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "shop", "namespace": namespace},
            "spec": {
                "remediations": [
                    {
                        "name": "app-config",
                        "kind": "configRollback",
                        "configRollback": {"kind": "ConfigMap", "name": "app"},
                    },
                    {
                        # Not there (yet): no version, and the others still kept.
                        "name": "missing",
                        "kind": "configRollback",
                        "configRollback": {"kind": "ConfigMap", "name": "missing"},
                    },
                ]
            },
        }
    )
    registry = PolicyRegistry()
    registry.seed([policy])
    keeper = ConfigHistoryKeeper(registry)
    asyncio.run(keeper.keep_once())
    _config_map(kubectl, namespace, "app", mode="fast")
    asyncio.run(keeper.keep_once())
    assert [r["revision"] for r in _revisions(kubectl, namespace, "app")] == [1, 2]


ENTRY = Remediation.model_validate(
    {
        "name": "app-config",
        "kind": "configRollback",
        "configRollback": {
            "kind": "ConfigMap",
            "name": "app",
            "restart": [{"kind": "Deployment", "name": "web"}],
        },
    }
)


def _observe(namespace: str) -> dict[tuple[str, str], Any]:
    adapter = ConfigRollbackAdapter()
    planner = ConfigRollbackPlanner()
    return {t.key: adapter.read(namespace, t) for t in planner.targets(ENTRY, {}, _record())}


def _record(**changes: Any) -> RemediationRecord:
    return RemediationRecord.model_validate(
        {
            "id": "r1",
            "remediation": "app-config",
            "kind": "configRollback",
            "requestedBy": "bob",
            "requestedAt": datetime.now(UTC),
            "phase": RemediationPhase.PROPOSED,
            **changes,
        }
    )


def test_the_adapter_restores_guarded_keeps_what_it_replaces_and_restarts(
    kubectl: Kubectl, namespace: str, operator_api: None, tmp_path: Path
) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest("Deployment", "web")))
    wait_rollout(kubectl, "Deployment", namespace, "web")
    _config_map(kubectl, namespace, "app", mode="safe")
    take_snapshot(namespace, "ConfigMap", "app", keep=10)
    _config_map(kubectl, namespace, "app", mode="fast")
    take_snapshot(namespace, "ConfigMap", "app", keep=10)
    # Changed after the last snapshot: the restore must keep this too.
    _config_map(kubectl, namespace, "app", mode="reckless")

    planner, adapter = ConfigRollbackPlanner(), ConfigRollbackAdapter()
    planned = planner.plan(ENTRY, {}, _record(), _observe(namespace))
    assert isinstance(planned, Action), planned
    assert "restore ConfigMap/app to version 2 (from version 3)" in planned.summary

    # Someone edits it between the read and the action: the guard stops the restore.
    _config_map(kubectl, namespace, "app", mode="edited")
    with pytest.raises(ActionConflict):
        adapter.apply(namespace, "outage", "r1", planned)
    assert get(kubectl, "ConfigMap", namespace, "app")["data"] == {"mode": "edited"}

    started = datetime.now(UTC).replace(microsecond=0)
    planned = planner.plan(ENTRY, {}, _record(), _observe(namespace))
    assert isinstance(planned, Action)
    record = _record(
        phase=RemediationPhase.IN_PROGRESS,
        startedAt=started,
        attempt="a1",
        previous=planned.previous,
        summary=planned.summary,
    )
    before = _observe(namespace)
    assert planner.progress(ENTRY, {}, record, before).state is ProgressState.NOT_TAKEN
    adapter.apply(namespace, "outage", "r1", planned)

    assert get(kubectl, "ConfigMap", namespace, "app")["data"] == {"mode": "fast"}
    template = get(kubectl, "Deployment", namespace, "web")["spec"]["template"]["metadata"]
    restarted_at = template["annotations"][RESTARTED_AT]
    kept = [r["data"]["data"]["mode"] for r in _revisions(kubectl, namespace, "app")]
    # "reckless" was replaced before any snapshot saw it (the keeper reads periodically);
    # what the restore replaced is kept, and so is the restored data.
    assert kept == ["safe", "fast", "edited", "fast"]
    wait_rollout(kubectl, "Deployment", namespace, "web")
    after = _observe(namespace)
    assert planner.progress(ENTRY, {}, record, after).state is ProgressState.DONE

    # A pass after a restart re-plans: nothing left to do, so nothing restarts twice.
    resumed = planner.plan(ENTRY, {}, record, after)
    assert isinstance(resumed, Action)
    assert (resumed.payload["restore"], resumed.payload["restart"]) == (None, [])
    adapter.apply(namespace, "outage", "r1", resumed)
    template = get(kubectl, "Deployment", namespace, "web")["spec"]["template"]["metadata"]
    assert template["annotations"][RESTARTED_AT] == restarted_at
