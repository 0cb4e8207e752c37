"""The generic JSON webhook and PagerDuty v3 webhooks, over real HTTP, with the real
operator (one run for the whole module), API server and local PagerDuty receiver.

PagerDuty's deliveries are built as PagerDuty documents them and signed as it signs them
(tests/support/pagerduty_webhooks.py).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from subprocess import CompletedProcess
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, get_incident
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.support.escalation_env import SECRET_NAME, all_sent, channels, records, time_of
from tests.support.intake_http import free_port, post_json
from tests.support.pagerduty_webhooks import encoded, incident_event, sign
from tests.support.receivers import HttpRecorder

pytestmark = pytest.mark.timeout(300)

TOKEN = secrets.token_hex(16)
PAGERDUTY_SECRET = secrets.token_hex(16)
FINGERPRINT = "sre.agentos.io/fingerprint"
# The on-call contact's PagerDuty services (their own routing keys).
DANA_KEY = "DANAkey0123456789abcdef00000000"
BOB_KEY = "BOBkey0123456789abcdef000000000"


@dataclass
class Intakes:
    namespace: str
    base: str
    http: HttpRecorder
    process: OperatorProcess
    # The operator's user (the tests' kubeconfig user), Dana's Kubernetes user: were the
    # admission policies installed by another module of the session, the operator may
    # set acknowledged-by to its own name (a service account's exception is tested below).
    operator_user: str


def _person(name: str, key: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pagerduty": {"channel": "pagerduty", "secretRef": {"name": SECRET_NAME, "key": key}},
        **fields,
    }


@pytest.fixture(scope="module")
def intakes(
    cluster: ClusterInfo,
    k8s_api: k8s.ApiClient,
    kubectl: Kubectl,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Intakes]:
    """A namespace with the token and PagerDuty Secrets, a policy paging the on-call role
    (Dana, then her backup Bob if she does not acknowledge within 12 s), and the operator."""
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    core = k8s.CoreV1Api(k8s_api)
    namespace = f"t-intakes-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    http = HttpRecorder().start()
    values = {
        "token": TOKEN,
        "pagerduty": PAGERDUTY_SECRET,
        "routing-key": "CHANNELkey0123456789abcdef0000",
        "dana": DANA_KEY,
        "bob": BOB_KEY,
    }
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET_NAME),
            data={k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
        ),
    )
    step = {
        "severities": ["P0"],
        "after": "0s",
        "targets": [{"name": "On-call", "method": "pager", "role": "on-call"}],
    }
    policy = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "team"},
        "spec": {
            "default": True,
            "channels": channels(http, "pagerduty"),
            "contacts": [
                {
                    "role": "on-call",
                    "primary": _person("Dana", "dana", user=me, pagerDutyUser="PLH1HKV"),
                    "backup": _person("Bob", "bob"),
                    "acknowledgeWithin": "12s",
                }
            ],
            "escalation": {"steps": [step]},
        },
    }
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(policy))
    port = free_port()
    log = tmp_path_factory.mktemp("intakes") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=(
            "--namespace",
            namespace,
            "--alertmanager-listen",
            f"127.0.0.1:{port}",
            "--alertmanager-token-secret",
            f"{namespace}/{SECRET_NAME}",
            "--pagerduty-webhook-secret",
            f"{namespace}/{SECRET_NAME}",
            "--pagerduty-webhook-secret-key",
            "pagerduty",
        ),
    ).start()
    try:
        yield Intakes(namespace, f"http://127.0.0.1:{port}", http, process, me)
    finally:
        process.stop()
        http.close()
        core.delete_namespace(namespace, propagation_policy="Background")


def _webhook(intakes: Intakes, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return post_json(
        f"{intakes.base}/webhook",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {TOKEN}"},
    )


def _pagerduty(
    intakes: Intakes, delivery: dict[str, Any], secret: str = PAGERDUTY_SECRET
) -> tuple[int, dict[str, Any]]:
    body = encoded(delivery)
    headers = {"X-PagerDuty-Signature": sign(body, secret)}
    return post_json(f"{intakes.base}/pagerduty", body, headers)


def _incidents(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl("get", "incidents", "-n", namespace, "-o", "json").stdout
    )["items"]
    return items


def _incident(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        kubectl("get", "incident", name, "-n", namespace, "-o", "json").stdout
    )
    return body


def _monitoring(intakes: Intakes, kubectl: Kubectl, name: str) -> dict[str, Any]:
    """Waits for the incident's phase to be Monitoring (its signal recovered)."""

    def detail() -> str:
        status = _incident(kubectl, intakes.namespace, name).get("status", {})
        shown = {k: status.get(k) for k in ("phase", "detection", "signals", "conditions")}
        return json.dumps(shown, indent=1)[:4000] + "\n" + intakes.process.log_tail(40)

    found: dict[str, Any] = wait_until(
        lambda: (
            (i := _incident(kubectl, intakes.namespace, name))["status"].get("phase")
            == "Monitoring"
            and i
        ),
        what=f"{name} in Monitoring",
        timeout=60,
        detail=detail,
    )
    return found


