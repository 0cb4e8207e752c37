"""Detection against the local control plane's real Prometheus.

Restarts come from kube-state-metrics (the tests set pods' restart counts), CPU from
kwok's emulated kubelet metrics, error rate and latency from a small exporter the tests
drive (tests/integration/exporters.py). Phases and conditions are the lifecycle's,
derived from the status.detection these tests watch the operator write.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness import prometheus
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    Body,
    conditions,
    create_incident,
    event_messages,
    get_incident,
    list_incidents,
    phase_of,
    policy_manifest,
    wait_for_condition,
    wait_for_only_incident,
)
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.harness.workloads import deployment_manifest
from tests.integration.exporters import WorkloadExporter

from incident_operator.domain.detection_queries import signal_query
from incident_operator.domain.signals import Signal

TIMEOUT = 90.0
POLICY = "runbook"
FINGERPRINT = "sre.agentos.io/fingerprint"


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, prometheus_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("detection") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig, log, extra_args=("--prometheus-url", prometheus_url)
    ).start()
    yield process
    process.stop()


# ------------------------------------------------------------------------- helpers


def _apply(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))


def _deployment(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    *,
    replicas: int = 1,
    cpu_limit: str = "500m",
    annotations: dict[str, str] | None = None,
) -> list[str]:
    """A Deployment labelled for the policy; returns its Running pods' names."""
    container = {
        "name": "main",
        "image": f"registry.invalid/{name}:1",
        "resources": {"limits": {"cpu": cpu_limit, "memory": "256Mi"}},
    }
    tier = {"tier": "backend"}
    manifest = deployment_manifest(
        name,
        container,
        replicas=replicas,
        labels={"app": name, **tier},
        pod_labels=tier,
        pod_annotations=annotations or {},
    )
    _apply(kubectl, namespace, manifest)

    def running() -> list[str] | None:
        listed = kubectl("get", "pods", "-n", namespace, "-l", f"app={name}", "-o", "json")
        pods = json.loads(listed.stdout)["items"]
        ready = [p["metadata"]["name"] for p in pods if phase_of(p) == "Running"]
        return sorted(ready) if len(ready) == len(pods) == replicas else None

    found: list[str] = wait_until(running, what=f"{replicas} pods of {name}", timeout=TIMEOUT)
    return found


def _serving(
    kubectl: Kubectl, exporter: WorkloadExporter, namespace: str, name: str, **traffic: float
) -> str:
    """A one-pod Deployment whose metrics the exporter serves as ``traffic``; its pod's name."""
    [pod] = _deployment(kubectl, namespace, name)
    exporter.set_traffic(namespace, pod, **traffic)
    return pod


def _policy(
    kubectl: Kubectl, namespace: str, rules: list[dict[str, Any]], **detection: Any
) -> None:
    manifest = policy_manifest(
        POLICY,
        selector={"matchLabels": {"tier": "backend"}},
        detection={"interval": "1s", "monitoringWindow": "3s", "rules": rules, **detection},
    )
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)


def _one_incident(
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    check: Callable[[Body], bool],
    what: str,
) -> Body:
    """The namespace's only incident detection opened, once ``check`` holds; fails on a second."""
    return wait_for_only_incident(
        kubectl, namespace, check, what, TIMEOUT, operator.log_tail, selector=FINGERPRINT
    )


