"""Prometheus on the local control plane sees what an operator would query.

kube-state-metrics gives the objects' state; kwok emulates the kubelet's resource
metrics (container_cpu_usage_seconds_total, ...) from each pod's
kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory annotations; extra targets are
added through file-based service discovery.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness import prometheus
from tests.harness.cluster import ClusterInfo
from tests.harness.wait import wait_until

SCRAPE_TIMEOUT = 60.0


def _create_pod(
    k8s_api: k8s.ApiClient, namespace: str, name: str, annotations: dict[str, str] | None = None
) -> None:
    pod = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name, labels={"app": name}, annotations=annotations),
        spec=k8s.V1PodSpec(
            containers=[k8s.V1Container(name="main", image="registry.invalid/payments:2.3.1")]
        ),
    )
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespaced_pod(namespace, pod)

    def running() -> bool:
        status = core.read_namespaced_pod(name, namespace).status
        return status is not None and status.phase == "Running"

    wait_until(running, what=f"pod {namespace}/{name} to be Running", timeout=60)


def _wait_series(
    prometheus_url: str, promql: str, cluster: ClusterInfo, timeout: float = SCRAPE_TIMEOUT
) -> list[dict[str, Any]]:
    return wait_until(
        lambda: prometheus.query(prometheus_url, promql),
        what=f"Prometheus to return {promql}",
        timeout=timeout,
        interval=0.5,
        detail=lambda: cluster.log_tail(10, ["prometheus", "kube-state-metrics", "kwok"]),
    )


def test_kube_state_metrics_series_for_a_pod(
    cluster: ClusterInfo, prometheus_url: str, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    _create_pod(k8s_api, namespace, "payments")
    selector = f'namespace="{namespace}",pod="payments"'

    # The series of the scheduled pod: kube-state-metrics may have been scraped while the
    # pod had no host IP yet, and that older series (no host_ip label) lingers a while.
    [info] = _wait_series(prometheus_url, f'kube_pod_info{{{selector},host_ip!=""}}', cluster)
    assert info["metric"]["job"] == "kube-state-metrics"
    assert info["metric"]["node"] in cluster.nodes or info["metric"]["node"].startswith("kwok-")
    assert info["metric"]["host_ip"] == "127.0.0.1"

    [phase] = _wait_series(
        prometheus_url, f'kube_pod_status_phase{{{selector},phase="Running"}} == 1', cluster
    )
    assert phase["value"][1] == "1"
    # --metric-labels-allowlist=pods=[*] exposes the pod's labels.
    _wait_series(prometheus_url, f'kube_pod_labels{{{selector},label_app="payments"}}', cluster)


def test_kwok_emulates_container_resource_metrics(
    cluster: ClusterInfo, prometheus_url: str, k8s_api: k8s.ApiClient, namespace: str
) -> None:
    _create_pod(
        k8s_api,
        namespace,
        "hot",
        annotations={"kwok.x-k8s.io/usage-cpu": "500m", "kwok.x-k8s.io/usage-memory": "64Mi"},
    )
    selector = f'namespace="{namespace}",pod="hot",container="main"'

    [cpu] = _wait_series(
        prometheus_url, f"container_cpu_usage_seconds_total{{{selector}}}", cluster
    )
    assert cpu["metric"]["job"] == "kwok-metrics"
    assert cpu["metric"]["node"].startswith("kwok-node-")
    [memory] = _wait_series(
        prometheus_url, f"container_memory_working_set_bytes{{{selector}}}", cluster
    )
    assert float(memory["value"][1]) == 64 * 1024 * 1024

    # The counter grows at the annotated 0.5 cores: measured over a 5s window once the
    # series is older than that (a younger one's rate is extrapolated from too little).
    series = f"container_cpu_usage_seconds_total{{{selector}}}"
    _wait_series(prometheus_url, f"count_over_time({series}[10s]) >= 7", cluster)
    [rate] = prometheus.query(prometheus_url, f"rate({series}[5s])")
    measured = float(rate["value"][1])
    assert 0.3 < measured < 0.7, measured


class _Exporter(BaseHTTPRequestHandler):
    body = (
        b"# TYPE incident_operator_test_exporter_value gauge\n"
        b"incident_operator_test_exporter_value 42\n"
    )

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def exporter() -> Iterator[str]:
    """A tiny /metrics endpoint on 127.0.0.1; yields host:port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_scrape_target_added_at_run_time(
    cluster: ClusterInfo, prometheus_url: str, exporter: str
) -> None:
    if not cluster.controllable:
        pytest.skip("the cluster was not started by the harness: no file-based targets")
    job = "test-exporter"
    cluster.add_scrape_target(job, exporter)
    try:
        [sample] = _wait_series(
            prometheus_url, f'incident_operator_test_exporter_value{{job="{job}"}}', cluster
        )
        assert sample["value"][1] == "42"
        assert sample["metric"]["instance"] == exporter
    finally:
        cluster.remove_scrape_target(job)
    # Gone from the targets (the up series turns stale) once the file is removed.
    wait_until(
        lambda: not prometheus.query(prometheus_url, f'up{{job="{job}"}}'),
        what=f"job {job} to disappear",
        timeout=SCRAPE_TIMEOUT,
    )


def test_prometheus_stops_and_restarts(cluster: ClusterInfo, prometheus_url: str) -> None:
    if not cluster.controllable:
        pytest.skip("the cluster was not started by the harness: Prometheus cannot be stopped")
    _wait_series(prometheus_url, 'up{job="kube-state-metrics"} == 1', cluster)
    cluster.stop_prometheus()
    try:
        assert not cluster.prometheus_running()
        with pytest.raises(OSError, match="Connection refused"):
            prometheus.query(prometheus_url, "up")
    finally:
        cluster.start_prometheus()
    assert cluster.prometheus_running()
    # Same URL, same storage: the series from before the stop are still there.
    _wait_series(prometheus_url, 'count_over_time(up{job="kube-state-metrics"}[10m]) > 1', cluster)
    _wait_series(prometheus_url, 'up{job="kube-state-metrics"} == 1', cluster)
