"""Maintenance windows on the local control plane: the real operator (polling the real
Prometheus, with its Alertmanager receiver), the shipped admission policy, and the local
PagerDuty receiver.

A window holds back a matching signal: no incident, nobody paged, the window's status
records it; when the window ends, the signal still breaching opens its incident then. An
incident declared by hand is never held back. Admission refuses a window longer than the
namespace's policies allow and a window without an owner, naming the field.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.cluster_fixtures import MANIFESTS
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import list_incidents, phase_of
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.harness.workloads import deployment_manifest
from tests.integration.exporters import WorkloadExporter
from tests.support import intake_http
from tests.support.escalation_env import apply, channels, create_secret, policy
from tests.support.receivers import HttpRecorder

TIMEOUT = 90.0
TOKEN = secrets.token_hex(16)
FINGERPRINT = "sre.agentos.io/fingerprint"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def token_namespace(k8s_api: k8s.ApiClient) -> Iterator[str]:
    yield from intake_http.token_namespace(k8s.CoreV1Api(k8s_api), "t-maintenance", TOKEN)


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo,
    prometheus_url: str,
    token_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, OperatorProcess]]:
    """The operator polling Prometheus, with its receiver; yields the receiver's URL."""
    port = intake_http.free_port()
    log = tmp_path_factory.mktemp("maintenance") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=(
            "--prometheus-url",
            prometheus_url,
            "--alertmanager-listen",
            f"127.0.0.1:{port}",
            "--alertmanager-token-secret",
            f"{token_namespace}/alertmanager-token",
        ),
    ).start()
    yield f"http://127.0.0.1:{port}/alerts", process
    process.stop()


@pytest.fixture
def recorder() -> Iterator[HttpRecorder]:
    running = HttpRecorder().start()
    yield running
    running.close()


# ------------------------------------------------------------------------- helpers


def _window(
    name: str,
    *,
    workloads: dict[str, str] | None = None,
    alerts: dict[str, str] | None = None,
    owner: str | None = "alice",
    **when: Any,
) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    if workloads:
        selector["workloads"] = {"matchLabels": workloads}
    if alerts:
        selector["alerts"] = {"matchLabels": alerts}
    spec: dict[str, Any] = {"selector": selector, "reason": "database upgrade", **when}
    if owner is not None:
        spec["owner"] = owner
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "MaintenanceWindow",
        "metadata": {"name": name},
        "spec": spec,
    }


def _get_window(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        kubectl("get", "maintenancewindow", name, "-n", namespace, "-o", "json").stdout
    )
    return body


def _status(window: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = window.get("status") or {}
    return found


def _detection_policy(recorder: HttpRecorder, **spec: Any) -> dict[str, Any]:
    """Pages P0-P2 on the local PagerDuty receiver; detects the checkout error rate."""
    return policy(
        "runbook",
        selector={"matchLabels": {"tier": "backend"}},
        channels=channels(recorder, "pagerduty"),
        escalation={
            "steps": [
                {
                    "severities": ["P0", "P1", "P2"],
                    "after": "0s",
                    "targets": [{"name": "Primary", "method": "pager"}],
                    "channel": "pagerduty",
                }
            ]
        },
        detection={
            "interval": "1s",
            "monitoringWindow": "20s",
            "rules": [{"name": "errors", "signal": "apiErrorRate", "window": "10s"}],
        },
        **spec,
    )


def _serving(kubectl: Kubectl, exporter: WorkloadExporter, namespace: str, name: str) -> str:
    """A one-pod Deployment (app=NAME, tier=backend) serving healthy traffic; its pod."""
    container = {"name": "main", "image": f"registry.invalid/{name}:1"}
    labels = {"app": name, "tier": "backend"}
    manifest = deployment_manifest(name, container, labels=labels, pod_labels={"tier": "backend"})
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

    def running() -> str | None:
        listed = kubectl("get", "pods", "-n", namespace, "-l", f"app={name}", "-o", "json")
        pods = json.loads(listed.stdout)["items"]
        ready = [p["metadata"]["name"] for p in pods if phase_of(p) == "Running"]
        return ready[0] if len(ready) == len(pods) == 1 else None

    pod: str = wait_until(running, what=f"the pod of {name}", timeout=TIMEOUT)
    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.0)
    return pod


