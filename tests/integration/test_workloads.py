"""Deployments behave on the local control plane as on a real cluster.

The real deployment and replicaset controllers, scheduler and kubectl; kwok plays the
kubelets, so pods become Running on fake nodes without containers.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
REPLICAS = 3
ROLLOUT_TIMEOUT = 90.0


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": labels},
            # Old ReplicaSets are kept (the default is 10); undo needs them.
            "revisionHistoryLimit": 10,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            # Never pulled: kwok runs no containers.
                            "name": "app",
                            "image": "registry.invalid/checkout:1.0.0",
                            "env": [{"name": "FEATURE_FLAG", "value": "off"}],
                        }
                    ]
                },
            },
        },
    }


def _get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return body


def _replica_sets_by_revision(kubectl: Kubectl, namespace: str, name: str) -> dict[int, Any]:
    items = _get_json(kubectl, "replicasets", "-n", namespace, "-l", f"app={name}")["items"]
    return {int(rs["metadata"]["annotations"][REVISION]): rs for rs in items}


def _template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    return template


def _wait_rollout(
    kubectl: Kubectl, namespace: str, name: str, revision: int, cluster: ClusterInfo
) -> dict[str, Any]:
    """Until the deployment is at ``revision`` with every replica updated and ready."""

    def done() -> dict[str, Any] | None:
        dep = _get_json(kubectl, "deployment", name, "-n", namespace)
        status = dep.get("status", {})
        complete = (
            dep["metadata"].get("annotations", {}).get(REVISION) == str(revision)
            and status.get("observedGeneration") == dep["metadata"]["generation"]
            and status.get("replicas") == REPLICAS
            and status.get("updatedReplicas") == REPLICAS
            and status.get("readyReplicas") == REPLICAS
            and status.get("availableReplicas") == REPLICAS
        )
        return dep if complete else None

    return wait_until(
        done,
        what=f"deployment {namespace}/{name} to roll out revision {revision}",
        timeout=ROLLOUT_TIMEOUT,
        interval=0.5,
        detail=lambda: cluster.log_tail(15, ["kube-controller-manager", "kube-scheduler", "kwok"]),
    )


def _assert_pods_running_on_kwok_nodes(
    kubectl: Kubectl, namespace: str, name: str, replica_set: dict[str, Any]
) -> None:
    pod_hash = replica_set["metadata"]["labels"][HASH_LABEL]
    kwok_nodes = {
        node["metadata"]["name"]
        for node in _get_json(kubectl, "nodes", "-l", "type=kwok")["items"]
        if node["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"
    }

    def settled() -> list[dict[str, Any]] | None:
        # Pods of older ReplicaSets may still be terminating for a moment.
        pods = _get_json(kubectl, "pods", "-n", namespace, "-l", f"app={name}")["items"]
        current = [p for p in pods if p["metadata"]["labels"].get(HASH_LABEL) == pod_hash]
        return current if len(pods) == len(current) == REPLICAS else None

    pods = wait_until(settled, what=f"only {REPLICAS} pods of {pod_hash} left", timeout=60)
    for pod in pods:
        assert pod["status"]["phase"] == "Running", pod["status"]
        assert pod["spec"]["nodeName"] in kwok_nodes, (pod["spec"]["nodeName"], kwok_nodes)
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready.get("Ready") == "True"


def test_rollout_history_and_undo(
    cluster: ClusterInfo, kubectl: Kubectl, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    name = "checkout"
    apps = k8s.AppsV1Api(k8s_api)
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_deployment(name)))
    _wait_rollout(kubectl, namespace, name, 1, cluster)

    # Revision 2: a new image tag.
    image_patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "registry.invalid/checkout:1.1.0"}]
                }
            }
        }
    }
    apps.patch_namespaced_deployment(name, namespace, image_patch)
    _wait_rollout(kubectl, namespace, name, 2, cluster)

    # Revision 3: an environment variable changes.
    env_patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "env": [{"name": "FEATURE_FLAG", "value": "on"}]}
                    ]
                }
            }
        }
    }
    apps.patch_namespaced_deployment(name, namespace, env_patch)
    deployment = _wait_rollout(kubectl, namespace, name, 3, cluster)

    by_revision = _replica_sets_by_revision(kubectl, namespace, name)
    assert sorted(by_revision) == [1, 2, 3]
    assert [by_revision[r]["spec"]["replicas"] for r in (1, 2, 3)] == [0, 0, REPLICAS]
    containers = [by_revision[r]["spec"]["template"]["spec"]["containers"][0] for r in (1, 2, 3)]
    assert [c["image"].rsplit(":", 1)[1] for c in containers] == ["1.0.0", "1.1.0", "1.1.0"]
    assert [c["env"][0]["value"] for c in containers] == ["off", "off", "on"]
    assert (
        _template_without_hash(by_revision[3]["spec"]["template"])
        == (deployment["spec"]["template"])
    )
    _assert_pods_running_on_kwok_nodes(kubectl, namespace, name, by_revision[3])
    revision_2 = by_revision[2]

    # The real kubectl rolls back to the previous revision (2), which becomes revision 4.
    undo = kubectl("rollout", "undo", f"deployment/{name}", "-n", namespace)
    assert "rolled back" in undo.stdout, undo.stdout
    deployment = _wait_rollout(kubectl, namespace, name, 4, cluster)

    assert deployment["spec"]["template"] == _template_without_hash(revision_2["spec"]["template"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.invalid/checkout:1.1.0"
    assert container["env"] == [{"name": "FEATURE_FLAG", "value": "off"}]

    # Revision 2's ReplicaSet is reused (renumbered 4), not copied.
    by_revision = _replica_sets_by_revision(kubectl, namespace, name)
    assert sorted(by_revision) == [1, 3, 4]
    assert by_revision[4]["metadata"]["uid"] == revision_2["metadata"]["uid"]
    assert (
        by_revision[4]["metadata"]["annotations"].get("deployment.kubernetes.io/revision-history")
        == "2"
    )
    _assert_pods_running_on_kwok_nodes(kubectl, namespace, name, by_revision[4])

    history = kubectl("rollout", "history", f"deployment/{name}", "-n", namespace).stdout
    revisions = [line.split()[0] for line in history.splitlines() if line[:1].isdigit()]
    assert revisions == ["1", "3", "4"], history
