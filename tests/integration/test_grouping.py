"""Grouping and cross-source dedup with the real operator, Prometheus and Alertmanager.

One operator run serves every case: it polls the local Prometheus (error rates from the
exporter, tests/integration/exporters.py) and runs the Alertmanager receiver, which a
real Alertmanager (tests/harness/alertmanager.py) delivers to.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness import alertmanager
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import list_incidents, phase_of
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.harness.workloads import deployment_manifest
from tests.integration.exporters import WorkloadExporter
from tests.support import intake_http
from tests.support.escalation_env import EscalationEnv, channels, escalation_env

__all__ = ["escalation_env"]

TIMEOUT = 90.0
TOKEN = secrets.token_hex(16)
FINGERPRINT = "sre.agentos.io/fingerprint"
ERRORS = {"name": "errors", "signal": "apiErrorRate", "window": "5s"}
# Error ratios the built-in apiErrorRate thresholds read as critical (P0) and warning (P2).
CRITICAL, WARNING = 0.5, 0.03


@pytest.fixture(scope="module")
def token_namespace(k8s_api: k8s.ApiClient) -> Iterator[str]:
    yield from intake_http.token_namespace(k8s.CoreV1Api(k8s_api), "t-grouping", TOKEN)


@pytest.fixture(scope="module")
def receiver_port() -> int:
    return intake_http.free_port()


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo,
    prometheus_url: str,
    token_namespace: str,
    receiver_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    log = tmp_path_factory.mktemp("grouping") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=(
            "--prometheus-url",
            prometheus_url,
            "--alertmanager-listen",
            f"127.0.0.1:{receiver_port}",
            "--alertmanager-token-secret",
            f"{token_namespace}/alertmanager-token",
        ),
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def real_alertmanager(
    receiver_port: int, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[alertmanager.Alertmanager]:
    if not alertmanager.available():
        pytest.skip(f"{alertmanager.BINARY} is not installed (hack/setup-debian.sh)")
    directory = tmp_path_factory.mktemp("alertmanager")
    url = f"http://127.0.0.1:{receiver_port}/alerts"
    process = alertmanager.Alertmanager(directory, url, TOKEN).start()
    yield process
    process.stop()


# ------------------------------------------------------------------------- helpers


def _deployments(
    env: EscalationEnv, exporter: WorkloadExporter, ratios: dict[str, float], tier: str
) -> None:
    """One-pod Deployments of ``tier`` serving 50 requests/s at the error ratio given."""
    container = {"name": "main", "image": "registry.invalid/app:1"}
    for name in ratios:
        manifest = deployment_manifest(
            name, container, labels={"app": name, "tier": tier}, pod_labels={"tier": tier}
        )
        env.kubectl("apply", "-n", env.namespace, "-f", "-", input=json.dumps(manifest))

    def running() -> dict[str, str] | None:
        listed = env.kubectl("get", "pods", "-n", env.namespace, "-l", f"tier={tier}", "-o", "json")
        pods = json.loads(listed.stdout)["items"]
        by_app = {
            p["metadata"]["labels"]["app"]: p["metadata"]["name"]
            for p in pods
            if phase_of(p) == "Running"
        }
        return by_app if set(ratios) <= set(by_app) else None

    pods = wait_until(running, what=f"pods of {len(ratios)} workloads", timeout=TIMEOUT)
    for name, ratio in ratios.items():
        exporter.set_traffic(env.namespace, pods[name], requests_per_second=50, error_ratio=ratio)


def _policy(
    env: EscalationEnv, name: str, tier: str, grouping: dict[str, Any] | None, **spec: Any
) -> None:
    body: dict[str, Any] = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"tier": tier}},
            "detection": {"interval": "1s", "rules": [ERRORS]},
            **({"grouping": grouping} if grouping else {}),
            **spec,
        },
    }
    env.apply(body)


def _incidents(env: EscalationEnv) -> list[dict[str, Any]]:
    return list_incidents(env.kubectl, env.namespace, selector=FINGERPRINT)


def _signals(incident: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (incident.get("status") or {}).get("signals") or []
    return found


def _workloads(incident: dict[str, Any]) -> set[str]:
    return {w["name"] for w in incident["spec"].get("affected") or []}


def _settled(
    env: EscalationEnv, operator: OperatorProcess, signals: int, what: str
) -> list[dict[str, Any]]:
    """The namespace's incidents once they hold ``signals`` signals between them."""

    def counted() -> list[dict[str, Any]] | None:
        found = _incidents(env)
        return found if sum(len(_signals(i)) for i in found) >= signals else None

    found: list[dict[str, Any]] = wait_until(
        counted, what=what, timeout=TIMEOUT, detail=operator.log_tail
    )
    return found


# --------------------------------------------------------------------------- tests