def _post(url: str, *alerts: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-operator",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": list(alerts),
        }
    ).encode()
    return intake_http.post_json(url, body, {"Authorization": f"Bearer {TOKEN}"})


def _alert(namespace: str, fingerprint: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "DiskFull",
            "severity": "critical",
            "namespace": namespace,
            "team": "storage",
            "volume": fingerprint,
        },
        "annotations": {"summary": "disk above 95%"},
        "startsAt": _stamp(_now() - timedelta(minutes=1)),
        "endsAt": _stamp(_now()) if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fingerprint,
    }


# --------------------------------------------------------------------------- tests


def test_a_recurring_window_holds_a_breach_back_then_opens_it_when_it_ends(
    operator: tuple[str, OperatorProcess],
    exporter: WorkloadExporter,
    recorder: HttpRecorder,
    k8s_api: k8s.ApiClient,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    _, process = operator
    pod = _serving(kubectl, exporter, namespace, "checkout")
    create_secret(k8s_api, namespace, recorder)
    # Hourly at this very minute, in UTC, for as long as ends 30 s from now: the current
    # occurrence began at this minute's start and the test's breach falls inside it.
    now = _now()
    last_for = now.second + 30
    schedule = {"cron": f"{now.minute} * * * *", "timeZone": "UTC", "duration": f"{last_for}s"}
    apply(kubectl, namespace, _window("upgrade", workloads={"app": "checkout"}, schedule=schedule))

    def long_enough() -> dict[str, Any] | None:
        status = _status(_get_window(kubectl, namespace, "upgrade"))
        if not status.get("active"):
            return None
        left = datetime.fromisoformat(status["currentEnd"].replace("Z", "+00:00")) - _now()
        return status if left > timedelta(seconds=20) else None

    occurrence = wait_until(
        long_enough, what="an occurrence with 20 s left", timeout=TIMEOUT, detail=process.log_tail
    )
    ends = datetime.fromisoformat(occurrence["currentEnd"].replace("Z", "+00:00"))
    apply(kubectl, namespace, _detection_policy(recorder))
    exporter.set_traffic(namespace, pod, requests_per_second=50, error_ratio=0.03)

    def held() -> list[dict[str, Any]] | None:
        suppressed = _status(_get_window(kubectl, namespace, "upgrade")).get("suppressed")
        return suppressed or None

    [entry] = wait_until(
        held, what="the window to record the breach", timeout=40, detail=process.log_tail
    )
    assert entry["source"] == "prometheus"
    assert entry["rule"] == "errors"
    assert entry["workload"] == {"kind": "Deployment", "name": "checkout"}
    assert entry["stillBreaching"] is True
    assert "pending" not in entry, "polling decides again by itself"
    assert _now() < ends, "the breach came too late for this occurrence"
    assert list_incidents(kubectl, namespace) == []
    assert recorder.received("/pagerduty") == []

    def opened() -> dict[str, Any] | None:
        items = list_incidents(kubectl, namespace)
        return items[0] if len(items) == 1 else None

    left = (ends - _now()).total_seconds()
    incident = wait_until(
        opened,
        what="the incident once the window ends",
        timeout=left + 30,
        detail=process.log_tail,
    )
    created = datetime.fromisoformat(
        incident["metadata"]["creationTimestamp"].replace("Z", "+00:00")
    )
    assert created >= ends - timedelta(seconds=1), (created, ends)
    assert incident["metadata"]["labels"]["sre.agentos.io/rule"] == "errors"
    wait_until(
        lambda: recorder.received("/pagerduty"),
        what="the page once the incident opened",
        timeout=40,
        detail=process.log_tail,
    )


def test_an_alert_is_held_back_and_opened_at_the_end_unless_it_resolved(
    operator: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, process = operator
    start, end = _now() - timedelta(seconds=2), _now() + timedelta(seconds=15)
    window = _window(
        "storage-work", alerts={"team": "storage"}, start=_stamp(start), end=_stamp(end)
    )
    apply(kubectl, namespace, window)
    wait_until(
        lambda: _status(_get_window(kubectl, namespace, "storage-work")).get("active"),
        what="the window to be active",
        timeout=30,
        detail=process.log_tail,
    )
    firing, resolving = secrets.token_hex(8), secrets.token_hex(8)
    status, answer = _post(url, _alert(namespace, firing), _alert(namespace, resolving))
    assert status == 200, answer
    status, answer = _post(url, _alert(namespace, resolving, "resolved"))
    assert status == 200, answer

    def recorded() -> dict[str, dict[str, Any]] | None:
        entries = _status(_get_window(kubectl, namespace, "storage-work")).get("suppressed") or []
        by_fingerprint = {e["fingerprint"]: e for e in entries}
        done = len(entries) == 2 and by_fingerprint[resolving]["stillBreaching"] is False
        return by_fingerprint if done else None

    entries = wait_until(recorded, what="both alerts recorded", timeout=30, detail=process.log_tail)
    assert entries[firing]["source"] == "alertmanager"
    assert entries[firing]["rule"] == "DiskFull"
    assert entries[firing]["stillBreaching"] is True
    assert entries[firing]["pending"]["name"]
    assert list_incidents(kubectl, namespace) == []

    def opened() -> list[dict[str, Any]] | None:
        return list_incidents(kubectl, namespace) or None

    [incident] = wait_until(
        opened, what="the still-firing alert's incident", timeout=40, detail=process.log_tail
    )
    assert incident["metadata"]["labels"][FINGERPRINT] == firing
    assert incident["spec"]["source"] == "alertmanager"
    assert _status(_get_window(kubectl, namespace, "storage-work"))["active"] is False
    # The resolved one never opens: give the end task a few more passes to be sure.
    wait_until(
        lambda: "ended" in process.log_path.read_text(errors="replace"),
        what="the end to be logged",
        timeout=10,
    )
    assert len(list_incidents(kubectl, namespace)) == 1


def test_an_incident_declared_by_hand_is_never_held_back(
    operator: tuple[str, OperatorProcess],
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    """Also the plugin's start, list and end, with the caller as the owner."""
    _, process = operator
    started = run_plugin(
        cluster.kubeconfig,
        namespace,
        "maintenance",
        "start",
        "--for",
        "1h",
        "--selector",
        "app=checkout",
        "--alert-selector",
        "team=storage",
        "--reason",
        "checkout migration",
        "--name",
        "all-of-it",
    )
    assert "maintenancewindow/all-of-it started" in started.stdout, started.stdout
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    assert _get_window(kubectl, namespace, "all-of-it")["spec"]["owner"] == me
    wait_until(
        lambda: _status(_get_window(kubectl, namespace, "all-of-it")).get("active"),
        what="the window to be active",
        timeout=30,
        detail=process.log_tail,
    )
    incident = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "checkout-down"},
        "spec": {
            "title": "checkout is down",
            "severity": "P1",
            "affected": [{"kind": "Deployment", "name": "checkout"}],
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(incident))

    def declared() -> dict[str, Any] | None:
        [item] = list_incidents(kubectl, namespace)
        return item if (item.get("status") or {}).get("id") else None

    declared_incident = wait_until(
        declared, what="the declared incident's ID", timeout=TIMEOUT, detail=process.log_tail
    )
    assert phase_of(declared_incident)
    assert not _status(_get_window(kubectl, namespace, "all-of-it")).get("suppressed")

    listed = run_plugin(cluster.kubeconfig, namespace, "maintenance", "list").stdout
    [row] = [line.split() for line in listed.splitlines() if line.startswith("all-of-it")]
    assert row[1] == "yes", listed
    assert me in row, listed
    assert row[-1] == "0", listed
    ended = run_plugin(cluster.kubeconfig, namespace, "maintenance", "end", "all-of-it")
    assert "ended at" in ended.stdout, ended.stdout
    wait_until(
        lambda: _status(_get_window(kubectl, namespace, "all-of-it")).get("active") is False,
        what="the ended window to be inactive",
        timeout=30,
        detail=process.log_tail,
    )
    again = run_plugin(
        cluster.kubeconfig, namespace, "maintenance", "end", "all-of-it", check=False
    )
    assert again.returncode == 1
    assert "already ended" in again.stderr, again.stderr


# ------------------------------------------------------------------------- admission


@pytest.fixture(scope="module")
def maintenance_admission(kubectl: Kubectl, k8s_api: k8s.ApiClient) -> Iterator[str]:
    """The shipped maintenance admission policy in force; yields a namespace with the
    default policy (maxWindow 24h)."""
    kubectl("apply", "-f", str(MANIFESTS / "admission" / "maintenance.yaml"))
    core = k8s.CoreV1Api(k8s_api)
    name = f"t-maintenance-admission-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    apply(kubectl, name, policy("team"))
    try:
        wait_until(
            lambda: "maxWindow" in _create(kubectl, name, _long_window(25)).stderr,
            what="the maintenance admission policy to be in force",
            timeout=TIMEOUT,
        )
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


def _long_window(hours: int, **extra: Any) -> dict[str, Any]:
    start = _now() + timedelta(days=1)
    return _window(
        f"long-{hours}h",
        workloads={"app": "checkout"},
        start=_stamp(start),
        end=_stamp(start + timedelta(hours=hours)),
        **extra,
    )


def _create(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> Any:
    return kubectl(
        "create",
        "--dry-run=server",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(body),
        check=False,
    )


def test_admission_refuses_a_window_over_the_policy_maximum_and_one_without_owner(
    maintenance_admission: str, kubectl: Kubectl, namespace: str
) -> None:
    refused = _create(kubectl, maintenance_admission, _long_window(25))
    assert refused.returncode != 0
    assert "spec.end: the window lasts 90000s" in refused.stderr, refused.stderr
    assert "longer than spec.maintenance.maxWindow 24h" in refused.stderr, refused.stderr
    schedule = {"cron": "0 2 * * 6", "timeZone": "Europe/Berlin", "duration": "25h"}
    recurring = _window("weekly", workloads={"app": "x"}, schedule=schedule)
    refused = _create(kubectl, maintenance_admission, recurring)
    assert "spec.schedule.duration: the window lasts 90000s" in refused.stderr, refused.stderr
    assert _create(kubectl, maintenance_admission, _long_window(23)).returncode == 0

    ownerless = _create(kubectl, maintenance_admission, _long_window(1, owner=None))
    assert ownerless.returncode != 0
    assert "spec.owner: Required value" in ownerless.stderr, ownerless.stderr

    # A namespace whose policy allows 48h takes a 25h window; none over the CRD's cap.
    apply(kubectl, namespace, policy("team", maintenance={"maxWindow": "48h"}))
    wait_until(
        lambda: _create(kubectl, namespace, _long_window(25)).returncode == 0,
        what="a 25h window accepted under maxWindow 48h",
        timeout=30,
    )
    refused = _create(kubectl, namespace, _long_window(49))
    assert "longer than spec.maintenance.maxWindow 48h" in refused.stderr, refused.stderr
    capped = _create(kubectl, namespace, _long_window(721))
    assert "spec.end: a window lasts at most 720h" in capped.stderr, capped.stderr
