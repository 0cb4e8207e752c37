"""python -m tests.harness up|down|status|logs: the local cluster from a shell.

``up`` starts the cluster in <repo>/.cluster (or --dir), leaves it running after it
returns and records the pids in state.json; ``down`` stops exactly those pids.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.harness.binaries import REPO_ROOT
from tests.harness.cluster import COMPONENTS, ClusterError, LocalCluster, wipe_workdir

DEFAULT_DIR = REPO_ROOT / ".cluster"


def _print_info(cluster: LocalCluster) -> None:
    info = cluster.info
    assert info is not None
    print(f"kubeconfig:         {info.kubeconfig}")
    print(f"API server:         {info.api_server_url}")
    print(f"Prometheus:         {info.prometheus_url}")
    print(f"kube-state-metrics: {info.kube_state_metrics_url}/metrics")
    print(f"kwok:               {info.kwok_url}")
    print(f"kubectl:            {info.kubectl_path}")
    print(f"logs:               {cluster.workdir / 'logs'}")
    print()
    print(f"export KUBECONFIG={info.kubeconfig}")
    print("# to run the integration tests against this cluster instead of a fresh one:")
    print(f"export INCIDENT_OPERATOR_TEST_KUBECONFIG={info.kubeconfig}")
    print(f"export INCIDENT_OPERATOR_TEST_PROMETHEUS_URL={info.prometheus_url}")


def _attach(workdir: Path) -> LocalCluster | None:
    try:
        return LocalCluster.attach(workdir)
    except ClusterError:
        return None


def up(args: argparse.Namespace) -> int:
    workdir: Path = args.dir
    existing = _attach(workdir)
    if existing is not None:
        dead = existing.dead_components()
        if not dead:
            print(f"already running in {workdir}", file=sys.stderr)
            _print_info(existing)
            return 0
        print(
            f"a cluster in {workdir} is half dead ({', '.join(dead)}); restarting it",
            file=sys.stderr,
        )
        existing.stop()
    wipe_workdir(workdir)
    cluster = LocalCluster(workdir, nodes=args.nodes, detach=True, apply_crds=not args.no_crds)
    started = time.monotonic()
    try:
        cluster.start(timeout=args.timeout)
    except Exception as exc:
        print(f"error: the cluster did not start: {exc}", file=sys.stderr)
        print(f"logs are in {workdir / 'logs'}", file=sys.stderr)
        return 1
    print(f"cluster up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    _print_info(cluster)
    return 0


def down(args: argparse.Namespace) -> int:
    cluster = _attach(args.dir)
    if cluster is None:
        print(f"no cluster recorded in {args.dir}", file=sys.stderr)
        return 0
    cluster.stop()
    print(f"stopped the cluster in {args.dir}", file=sys.stderr)
    return 0


def status(args: argparse.Namespace) -> int:
    cluster = _attach(args.dir)
    if cluster is None:
        print(f"no cluster recorded in {args.dir}")
        return 1
    for name in COMPONENTS:
        process = cluster.processes.get(name)
        if process is not None:
            print(f"{name:24} pid {process.pid:<8} {'running' if process.alive() else 'STOPPED'}")
    _print_info(cluster)
    return 0 if not cluster.dead_components() else 1


def logs(args: argparse.Namespace) -> int:
    unknown = set(args.components) - set(COMPONENTS)
    if unknown:
        print(f"unknown components {sorted(unknown)}; known: {', '.join(COMPONENTS)}")
        return 2
    cluster = _attach(args.dir)
    if cluster is None:
        print(f"no cluster recorded in {args.dir}", file=sys.stderr)
        return 1
    print(cluster.log_tail(args.lines, args.components or None))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state and logs directory")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the cluster and leave it running")
    p_up.add_argument("--nodes", type=int, default=3, help="number of kwok nodes")
    p_up.add_argument("--timeout", type=float, default=240.0, help="seconds to become ready")
    p_up.add_argument("--no-crds", action="store_true", help="do not apply crds/*.yaml")
    p_up.set_defaults(func=up)
    sub.add_parser("down", help="stop what `up` started").set_defaults(func=down)
    sub.add_parser("status", help="which components run").set_defaults(func=status)
    p_logs = sub.add_parser("logs", help="the tail of each component's log")
    p_logs.add_argument("components", nargs="*", help=f"any of {', '.join(COMPONENTS)}")
    p_logs.add_argument("-n", "--lines", type=int, default=40)
    p_logs.set_defaults(func=logs)
    args = parser.parse_args(argv)
    args.dir = args.dir.resolve()
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
