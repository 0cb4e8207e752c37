"""Detection benchmarks on the local control plane: latency, queries per cycle, CPU.

Run by ``make bench`` (not part of the test run). Starts its own cluster (Prometheus
scrapes every 1 s), an exporter of ``detection_probe_value{namespace, workload}``, and
the operator, then prints:

1. PromQL queries per cycle for a policy over 10 and over 1,000 workloads, counted by a
   proxy in front of Prometheus (so the operator's own account is not trusted);
2. the operator's CPU while it polls 20 rules every second; with ``--baseline DIR`` (a
   checkout of an earlier commit, e.g. ``git archive <commit> | tar -x -C DIR``) the
   earlier code's operator is measured too, alternating with the current one round by
   round (``--rounds``) on the same cluster, so both figures share the machine's load;
3. the time from the exporter changing a workload's value to the Incident existing (seen
   by a watch), with a 1 s poll interval and with the default 15 s one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from tests.harness.cluster import ClusterInfo, LocalCluster
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.integration.exporters import WorkloadExporter

GROUP, VERSION = "sre.agentos.io", "v1alpha1"
CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux
JOB = "detection-bench"
THRESHOLD = 50.0
MEASURES = {
    "queries": "queries per cycle",
    "cpu": "operator CPU",
    "latency-1s": "detection latency, 1 s poll, 1 s scrape",
    "latency-15s": "detection latency, default 15 s poll",
}


# --------------------------------------------------------------------------- helpers


def _probe_rule(name: str, namespace: str) -> dict[str, Any]:
    return {
        "name": name,
        "query": f'max by (namespace, workload) (detection_probe_value{{namespace="{namespace}"}})',
        "warning": THRESHOLD,
        "critical": THRESHOLD * 10,
    }


def _policy(namespace: str, interval: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EscalationPolicy",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"bench": "yes"}},
            "detection": {"interval": interval, "rules": rules},
        },
    }


def _apply_policy(custom: client.CustomObjectsApi, body: dict[str, Any]) -> None:
    namespace = body["metadata"]["namespace"]
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "escalationpolicies", body
        )
    except client.ApiException as error:
        if error.status != 409:
            raise
        custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "escalationpolicies", "bench", {"spec": body["spec"]}
        )


def _namespace_with_workloads(api: client.ApiClient, name: str, count: int) -> list[str]:
    """A namespace with ``count`` Deployments (no replicas: detection needs only their labels)."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    names = [f"svc-{index:04d}" for index in range(count)]

    def create(workload: str) -> None:
        labels = {"app": workload}
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name=workload, labels={**labels, "bench": "yes"}),
            spec=client.V1DeploymentSpec(
                replicas=0,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        containers=[client.V1Container(name="main", image="registry.invalid/x:1")]
                    ),
                ),
            ),
        )
        apps.create_namespaced_deployment(name, body)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    return names


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


class QueryCounter:
    """A proxy in front of Prometheus recording each /api/v1/query it forwards."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.seen: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.path.startswith("/api/v1/query"):
                    with counter._lock:
                        counter.seen.append((time.monotonic(), self.path))
                request = urllib.request.Request(
                    counter.upstream + self.path, data=body, method=self.command
                )
                for header in ("Content-Type",):
                    if self.headers.get(header):
                        request.add_header(header, self.headers[header])
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                try:
                    with opener.open(request, timeout=10) as response:
                        status, payload = response.status, response.read()
                except urllib.error.HTTPError as error:
                    status, payload = error.code, error.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def per_cycle(self, marker: str, since: float) -> list[int]:
        """How many queries containing ``marker`` each whole cycle after ``since`` sent.

        A cycle's queries are sent together; a gap of more than half a second starts
        the next one. The first and last groups may be cut by the window and are dropped.
        """
        with self._lock:
            times = [t for t, path in self.seen if t >= since and marker in path]
        groups: list[int] = []
        previous = float("-inf")
        for arrived in times:
            if arrived - previous > 0.5:
                groups.append(0)
            groups[-1] += 1
            previous = arrived
        return groups[1:-1]

    def close(self) -> None:
        self._server.shutdown()


class IncidentWatch:
    """Records when each workload's Incident first appears in a namespace."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.first_seen: dict[str, float] = {}
        self._custom = client.CustomObjectsApi(api)
        self._namespace = namespace
        self._watch = watch.Watch()
        self._stopped = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                for event in self._watch.stream(
                    self._custom.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self._namespace,
                    "incidents",
                    timeout_seconds=60,
                ):
                    arrived = time.monotonic()
                    affected = event["object"].get("spec", {}).get("affected") or []
                    for workload in affected:
                        self.first_seen.setdefault(workload["name"], arrived)
            except Exception:  # the stream ends or breaks now and then: watch again
                time.sleep(0.1)

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()


