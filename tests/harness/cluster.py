"""A local Kubernetes control plane on 127.0.0.1 for the integration tests.

Real etcd, kube-apiserver, kube-controller-manager and kube-scheduler; kwok plays the
kubelets of a few fake nodes (pods become Running without containers);
kube-state-metrics and Prometheus give the metrics an operator reads.

Nothing listens on, or is asked to connect to, anything but 127.0.0.1. Pod IPs that
kwok writes into pod status (from 10.244.0.0/16) and the service range 10.0.0.0/24 are
data in the API only: no component sends traffic to them. Nodes report 127.0.0.1 as
their InternalIP and the API server is told to reach kubelets by InternalIP only.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness import certs, loopback, prometheus
from tests.harness.binaries import REPO_ROOT, ensure_binaries, prometheus_binary
from tests.harness.process import ManagedProcess
from tests.harness.wait import wait_until

STATE_FILE = "state.json"
# Marks a directory as one the harness made, so `up` may wipe it and start afresh.
MARKER_FILE = ".incident-operator-cluster"
CRD_DIR = REPO_ROOT / "crds"
KWOK_CONFIG = Path(__file__).resolve().parent / "kwok" / "kwok.yaml"

# Start order; stop goes the other way.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kube-state-metrics",
    "prometheus",
)

SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
KWOK_POD_CIDR = "10.244.0.0/16"
NODE_CPU = "16"
NODE_MEMORY = "64Gi"
NODE_PODS = "110"

# Environment variables a component must not inherit: a user's kubeconfig, proxies.
_DROPPED_ENV = (
    "KUBECONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


class ClusterError(RuntimeError):
    """The local cluster could not be started or driven."""


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int
    ksm: int
    ksm_telemetry: int
    prometheus: int

    @classmethod
    def allocate(cls) -> Ports:
        """Free ports on 127.0.0.1, all held open together so none is picked twice."""
        count = len(cls.__dataclass_fields__)
        sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
        try:
            for s in sockets:
                s.bind(("127.0.0.1", 0))
            return cls(*(s.getsockname()[1] for s in sockets))
        finally:
            for s in sockets:
                s.close()


@dataclass
class ClusterInfo:
    """What a test needs to use the cluster, and the few controls it may need.

    ``prometheus_url`` is None when an existing cluster is used without one; the
    controls (Prometheus stop/start, scrape targets, log tails) need a cluster this
    harness started or can find from its state file, see ``controllable``.
    """

    workdir: Path | None
    kubeconfig: Path
    api_server_url: str
    admin_token: str
    ca_file: Path | None
    bin_dir: Path
    prometheus_url: str | None = None
    kube_state_metrics_url: str | None = None
    kwok_url: str | None = None
    nodes: list[str] = field(default_factory=list)
    _cluster: LocalCluster | None = field(default=None, repr=False)

    @property
    def kubectl_path(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def controllable(self) -> bool:
        return self._cluster is not None

    def env(self) -> dict[str, str]:
        """os.environ with KUBECONFIG pointing at this cluster (for subprocesses)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        # Clients that honour proxy variables must still go straight to loopback.
        for name in ("NO_PROXY", "no_proxy"):
            env[name] = ",".join(filter(None, [env.get(name, ""), "127.0.0.1", "localhost"]))
        return env

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl against this cluster."""
        return run_kubectl(self.kubectl_path, self.kubeconfig, args, check, input, timeout)

    def _require(self) -> LocalCluster:
        if self._cluster is None:
            raise ClusterError(
                "this cluster was not started by the harness (and has no state file): "
                "it cannot be controlled"
            )
        return self._cluster

    def stop_prometheus(self) -> None:
        self._require().stop_prometheus()

    def start_prometheus(self, timeout: float = 60) -> None:
        """Start it again on the same port and storage; returns once it is ready."""
        self._require().start_prometheus(timeout=timeout)

    def restart_prometheus(self, timeout: float = 60) -> None:
        cluster = self._require()
        cluster.stop_prometheus()
        cluster.start_prometheus(timeout=timeout)

    def prometheus_running(self) -> bool:
        return self._require().prometheus_running()

    def restart_api_server(self, timeout: float = 90, grace: float = 15) -> None:
        """Stop kube-apiserver (SIGTERM, SIGKILL after ``grace`` seconds) and start it
        again with the same flags, port and etcd; returns once /readyz answers."""
        self._require().restart_api_server(timeout=timeout, grace=grace)

    def add_scrape_target(
        self,
        job: str,
        host_port: str,
        *,
        metrics_path: str = "/metrics",
        labels: dict[str, str] | None = None,
    ) -> None:
        """Have Prometheus scrape http://host_port/metrics_path as job ``job`` (within ~5s)."""
        self._require().add_scrape_target(job, host_port, metrics_path=metrics_path, labels=labels)

    def remove_scrape_target(self, job: str) -> None:
        self._require().remove_scrape_target(job)

    def prometheus_query(self, promql: str) -> list[dict[str, Any]]:
        if self.prometheus_url is None:
            raise ClusterError("this cluster has no Prometheus URL")
        return prometheus.query(self.prometheus_url, promql)

    def log_tail(self, lines: int = 40, components: Iterable[str] | None = None) -> str:
        if self._cluster is None:
            return "(no component logs: the cluster was not started by this harness)"
        return self._cluster.log_tail(lines, components)


