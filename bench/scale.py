"""Scale: 5,000 Incidents in 50 namespaces with 200 EscalationPolicies on the local control plane.

Prints the operator's resident memory, its idle CPU, and the time from creating one more
Incident to its status being initialised (p50/p99 over the trials). Run: `make bench-scale`
(or `python -m bench.scale --incidents 500` for a quicker look).
"""

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from tests.harness.cluster import LocalCluster
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until

GROUP, VERSION = "sre.agentos.io", "v1alpha1"
TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def _incident(name: str, severity: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Incident",
        "metadata": {"name": name},
        "spec": {"title": f"{name} is slow", "severity": severity},
    }


def _policy(name: str, default: bool) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EscalationPolicy",
        "metadata": {"name": name},
        "spec": {"default": default, "selector": {"matchLabels": {"team": name}}},
    }


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _initialised_count(custom: client.CustomObjectsApi) -> int:
    items = custom.list_cluster_custom_object(GROUP, VERSION, "incidents")["items"]
    return sum(1 for i in items if (i.get("status") or {}).get("phase"))


def _time_to_status(custom: client.CustomObjectsApi, namespace: str, name: str) -> float:
    """Creates one incident and returns the seconds until its status has an ID and a phase."""
    done = threading.Event()
    elapsed: list[float] = []
    stream = watch.Watch()

    def observe(started: float) -> None:
        for event in stream.stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "incidents",
            field_selector=f"metadata.name={name}",
            timeout_seconds=30,
        ):
            status = event["object"].get("status") or {}
            if status.get("id") and status.get("phase"):
                elapsed.append(time.monotonic() - started)
                done.set()
                stream.stop()
                return

    started = time.monotonic()
    watcher = threading.Thread(target=observe, args=(started,), daemon=True)
    watcher.start()
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "incidents", _incident(name, "P3")
    )
    watcher.join(timeout=35)
    if not elapsed:
        raise RuntimeError(f"{namespace}/{name} was not initialised within 30 s")
    return elapsed[0]


def _wait_until_quiet(pid: int, window: float = 10.0, limit: float = 600.0) -> float:
    """Waits until the operator uses under 5% of a core over a window; returns when (monotonic).

    Creating thousands of incidents leaves work queued behind the first status write
    (Events, escalation records); idle CPU means after that, not during it.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before, at = _cpu_seconds(pid), time.monotonic()
        wait_until(
            lambda at=at: time.monotonic() - at >= window,
            timeout=window + 5,
            interval=0.5,
            what="a measuring window",
        )
        if (_cpu_seconds(pid) - before) / window < 0.05:
            return time.monotonic()
    raise RuntimeError(f"the operator was still busy after {limit:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--policies", type=int, default=200)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        cluster = LocalCluster(Path(workdir))
        info = cluster.start()
        try:
            api = config.new_client_from_config(config_file=str(info.kubeconfig))
            core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
            namespaces = [f"scale-{i:02d}" for i in range(args.namespaces)]
            for ns in namespaces:
                core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
            per_ns = max(args.policies // args.namespaces, 1)
            for ns in namespaces:
                for p in range(per_ns):
                    custom.create_namespaced_custom_object(
                        GROUP, VERSION, ns, "escalationpolicies", _policy(f"team-{p}", p == 0)
                    )
            with OperatorProcess(info.kubeconfig, Path(workdir) / "operator.log") as operator:
                assert operator.process is not None
                pid = operator.process.pid
                started = time.monotonic()
                severities = ["P1", "P2", "P3", "P4"]

                def create(index: int) -> None:
                    ns = namespaces[index % len(namespaces)]
                    custom.create_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        ns,
                        "incidents",
                        _incident(f"inc-{index:05d}", severities[index % len(severities)]),
                    )

                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(create, range(args.incidents)))
                created = time.monotonic() - started
                wait_until(
                    lambda: _initialised_count(custom) >= args.incidents,
                    timeout=3600,
                    interval=5,
                    what="every incident to be initialised",
                    detail=operator.log_tail,
                )
                settled = time.monotonic() - started
                quiet_after = _wait_until_quiet(pid) - started
                cpu_before, idle_started = _cpu_seconds(pid), time.monotonic()
                wait_until(
                    lambda: time.monotonic() - idle_started >= args.idle_seconds,
                    timeout=args.idle_seconds + 10,
                    interval=1,
                    what="the idle window",
                )
                idle_cpu = (_cpu_seconds(pid) - cpu_before) / (time.monotonic() - idle_started)
                rss = _rss_mib(pid)
                latencies = sorted(
                    _time_to_status(custom, namespaces[i % len(namespaces)], f"probe-{i:03d}")
                    for i in range(args.trials)
                )
                p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
                print(
                    f"incidents: {args.incidents} in {args.namespaces} namespaces, "
                    f"{per_ns * args.namespaces} policies"
                )
                print(
                    f"created in {created:.0f} s; all initialised after {settled:.0f} s; "
                    f"the operator's follow-up work (events, escalation) done after "
                    f"{quiet_after:.0f} s"
                )
                print(f"operator RSS: {rss:.0f} MiB (goal < 250)")
                print(
                    f"operator idle CPU: {idle_cpu * 100:.2f}% of a core over "
                    f"{args.idle_seconds:.0f} s (goal < 2%)"
                )
                print(
                    f"create -> status initialised over {len(latencies)} trials: "
                    f"p50 {statistics.median(latencies) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms "
                    "(goal < 1 s)"
                )
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
