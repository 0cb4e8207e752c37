"""A small exporter of application metrics per pod, for detection tests and benchmarks.

It serves, on 127.0.0.1 with prometheus_client, what an instrumented service would:

- ``http_requests_total{namespace, pod, code}`` and the latency histogram
  ``http_request_duration_seconds{namespace, pod}``, from a request rate, an error
  ratio and a latency the test sets per pod;
- ``agent_queue_depth{namespace, pod}``, a gauge;
- ``detection_probe_value{namespace, workload}``, a gauge named by workload directly,
  for custom-query rules (benchmarks change it and time the incident).

Counters are integrated at each scrape from the rates set, so they grow like real ones
without a background thread, and a change of rate shows in the next scrape.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class _Traffic:
    requests_per_second: float = 0.0
    error_ratio: float = 0.0
    latency_seconds: float = 0.05
    # Integrated so far.
    ok: float = 0.0
    errors: float = 0.0
    # Requests so far per bucket index (the first bucket the latency fits in).
    by_bucket: tuple[float, ...] = (0.0,) * (len(BUCKETS) + 1)
    latency_sum: float = 0.0


class WorkloadExporter:
    """Thread-safe: tests set values while Prometheus scrapes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._traffic: dict[tuple[str, str], _Traffic] = {}
        self._queue_depth: dict[tuple[str, str], float] = {}
        self._probe: dict[tuple[str, str], float] = {}
        self._last = time.monotonic()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.host_port = ""

    # ------------------------------------------------------------- what tests set

    def set_traffic(
        self,
        namespace: str,
        pod: str,
        *,
        requests_per_second: float,
        error_ratio: float = 0.0,
        latency_seconds: float = 0.05,
    ) -> None:
        with self._lock:
            self._integrate()
            traffic = self._traffic.setdefault((namespace, pod), _Traffic())
            traffic.requests_per_second = requests_per_second
            traffic.error_ratio = error_ratio
            traffic.latency_seconds = latency_seconds

    def set_queue_depth(self, namespace: str, pod: str, depth: float) -> None:
        with self._lock:
            self._queue_depth[(namespace, pod)] = depth

    def set_probe(self, namespace: str, workload: str, value: float) -> None:
        with self._lock:
            self._probe[(namespace, workload)] = value

    def forget_namespace(self, namespace: str) -> None:
        with self._lock:
            for table in (self._traffic, self._queue_depth, self._probe):
                for key in [k for k in table if k[0] == namespace]:
                    del table[key]

    # -------------------------------------------------------------- what it serves

    def _integrate(self) -> None:
        now = time.monotonic()
        elapsed, self._last = now - self._last, now
        for traffic in self._traffic.values():
            count = traffic.requests_per_second * elapsed
            traffic.errors += count * traffic.error_ratio
            traffic.ok += count * (1 - traffic.error_ratio)
            index = next(
                (i for i, bound in enumerate(BUCKETS) if traffic.latency_seconds <= bound),
                len(BUCKETS),
            )
            buckets = list(traffic.by_bucket)
            buckets[index] += count
            traffic.by_bucket = tuple(buckets)
            traffic.latency_sum += count * traffic.latency_seconds

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            self._integrate()
            requests = CounterMetricFamily(
                "http_requests", "Requests served.", labels=["namespace", "pod", "code"]
            )
            latency = HistogramMetricFamily(
                "http_request_duration_seconds",
                "Request latency.",
                labels=["namespace", "pod"],
            )
            for (namespace, pod), traffic in sorted(self._traffic.items()):
                requests.add_metric([namespace, pod, "200"], traffic.ok)
                requests.add_metric([namespace, pod, "500"], traffic.errors)
                cumulative, buckets = 0.0, []
                for bound, count in zip((*BUCKETS, float("inf")), traffic.by_bucket, strict=True):
                    cumulative += count
                    buckets.append(("+Inf" if bound == float("inf") else str(bound), cumulative))
                latency.add_metric([namespace, pod], buckets, traffic.latency_sum)
            queue = GaugeMetricFamily(
                "agent_queue_depth", "Items waiting.", labels=["namespace", "pod"]
            )
            for (namespace, pod), depth in sorted(self._queue_depth.items()):
                queue.add_metric([namespace, pod], depth)
            probe = GaugeMetricFamily(
                "detection_probe_value", "A value per workload.", labels=["namespace", "workload"]
            )
            for (namespace, workload), value in sorted(self._probe.items()):
                probe.add_metric([namespace, workload], value)
        yield from (requests, latency, queue, probe)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> WorkloadExporter:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        self._server, self._thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        self.host_port = f"127.0.0.1:{self._server.server_port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
