"""The runbook's useful commands against the local control plane and its Prometheus.

One namespace for the module, set up once: a Deployment serving traffic with errors and
a deep agent queue (the exporter the detection tests use), a healthy one, one that can
never be scheduled, a policy with two rules, and an incident with a recorded status.
No operator runs: these commands only read what the cluster and Prometheus hold.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, phase_of, policy_manifest
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.harness.workloads import deployment_manifest
from tests.integration.exporters import WorkloadExporter

from incident_operator.cli.main import main

TIMEOUT = 90.0
TIER = {"tier": "backend"}


@pytest.fixture(scope="module")
def platform(
    cluster: ClusterInfo,
    k8s_api: k8s.ApiClient,
    kubectl: Kubectl,
    running_exporter: WorkloadExporter,
) -> Iterator[str]:
    """The module's namespace, with its workloads, traffic, policy; deleted afterwards."""
    core = k8s.CoreV1Api(k8s_api)
    namespace = f"t-useful-{secrets.token_hex(3)}"
    core.create_namespace(
        k8s.V1Namespace(
            metadata=k8s.V1ObjectMeta(name=namespace, labels={"incident-operator/test": "true"})
        )
    )
    try:
        wait_until(
            lambda: core.read_namespaced_service_account("default", namespace),
            what=f"ServiceAccount default in {namespace}",
            timeout=30,
        )
        container = {"name": "main", "image": "registry.invalid/app:1"}
        for name, extra in (
            ("checkout", {}),
            ("search", {}),
            # No node has this label: its pod stays Pending, the Deployment unavailable.
            ("stuck", {"nodeSelector": {"no-such-node": "true"}}),
        ):
            manifest = deployment_manifest(
                name, container, labels={"app": name, **TIER}, pod_labels=TIER
            )
            manifest["spec"]["template"]["spec"].update(extra)
            _apply(kubectl, namespace, manifest)
        kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            input=policy_manifest(
                "runbook",
                selector={"matchLabels": TIER},
                detection={
                    "rules": [
                        {"name": "errors", "signal": "apiErrorRate", "window": "30s"},
                        {"name": "queue", "signal": "agentQueueDepth"},
                    ]
                },
            ),
        )
        pods = wait_until(
            lambda: _running_pods(kubectl, namespace, {"checkout", "search"}),
            what="the pods of checkout and search to run",
            timeout=TIMEOUT,
        )
        running_exporter.set_traffic(
            namespace, pods["checkout"], requests_per_second=50, error_ratio=0.5
        )
        running_exporter.set_traffic(namespace, pods["search"], requests_per_second=50)
        running_exporter.set_queue_depth(namespace, pods["checkout"], 2000)
        yield namespace
    finally:
        running_exporter.forget_namespace(namespace)
        core.delete_namespace(namespace, propagation_policy="Background")