@dataclass(frozen=True)
class Code:
    """Which operator code a measure runs: a checkout's, or the installed package."""

    label: str
    # A checkout whose operator/ is put first on PYTHONPATH; None: the installed package.
    root: Path | None = None

    def env(self) -> dict[str, str]:
        return {} if self.root is None else {"PYTHONPATH": str(self.root / "operator")}

    def imported_from(self) -> str:
        """Where a process started as the operator is started imports the package from."""
        found = subprocess.run(
            [sys.executable, "-c", "import incident_operator; print(incident_operator.__file__)"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if self.root is not None and not found.startswith(str(self.root.resolve())):
            raise SystemExit(f"{self.label}: imports {found}, not the code under {self.root}")
        return found


@contextmanager
def _operator(
    cluster: ClusterInfo, workdir: Path, prometheus_url: str, code: Code | None = None
) -> Iterator[int]:
    log = workdir / f"operator-{time.monotonic_ns()}.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=("--prometheus-url", prometheus_url),
        env=code.env() if code else None,
    ).start()
    assert process.process is not None
    try:
        yield process.process.pid
    finally:
        process.stop()


# -------------------------------------------------------------------------- measures


def queries_per_cycle(
    cluster: ClusterInfo, api: client.ApiClient, exporter: WorkloadExporter, workdir: Path
) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    rules = 3
    counts = {}
    proxy = QueryCounter(str(cluster.prometheus_url))
    try:
        with _operator(cluster, workdir, proxy.url):
            for size in (10, 1000):
                namespace = f"bench-{size}"
                for workload in _namespace_with_workloads(api, namespace, size):
                    exporter.set_probe(namespace, workload, 1.0)
                _apply_policy(
                    custom,
                    _policy(
                        namespace, "1s", [_probe_rule(f"r{n}", namespace) for n in range(rules)]
                    ),
                )
            for size in (10, 1000):
                wait_until(
                    lambda size=size: _metrics_available(custom, f"bench-{size}"),  # type: ignore[misc]
                    what=f"bench-{size} polled",
                    timeout=180,
                )
            since = time.monotonic()
            time.sleep(20)  # the measurement window
            for size in (10, 1000):
                # The namespace as it appears, quoted, in the URL-encoded query.
                groups = proxy.per_cycle(f"%22bench-{size}%22", since)
                counts[f"{size} workloads"] = {
                    "rules": rules,
                    "whole cycles": len(groups),
                    "queries per cycle (median)": statistics.median(groups),
                    "queries per cycle (min, max)": [min(groups), max(groups)],
                }
                # Quiet again for the measures that follow.
                custom.delete_namespaced_custom_object(
                    GROUP, VERSION, f"bench-{size}", "escalationpolicies", "bench"
                )
    finally:
        proxy.close()
    return counts


def cpu_while_polling(
    cluster: ClusterInfo,
    api: client.ApiClient,
    exporter: WorkloadExporter,
    workdir: Path,
    codes: list[Code],
    sizes: list[int],
    rounds: int = 1,
    seconds: float = 30,
) -> dict[str, Any]:
    """The operator's CPU over ``seconds`` while one policy's 20 rules poll ``size``
    workloads every second; each code in turn, the order reversed every other round."""
    custom = client.CustomObjectsApi(api)
    for code in codes:
        print(f"{code.label}: imports {code.imported_from()}", flush=True)
    for size in sizes:
        for workload in _namespace_with_workloads(api, f"cpu-{size}", size):
            exporter.set_probe(f"cpu-{size}", workload, 1.0)
    figures: dict[str, dict[str, list[float]]] = {code.label: {} for code in codes}
    for round_ in range(rounds):
        for code in codes if round_ % 2 == 0 else codes[::-1]:
            with _operator(cluster, workdir, str(cluster.prometheus_url), code) as pid:
                for size in sizes:
                    percent = _cpu_of_one_policy(custom, pid, f"cpu-{size}", seconds)
                    key = f"20 rules x {size} workloads, every 1 s"
                    figures[code.label].setdefault(key, []).append(percent)
                    print(f"round {round_ + 1}, {code.label}, {key}: {percent}%", flush=True)
    summary: dict[str, Any] = {
        label: {key: {"cpu % of one core": values} for key, values in by_size.items()}
        for label, by_size in figures.items()
    }
    if len(codes) == 2:
        before, after = (figures[code.label] for code in codes)
        summary["ratio per round"] = {
            key: [
                round(b / a, 1) if a else None for b, a in zip(before[key], after[key], strict=True)
            ]
            for key in before
        }
    return summary


def _cpu_of_one_policy(
    custom: client.CustomObjectsApi, pid: int, namespace: str, seconds: float
) -> float:
    rules = [_probe_rule(f"r{n}", namespace) for n in range(20)]
    _apply_policy(custom, _policy(namespace, "1s", rules))
    wait_until(
        lambda: _metrics_available(custom, namespace), what=f"{namespace} polled", timeout=120
    )
    time.sleep(5)  # past the first cycles and the start-up listing
    start_cpu, start = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)  # the measurement window
    used = _cpu_seconds(pid) - start_cpu
    percent = round(100 * used / (time.monotonic() - start), 1)
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "escalationpolicies", "bench")
    wait_until(lambda: not _policy_exists(custom, namespace), what="the policy deleted", timeout=60)
    return percent