def run_kubectl(
    kubectl: Path,
    kubeconfig: Path,
    args: Sequence[str],
    check: bool = True,
    input: str | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if check and result.returncode != 0:
        raise ClusterError(
            f"kubectl {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stderr.strip()}\n{result.stdout.strip()}"
        )
    return result


def _kubeconfig(server: str, ca_cert: Path, user: str, token: str) -> str:
    ca_data = base64.b64encode(ca_cert.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "incident-operator-test",
                "cluster": {"server": server, "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": "incident-operator-test",
                "context": {"cluster": "incident-operator-test", "user": user},
            }
        ],
        "current-context": "incident-operator-test",
    }
    return yaml.safe_dump(config, sort_keys=False)


def _write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def node_manifest(name: str, taint: bool) -> dict[str, Any]:
    """A fake node as kwok documents it; kwok fills in the rest of its status."""
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS},
            "capacity": {"cpu": NODE_CPU, "memory": NODE_MEMORY, "pods": NODE_PODS},
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
        },
    }
    if taint:
        # kwok's documented taint keeps real pods off fake nodes in a real cluster;
        # here every node is fake, so it is off unless asked for.
        node["spec"]["taints"] = [
            {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
        ]
    return node


class LocalCluster:
    """Starts and stops the components; ``start`` returns a ClusterInfo."""

    def __init__(
        self,
        workdir: Path,
        *,
        nodes: int = 3,
        detach: bool = False,
        bin_dir: Path | None = None,
        node_taints: bool = False,
        apply_crds: bool = True,
    ) -> None:
        self.workdir = workdir.resolve()
        self.node_names = [f"kwok-node-{i}" for i in range(nodes)]
        self.detach = detach
        self.bin_dir = bin_dir
        self.node_taints = node_taints
        self.apply_crds_on_start = apply_crds
        self.processes: dict[str, ManagedProcess] = {}
        self.ports: Ports | None = None
        self.admin_token = ""
        self.info: ClusterInfo | None = None
        self.timings: dict[str, float] = {}
        self._prometheus_argv: list[str] = []

    # ----------------------------------------------------------------- paths

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.workdir / STATE_FILE

    @property
    def targets_dir(self) -> Path:
        return self.workdir / "prometheus" / "targets"

    def _log(self, component: str) -> Path:
        return self.workdir / "logs" / f"{component}.log"

    # ----------------------------------------------------------------- start

    def start(self, timeout: float = 240.0) -> ClusterInfo:
        """Start every component and wait until the cluster is usable.

        Raises ClusterError (or a timeout) naming the component at fault, with its log
        tail; whatever was started is stopped again first.
        """
        started = time.monotonic()
        deadline = started + timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.state_file.exists():
            raise ClusterError(f"{self.state_file} exists: a cluster may be running there")
        (self.workdir / MARKER_FILE).touch()
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        self._save_state()
        assert self.info is not None
        return self.info

    def _remaining(self, deadline: float, at_most: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterError("the cluster did not start within its overall deadline")
        return min(left, at_most)

    def _mark(self, step: str, since: float) -> None:
        self.timings[step] = round(time.monotonic() - since, 2)

    def _start(self, deadline: float) -> None:
        t0 = time.monotonic()
        bin_dir = self.bin_dir = self.bin_dir or ensure_binaries()
        prom_bin = prometheus_binary()
        self._mark("binaries", t0)
        ports = self.ports = Ports.allocate()
        pki = certs.generate(self.workdir / "pki")
        self.admin_token = secrets.token_hex(24)
        kcm_token, scheduler_token = secrets.token_hex(24), secrets.token_hex(24)
        _write_private(
            self.workdir / "tokens.csv",
            f'{self.admin_token},admin,admin,"system:masters"\n'
            f"{kcm_token},system:kube-controller-manager,system:kube-controller-manager\n"
            f"{scheduler_token},system:kube-scheduler,system:kube-scheduler\n",
        )
        server = f"https://127.0.0.1:{ports.apiserver}"
        _write_private(self.kubeconfig, _kubeconfig(server, pki.ca_cert, "admin", self.admin_token))
        kcm_kubeconfig = _write_private(
            self.workdir / "controller-manager.kubeconfig",
            _kubeconfig(server, pki.ca_cert, "system:kube-controller-manager", kcm_token),
        )
        scheduler_kubeconfig = _write_private(
            self.workdir / "scheduler.kubeconfig",
            _kubeconfig(server, pki.ca_cert, "system:kube-scheduler", scheduler_token),
        )
        self.info = ClusterInfo(
            workdir=self.workdir,
            kubeconfig=self.kubeconfig,
            api_server_url=server,
            admin_token=self.admin_token,
            ca_file=pki.ca_cert,
            bin_dir=bin_dir,
            prometheus_url=f"http://127.0.0.1:{ports.prometheus}",
            kube_state_metrics_url=f"http://127.0.0.1:{ports.ksm}",
            kwok_url=f"http://127.0.0.1:{ports.kwok}",
            nodes=list(self.node_names),
            _cluster=self,
        )
        self._mark("certificates", t0)

        # etcd
        etcd_url = f"http://127.0.0.1:{ports.etcd_client}"
        peer_url = f"http://127.0.0.1:{ports.etcd_peer}"
        self._spawn(
            "etcd",
            [
                str(bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait_healthy(
            "etcd",
            lambda: loopback.get_json(f"{etcd_url}/health").get("health") == "true",
            self._remaining(deadline, 60),
        )
        self._mark("etcd", t0)

        # kube-apiserver
        self._spawn(
            "kube-apiserver",
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={ports.apiserver}",
                f"--cert-dir={self.workdir / 'apiserver'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                f"--service-account-issuer={server}",
                f"--service-account-key-file={pki.service_account_pub}",
                f"--service-account-signing-key-file={pki.service_account_key}",
                # Reach "kubelets" (kwok's fake nodes report 127.0.0.1) by InternalIP only,
                # never by resolving a node name.
                "--kubelet-preferred-address-types=InternalIP",
                "--allow-privileged=true",
                # The kubernetes Service's endpoints would be 127.0.0.1, which endpoint
                # validation rejects; nothing in the tests goes through that Service.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )
        self._wait_healthy(
            "kube-apiserver",
            lambda: loopback.get_ok(
                f"{server}/readyz", token=self.admin_token, ca_file=pki.ca_cert
            ),
            self._remaining(deadline, 90),
        )
        self._mark("kube-apiserver", t0)

        # Everything else only needs the API server: start it all, then wait for each.
        self._spawn(
            "kube-controller-manager",
            [
                str(bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm_kubeconfig}",
                f"--authentication-kubeconfig={kcm_kubeconfig}",
                f"--authorization-kubeconfig={kcm_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.controller_manager}",
                f"--cert-dir={self.workdir / 'controller-manager'}",
                "--leader-elect=false",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--profiling=false",
            ],
        )
        self._spawn(
            "kube-scheduler",
            [
                str(bin_dir / "kube-scheduler"),
                f"--kubeconfig={scheduler_kubeconfig}",
                f"--authentication-kubeconfig={scheduler_kubeconfig}",
                f"--authorization-kubeconfig={scheduler_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={ports.scheduler}",
                f"--cert-dir={self.workdir / 'scheduler'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        kwok_workdir = self.workdir / "kwok"
        kwok_workdir.mkdir(exist_ok=True)
        self._spawn(
            "kwok",
            [
                str(bin_dir / "kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={KWOK_CONFIG}",
                "--manage-all-nodes=true",
                f"--server-address=127.0.0.1:{ports.kwok}",
                "--node-ip=127.0.0.1",
                f"--cidr={KWOK_POD_CIDR}",
                "--node-lease-duration-seconds=40",
            ],
            # kwok would otherwise also read ~/.kwok/kwok.yaml.
            extra_env={"KWOK_WORKDIR": str(kwok_workdir)},
        )
        self._spawn(
            "kube-state-metrics",
            [
                str(bin_dir / "kube-state-metrics"),
                f"--kubeconfig={self.kubeconfig}",
                "--host=127.0.0.1",
                f"--port={ports.ksm}",
                "--telemetry-host=127.0.0.1",
                f"--telemetry-port={ports.ksm_telemetry}",
                "--metric-labels-allowlist=pods=[*],deployments=[*],nodes=[*],namespaces=[*]",
            ],
        )
        prometheus.write_config(
            self.workdir / "prometheus" / "prometheus.yml",
            ksm_address=f"127.0.0.1:{ports.ksm}",
            ksm_telemetry_address=f"127.0.0.1:{ports.ksm_telemetry}",
            kwok_address=f"127.0.0.1:{ports.kwok}",
            targets_dir=self.targets_dir,
        )
        self._prometheus_argv = [
            str(prom_bin),
            f"--config.file={self.workdir / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'prometheus' / 'data'}",
            "--storage.tsdb.retention.time=1d",
            f"--web.listen-address=127.0.0.1:{ports.prometheus}",
            "--web.enable-lifecycle",
        ]
        self._spawn("prometheus", self._prometheus_argv)

        self._create_nodes()
        if self.apply_crds_on_start:
            self.apply_crds(timeout=self._remaining(deadline, 90))
        self._mark("crds", t0)

        kcm_url = f"https://127.0.0.1:{ports.controller_manager}/healthz"
        self._wait_healthy(
            "kube-controller-manager",
            lambda: loopback.get_ok(kcm_url),
            self._remaining(deadline, 60),
        )
        scheduler_url = f"https://127.0.0.1:{ports.scheduler}/healthz"
        self._wait_healthy(
            "kube-scheduler",
            lambda: loopback.get_ok(scheduler_url),
            self._remaining(deadline, 60),
        )
        self._wait_healthy(
            "kwok",
            lambda: loopback.get_ok(f"http://127.0.0.1:{ports.kwok}/healthz"),
            self._remaining(deadline, 60),
        )
        self._wait_healthy(
            "kube-state-metrics",
            lambda: (
                loopback.get_ok(f"http://127.0.0.1:{ports.ksm}/healthz")
                and loopback.get_ok(f"http://127.0.0.1:{ports.ksm_telemetry}/readyz")
            ),
            self._remaining(deadline, 60),
        )
        self._wait_prometheus_ready(self._remaining(deadline, 60))
        self._mark("components-healthy", t0)

        # The cluster works, not only its health endpoints.
        self._wait_healthy(
            "kwok",
            self._nodes_ready,
            self._remaining(deadline, 60),
            what=f"nodes {self.node_names} to be Ready (kwok)",
        )
        self._wait_healthy(
            "kube-controller-manager",
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
            self._remaining(deadline, 60),
            what="the default ServiceAccount (kube-controller-manager's controllers)",
        )
        self._wait_healthy(
            "prometheus",
            lambda: self._target_up(prometheus.KSM_JOB),
            self._remaining(deadline, 60),
            what="Prometheus to scrape kube-state-metrics (up == 1)",
        )
        self._mark("ready", t0)

    def _spawn(
        self, name: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> ManagedProcess:
        env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
        env.update(extra_env or {})
        process = ManagedProcess.spawn(
            name, argv, self._log(name), env=env, cwd=self.workdir, detach=self.detach
        )
        self.processes[name] = process
        return process

    def _wait_healthy(
        self,
        component: str,
        check: Callable[[], object],
        timeout: float,
        what: str | None = None,
    ) -> None:
        process = self.processes[component]
        wait_until(
            check,
            what=what or f"{component} to be healthy",
            timeout=timeout,
            interval=0.25,
            abort=process.exit_reason,
            detail=lambda: f"--- last lines of {process.log_path}:\n{process.log_tail(30)}",
        )

    # ----------------------------------------------------------- API helpers

    def _api(self, path: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
        assert self.info is not None
        status, data = loopback.request(
            f"{self.info.api_server_url}{path}",
            method=method,
            body=body,
            token=self.admin_token,
            ca_file=self.info.ca_file,
            timeout=10,
        )
        try:
            return status, json.loads(data) if data else None
        except json.JSONDecodeError:
            return status, data.decode(errors="replace")

    def _api_ok(self, path: str) -> bool:
        return self._api(path)[0] == 200

    def _create_nodes(self) -> None:
        for name in self.node_names:
            status, body = self._api(
                "/api/v1/nodes", method="POST", body=node_manifest(name, self.node_taints)
            )
            if status not in (201, 409):
                raise ClusterError(f"creating node {name}: HTTP {status}: {body}")

    def _nodes_ready(self) -> bool:
        status, body = self._api("/api/v1/nodes")
        if status != 200:
            return False
        ready = {
            item["metadata"]["name"]
            for item in body["items"]
            for cond in item.get("status", {}).get("conditions") or []
            if cond["type"] == "Ready" and cond["status"] == "True"
        }
        return set(self.node_names) <= ready

    def apply_crds(self, timeout: float = 90.0) -> list[str]:
        """Apply every crds/*.yaml (and .yml) and wait until each CRD is Established.

        Returns the CRD names; an empty or missing crds/ directory is not an error.
        """
        files = sorted([*CRD_DIR.glob("*.yaml"), *CRD_DIR.glob("*.yml")])
        if not files:
            return []
        assert self.info is not None
        names: list[str] = []
        for path in files:
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    names.append(doc["metadata"]["name"])
        args = ["apply", "--server-side", "--force-conflicts", "--field-manager=test-harness"]
        for path in files:
            args += ["-f", str(path)]
        self.info.kubectl(*args, timeout=timeout)

        def established(name: str) -> bool:
            status, body = self._api(
                f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"
            )
            if status != 200:
                return False
            conditions = body.get("status", {}).get("conditions") or []
            return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

        for name in names:
            wait_until(
                functools.partial(established, name),
                what=f"CRD {name} to be Established",
                timeout=timeout,
                detail=lambda: self.log_tail(20, ["kube-apiserver"]),
            )
        return names

    # ------------------------------------------------------------ Prometheus

    def _target_up(self, job: str) -> bool:
        assert self.info is not None
        assert self.info.prometheus_url is not None
        result = prometheus.query(self.info.prometheus_url, f'up{{job="{job}"}} == 1')
        return bool(result)

    def _wait_prometheus_ready(self, timeout: float) -> None:
        assert self.ports is not None
        url = f"http://127.0.0.1:{self.ports.prometheus}/-/ready"
        self._wait_healthy("prometheus", lambda: loopback.get_ok(url), timeout)

    def prometheus_running(self) -> bool:
        process = self.processes.get("prometheus")
        return process is not None and process.alive()

    def stop_prometheus(self) -> None:
        process = self.processes.get("prometheus")
        if process is not None:
            process.stop()
        self._save_state_if_started()

    def start_prometheus(self, timeout: float = 60.0) -> None:
        if self.prometheus_running():
            raise ClusterError("Prometheus is already running")
        if not self._prometheus_argv:
            raise ClusterError("Prometheus was never started by this harness")
        self._spawn("prometheus", self._prometheus_argv)
        self._wait_prometheus_ready(timeout)
        self._save_state_if_started()

    def restart_api_server(self, timeout: float = 90.0, grace: float = 15.0) -> None:
        process = self.processes.get("kube-apiserver")
        if process is None or self.info is None:
            raise ClusterError("kube-apiserver was never started by this harness")
        process.stop(timeout=grace)
        self._spawn("kube-apiserver", process.argv)
        ca_file = self.info.ca_file
        url = f"{self.info.api_server_url}/readyz"
        self._wait_healthy(
            "kube-apiserver",
            lambda: loopback.get_ok(url, token=self.admin_token, ca_file=ca_file),
            timeout,
        )
        self._save_state_if_started()

    def add_scrape_target(
        self,
        job: str,
        host_port: str,
        *,
        metrics_path: str = "/metrics",
        labels: dict[str, str] | None = None,
    ) -> None:
        existing = prometheus.read_targets(self.targets_dir, job)
        targets = existing if host_port in existing else [*existing, host_port]
        prometheus.write_targets(
            self.targets_dir, job, targets, metrics_path=metrics_path, labels=labels
        )

    def remove_scrape_target(self, job: str) -> None:
        prometheus.remove_targets(self.targets_dir, job)

    # ------------------------------------------------------------ stop, logs

    def stop(self) -> None:
        """Stop every component this harness started, by pid, newest first."""
        errors: list[str] = []
        for name in reversed(COMPONENTS):
            process = self.processes.get(name)
            if process is None:
                continue
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{name} (pid {process.pid}): {exc}")
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()
        if errors:
            raise ClusterError("could not stop: " + "; ".join(errors))

    def log_tail(self, lines: int = 40, components: Iterable[str] | None = None) -> str:
        wanted = list(components) if components is not None else list(COMPONENTS)
        parts = []
        for name in wanted:
            process = self.processes.get(name)
            if process is None:
                continue
            state = "running" if process.alive() else "NOT RUNNING"
            parts.append(
                f"===== {name} (pid {process.pid}, {state}) {process.log_path} =====\n"
                f"{process.log_tail(lines)}"
            )
        return "\n".join(parts)

    # ----------------------------------------------------------------- state

    def _save_state_if_started(self) -> None:
        if self.state_file.exists():
            self._save_state()

    def _save_state(self) -> None:
        assert self.info is not None
        assert self.ports is not None
        state = {
            "version": 1,
            "workdir": str(self.workdir),
            "bin_dir": str(self.bin_dir),
            "kubeconfig": str(self.kubeconfig),
            "api_server_url": self.info.api_server_url,
            "ca_file": str(self.info.ca_file),
            "prometheus_url": self.info.prometheus_url,
            "kube_state_metrics_url": self.info.kube_state_metrics_url,
            "kwok_url": self.info.kwok_url,
            "nodes": self.node_names,
            "ports": self.ports.__dict__,
            "prometheus_argv": self._prometheus_argv,
            "detached": self.detach,
            "processes": {name: p.to_state() for name, p in self.processes.items()},
        }
        tmp = self.state_file.with_suffix(".tmp")
        _write_private(tmp, json.dumps(state, indent=2))
        os.replace(tmp, self.state_file)

    @classmethod
    def attach(cls, workdir: Path) -> LocalCluster:
        """A cluster that ``python -m tests.harness up`` started, found from its state file."""
        workdir = workdir.resolve()
        state_path = workdir / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except FileNotFoundError:
            raise ClusterError(f"no cluster state at {state_path}") from None
        cluster = cls(workdir, nodes=0, detach=True, bin_dir=Path(state["bin_dir"]))
        cluster.node_names = list(state["nodes"])
        cluster.ports = Ports(**state["ports"])
        cluster._prometheus_argv = list(state["prometheus_argv"])
        cluster.processes = {
            name: ManagedProcess.from_state(p) for name, p in state["processes"].items()
        }
        kubeconfig = yaml.safe_load(Path(state["kubeconfig"]).read_text())
        cluster.admin_token = kubeconfig["users"][0]["user"]["token"]
        cluster.info = ClusterInfo(
            workdir=workdir,
            kubeconfig=Path(state["kubeconfig"]),
            api_server_url=state["api_server_url"],
            admin_token=cluster.admin_token,
            ca_file=Path(state["ca_file"]),
            bin_dir=Path(state["bin_dir"]),
            prometheus_url=state["prometheus_url"],
            kube_state_metrics_url=state["kube_state_metrics_url"],
            kwok_url=state["kwok_url"],
            nodes=list(state["nodes"]),
            _cluster=cluster,
        )
        return cluster

    def dead_components(self) -> list[str]:
        return [name for name, p in self.processes.items() if not p.alive()]


def wipe_workdir(workdir: Path) -> None:
    """Empty a directory the harness made before (it holds the marker file)."""
    if not workdir.exists():
        return
    if not (workdir / MARKER_FILE).exists() and any(workdir.iterdir()):
        raise ClusterError(f"{workdir} is not empty and was not made by the harness")
    shutil.rmtree(workdir)