def test_twenty_breaching_workloads_open_one_incident_that_pages_once(
    operator: OperatorProcess, env: EscalationEnv, exporter: WorkloadExporter
) -> None:
    page = {"name": "Primary", "method": "pager"}
    step = {"severities": ["P0"], "after": "0s", "targets": [page], "channel": "pagerduty"}
    env.create_secret()
    _policy(
        env,
        "team",
        "backend",
        {"by": ["namespace"], "window": "10m"},
        default=True,
        channels=channels(env.http, "pagerduty"),
        escalation={"steps": [step]},
    )
    ratios = {f"svc-{i:02d}": CRITICAL if i == 7 else WARNING for i in range(20)}
    _deployments(env, exporter, ratios, "backend")

    [incident] = _settled(env, operator, 20, "twenty signals")
    assert len(_signals(incident)) == 20
    assert len({s["fingerprint"] for s in _signals(incident)}) == 20
    assert _workloads(incident) == set(ratios)
    assert incident["spec"]["severity"] == "P0"
    assert incident["spec"]["title"].endswith("(+19 more systems)")

    def paged() -> list[Any] | None:
        return env.http.received("/pagerduty") or None

    wait_until(paged, what="the page", timeout=TIMEOUT, detail=operator.log_tail)
    # Still one incident, paged once, after the operator has acted on every signal.
    [again] = _incidents(env)
    assert again["metadata"]["uid"] == incident["metadata"]["uid"]
    triggers = [c for c in env.http.received("/pagerduty") if c.body["event_action"] == "trigger"]
    assert len(triggers) == 1


def test_another_policy_the_cap_and_the_window_open_incidents_of_their_own(
    operator: OperatorProcess, env: EscalationEnv, exporter: WorkloadExporter
) -> None:
    _policy(env, "backend", "backend", {"by": ["namespace"], "maxSignals": 3}, default=True)
    _policy(env, "frontend", "frontend", {"by": ["namespace"], "window": "1s"})
    _deployments(env, exporter, {f"api-{i}": CRITICAL for i in range(4)}, "backend")
    _deployments(env, exporter, {"web-0": CRITICAL}, "frontend")
    found = _settled(env, operator, 5, "five signals")
    by_policy: dict[str, list[set[str]]] = {}
    for incident in found:
        by_policy.setdefault(incident["spec"]["policyRef"]["name"], []).append(_workloads(incident))
    # The cap: three signals, then the fourth opens its own.
    assert sorted(len(w) for w in by_policy["backend"]) == [1, 3]
    assert by_policy["frontend"] == [{"web-0"}]

    # The frontend's window (1s) has passed once web-0's incident exists: web-1 opens anew.
    _deployments(env, exporter, {"web-1": CRITICAL}, "frontend")
    found = _settled(env, operator, 6, "six signals")
    frontend = [i for i in found if i["spec"]["policyRef"]["name"] == "frontend"]
    assert sorted(sorted(_workloads(i)) for i in frontend) == [["web-0"], ["web-1"]]


def test_an_alertmanager_alert_joins_the_polling_incident_of_the_same_breach(
    operator: OperatorProcess,
    env: EscalationEnv,
    exporter: WorkloadExporter,
    real_alertmanager: alertmanager.Alertmanager,
) -> None:
    _policy(env, "team", "backend", None, default=True)
    _deployments(env, exporter, {"checkout": CRITICAL}, "backend")
    [polled] = _settled(env, operator, 1, "the polling incident")
    assert polled["spec"]["severity"] == "P0"

    now = datetime.now(UTC).isoformat()
    real_alertmanager.post_alerts(
        [
            {
                "labels": {
                    "alertname": "CheckoutErrorRate",
                    "signal": "apiErrorRate",
                    "severity": "warning",
                    "namespace": env.namespace,
                    "deployment": "checkout",
                },
                "annotations": {"summary": "5xx above 3%"},
                "startsAt": now,
            }
        ]
    )

    def both() -> dict[str, Any] | None:
        [incident] = _incidents(env)
        sources = sorted(s["source"] for s in _signals(incident))
        return incident if sources == ["alertmanager", "prometheus"] else None

    incident = wait_until(
        both,
        what="the alert joining the polling incident",
        timeout=TIMEOUT,
        detail=lambda: operator.log_tail() + real_alertmanager.log_tail(),
    )
    assert incident["metadata"]["uid"] == polled["metadata"]["uid"]
    assert incident["spec"]["severity"] == "P0"
    assert _workloads(incident) == {"checkout"}
    assert len(_incidents(env)) == 1


def test_same_rollout_groups_only_workloads_that_just_rolled_out(
    operator: OperatorProcess, env: EscalationEnv, exporter: WorkloadExporter
) -> None:
    """The Deployments' current ReplicaSets were created moments ago: within a 30m
    proposal window they are one rollout; within a 0s one nothing rolled out, so each
    breach opens its own incident (the revision times are read from the cluster)."""
    same_rollout = {"by": ["namespace"], "sameRollout": True}
    _policy(env, "recent", "recent", same_rollout, rollback={"proposalWindow": "30m"})
    _policy(env, "stale", "stale", same_rollout, rollback={"proposalWindow": "0s"})
    _deployments(env, exporter, {"new-0": CRITICAL, "new-1": CRITICAL}, "recent")
    _deployments(env, exporter, {"old-0": CRITICAL, "old-1": CRITICAL}, "stale")
    found = _settled(env, operator, 4, "four signals")
    by_policy: dict[str, list[set[str]]] = {}
    for incident in found:
        by_policy.setdefault(incident["spec"]["policyRef"]["name"], []).append(_workloads(incident))
    assert by_policy["recent"] == [{"new-0", "new-1"}]
    assert sorted(sorted(w) for w in by_policy["stale"]) == [["old-0"], ["old-1"]]