def _policy_exists(custom: client.CustomObjectsApi, namespace: str) -> bool:
    try:
        custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "escalationpolicies", "bench"
        )
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def detection_latency(
    cluster: ClusterInfo,
    api: client.ApiClient,
    exporter: WorkloadExporter,
    workdir: Path,
    interval: str,
    trials: int,
) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    namespace = f"latency-{interval}"
    workloads = _namespace_with_workloads(api, namespace, trials)
    for workload in workloads:
        exporter.set_probe(namespace, workload, 1.0)
    seen = IncidentWatch(api, namespace)
    latencies: list[float] = []
    with _operator(cluster, workdir, str(cluster.prometheus_url)):
        _apply_policy(custom, _policy(namespace, interval, [_probe_rule("probe", namespace)]))
        wait_until(
            lambda: _metrics_available(custom, namespace),
            what="the policy's first cycle",
            timeout=120,
        )
        period = max(_seconds(interval), 1.0)
        for workload in workloads:
            # A random phase against both the scrape and the poll (the previous trial
            # ended just after a poll).
            time.sleep(random.uniform(0, period))
            changed = time.monotonic()
            exporter.set_probe(namespace, workload, THRESHOLD * 2)
            found = wait_until(
                lambda workload=workload: seen.first_seen.get(workload),  # type: ignore[misc]
                what=f"the incident of {workload}",
                timeout=120,
                interval=0.005,
            )
            latencies.append(found - changed)
    seen.stop()
    return {
        "trials": len(latencies),
        "median s": round(statistics.median(latencies), 3),
        "p99 s": round(_percentile(latencies, 0.99), 3),
        "max s": round(max(latencies), 3),
        "min s": round(min(latencies), 3),
    }


def _seconds(interval: str) -> float:
    return float(interval.removesuffix("s"))


def _metrics_available(custom: client.CustomObjectsApi, namespace: str) -> bool:
    body = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "escalationpolicies", "bench"
    )
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "MetricsAvailable" and c["status"] == "True" for c in conditions)


def _measure(name: str, run: Callable[[], dict[str, Any]], results: dict[str, Any]) -> None:
    started = time.monotonic()
    results[name] = run()
    print(f"{name} ({time.monotonic() - started:.0f}s):", flush=True)
    print(json.dumps(results[name], indent=2), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=30, help="latency trials with 1 s polls")
    parser.add_argument("--default-trials", type=int, default=20, help="trials with 15 s polls")
    parser.add_argument("--output", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--only", nargs="*", choices=MEASURES, default=list(MEASURES), help="what to measure"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of earlier code whose operator's CPU is measured beside this one's",
    )
    parser.add_argument(
        "--current",
        type=Path,
        help="a checkout (or copy) of the current code to run; default: the installed package",
    )
    parser.add_argument("--rounds", type=int, default=1, help="CPU rounds, alternating codes")
    parser.add_argument(
        "--cpu-sizes", type=int, nargs="*", default=[10, 1000], help="workloads per CPU measure"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    codes = [Code("current", args.current)]
    if args.baseline:
        codes.insert(0, Code("baseline", args.baseline))
    with tempfile.TemporaryDirectory(prefix="detection-bench-") as tmp:
        workdir = Path(tmp)
        cluster = LocalCluster(workdir / "cluster")
        info = cluster.start()
        exporter = WorkloadExporter().start()
        try:
            cluster.add_scrape_target(JOB, exporter.host_port)
            api = config.new_client_from_config(config_file=str(info.kubeconfig))
            runs: dict[str, Callable[[], dict[str, Any]]] = {
                "queries": lambda: queries_per_cycle(info, api, exporter, workdir),
                "cpu": lambda: cpu_while_polling(
                    info, api, exporter, workdir, codes, args.cpu_sizes, args.rounds
                ),
                "latency-1s": lambda: detection_latency(
                    info, api, exporter, workdir, "1s", args.trials
                ),
                "latency-15s": lambda: detection_latency(
                    info, api, exporter, workdir, "15s", args.default_trials
                ),
            }
            for key in args.only:
                _measure(MEASURES[key], runs[key], results)
        finally:
            exporter.stop()
            cluster.stop()
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