def _signal(status: str = "firing", **overrides: Any) -> dict[str, Any]:
    return {
        "id": "monitor-42",
        "status": status,
        # P1: a person resolves it (a P2 recovered long ago would resolve itself at once).
        "severity": "high",
        "title": "Checkout p99 above 2s",
        "summary": "Datadog monitor 42 is alerting.",
        "workload": {"kind": "Deployment", "name": "checkout"},
        "labels": {"team": "payments"},
        "startsAt": "2026-11-25T10:00:00Z",
        **({"endsAt": "2026-11-25T10:04:00Z"} if status == "resolved" else {}),
        "url": "https://app.datadoghq.invalid/monitors/42",
        **overrides,
    }


def _delivery(*signals: dict[str, Any]) -> dict[str, Any]:
    return {"version": "1", "source": "datadog", "signals": list(signals)}


def test_a_schema_error_is_a_400_naming_the_field_and_writes_nothing(
    intakes: Intakes, kubectl: Kubectl
) -> None:
    good, bad = _signal(id="good-one"), _signal(id="bad-one", severity="sev1")
    status, answer = _webhook(intakes, _delivery(good, bad))
    assert status == 400
    assert answer["error"].startswith("signals[1].severity: Input should be 'P0'")
    status, answer = post_json(f"{intakes.base}/webhook", json.dumps(_delivery(good)).encode(), {})
    assert status == 401, answer
    assert _incidents(kubectl, intakes.namespace) == []


def test_the_generic_webhook_opens_once_and_resolved_recovers(
    intakes: Intakes, kubectl: Kubectl
) -> None:
    status, answer = _webhook(intakes, _delivery(_signal()))
    assert status == 200, answer
    [opened] = answer["opened"]
    name = opened.split("/")[1]
    incident = _incident(kubectl, intakes.namespace, name)
    spec = incident["spec"]
    assert (spec["source"], spec["severity"], spec["title"]) == (
        "webhook",
        "P1",
        "Checkout p99 above 2s",
    )
    assert spec["affected"] == [{"kind": "Deployment", "name": "checkout"}]
    assert "https://app.datadoghq.invalid/monitors/42" in spec["summary"]
    assert incident["metadata"]["labels"][FINGERPRINT] == "datadog.monitor-42"

    # The sender repeats itself: nothing changes, no second incident.
    for _ in range(2):
        status, answer = _webhook(intakes, _delivery(_signal()))
        assert (status, answer) == (
            200,
            {"opened": [], "joined": [], "updated": [], "unchanged": 1, "ignored": []},
        )
    webhook_incidents = [
        i for i in _incidents(kubectl, intakes.namespace) if i["spec"]["source"] == "webhook"
    ]
    assert [i["metadata"]["name"] for i in webhook_incidents] == [name]

    status, answer = _webhook(intakes, _delivery(_signal("resolved")))
    assert (status, answer["updated"]) == (200, [opened])
    recovered = _monitoring(intakes, kubectl, name)
    assert recovered["status"]["detection"]["breaching"] is False
    assert recovered["status"]["detection"]["recoveredAt"] == "2026-11-25T10:04:00Z"


def test_a_badly_signed_pagerduty_delivery_is_a_401_and_writes_nothing(
    intakes: Intakes, kubectl: Kubectl
) -> None:
    delivery = incident_event("incident.triggered", "PBADSIGNED01")
    body = encoded(delivery)
    for headers in ({}, {"X-PagerDuty-Signature": sign(body, "not-the-secret")}):
        status, answer = post_json(f"{intakes.base}/pagerduty", body, headers)
        assert status == 401, answer
    assert not any(
        i["metadata"]["labels"].get(FINGERPRINT) == "pagerduty.PBADSIGNED01"
        for i in _incidents(kubectl, intakes.namespace)
    )