def _detection(incident: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = (incident.get("status") or {}).get("detection") or {}
    return found


def _detected(incident: dict[str, Any]) -> bool:
    return bool(_detection(incident))


def _recovered(incident: dict[str, Any]) -> bool:
    """Detection's part: back under the threshold, recovering since recoveredAt."""
    detection = _detection(incident)
    return detection.get("breaching") is False and bool(detection.get("recoveredAt"))


def _breaching(incident: dict[str, Any]) -> bool:
    return _detection(incident).get("breaching") is True


def _resolved(incident: dict[str, Any]) -> bool:
    """Resolved, whatever came after: P0-P3 go on to PostIncident at once."""
    return phase_of(incident) in ("Resolved", "PostIncident", "Closed")


def _wait_metrics_available(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, status: str, timeout: float
) -> Body:
    """The policy's MetricsAvailable condition, once it has ``status``."""
    body = wait_for_condition(
        kubectl,
        namespace,
        POLICY,
        "MetricsAvailable",
        status,
        kind="escalationpolicy",
        timeout=timeout,
        detail=operator.log_tail,
    )
    return conditions(body)["MetricsAvailable"]


def _cycles(operator: OperatorProcess, namespace: str) -> int:
    """How many detection cycles of the namespace's policy the operator has logged."""
    text = operator.log_path.read_text(errors="replace")
    return len(re.findall(rf"detection cycle {re.escape(namespace)}/{POLICY}:", text))


def _after_cycles(operator: OperatorProcess, namespace: str, count: int) -> None:
    """Waits until ``count`` more cycles have run: the evidence that time has passed."""
    start = _cycles(operator, namespace)
    wait_until(
        lambda: _cycles(operator, namespace) >= start + count,
        what=f"{count} detection cycles in {namespace}",
        timeout=TIMEOUT,
        detail=operator.log_tail,
    )


def _told(kubectl: Kubectl, namespace: str, name: str, text: str) -> bool:
    """Whether the incident's timeline, or the Events it posted, say ``text``."""
    timeline = (get_incident(kubectl, namespace, name).get("status") or {}).get("timeline") or []
    messages = [e["message"] for e in timeline] + event_messages(kubectl, namespace, name)
    return any(text in message for message in messages)


def _set_restarts(k8s_api: k8s.ApiClient, namespace: str, pod: str, count: int) -> None:
    patch = [{"op": "replace", "path": "/status/containerStatuses/0/restartCount", "value": count}]
    k8s.CoreV1Api(k8s_api).patch_namespaced_pod_status(pod, namespace, patch)


# --------------------------------------------------------------------------- tests


def test_every_signal_query_is_valid_promql_and_maps_pods_to_workloads(
    prometheus_url: str, kubectl: Kubectl, namespace: str
) -> None:
    _deployment(kubectl, namespace, "api", replicas=2)
    _apply(
        kubectl,
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "main", "image": "registry.invalid/db:1"}]},
                },
            },
        },
    )
    for signal in Signal:
        prometheus.query(prometheus_url, signal_query(signal, namespace))  # raises on an error

    def both_workloads() -> list[tuple[str, str, str]] | None:
        result = prometheus.query(prometheus_url, signal_query(Signal.POD_RESTARTS, namespace))
        seen = sorted(
            (s["metric"]["workload_kind"], s["metric"]["workload"], s["value"][1]) for s in result
        )
        return seen if len(seen) == 2 else None

    seen = wait_until(both_workloads, what="restarts of api and db", timeout=TIMEOUT)
    assert seen == [("Deployment", "api", "0"), ("StatefulSet", "db", "0")]


