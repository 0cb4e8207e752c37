"""Two replicas, one active: the Lease hands over when the leader dies; nothing is repeated.

Both replicas are ready (the standby as a standby); the leader labels its own Pod, and a
Service that selects that label sends traffic to the leader alone.
"""

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import get_incident, incident_manifest, timeline_types
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

# Shorter than the default 15 s, so the test waits less for a dead leader's Lease to expire.
LEASE_DURATION = 5.0
RETRY_EVERY = 2.0
LEADER_LABEL = "incident-operator.sre.agentos.io/leader"


def _readyz(process: OperatorProcess) -> tuple[int, str]:
    """/readyz's status and first line; (0, "") when nothing answers."""
    url = process.health_url.replace("/healthz", "/readyz")
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status), response.read().decode().partition("\n")[0]
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().partition("\n")[0]
    except OSError:
        return 0, ""


def _leads(process: OperatorProcess) -> bool:
    return _readyz(process) == (200, "ready (leader)")


def _holder(kubectl: Kubectl, namespace: str) -> str:
    result = kubectl(
        "get",
        "lease",
        "incident-operator",
        "-n",
        namespace,
        "-o",
        "jsonpath={.spec.holderIdentity}",
        check=False,
    )
    return result.stdout


def _replica(
    cluster: ClusterInfo, namespace: str, tmp_path: Path, name: str, pod: str | None = None
) -> OperatorProcess:
    """One of two replicas electing a leader by a Lease in ``namespace``; ``pod`` names
    the Pod it would run in (the downward API's POD_NAME), for the leader label."""
    args = ("--leader-elect", "--lease-namespace", namespace, "--identity", name)
    args += ("--lease-duration", f"{LEASE_DURATION:.0f}")
    env = {"POD_NAME": pod, "POD_NAMESPACE": namespace} if pod else None
    return OperatorProcess(cluster.kubeconfig, tmp_path / f"{name}.log", extra_args=args, env=env)


def test_the_standby_takes_over_and_nothing_is_done_twice(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    first, second = (_replica(cluster, namespace, tmp_path, n) for n in ("first", "second"))
    first.start()
    second.start()
    try:
        assert _holder(kubectl, namespace) == "first"
        assert _readyz(first) == (200, "ready (leader)")
        assert _readyz(second) == (200, "ready (standby)"), "a healthy standby is ready"
        policy = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "fast"},
            "spec": {"default": True, "severities": {"P2": {"updateEvery": "8s"}}},
        }
        kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(policy))
        kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=incident_manifest("ha", title="Failover", severity="P2"),
        )

        def initialised() -> dict[str, Any] | None:
            found = get_incident(kubectl, namespace, "ha").get("status") or {}
            return found if found.get("nextUpdateDueAt") else None

        status = wait_until(initialised, timeout=30, what="the status", detail=first.log_tail)
        due = datetime.fromisoformat(status["nextUpdateDueAt"])

        first.stop(kill=True)
        killed_at = time.monotonic()
        wait_until(
            lambda: _leads(second),
            timeout=LEASE_DURATION + 30,
            what="the standby to take over",
            detail=second.log_tail,
        )
        handover = time.monotonic() - killed_at
        assert handover <= LEASE_DURATION + 2 * RETRY_EVERY + 5, f"handover took {handover:.1f}s"
        assert _holder(kubectl, namespace) == "second"

        # The update deadline fell due around the handover: raised once, by the new leader.
        def overdue() -> dict[str, Any] | None:
            latest = get_incident(kubectl, namespace, "ha")
            kinds = timeline_types(latest)
            return latest if "UpdateOverdue" in kinds else None

        latest = wait_until(
            overdue, timeout=60, what="UpdateOverdue after the handover", detail=second.log_tail
        )
        assert datetime.now(UTC) >= due - timedelta(seconds=1)
        kinds = timeline_types(latest)
        assert kinds.count("Declared") == 1
        assert kinds.count("UpdateOverdue") == 1
        assert latest["status"]["id"] == status["id"]
    finally:
        first.stop()
        second.stop()


