"""The incident pipeline, before and after (issue 12): API requests, conflicts, storms.

Runs the real operator as a child process from each source tree given (``--before`` and
``--after``, or ``--source NAME=DIR`` repeated; a tree's ``operator/`` directory goes first
on PYTHONPATH, and the package actually imported is checked), on one local control plane,
one source after the other and alternating when ``--rounds`` repeats them, each run in
fresh namespaces deleted afterwards. Scenarios:

- ``lifecycle``: P1 incidents under a policy with a Slack-like channel (a local recording
  server): declared, acknowledged (annotation), an update posted (``spec.updates``),
  resolved (``spec.state``), until each is PostIncident and its declaration, update and
  resolution notices were received;
- ``storm``: ``--incidents`` Incidents created at once over ``--namespaces`` namespaces
  (bench/scale.py's burst) until every status is initialised and every declaration
  received;
- ``alerts``: one Alertmanager delivery of ``--alerts`` firing alerts to the operator's
  receiver, until every incident is opened, initialised and its declaration received.

Requests are counted from kube-apiserver's ``apiserver_request_total`` (by verb, resource
and code) between the start of a scenario and the operator falling quiet after it, less
the requests this bench made itself (it counts its own). Resources the operator does not
use (leases, nodes...: the control plane's own chatter) are shown apart as "other".

Run: ``make bench-pipeline`` or, e.g.::

    python -m bench.pipeline --before /tmp/pipeline-before --after . \\
        --scenario lifecycle --scenario storm --incidents 200 --alerts 200
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.harness.cluster import ClusterInfo, LocalCluster, run_kubectl
from tests.harness.incidents import PRE_RESOLUTION_TICKED
from tests.harness.operator import OperatorProcess, _free_port
from tests.harness.wait import wait_until
from tests.support.receivers import HttpRecorder

from bench.scale import _cpu_seconds, _policy, _rss_mib, _wait_until_quiet

GROUP, VERSION = "sre.agentos.io", "v1alpha1"
ACKNOWLEDGED_BY = "sre.agentos.io/acknowledged-by"
SECRET = "incident-channels"
TOKEN_SECRET = "alertmanager-token"
USER = "admin"  # the harness's admin token
# The control plane's own chatter (leader election, kwok's nodes, the namespaces the bench
# makes): shown apart as "other". Everything else counted is the operator's.
CONTROL_PLANE = frozenset(
    {"leases", "nodes", "pods", "endpoints", "endpointslices", "namespaces", "serviceaccounts"}
)
READ_VERBS = ("GET", "LIST", "WATCH")
# A 409 to these is a write conflict (resourceVersion); to POST, the object already exists.
_UPDATES = ("PUT", "PATCH", "APPLY")
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY", "DELETE")
ANNOUNCED = ("P0", "P1", "P2")  # severities whose declaration is sent (docs/escalation.md)
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# ------------------------------------------------------------------------ the API server


class Api:
    """The admin's requests to the API server over kept-alive connections (one a thread),
    each counted by (verb, resource, subresource, code) as the server's metrics count it."""

    def __init__(self, info: ClusterInfo) -> None:
        split = urlsplit(info.api_server_url)
        if split.hostname != "127.0.0.1":
            raise ValueError(f"only 127.0.0.1, not {info.api_server_url}")
        self._port = split.port
        self._token = info.admin_token
        self._context = ssl.create_default_context(cafile=str(info.ca_file))
        self._local = threading.local()
        self._lock = threading.Lock()
        self.counted: Counter[tuple[str, str, str, str]] = Counter()

    def _connection(self) -> http.client.HTTPSConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(
                "127.0.0.1", self._port, context=self._context, timeout=120
            )
            self._local.connection = connection
        return connection

    def request(
        self,
        verb: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        count: tuple[str, str] | None = None,
    ) -> tuple[int, Any]:
        """(status, decoded JSON body); ``count`` is (resource, subresource), when counted."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self._token}", "Accept": accept}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                raw = response.read()
                break
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        if count is not None:
            with self._lock:
                self.counted[(verb, *count, str(response.status))] += 1
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")

    # The few calls the bench makes.

    def create(self, namespace: str, plural: str, body: dict[str, Any], group: str = GROUP) -> Any:
        prefix = "/api/v1" if group == "" else f"/apis/{group}/{VERSION}"
        status, answer = self.request(
            "POST",
            "POST",
            f"{prefix}/namespaces/{namespace}/{plural}",
            body,
            count=(plural, ""),
        )
        if status != 201:
            raise RuntimeError(f"creating {plural} in {namespace}: HTTP {status}: {answer}")
        return answer

    def patch_incident(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        status, answer = self.request(
            "PATCH",
            "PATCH",
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/incidents/{name}",
            patch,
            content_type="application/merge-patch+json",
            count=("incidents", ""),
        )
        if status != 200:
            raise RuntimeError(f"patching {namespace}/{name}: HTTP {status}: {answer}")

    def incident_rows(self, namespaces: set[str]) -> list[dict[str, Any]]:
        """Every incident of ``namespaces`` as {namespace, name, id, phase} (one Table LIST)."""
        status, table = self.request(
            "LIST",
            "GET",
            f"/apis/{GROUP}/{VERSION}/incidents?resourceVersion=0",
            accept=TABLE,
            count=("incidents", ""),
        )
        if status != 200:
            raise RuntimeError(f"listing incidents: HTTP {status}: {str(table)[:300]}")
        columns = [c["name"] for c in table["columnDefinitions"]]
        rows = []
        for row in table.get("rows") or []:
            meta = row["object"]["metadata"]
            if meta["namespace"] not in namespaces:
                continue
            cells = dict(zip(columns, row["cells"], strict=False))
            rows.append(
                {
                    "namespace": meta["namespace"],
                    "name": meta["name"],
                    "id": cells.get("ID") or None,
                    "phase": cells.get("Phase") or None,
                }
            )
        return rows

    def policies_ready(self, namespaces: Iterable[str]) -> bool:
        for namespace in namespaces:
            status, listed = self.request(
                "LIST",
                "GET",
                f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/escalationpolicies",
                count=("escalationpolicies", ""),
            )
            if status != 200:
                return False
            for item in listed["items"]:
                conditions = (item.get("status") or {}).get("conditions") or []
                if not any(c.get("type") == "Ready" for c in conditions):
                    return False
        return True

    def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        status, answer = self.request(
            "POST", "POST", "/api/v1/namespaces", body, count=("namespaces", "")
        )
        if status != 201:
            raise RuntimeError(f"creating namespace {name}: HTTP {status}: {answer}")

    def delete_namespaces(self, names: Iterable[str], timeout: float = 900) -> None:
        names = list(names)
        for name in names:
            self.request("DELETE", "DELETE", f"/api/v1/namespaces/{name}")

        def gone() -> bool:
            return all(
                self.request("GET", "GET", f"/api/v1/namespaces/{n}")[0] == 404 for n in names
            )

        wait_until(gone, what=f"namespaces {names[:3]}... to be deleted", timeout=timeout)

    def request_totals(self) -> Counter[tuple[str, str, str, str]]:
        """apiserver_request_total by (verb, resource, subresource, code)."""
        status, _ = 0, None
        connection = self._connection()
        connection.request("GET", "/metrics", headers={"Authorization": f"Bearer {self._token}"})
        response = connection.getresponse()
        text = response.read().decode()
        status = response.status
        if status != 200:
            raise RuntimeError(f"GET /metrics: HTTP {status}")
        totals: Counter[tuple[str, str, str, str]] = Counter()
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if match is None:
                continue
            labels = dict(_LABEL.findall(match["labels"]))
            if not labels.get("resource"):
                continue  # /metrics, /healthz...
            verb, resource = labels["verb"], labels["resource"]
            key = (verb, resource, labels.get("subresource", ""), labels["code"])
            totals[key] += int(float(match["value"]))
        return totals


# ------------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    label: str
    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.root / "operator")}

    def imported_from(self) -> Path:
        """Where ``incident_operator`` comes from in a child with this source's environment."""
        found = subprocess.run(
            [sys.executable, "-c", "import incident_operator; print(incident_operator.__file__)"],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(found.stdout.strip()).resolve()

    def check(self) -> None:
        imported = self.imported_from()
        expected = (self.root / "operator" / "incident_operator").resolve()
        if imported.parent != expected:
            raise SystemExit(f"{self.label}: the operator would import {imported}, not {expected}")
        print(f"# {self.label}: {self.root} ({self.commit()}), imports {imported}", flush=True)

    def fingerprint(self) -> str:
        """A hash of the operator's sources as they are now (a tree being edited moves)."""
        digest = hashlib.sha256()
        for path in sorted((self.root / "operator").rglob("*.py")):
            digest.update(str(path.relative_to(self.root)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:10]

    def commit(self) -> str:
        found = subprocess.run(
            ["git", "-C", str(self.root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
        )
        return found.stdout.strip() or "not a git tree"


def _sources(args: argparse.Namespace) -> list[Source]:
    found: list[Source] = []
    if args.before:
        found.append(Source("before", Path(args.before).resolve()))
    if args.after:
        found.append(Source("after", Path(args.after).resolve()))
    for text in args.source or []:
        label, _, directory = text.rpartition("=")
        root = Path(directory).resolve()
        found.append(Source(label or root.name, root))
    if not found:
        raise SystemExit("name at least one source tree: --before, --after or --source")
    return found


# ------------------------------------------------------------------------------ results


@dataclass
class Result:
    scenario: str
    source: str
    round: int
    incidents: int
    requests: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    created_s: float | None = None
    initialised_s: float | None = None
    declared_s: float | None = None
    answered_s: float | None = None  # the Alertmanager delivery's response
    quiet_s: float | None = None
    initialised: int = 0
    declarations: int = 0
    expected_declarations: int = 0
    deliveries: int = 0
    bench_incident_writes: int = 0
    operator_cpu: float = 0.0
    apiserver_cpu: float = 0.0
    etcd_cpu: float = 0.0
    rss_mib: float = 0.0
    peak_rss_mib: float = 0.0
    note: str = ""
    tree: str = ""  # Source.fingerprint() when the run started
    finished: str = ""  # when, UTC, and the load average then
    stages: dict[str, float | None] = field(default_factory=dict)
    progress: list[tuple[float, int, int, float, float]] = field(default_factory=list)

    def by_verb(self) -> Counter[str]:
        """The operator's requests by verb (the control plane's own left out)."""
        counted: Counter[str] = Counter()
        for (verb, resource, _, _), value in self.requests.items():
            if resource not in CONTROL_PLANE:
                counted[verb] += value
        return counted

    def where(self, predicate: Callable[[str, str, str, str], bool]) -> int:
        return sum(v for k, v in self.requests.items() if predicate(*k))

    def as_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k not in ("requests", "progress")},
            "requests": [[*k, v] for k, v in sorted(self.requests.items()) if v],
            "progress": self.progress,
        }


def _result_from_json(data: dict[str, Any]) -> Result:
    requests = Counter({tuple(row[:4]): row[4] for row in data.pop("requests")})
    progress = [tuple(sample) for sample in data.pop("progress")]
    return Result(**data, requests=requests, progress=progress)  # type: ignore[arg-type]


def _proc_cpu(pid: int) -> float:
    return _cpu_seconds(pid)


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ----------------------------------------------------------------------------- one run


class Run:
    """One scenario with one source: fresh namespaces, an operator, counting."""

    def __init__(
        self,
        bench: Bench,
        scenario: str,
        source: Source,
        round_: int,
        namespaces: int,
        incidents: int,
    ) -> None:
        self.bench = bench
        self.api = bench.api
        self.scenario = scenario
        self.source = source
        self.tag = f"{scenario[:5]}-{source.label[:8]}-{round_}-{secrets.token_hex(2)}"
        self.namespaces = [f"pl-{self.tag}-{i:02d}" for i in range(namespaces)]
        self.result = Result(scenario, source.label, round_, incidents)
        self.operator: OperatorProcess | None = None
        self.alert_port = 0
        self.profiler: subprocess.Popen[bytes] | None = None

    # --- set-up

    def prepare(self, extra_policies: int = 0) -> None:
        recorder = self.bench.recorder
        for namespace in self.namespaces:
            self.api.create_namespace(namespace)
            url = f"{recorder.url}/slack/{self.tag}/{namespace}"
            self.api.create(
                namespace,
                "secrets",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": SECRET},
                    "stringData": {"slack-url": url},
                },
                group="",
            )
            # One Slack channel without a chatChannel: it receives every chat message.
            reference = {"name": SECRET, "key": "slack-url"}
            channel = {"name": "slack", "type": "slack", "secretRef": reference}
            policy = _policy("default-team", True)
            policy["spec"]["channels"] = [channel]
            self.api.create(namespace, "escalationpolicies", policy)
        per_namespace = extra_policies // max(len(self.namespaces), 1)
        for namespace in self.namespaces:
            for index in range(per_namespace):
                self.api.create(namespace, "escalationpolicies", _policy(f"team-{index}", False))

    def start_operator(self) -> OperatorProcess:
        extra: tuple[str, ...] = ()
        if self.scenario == "alerts":
            token_ns = self.namespaces[0]
            self.api.create(
                token_ns,
                "secrets",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": TOKEN_SECRET},
                    "stringData": {"token": self.bench.token},
                },
                group="",
            )
            self.alert_port = _free_port()
            extra = (
                "--alertmanager-listen",
                f"127.0.0.1:{self.alert_port}",
                "--alertmanager-token-secret",
                f"{token_ns}/{TOKEN_SECRET}",
            )
        log = Path(self.bench.args.log_dir or self.bench.workdir) / f"operator-{self.tag}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        self.operator = _Operator(
            self.bench.info.kubeconfig,
            log,
            extra_args=extra,
            env=self.source.env,
            verbose=self.bench.args.verbose_operator,
        ).start()
        wait_until(
            lambda: self.api.policies_ready(self.namespaces),
            what="every policy to be Ready",
            timeout=300,
            interval=1,
            detail=self.operator.log_tail,
        )
        if self.scenario == "alerts":
            wait_until(
                lambda: _post_alerts(self.alert_port, b"{}", None)[0] == 401,
                what="the Alertmanager receiver",
                timeout=60,
                detail=self.operator.log_tail,
            )
        # The policies' own status writes are behind us before counting starts.
        _wait_until_quiet(self.pid, window=3.0, limit=300)
        return self.operator

    @property
    def pid(self) -> int:
        assert self.operator is not None
        assert self.operator.process is not None
        return self.operator.process.pid

    # --- observation

    def deliveries(self, kind: str = "declaration") -> set[str]:
        """Idempotency keys of the notices of ``kind`` answered 2xx at the receiver."""
        prefix = f"/slack/{self.tag}/"
        return {
            call.headers.get("Idempotency-Key", "")
            for call in self.bench.recorder.received(prefix)
            if call.status is not None
            and call.status < 300
            and f"/{kind}" in call.headers.get("Idempotency-Key", "")
        }

    def all_deliveries(self) -> int:
        return len(self.bench.recorder.received(f"/slack/{self.tag}/"))

    def watch_until(
        self,
        started: float,
        expected: int,
        expected_declarations: int,
        timeout: float,
        holds: Callable[[list[dict[str, Any]]], bool] | None = None,
        kind: str = "declaration",
    ) -> tuple[float | None, float | None]:
        """Polls until ``expected`` incidents are initialised (and ``holds``) and
        ``expected_declarations`` notices of ``kind`` were received: the seconds from
        ``started`` until each (None: not within ``timeout``)."""
        result = self.result
        namespaces = set(self.namespaces)
        deadline = time.monotonic() + timeout
        cpu = (_proc_cpu(self.pid), self.bench.apiserver_cpu(), time.monotonic())
        rows: list[dict[str, Any]] = []
        initialised_at = declared_at = None
        while time.monotonic() < deadline:
            rows = self.api.incident_rows(namespaces)
            now = time.monotonic()
            initialised = sum(1 for r in rows if r["id"] and r["phase"])
            declared = len(self.deliveries(kind))
            if initialised_at is None and initialised >= expected and (not holds or holds(rows)):
                initialised_at = now - started
            if declared_at is None and declared >= expected_declarations:
                declared_at = now - started
            op, api_cpu = _proc_cpu(self.pid), self.bench.apiserver_cpu()
            span = max(now - cpu[2], 1e-6)
            sample = (
                round(now - started, 1),
                initialised,
                declared,
                round((op - cpu[0]) / span, 2),
                round((api_cpu - cpu[1]) / span, 2),
            )
            cpu = (op, api_cpu, now)
            if self.scenario != "lifecycle":
                result.progress.append(sample)
                if self.bench.args.progress:
                    print(
                        f"  {self.tag} t={sample[0]}s init={sample[1]} decl={sample[2]} "
                        f"op={sample[3]:.0%} apiserver={sample[4]:.0%}",
                        flush=True,
                    )
            if initialised_at is not None and declared_at is not None:
                break
            process = self.operator.process if self.operator is not None else None
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the operator exited:\n{self.operator.log_tail()}")
            time.sleep(self.bench.args.poll or min(max(0.5, expected / 2000), 5.0))
        else:
            result.note += f"timed out after {timeout:.0f}s; "
        result.initialised = sum(1 for r in rows if r["id"] and r["phase"])
        result.declarations = len(self.deliveries("declaration"))
        return initialised_at, declared_at

    # --- scenarios

    def lifecycle(self) -> None:
        count = self.result.incidents
        # One namespace each by default: their ID counters do not contend.
        names = [f"life-{i:03d}" for i in range(count)]
        where = {name: self.namespaces[i % len(self.namespaces)] for i, name in enumerate(names)}
        self.result.expected_declarations = count
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda name: self.api.create(
                        where[name],
                        "incidents",
                        _incident(name, "P1", roles={"commander": USER}),
                    ),
                    names,
                )
            )
        self.result.created_s = time.monotonic() - started
        timeout = self.bench.args.timeout
        self.result.initialised_s, self.result.declared_s = self.watch_until(
            started, count, count, timeout
        )
        stages = self.result.stages

        def in_phase(phase: str) -> Callable[[list[dict[str, Any]]], bool]:
            return lambda rows: sum(1 for r in rows if r["phase"] == phase) >= count

        def each(patch: Callable[[str], dict[str, Any]]) -> None:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda n: self.api.patch_incident(where[n], n, patch(n)), names))

        at = time.monotonic()
        each(lambda _: {"metadata": {"annotations": {ACKNOWLEDGED_BY: USER}}})
        stages["Triaged"] = self.watch_until(at, count, 0, timeout, in_phase("Triaged"))[0]
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        update = {"message": "Rolling back the 14:02 deploy", "author": USER, "time": now}
        at = time.monotonic()
        each(lambda _: {"spec": {"updates": [update]}})
        stages["Investigating"], stages["update sent"] = self.watch_until(
            at, count, count, timeout, in_phase("Investigating"), "update-1"
        )
        at = time.monotonic()
        # With the runbook's pre-resolution verification ticked, which the gate asks for
        # (a tree before the gate prunes the keys it does not know).
        each(lambda _: {"spec": {"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED}})
        stages["PostIncident"], stages["resolution sent"] = self.watch_until(
            at, count, count, timeout, in_phase("PostIncident"), "resolution-"
        )
        self.result.deliveries = self.all_deliveries()

    def storm(self, severities: list[str]) -> None:
        count = self.result.incidents
        chosen = [severities[i % len(severities)] for i in range(count)]
        self.result.expected_declarations = sum(1 for s in chosen if s in ANNOUNCED)
        started = time.monotonic()

        def create(index: int) -> None:
            namespace = self.namespaces[index % len(self.namespaces)]
            self.api.create(namespace, "incidents", _incident(f"inc-{index:05d}", chosen[index]))

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, range(count)))
        self.result.created_s = time.monotonic() - started
        self.result.initialised_s, self.result.declared_s = self.watch_until(
            started, count, self.result.expected_declarations, self.bench.args.timeout
        )

    def alerts(self, severity: str) -> None:
        count = self.result.incidents
        payload = _alertmanager_payload(
            [_alert(self.namespaces[i % len(self.namespaces)], i, severity) for i in range(count)]
        )
        self.result.expected_declarations = count if _SEVERITY[severity] in ANNOUNCED else 0
        started = time.monotonic()
        status, answer = _post_alerts(self.alert_port, payload, self.bench.token, timeout=900)
        self.result.answered_s = time.monotonic() - started
        if status != 200:
            self.result.note += f"delivery answered {status}: {str(answer)[:200]}; "
        else:
            opened = len(answer.get("opened") or [])
            if opened != count:
                self.result.note += f"opened {opened} of {count}; "
        self.result.initialised_s, self.result.declared_s = self.watch_until(
            started, count, self.result.expected_declarations, self.bench.args.timeout
        )

    # --- profiling

    def start_profiler(self) -> subprocess.Popen[bytes] | None:
        """py-spy sampling the operator (--py-spy), collapsed stacks into --profile-dir."""
        args = self.bench.args
        if not args.py_spy:
            return None
        output = Path(args.profile_dir or self.bench.workdir) / f"{self.tag}.folded"
        output.parent.mkdir(parents=True, exist_ok=True)
        print(f"  profiling the operator into {output}", flush=True)
        return subprocess.Popen(
            [
                args.py_spy,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                "20",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop_profiler(self) -> None:
        profiler, self.profiler = self.profiler, None
        if profiler is None:
            return
        profiler.send_signal(signal.SIGINT)
        try:
            profiler.wait(timeout=60)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait(timeout=10)

    # --- the whole run

    def execute(self) -> Result:
        args = self.bench.args
        result = self.result
        result.tree = self.source.fingerprint()
        print(
            f"# {self.scenario} / {self.source.label} (round {result.round}): {self.tag}, "
            f"operator sources {result.tree}",
            flush=True,
        )
        self.bench.apply_crds(self.source)
        self.prepare(args.policies if self.scenario == "storm" else 0)
        try:
            self.start_operator()
            before = self.api.request_totals()
            own_before = Counter(self.api.counted)
            cpu_before = (_proc_cpu(self.pid), self.bench.apiserver_cpu(), self.bench.etcd_cpu())
            self.profiler = self.start_profiler()
            started = time.monotonic()
            if self.scenario == "lifecycle":
                self.lifecycle()
            elif self.scenario == "storm":
                self.storm(args.severities.split(","))
            else:
                self.alerts(args.alert_severity)
            quiet_at = _wait_until_quiet(self.pid, window=args.quiet_window, limit=900)
            result.quiet_s = quiet_at - started
            self.stop_profiler()
            result.deliveries = self.all_deliveries()
            own = Counter(self.api.counted)
            own.subtract(own_before)
            after = self.api.request_totals()
            counted = Counter(after)
            counted.subtract(before)
            counted.subtract(own)  # the bench's own requests, and the /metrics reads
            result.requests = Counter({k: v for k, v in counted.items() if v > 0})
            result.bench_incident_writes = sum(
                v
                for (verb, res, _, code), v in own.items()
                if res == "incidents" and verb in WRITE_VERBS and code.startswith("2")
            )
            result.operator_cpu = _proc_cpu(self.pid) - cpu_before[0]
            result.apiserver_cpu = self.bench.apiserver_cpu() - cpu_before[1]
            result.etcd_cpu = self.bench.etcd_cpu() - cpu_before[2]
            result.rss_mib = _rss_mib(self.pid)
            result.peak_rss_mib = _peak_rss_mib(self.pid)
        except Exception as error:
            first = (str(error).splitlines() or [""])[0]
            result.note += f"failed: {type(error).__name__}: {first[:300]}"
            if self.operator is not None:
                print(self.operator.log_tail(30), file=sys.stderr)
        finally:
            self.stop_profiler()
            if self.operator is not None:
                self.operator.stop()
            if not args.keep:
                self.api.delete_namespaces(self.namespaces)
        result.finished = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}"
        _print_result(result)
        return result


class _Operator(OperatorProcess):
    """The harness's operator process, without ``--verbose`` unless asked: as deployed
    (manifests/install), not logging every request at DEBUG level."""

    def __init__(self, *args: Any, verbose: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verbose = verbose

    def start(self, ready: bool = True) -> OperatorProcess:
        if self.verbose:
            return super().start(ready)
        real = subprocess.Popen

        def popen(argv: list[str], *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
            return real([a for a in argv if a != "--verbose"], *args, **kwargs)

        subprocess.Popen = popen  # type: ignore[assignment,misc]
        try:
            return super().start(ready)
        finally:
            subprocess.Popen = real  # type: ignore[misc]


# ------------------------------------------------------------------------------ manifests


def _incident(name: str, severity: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Incident",
        "metadata": {"name": name},
        "spec": {"title": f"{name} is slow", "severity": severity, **spec},
    }


_SEVERITY = {"critical": "P0", "high": "P1", "warning": "P2", "info": "P3"}


def _alert(namespace: str, index: int, severity: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {
            "alertname": "HighErrorRate",
            "severity": severity,
            "namespace": namespace,
            "deployment": f"svc-{index:04d}",
        },
        "annotations": {"summary": "5xx above 5%", "description": f"svc-{index:04d} fails"},
        "startsAt": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"{index:016x}",
    }


def _alertmanager_payload(alerts: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-operator",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": alerts,
        }
    ).encode()


def _post_alerts(port: int, body: bytes, token: str | None, timeout: float = 10) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/alerts", body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except OSError as error:
        return 0, str(error)
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


# ----------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, cluster: LocalCluster, workdir: Path) -> None:
        self.args = args
        self.cluster = cluster
        assert cluster.info is not None
        self.info = cluster.info
        self.workdir = workdir
        self.api = Api(self.info)
        self.recorder = HttpRecorder().start()
        self.token = secrets.token_hex(16)
        self._applied: Path | None = None

    def _pid(self, component: str) -> int:
        return self.cluster.processes[component].pid

    def apiserver_cpu(self) -> float:
        return _proc_cpu(self._pid("kube-apiserver"))

    def etcd_cpu(self) -> float:
        return _proc_cpu(self._pid("etcd"))

    def apply_crds(self, source: Source) -> None:
        """The source tree's own CRDs (the cluster started with this tree's)."""
        crds = source.root / "crds"
        if self._applied == crds or not crds.is_dir():
            return
        files = sorted(crds.glob("*.yaml"))
        argv = ["apply", "--server-side", "--force-conflicts", "--field-manager=bench"]
        for path in files:
            argv += ["-f", str(path)]
        run_kubectl(self.info.kubectl_path, self.info.kubeconfig, argv, timeout=120)
        self._applied = crds

    def close(self) -> None:
        self.recorder.close()


def _per(value: float, count: int) -> str:
    return f"{value / count:.2f}" if count else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


HEADER = (
    f"{'scenario':<10} {'source':<8} {'r':>1} {'N':>5} "
    f"{'GET':>6} {'LIST/W':>6} {'POST':>6} {'PUT':>5} {'PATCH':>6} {'APPLY':>5} {'DEL':>4} "
    f"{'409':>5} {'exist':>5} {'Events':>6} {'inc-wr':>6} {'req/ev':>6} {'other':>6} "
    f"{'init s':>7} {'decl s':>7} {'quiet s':>7} {'RSS':>5} {'peak':>5} "
    f"{'op CPU':>7} {'api CPU':>7} {'etcd':>6}"
)


def _row(r: Result) -> str:
    ours = r.by_verb()
    n = r.incidents
    conflicts = r.where(lambda v, res, sub, code: code == "409" and v in _UPDATES)
    exists = r.where(lambda v, res, sub, code: code == "409" and v == "POST")
    events = r.where(lambda v, res, sub, code: res == "events" and v == "POST")
    incident_writes = r.where(
        lambda v, res, sub, code: res == "incidents" and v in WRITE_VERBS and code.startswith("2")
    )
    operator_calls = sum(v for k, v in ours.items() if k not in ("LIST", "WATCH"))
    other = r.where(lambda v, res, sub, code: res in CONTROL_PLANE)
    # Writes to incidents, the operator's and the bench's: each is an event the operator sees.
    events_seen = incident_writes + r.bench_incident_writes
    return (
        f"{r.scenario:<10} {r.source:<8} {r.round:>1} {n:>5} "
        f"{_per(ours['GET'], n):>6} {_per(ours['LIST'] + ours['WATCH'], n):>6} "
        f"{_per(ours['POST'], n):>6} {_per(ours['PUT'], n):>5} {_per(ours['PATCH'], n):>6} "
        f"{_per(ours['APPLY'], n):>5} {_per(ours['DELETE'], n):>4} "
        f"{_per(conflicts, n):>5} {_per(exists, n):>5} "
        f"{_per(events, n):>6} {_per(events_seen, n):>6} "
        f"{(operator_calls / events_seen if events_seen else 0):>6.2f} {_per(other, n):>6} "
        f"{_seconds(r.initialised_s):>7} {_seconds(r.declared_s):>7} {_seconds(r.quiet_s):>7} "
        f"{r.rss_mib:>5.0f} {r.peak_rss_mib:>5.0f} "
        f"{r.operator_cpu:>7.1f} {r.apiserver_cpu:>7.1f} {r.etcd_cpu:>6.1f}"
    )


def _print_result(r: Result) -> None:
    print(HEADER)
    print(_row(r))
    detail = {
        f"{verb} {res}{'/' + sub if sub else ''} {code}": v
        for (verb, res, sub, code), v in sorted(r.requests.items())
        if verb not in ("WATCH",) and v
    }
    print(f"  requests: {json.dumps(detail)}")
    print(
        f"  initialised {r.initialised}/{r.incidents}, declarations "
        f"{r.declarations}/{r.expected_declarations}, deliveries {r.deliveries}, "
        f"created in {_seconds(r.created_s)} s"
        + (f", delivery answered after {_seconds(r.answered_s)} s" if r.answered_s else "")
        + "".join(f", {stage} after {_seconds(t)} s" for stage, t in r.stages.items())
        + (f"; {r.note}" if r.note else ""),
        flush=True,
    )


def _summary(results: list[Result]) -> None:
    print()
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()}")
    print("# per incident: the operator's requests by verb, write conflicts (409 to PUT/PATCH),")
    print("# creates refused as existing (409 to POST), Events posted,")
    print("# inc-wr = writes to incidents (= watch events the operator gets), req/ev =")
    print("# operator requests (LIST/WATCH excluded) per such event; seconds from the first")
    print("# create (or the delivery) to all initialised / all declarations received /")
    print("# the operator quiet; RSS and peak RSS MiB; CPU seconds in the window.")
    print(HEADER)
    for r in results:
        print(_row(r))
    for r in results:
        print(
            f"# {r.scenario} {r.source} r{r.round}: operator sources {r.tree or '?'}, "
            f"finished {r.finished or '?'}; {r.note}"
        )
    by_scenario: dict[str, dict[str, list[Result]]] = {}
    for r in results:
        if "failed:" not in r.note:  # a run that could not start counts in no mean
            by_scenario.setdefault(r.scenario, {}).setdefault(r.source, []).append(r)
    for scenario, sources in by_scenario.items():
        if len(sources) < 2:
            continue
        labels = list(sources)
        base = labels[0]
        for other in labels[1:]:
            print(f"# {scenario}: {other} / {base} (means over rounds)")
            for name, pick in _RATIOS.items():
                a = _mean(pick(r) for r in sources[base])
                b = _mean(pick(r) for r in sources[other])
                ratio = f"{b / a:.2f}" if a else "-"
                print(f"#   {name:<24} {a:>10.2f} -> {b:>10.2f}  x{ratio}")


def _mean(values: Iterable[float | None]) -> float:
    found = [v for v in values if v is not None]
    return sum(found) / len(found) if found else 0.0


_RATIOS: dict[str, Callable[[Result], float | None]] = {
    "writes / incident": lambda r: sum(r.by_verb()[v] for v in WRITE_VERBS) / r.incidents,
    "GETs / incident": lambda r: r.by_verb()["GET"] / r.incidents,
    "409 conflicts / incident": lambda r: (
        r.where(lambda v, res, s, c: c == "409" and v in _UPDATES) / r.incidents
    ),
    "409 on create / incident": lambda r: (
        r.where(lambda v, res, s, c: c == "409" and v == "POST") / r.incidents
    ),
    "Events / incident": lambda r: (
        r.where(lambda v, res, s, c: res == "events" and v == "POST") / r.incidents
    ),
    "all initialised (s)": lambda r: r.initialised_s,
    "all declared (s)": lambda r: r.declared_s,
    "quiet (s)": lambda r: r.quiet_s,
    "peak RSS (MiB)": lambda r: r.peak_rss_mib,
    "operator CPU (s)": lambda r: r.operator_cpu,
    "API server CPU (s)": lambda r: r.apiserver_cpu,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", help="the tree before the change (e.g. a git worktree)")
    parser.add_argument("--after", help="the tree after the change (e.g. .)")
    parser.add_argument(
        "--source", action="append", help="NAME=DIR (or DIR) of another tree; repeatable"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("lifecycle", "storm", "alerts"),
        help="repeatable; default: all three",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternating repeats")
    parser.add_argument("--lifecycle-incidents", type=int, default=20)
    parser.add_argument(
        "--lifecycle-namespaces", type=int, help="default: one for each lifecycle incident"
    )
    parser.add_argument("--incidents", type=int, default=5000, help="the storm's incidents")
    parser.add_argument("--namespaces", type=int, default=50, help="the storm's namespaces")
    parser.add_argument(
        "--policies", type=int, default=150, help="the storm's extra non-default policies"
    )
    parser.add_argument("--severities", default="P1,P2,P3,P4", help="the storm's, in turn")
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--alert-namespaces", type=int, default=10)
    parser.add_argument("--alert-severity", default="high", choices=tuple(_SEVERITY))
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per wait")
    parser.add_argument(
        "--poll",
        type=float,
        help="seconds between polls (default: 0.5 s a thousand incidents, 0.5-5 s; each poll "
        "is a LIST of every incident, a cost to the API server)",
    )
    parser.add_argument(
        "--quiet-window", type=float, default=5.0, help="seconds under 5%% CPU = quiet"
    )
    parser.add_argument("--progress", action="store_true", help="print every poll")
    parser.add_argument("--py-spy", help="path of py-spy: sample the operator during each run")
    parser.add_argument("--profile-dir", help="where py-spy's collapsed stacks go")
    parser.add_argument("--log-dir", help="keep the operators' logs here")
    parser.add_argument(
        "--verbose-operator",
        action="store_true",
        help="run the operator with --verbose (DEBUG logs, as bench/scale.py does)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's namespaces")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--summarise", help="only print the summary of a --json file")
    args = parser.parse_args()
    if args.summarise:
        _summary([_result_from_json(r) for r in json.loads(Path(args.summarise).read_text())])
        return
    sources = _sources(args)
    for source in sources:
        source.check()
    scenarios = args.scenario or ["lifecycle", "storm", "alerts"]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as directory:
        workdir = Path(directory)
        cluster = LocalCluster(workdir / "cluster")
        cluster.start()
        bench = Bench(args, cluster, workdir)
        try:
            for round_ in range(args.rounds):
                order = sources if round_ % 2 == 0 else list(reversed(sources))
                for scenario in scenarios:
                    for source in order:
                        namespaces, count = {
                            "lifecycle": (
                                args.lifecycle_namespaces or args.lifecycle_incidents,
                                args.lifecycle_incidents,
                            ),
                            "storm": (args.namespaces, args.incidents),
                            "alerts": (args.alert_namespaces, args.alerts),
                        }[scenario]
                        run = Run(bench, scenario, source, round_, namespaces, count)
                        results.append(run.execute())
            _summary(results)
            if args.json:
                Path(args.json).write_text(json.dumps([r.as_json() for r in results], indent=1))
        finally:
            bench.close()
            cluster.stop()


if __name__ == "__main__":
    main()