def test_restarts_open_one_incident_raise_it_and_survive_a_restart(
    operator: OperatorProcess, kubectl: Kubectl, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    [pod] = _deployment(kubectl, namespace, "api")
    _policy(kubectl, namespace, [{"name": "restarts", "signal": "podRestarts"}])
    _wait_metrics_available(kubectl, namespace, operator, "True", TIMEOUT)
    _set_restarts(k8s_api, namespace, pod, 5)

    incident = _one_incident(kubectl, namespace, operator, _detected, "an incident for restarts")
    spec, labels, detection = incident["spec"], incident["metadata"]["labels"], _detection(incident)
    assert spec["severity"] == "P2"
    assert spec["source"] == "prometheus"
    assert spec["affected"] == [{"kind": "Deployment", "name": "api"}]
    assert spec["policyRef"] == {"name": POLICY}
    assert labels["sre.agentos.io/policy"] == POLICY
    assert labels["sre.agentos.io/rule"] == "restarts"
    assert len(labels[FINGERPRINT]) == 32
    assert (detection["level"], detection["threshold"], detection["breaching"]) == (
        "warning",
        3,
        True,
    )
    assert 3 < detection["value"] <= 10  # increase() extrapolates a young series
    assert "podRestarts " in spec["title"]
    assert "warning threshold 3" in spec["title"]
    assert "warning threshold 3" in spec["summary"]

    # Many cycles later, critical: the same incident is raised, never a second one; to P0,
    # as a rule that names no severity follows the runbook's alert mapping (Critical P0).
    _set_restarts(k8s_api, namespace, pod, 12)
    raised = _one_incident(
        kubectl, namespace, operator, lambda i: i["spec"]["severity"] == "P0", "severity P0"
    )
    assert raised["metadata"]["uid"] == incident["metadata"]["uid"]
    assert _detection(raised)["level"] == "critical"
    wait_until(
        lambda: _told(kubectl, namespace, incident["metadata"]["name"], "raised from P2 to P0"),
        what="the timeline to say the severity was raised",
        timeout=30,
    )

    # A restarted operator resumes without opening the breach's incident again.
    operator.stop()
    operator.start()
    _after_cycles(operator, namespace, 5)
    [only] = list_incidents(kubectl, namespace)
    assert only["metadata"]["uid"] == incident["metadata"]["uid"]
    assert only["spec"]["severity"] == "P0"


def test_cpu_against_the_limit_from_kwok(
    operator: OperatorProcess, kubectl: Kubectl, namespace: str
) -> None:
    _deployment(
        kubectl,
        namespace,
        "worker",
        cpu_limit="500m",
        annotations={"kwok.x-k8s.io/usage-cpu": "450m"},
    )
    _policy(
        kubectl,
        namespace,
        [{"name": "cpu", "signal": "cpuUsage", "window": "10s", "warning": 0.5, "critical": 0.95}],
    )
    incident = _one_incident(kubectl, namespace, operator, _detected, "an incident for CPU")
    detection = _detection(incident)
    assert detection["workload"] == {"kind": "Deployment", "name": "worker"}
    assert 0.5 < detection["value"] < 1.0
    assert detection["threshold"] == 0.5
    assert incident["spec"]["severity"] == "P2"


def test_error_rate_recovers_regresses_and_resolves(
    operator: OperatorProcess, exporter: WorkloadExporter, kubectl: Kubectl, namespace: str
) -> None:
    pod = _serving(
        kubectl, exporter, namespace, "checkout", requests_per_second=50, error_ratio=0.03
    )
    # The regression must come inside the monitoring window, or the P2 resolves first and
    # the regression is a new incident: a window long enough for a loaded CI machine.
    rules = [{"name": "errors", "signal": "apiErrorRate", "window": "5s"}]
    _policy(kubectl, namespace, rules, monitoringWindow="15s")
    opened = _one_incident(kubectl, namespace, operator, _detected, "an incident for errors")
    assert opened["spec"]["severity"] == "P2"
    assert 0.01 < _detection(opened)["value"] < 0.05

    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.0)
    _one_incident(kubectl, namespace, operator, _recovered, "detection to see recovery")
    recovered = _one_incident(
        kubectl, namespace, operator, lambda i: phase_of(i) == "Monitoring", "Monitoring"
    )
    assert conditions(recovered).get("MetricsRecovered", {}).get("status") == "True"

    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.03)
    _one_incident(kubectl, namespace, operator, _breaching, "detection to see the regression")
    _one_incident(
        kubectl, namespace, operator, lambda i: phase_of(i) == "Investigating", "Investigating"
    )

    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.0)
    _one_incident(kubectl, namespace, operator, _recovered, "detection to see recovery")
    resolved = _one_incident(kubectl, namespace, operator, _resolved, "Resolved (P2)")
    assert resolved["metadata"]["uid"] == opened["metadata"]["uid"]


def test_latency_p1_recovers_but_is_never_resolved_automatically(
    operator: OperatorProcess, exporter: WorkloadExporter, kubectl: Kubectl, namespace: str
) -> None:
    pod = _serving(
        kubectl, exporter, namespace, "search", requests_per_second=20, latency_seconds=3.0
    )
    # The runbook's examples put latency at P1 ("API latency > 10x normal"), as the sample
    # policy's rule does: the default for critical is P0.
    rule = {"name": "latency", "signal": "apiLatencyP99", "window": "5s"}
    _policy(kubectl, namespace, [{**rule, "severity": {"critical": "P1"}}])
    opened = _one_incident(kubectl, namespace, operator, _detected, "a latency incident")
    assert opened["spec"]["severity"] == "P1"
    assert _detection(opened)["level"] == "critical"
    assert _detection(opened)["value"] > 2.0

    exporter.set_traffic(namespace, pod, requests_per_second=20, latency_seconds=0.05)
    _one_incident(kubectl, namespace, operator, _recovered, "detection to see recovery")
    _one_incident(kubectl, namespace, operator, lambda i: phase_of(i) == "Monitoring", "Monitoring")
    # Well past the 3s monitoring window.
    _after_cycles(operator, namespace, 8)
    [still] = list_incidents(kubectl, namespace)
    assert phase_of(still) == "Monitoring"
    assert still["spec"]["severity"] == "P1"


