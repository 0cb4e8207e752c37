"""Two replicas, one active: the Lease hands over when the leader dies; nothing is repeated."""

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import get_incident, incident_manifest, timeline_types
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

LEASE_DURATION = 15.0
RETRY_EVERY = 2.0


def _ready(process: OperatorProcess) -> bool:
    url = process.health_url.replace("/healthz", "/readyz")
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


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


def test_the_standby_takes_over_and_nothing_is_done_twice(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    def replica(name: str) -> OperatorProcess:
        args = ("--leader-elect", "--lease-namespace", namespace, "--identity", name)
        return OperatorProcess(cluster.kubeconfig, tmp_path / f"{name}.log", extra_args=args)

    first, second = replica("first"), replica("second")
    first.start()
    second.start(ready=False)
    try:
        assert _holder(kubectl, namespace) == "first"
        assert not _ready(second), "the standby is not ready while it waits"
        policy = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "fast"},
            "spec": {"default": True, "severities": {"P2": {"updateEvery": "20s"}}},
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
            lambda: _ready(second),
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
    def replica(name: str) -> OperatorProcess:
        args = ("--leader-elect", "--lease-namespace", namespace, "--identity", name)
        return OperatorProcess(cluster.kubeconfig, tmp_path / f"{name}.log", extra_args=args)

    first, second = replica("one"), replica("two")
    first.start()
    second.start(ready=False)
    try:
        first.stop()
        stopped_at = time.monotonic()
        wait_until(
            lambda: _ready(second),
            timeout=30,
            what="the standby to take over",
            detail=second.log_tail,
        )
        assert time.monotonic() - stopped_at < LEASE_DURATION, "a released lease is taken at once"
    finally:
        second.stop()