def test_pagerduty_triggers_acknowledges_and_resolves(intakes: Intakes, kubectl: Kubectl) -> None:
    namespace, http = intakes.namespace, intakes.http
    # Rotation: PagerDuty signs with the old and the new secret; the new one is ours.
    triggered = encoded(incident_event("incident.triggered"))
    status, answer = post_json(
        f"{intakes.base}/pagerduty",
        triggered,
        {"X-PagerDuty-Signature": sign(triggered, "old-secret", PAGERDUTY_SECRET)},
    )
    assert status == 200, answer
    [opened] = answer["opened"]
    name = opened.split("/")[1]
    spec = _incident(kubectl, namespace, name)["spec"]
    assert spec["source"] == "pagerduty"
    assert (spec["severity"], spec["title"]) == ("P0", "Checkout is down")
    assert "https://acme.pagerduty.com/incidents/Q2K9SHJ3WJ1KPL" in spec["summary"]

    # Acknowledged in PagerDuty by Dana (PLH1HKV): recorded as her Kubernetes user.
    dana = intakes.operator_user
    status, answer = _pagerduty(intakes, incident_event("incident.acknowledged"))
    assert (status, answer) == (200, {"acknowledged": opened, "acknowledgedBy": dana})
    body = wait_until(
        lambda: (i := _incident(kubectl, namespace, name))["status"].get("acknowledgedAt") and i,
        what="acknowledged",
        timeout=60,
        detail=intakes.process.log_tail,
    )
    assert body["metadata"]["annotations"]["sre.agentos.io/acknowledged-by"] == dana
    ack = next(c for c in body["status"]["conditions"] if c["type"] == "Acknowledged")
    assert (ack["status"], ack["message"]) == ("True", f"acknowledged by {dana}")
    # A second acknowledgement (another user) changes nothing.
    again = incident_event("incident.acknowledged", agent_id="POTHER1", agent_name="Sam")
    assert _pagerduty(intakes, again) == (200, {"unchanged": opened, "acknowledgedBy": dana})

    # Dana was paged; her backup's window passes with the incident acknowledged: no page.
    def backup_window_passed() -> dict[str, Any] | None:
        incident = _incident(kubectl, namespace, name)
        contacts = (incident["status"].get("escalation") or {}).get("contacts") or []
        due = next((c.get("backupDueAt") for c in contacts if c["role"] == "on-call"), None)
        passed = due is not None and datetime.now(UTC) > time_of(due) + timedelta(seconds=3)
        return incident if passed and all_sent(incident) else None

    body = wait_until(
        backup_window_passed,
        what="the backup's window",
        timeout=60,
        detail=intakes.process.log_tail,
    )
    pages = [(c.body["event_action"], c.body["routing_key"]) for c in http.received("/pagerduty")]
    assert ("trigger", DANA_KEY) in pages
    assert not any(key == BOB_KEY for _, key in pages), pages
    assert not any(r.get("contact") == "on-call/backup" for r in records(body))

    # Resolved in PagerDuty: the signal recovers; the runbook's gate resolves it later.
    status, answer = _pagerduty(intakes, incident_event("incident.resolved"))
    assert (status, answer["updated"]) == (200, [opened])
    recovered = _monitoring(intakes, kubectl, name)
    assert recovered["status"]["detection"]["breaching"] is False
    assert recovered["status"]["detection"]["recoveredAt"] == "2026-11-25T10:06:00Z"
    # Still one incident for this PagerDuty incident.
    labelled = [
        i
        for i in _incidents(kubectl, namespace)
        if i["metadata"]["labels"].get(FINGERPRINT) == "pagerduty.Q2K9SHJ3WJ1KPL"
    ]
    assert len(labelled) == 1


def test_the_operators_own_page_is_not_declared_again(intakes: Intakes, kubectl: Kubectl) -> None:
    before = len(_incidents(kubectl, intakes.namespace))
    key = f"incident-operator/{intakes.namespace}/somename/some-uid/on-call"
    status, answer = _pagerduty(
        intakes, incident_event("incident.triggered", "POWNPAGE01", incident_key=key)
    )
    assert status == 200
    assert "the operator's own page" in answer["ignored"]
    assert len(_incidents(kubectl, intakes.namespace)) == before


def test_the_operators_service_account_may_record_an_acknowledgement_once(
    kubectl: Kubectl, namespace: str, admission_policies: None
) -> None:
    """manifests/admission/identity.yaml: people only as themselves; the operator's service
    account may set acknowledged-by (to the PagerDuty user) when it is not set, never change
    it; another service account may not."""
    operator_sa = "system:serviceaccount:incident-operator:incident-operator"
    other_sa = "system:serviceaccount:incident-operator:someone-else"
    # Named like the operator's, in a namespace of someone else's making: not the operator.
    lookalike_sa = "system:serviceaccount:team-a:team-a-incident-operator"
    kubectl(
        "create",
        "rolebinding",
        "responders",
        "-n",
        namespace,
        "--clusterrole=incident-responder",
        f"--user={operator_sa}",
        f"--user={other_sa}",
        f"--user={lookalike_sa}",
    )
    create_incident(kubectl, namespace, "db", title="DB slow", severity="P2")

    def acknowledge(value: str, user: str) -> CompletedProcess[str]:
        return kubectl(
            "annotate",
            "--overwrite",
            "incident",
            "db",
            "-n",
            namespace,
            f"sre.agentos.io/acknowledged-by={value}",
            as_user=user,
            check=False,
        )

    for someone_else in (other_sa, lookalike_sa):
        refused = acknowledge("pagerduty:Sam", someone_else)
        assert refused.returncode != 0
        assert "acknowledged-by must be your own user name" in refused.stderr
    assert acknowledge("pagerduty:Tenex Engineer", operator_sa).returncode == 0
    changed = acknowledge("pagerduty:Sam", operator_sa)
    assert changed.returncode != 0
    assert "acknowledged-by must be your own user name" in changed.stderr
    annotations = get_incident(kubectl, namespace, "db")["metadata"]["annotations"]
    assert annotations["sre.agentos.io/acknowledged-by"] == "pagerduty:Tenex Engineer"