def test_latency_relative_to_normal_is_judged_against_the_offset(
    operator: OperatorProcess, exporter: WorkloadExporter, kubectl: Kubectl, namespace: str
) -> None:
    """apiLatencyRelative: the p99 now over the p99 ``offset`` before ("API latency > 10x
    normal" is P1). A workload that was always slow is normal for itself; one twenty
    times slower than it was opens a P1, in real Prometheus with a 15 s offset."""
    search = _serving(
        kubectl, exporter, namespace, "search", requests_per_second=20, latency_seconds=0.05
    )
    _serving(kubectl, exporter, namespace, "reports", requests_per_second=20, latency_seconds=3.0)
    rule = {
        "name": "slower",
        "signal": "apiLatencyRelative",
        "window": "5s",
        "offset": "15s",
        "for": "2s",
        "severity": {"critical": "P1", "warning": "P2"},
    }
    _policy(kubectl, namespace, [rule])
    # Both workloads have a baseline once 20 s of history exist; a p99 of 3 s then is
    # normal for reports, and nothing opens.
    _wait_metrics_available(kubectl, namespace, operator, "True", TIMEOUT)
    _after_cycles(operator, namespace, 3)
    assert list_incidents(kubectl, namespace) == []

    # search: p99 from about 50 ms to about 1 s, some 20 times its normal.
    exporter.set_traffic(namespace, search, requests_per_second=20, latency_seconds=0.75)
    opened = _one_incident(kubectl, namespace, operator, _detected, "a relative latency incident")
    detection = _detection(opened)
    assert opened["spec"]["severity"] == "P1"
    assert opened["spec"]["affected"] == [{"kind": "Deployment", "name": "search"}]
    assert detection["level"] == "critical"
    assert detection["threshold"] == 10
    assert detection["value"] > 10
    assert "x normal above the critical threshold 10x normal" in opened["spec"]["title"]


def test_prometheus_down_is_unknown_and_opens_one_gap_incident(
    cluster: ClusterInfo,
    operator: OperatorProcess,
    exporter: WorkloadExporter,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    pod = _serving(
        kubectl, exporter, namespace, "payments", requests_per_second=50, error_ratio=0.03
    )
    _policy(
        kubectl,
        namespace,
        [{"name": "errors", "signal": "apiErrorRate", "window": "5s"}],
        monitoringWindow="8s",
        maxUnknownCycles=3,
    )
    _one_incident(kubectl, namespace, operator, _detected, "an incident for errors")
    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.0)
    _one_incident(kubectl, namespace, operator, _recovered, "detection to see recovery")
    # Within the 8s monitoring window: from here on, only missing data.
    cluster.stop_prometheus()
    try:
        unreachable = _wait_metrics_available(kubectl, namespace, operator, "False", 30)
        assert unreachable["reason"] == "PrometheusUnreachable"
        assert "refused" in unreachable["message"]

        def gap_opened() -> list[dict[str, Any]] | None:
            items = list_incidents(kubectl, namespace)
            return items if len(items) == 2 else None

        items = wait_until(gap_opened, what="the monitoring-gap incident", timeout=30)
        [gap] = [
            i for i in items if i["metadata"]["labels"]["sre.agentos.io/rule"] == ("monitoring-gap")
        ]
        [errors] = [i for i in items if i is not gap]
        assert gap["spec"]["severity"] == "P2"
        assert "Monitoring gap" in gap["spec"]["title"]
        assert "refused" in gap["spec"]["summary"]
        assert _detection(errors)["level"] == "unknown"
        assert "recoveredAt" not in _detection(errors)
        # Past the monitoring window with no data: nothing resolved, nothing opened.
        _after_cycles(operator, namespace, 10)
        assert len(list_incidents(kubectl, namespace)) == 2
        [errors] = [
            i
            for i in list_incidents(kubectl, namespace)
            if i["metadata"]["name"] != (gap["metadata"]["name"])
        ]
        assert not _resolved(errors)
        assert "recoveredAt" not in _detection(errors)
    finally:
        cluster.start_prometheus()

    _wait_metrics_available(kubectl, namespace, operator, "True", TIMEOUT)
    wait_until(
        lambda: all(_recovered(i) for i in list_incidents(kubectl, namespace)),
        what="detection to see both recovered",
        timeout=TIMEOUT,
        detail=operator.log_tail,
    )

    def all_resolved() -> bool:
        items = list_incidents(kubectl, namespace)
        return len(items) == 2 and all(_resolved(i) for i in items)

    wait_until(all_resolved, what="both incidents resolved", timeout=TIMEOUT)