def test_a_clean_shutdown_hands_over_at_once(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    first, second = (_replica(cluster, namespace, tmp_path, n) for n in ("one", "two"))
    first.start()
    second.start()
    try:
        first.stop()
        stopped_at = time.monotonic()
        wait_until(
            lambda: _leads(second),
            timeout=30,
            what="the standby to take over",
            detail=second.log_tail,
        )
        assert time.monotonic() - stopped_at < LEASE_DURATION, "a released lease is taken at once"
    finally:
        second.stop()


# ------------------------------------------------------------------ the leader label


def _create_pod(core: k8s.CoreV1Api, namespace: str, name: str, labels: dict[str, str]) -> None:
    """A Pod for a replica to label (kwok runs it, so it gets an IP and turns Ready)."""
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, labels={"app": "operator", **labels}),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="operator", image="registry.invalid/operator:1")]
        ),
    )
    core.create_namespaced_pod(namespace, pod)


def _labelled(core: k8s.CoreV1Api, namespace: str) -> list[str]:
    """Names of the Pods that carry the leader label."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"{LEADER_LABEL}=true").items
    return sorted(p.metadata.name for p in pods)


def _endpoints(kubectl: Kubectl, namespace: str, service: str) -> list[str]:
    """Names of the ready Pods behind ``service``, from its EndpointSlices."""
    slices = json.loads(
        kubectl(
            "get",
            "endpointslices",
            "-n",
            namespace,
            "-l",
            f"kubernetes.io/service-name={service}",
            "-o",
            "json",
        ).stdout
    )["items"]
    return sorted(
        endpoint["targetRef"]["name"]
        for found in slices
        for endpoint in found.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
    )


def test_the_leader_labels_its_pod_and_the_label_moves_with_the_lease(
    cluster: ClusterInfo, kubectl: Kubectl, k8s_api: k8s.ApiClient, namespace: str, tmp_path: Path
) -> None:
    core = k8s.CoreV1Api(k8s_api)
    # pod-b still carries the label from a container that led before it restarted.
    _create_pod(core, namespace, "pod-a", {})
    _create_pod(core, namespace, "pod-b", {LEADER_LABEL: "true"})
    # As the chart's Alertmanager Service: the replicas' labels and the leader label.
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "leader"},
        "spec": {
            "selector": {"app": "operator", LEADER_LABEL: "true"},
            "ports": [{"name": "alertmanager", "port": 9095, "targetPort": 9095}],
        },
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(service))

    first, second = (
        _replica(cluster, namespace, tmp_path, name, pod=f"pod-{name}") for name in ("a", "b")
    )
    first.start()
    wait_until(
        lambda: _labelled(core, namespace) == ["pod-a", "pod-b"],
        timeout=30,
        what="the leader to label pod-a",
        detail=first.log_tail,
    )
    second.start()
    try:
        assert _readyz(second) == (200, "ready (standby)")
        # The standby clears the label it found on its own Pod before it waits.
        wait_until(
            lambda: _labelled(core, namespace) == ["pod-a"],
            timeout=30,
            what="the standby to clear its stale label",
            detail=second.log_tail,
        )
        wait_until(
            lambda: _endpoints(kubectl, namespace, "leader") == ["pod-a"],
            timeout=60,
            what="the Service to send traffic to the leader's pod only",
        )

        first.stop()
        wait_until(
            lambda: _leads(second) and _labelled(core, namespace) == ["pod-b"],
            timeout=30,
            what="the label to move to pod-b with the Lease",
            detail=second.log_tail,
        )
        assert _holder(kubectl, namespace) == "b"
        wait_until(
            lambda: _endpoints(kubectl, namespace, "leader") == ["pod-b"],
            timeout=60,
            what="the Service to follow the leader",
        )
    finally:
        first.stop()
        second.stop()
    assert _labelled(core, namespace) == [], "a clean shutdown removes the label"