def _apply(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _running_pods(kubectl: Kubectl, namespace: str, apps: set[str]) -> dict[str, str] | None:
    listed = kubectl("get", "pods", "-n", namespace, "-o", "json")
    by_app = {
        p["metadata"]["labels"]["app"]: p["metadata"]["name"]
        for p in json.loads(listed.stdout)["items"]
        if phase_of(p) == "Running"
    }
    return by_app if apps <= set(by_app) else None


def _in_process(cluster: ClusterInfo, namespace: str, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the command run in this process: the waits call it
    until the metrics arrive, and a new Python each time would cost more than the command.
    Each command also runs once as the installed plugin (run_plugin)."""
    printed, failed = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(failed):
        code = main(["--kubeconfig", str(cluster.kubeconfig), "-n", namespace, *args])
    return code, printed.getvalue(), failed.getvalue()


def _json(cluster: ClusterInfo, namespace: str, *args: str) -> Any:
    code, printed, failed = _in_process(cluster, namespace, *args, "-o", "json")
    assert code == 0, f"kubectl incident {' '.join(args)} exited {code}: {failed}"
    return json.loads(printed)


def test_health_names_the_unavailable_workload_and_each_rules_level(
    cluster: ClusterInfo, prometheus_url: str, platform: str
) -> None:
    def judged() -> Any:
        found = _json(cluster, platform, "health", "--prometheus-url", prometheus_url)
        levels = {r["rule"]: r for r in found["rules"]}
        ready = levels["errors"]["level"] == "critical" and levels["queue"]["level"] == "warning"
        return found if ready and found["unhealthyPods"] else None

    found = wait_until(judged, what="health to see both rules breach", timeout=TIMEOUT, interval=1)
    assert [(w["kind"], w["name"]) for w in found["unavailableWorkloads"]] == [
        ("Deployment", "stuck")
    ]
    assert found["unavailableWorkloads"][0]["problem"] == "0 of 1 available"
    [pod] = found["unhealthyPods"]
    assert pod["name"].startswith("stuck-")
    assert pod["phase"] == "Pending"
    assert pod["problem"].startswith("Unschedulable")
    errors, queue = sorted(found["rules"], key=lambda r: r["rule"])
    assert errors["workload"] == "Deployment/checkout"
    assert errors["value"] == pytest.approx(0.5)
    assert (errors["warning"], errors["critical"]) == (0.01, 0.05)
    assert queue["workload"] == "Deployment/checkout"
    assert queue["value"] == 2000
    assert queue["workloads"]["warning"] == 1
    # The table says the same.
    text = run_plugin(
        cluster.kubeconfig, platform, "health", "--prometheus-url", prometheus_url
    ).stdout
    # One short of all: the other tests of the module may add workloads first.
    [(total, available)] = re.findall(r"Workloads: (\d+), (\d+) fully available", text)
    assert int(total) - int(available) == 1
    assert "critical !!" in text
    assert "> 1%" in text
    assert "> 5%" in text


def test_errors_lists_workloads_worst_first_against_the_thresholds(
    cluster: ClusterInfo, prometheus_url: str, platform: str
) -> None:
    def both() -> Any:
        found = _json(
            cluster, platform, "errors", "--last", "30s", "--prometheus-url", prometheus_url
        )
        return found if len(found["workloads"]) == 2 else None

    found = wait_until(both, what="error rates of two workloads", timeout=TIMEOUT, interval=1)
    assert [(w["name"], w["level"]) for w in found["workloads"]] == [
        ("checkout", "critical"),
        ("search", "ok"),
    ]
    assert found["window"] == "30s"
    assert found["thresholds"]["from"] == "policy runbook, rule errors"
    text = run_plugin(
        cluster.kubeconfig, platform, "errors", "--last", "30s", "--prometheus-url", prometheus_url
    ).stdout
    assert text.splitlines()[1].split()[:2] == ["WORKLOAD", "ERROR"]
    assert text.splitlines()[2].split()[0] == "Deployment/checkout"


def test_queue_shows_the_depth_with_its_level(
    cluster: ClusterInfo, prometheus_url: str, platform: str
) -> None:
    found = wait_until(
        lambda: (
            _json(cluster, platform, "queue", "--prometheus-url", prometheus_url)["workloads"]
            or None
        ),
        what="the agent queue depth",
        timeout=TIMEOUT,
        interval=1,
    )
    assert [(w["name"], w["value"], w["level"]) for w in found] == [("checkout", 2000, "warning")]


def test_a_prometheus_that_does_not_answer_is_named(cluster: ClusterInfo, platform: str) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    result = run_plugin(cluster.kubeconfig, platform, "queue", "--prometheus-url", url, check=False)
    assert result.returncode == 1
    assert f"Prometheus at {url} refused or dropped the connection" in result.stderr
    assert "port-forward" in result.stderr
    # health still shows the cluster's half, then fails the same way.
    code, printed, failed = _in_process(
        cluster, platform, "health", "--prometheus-url", url, "-o", "json"
    )
    assert code == 1
    assert f"Prometheus at {url} refused" in failed
    found = json.loads(printed)
    assert [w["name"] for w in found["unavailableWorkloads"]] == ["stuck"]
    assert found["rules"] == []
    assert f"Prometheus at {url} refused" in found["prometheusError"]


def test_deploys_shows_two_rollouts_with_what_changed(
    cluster: ClusterInfo, kubectl: Kubectl, platform: str
) -> None:
    container = {"name": "main", "image": "registry.invalid/web:1"}
    manifest = deployment_manifest("web", container)
    _apply(kubectl, platform, manifest)
    for version, cause in (("2", "bump to 2"), ("3", None)):
        manifest["spec"]["template"]["spec"]["containers"][0]["image"] = (
            f"registry.invalid/web:{version}"
        )
        if cause:
            manifest["metadata"]["annotations"] = {"kubernetes.io/change-cause": cause}
        _apply(kubectl, platform, manifest)
        wait_until(
            lambda v=version: _revisions(kubectl, platform) >= int(v),
            what=f"revision {version} of web",
            timeout=TIMEOUT,
        )
    found = _json(cluster, platform, "deploys", "--last", "1h")
    web = [r for r in found["rollouts"] if r["name"] == "web"]
    assert [(r["revision"], r["previousRevision"]) for r in web] == [(3, 2), (2, 1), (1, None)]
    assert web[0]["changes"] == [
        "container main: image registry.invalid/web:2 -> registry.invalid/web:3"
    ]
    assert web[0]["current"] is True
    assert web[1]["changeCause"] == "bump to 2"
    text = run_plugin(cluster.kubeconfig, platform, "deploys", "--last", "1h").stdout
    assert "2 -> 3 (running)" in text


def _revisions(kubectl: Kubectl, namespace: str) -> int:
    listed = kubectl("get", "replicasets", "-n", namespace, "-l", "app=web", "-o", "json")
    numbers = [
        int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0"))
        for rs in json.loads(listed.stdout)["items"]
    ]
    return max(numbers, default=0)


def test_summary_of_an_incident_by_its_id(
    cluster: ClusterInfo, kubectl: Kubectl, platform: str
) -> None:
    create_incident(
        kubectl,
        platform,
        "checkout-down",
        title="Checkout down",
        severity="P1",
        impact="orders fail",
        affected=[{"kind": "Deployment", "name": "checkout"}],
    )
    status = {
        "id": "INC-0042",
        "phase": "Investigating",
        "detectedAt": "2026-03-01T12:00:00Z",
        "acknowledgedAt": "2026-03-01T12:04:00Z",
        "timeline": [
            {
                "time": "2026-03-01T12:00:00Z",
                "type": "Declared",
                "actor": "alice",
                "message": "declared \x1b[31mred",
            },
        ],
    }
    kubectl(
        "patch",
        "incident",
        "checkout-down",
        "-n",
        platform,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )
    text = run_plugin(cluster.kubeconfig, platform, "summary", "INC-0042").stdout
    assert text.startswith("INC-0042 [P1] Checkout down\n")
    assert "  Affected: Deployment/checkout\n" in text
    assert "  Time to acknowledge: 4m\n" in text
    # Text from the cluster is escaped.
    assert "declared \\x1b[31mred" in text
    assert "\x1b" not in text
    code, markdown, _ = _in_process(
        cluster, platform, "summary", "checkout-down", "--format", "markdown"
    )
    assert code == 0
    assert markdown.startswith("# INC-0042 [P1] Checkout down\n")
    assert "\n## Impact\n\norders fail\n" in markdown