def test_a_hand_declared_incident_shows_the_current_values(
    operator: OperatorProcess, exporter: WorkloadExporter, kubectl: Kubectl, namespace: str
) -> None:
    _serving(kubectl, exporter, namespace, "ledger", requests_per_second=40, error_ratio=0.005)
    _policy(kubectl, namespace, [{"name": "errors", "signal": "apiErrorRate", "window": "10s"}])
    create_incident(
        kubectl,
        namespace,
        "ledger-slow",
        title="Ledger is slow",
        severity="P2",
        affected=[{"kind": "Deployment", "name": "ledger"}],
    )

    def readings() -> list[dict[str, Any]] | None:
        body = get_incident(kubectl, namespace, "ledger-slow")
        found: list[dict[str, Any]] = (body.get("status") or {}).get("metrics") or []
        return found if found and found[0].get("value") is not None else None

    [first] = wait_until(readings, what="status.metrics", timeout=TIMEOUT)
    assert first["rule"] == f"{POLICY}/errors"
    assert first["workload"] == {"kind": "Deployment", "name": "ledger"}
    assert first["level"] == "ok"
    assert 0 < first["value"] < 0.01
    assert (first["warning"], first["critical"]) == (0.01, 0.05)
    refreshed = wait_until(
        lambda: (r := readings()) and r[0]["at"] != first["at"] and r,
        what="a refreshed reading",
        timeout=30,
    )
    assert refreshed[0]["at"] > first["at"]
    # Only people's incident: detection opened nothing of its own.
    names = [i["metadata"]["name"] for i in list_incidents(kubectl, namespace)]
    assert names == ["ledger-slow"]


def _metrics_available(kubectl: Kubectl, namespace: str) -> Body:
    body = json.loads(
        kubectl("get", "escalationpolicy", POLICY, "-n", namespace, "-o", "json").stdout
    )
    found: Body = conditions(body).get("MetricsAvailable") or {}
    return found


# Detection cycles (1 s each) Prometheus stays down in the outage test.
OUTAGE_CYCLES = int(os.environ.get("INCIDENT_OPERATOR_OUTAGE_CYCLES", "10"))


def test_a_prometheus_outage_neither_recovers_a_breach_nor_reads_as_a_drop(
    cluster: ClusterInfo,
    operator: OperatorProcess,
    exporter: WorkloadExporter,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    """Ranges that span the outage are Unknown until they are whole again: the breaching
    workload stays breaching, the steady one is not read as a drop."""
    _serving(kubectl, exporter, namespace, "checkout", requests_per_second=50, error_ratio=0.03)
    _serving(kubectl, exporter, namespace, "steady", requests_per_second=50)
    rules = [
        {"name": "errors", "signal": "apiErrorRate", "window": "5s"},
        {
            "name": "drop",
            "signal": "requestRateDrop",
            "window": "5s",
            "offset": "15s",
            "for": "2s",
            "workloads": {"matchLabels": {"app": "steady"}},
        },
    ]
    _policy(kubectl, namespace, rules)
    opened = _one_incident(kubectl, namespace, operator, _detected, "an incident for errors")
    # Both rules have data (the drop rule once 20 s of history exist).
    _wait_metrics_available(kubectl, namespace, operator, "True", TIMEOUT)

    cluster.stop_prometheus()
    try:
        down = _wait_metrics_available(kubectl, namespace, operator, "False", 30)
        assert down["reason"] == "PrometheusUnreachable"
        # About 10 s without data; `make chaos` holds Prometheus down for two minutes.
        _after_cycles(operator, namespace, OUTAGE_CYCLES)
    finally:
        cluster.start_prometheus()

    # Back: the rules' ranges still hold the outage, so their readings are Unknown...
    settling = wait_until(
        lambda: (
            (c := _metrics_available(kubectl, namespace)).get("reason") == "WindowOverlapsGap" and c
        ),
        what="MetricsAvailable=False, WindowOverlapsGap",
        timeout=60,
        interval=0.3,
        detail=operator.log_tail,
    )
    assert settling["status"] == "False"
    assert "overlaps a gap in the data" in settling["message"]
    # ...until they are whole again.
    _wait_metrics_available(kubectl, namespace, operator, "True", TIMEOUT)
    _after_cycles(operator, namespace, 3)

    [only] = list_incidents(kubectl, namespace)  # nothing opened for the steady workload
    assert only["metadata"]["uid"] == opened["metadata"]["uid"]
    detection = _detection(only)
    assert detection["breaching"] is True
    assert detection["level"] == "warning"
    assert "recoveredAt" not in detection
    assert phase_of(only) != "Monitoring"
    name = only["metadata"]["name"]
    assert not _told(kubectl, namespace, name, "metrics recovered"), "never recorded as recovered"
