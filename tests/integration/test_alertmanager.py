"""The Alertmanager webhook receiver, over real HTTP, with the real operator and API server."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.support import intake_http

from incident_operator.domain.detection import alert_fingerprint

TOKEN = secrets.token_hex(16)
FINGERPRINT = "sre.agentos.io/fingerprint"
STARTED = "2026-11-25T10:00:00Z"


@pytest.fixture(scope="module")
def token_namespace(k8s_api: k8s.ApiClient) -> Iterator[str]:
    yield from intake_http.token_namespace(k8s.CoreV1Api(k8s_api), "t-alertmanager", TOKEN)


@pytest.fixture(scope="module")
def receiver(
    cluster: ClusterInfo, token_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, OperatorProcess]]:
    """The operator with its receiver; yields the webhook URL and the process."""
    port = intake_http.free_port()
    log = tmp_path_factory.mktemp("alertmanager") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=(
            "--alertmanager-listen",
            f"127.0.0.1:{port}",
            "--alertmanager-token-secret",
            f"{token_namespace}/alertmanager-token",
        ),
    ).start()
    yield f"http://127.0.0.1:{port}/alerts", process
    process.stop()


def _post(url: str, body: bytes, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return intake_http.post_json(url, body, headers)


def _alert(
    namespace: str,
    status: str = "firing",
    severity: str = "critical",
    fingerprint: str = "c0ffee0123456789",
    alertname: str = "HighErrorRate",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": alertname,
            "severity": severity,
            "namespace": namespace,
            "deployment": "checkout",
        },
        "annotations": {"summary": "5xx above 5%", "description": "checkout is failing"},
        "startsAt": STARTED,
        "endsAt": "2026-11-25T10:04:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": fingerprint,
    }


def _payload(*alerts: dict[str, Any], status: str = "firing") -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "incident-operator",
            "groupLabels": {"alertname": "HighErrorRate"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": list(alerts),
        }
    ).encode()


def _incidents(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kubectl("get", "incidents", "-n", namespace, "-o", "json").stdout
    )["items"]
    return items


def test_a_missing_or_wrong_token_is_refused_and_creates_nothing(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, _ = receiver
    for token in (None, "wrong", ""):
        status, body = _post(url, _payload(_alert(namespace)), token=token)
        assert status == 401, body
        assert body == {"error": "missing or wrong bearer token"}
    assert _incidents(kubectl, namespace) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "the body is not JSON"),
        (b'"alerts"', "must be a JSON object"),
        (b'{"version": "4"}', "body.groupKey: Field required"),
        (b"", "the body is not JSON"),
    ],
)
def test_malformed_bodies_get_400_with_the_reason(
    receiver: tuple[str, OperatorProcess],
    kubectl: Kubectl,
    namespace: str,
    body: bytes,
    reason: str,
) -> None:
    url, _ = receiver
    status, answer = _post(url, body)
    assert status == 400
    assert reason in answer["error"]
    assert _incidents(kubectl, namespace) == []


def test_one_bad_alert_refuses_the_delivery_and_changes_nothing(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, process = receiver
    good, bad = _alert(namespace), _alert(namespace, severity="sev1", fingerprint="abcdef")
    status, answer = _post(url, _payload(good, bad))
    assert status == 400
    assert "severity label 'sev1'" in answer["error"]
    assert _incidents(kubectl, namespace) == []
    assert process._healthy(), "the operator keeps serving"


def test_firing_opens_once_and_resolved_moves_it_to_monitoring(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, process = receiver
    status, answer = _post(url, _payload(_alert(namespace)))
    assert status == 200, answer
    [name] = answer["opened"]
    [incident] = _incidents(kubectl, namespace)
    assert f"{namespace}/{incident['metadata']['name']}" == name
    spec = incident["spec"]
    assert (spec["severity"], spec["source"]) == ("P0", "alertmanager")
    assert spec["title"] == "HighErrorRate: 5xx above 5%"
    assert spec["affected"] == [{"kind": "Deployment", "name": "checkout"}]
    # Labelled with Alertmanager's own fingerprint, so people can select by it.
    assert incident["metadata"]["labels"][FINGERPRINT] == "c0ffee0123456789"
    selected = kubectl(
        "get", "incidents", "-n", namespace, "-l", f"{FINGERPRINT}=c0ffee0123456789", "-o", "json"
    ).stdout
    assert [i["metadata"]["uid"] for i in json.loads(selected)["items"]] == [
        incident["metadata"]["uid"]
    ]
    detection = wait_until(
        lambda: _incidents(kubectl, namespace)[0].get("status", {}).get("detection"),
        what="status.detection",
        timeout=30,
    )
    assert detection["breaching"] is True
    assert (detection["policy"], detection["rule"]) == ("incident-operator", "HighErrorRate")

    # Alertmanager repeats itself: nothing changes.
    for _ in range(3):
        status, answer = _post(url, _payload(_alert(namespace)))
        assert status == 200
        assert answer == {"opened": [], "joined": [], "updated": [], "unchanged": 1, "ignored": []}
    [same] = _incidents(kubectl, namespace)
    assert same["metadata"]["uid"] == incident["metadata"]["uid"]
    assert same["status"]["detection"] == detection

    status, answer = _post(url, _payload(_alert(namespace, "resolved"), status="resolved"))
    assert status == 200
    assert answer["updated"] == [name]
    recovered = wait_until(
        lambda: (
            (i := _incidents(kubectl, namespace)[0])["status"].get("phase") == "Monitoring" and i
        ),
        what="Monitoring",
        timeout=60,
        detail=process.log_tail,
    )
    assert recovered["status"]["detection"]["breaching"] is False
    assert recovered["status"]["detection"]["recoveredAt"] == "2026-11-25T10:04:00Z"
    status, answer = _post(url, _payload(_alert(namespace, "resolved"), status="resolved"))
    assert answer["unchanged"] == 1


def test_severity_labels_follow_the_runbook_and_none_is_ignored(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, _ = receiver
    alerts = [
        _alert(namespace, severity=severity, fingerprint=f"{index:016x}", alertname=severity)
        for index, severity in enumerate(["high", "warning", "info", "none"])
    ]
    status, answer = _post(url, _payload(*alerts))
    assert status == 200, answer
    assert len(answer["opened"]) == 3
    assert [(i["alert"], i["reason"]) for i in answer["ignored"]] == [("alerts[3]", "SeverityNone")]
    by_title = {i["spec"]["title"].split(":")[0]: i for i in _incidents(kubectl, namespace)}
    assert {title: i["spec"]["severity"] for title, i in by_title.items()} == {
        "high": "P1",
        "warning": "P2",
        "info": "P3",
    }


def test_an_alert_without_a_namespace_lands_in_the_receivers(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, token_namespace: str
) -> None:
    url, _ = receiver
    alert = _alert("x", fingerprint="123abc")
    del alert["labels"]["namespace"]
    status, answer = _post(url, _payload(alert))
    assert status == 200, answer
    [name] = answer["opened"]
    assert name.startswith(f"{token_namespace}/")


def test_an_alert_whose_namespace_does_not_exist_is_ignored_and_blocks_nothing(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    url, process = receiver
    missing = f"{namespace}-gone"
    alerts = [
        _alert(missing, fingerprint="dead0001"),
        _alert(namespace, fingerprint="beef0002", alertname="First"),
        _alert(namespace, fingerprint="beef0003", alertname="Second"),
    ]
    status, answer = _post(url, _payload(*alerts))
    assert status == 200, answer
    assert len(answer["opened"]) == 2
    [ignored] = answer["ignored"]
    assert (ignored["alert"], ignored["fingerprint"], ignored["reason"]) == (
        "alerts[0]",
        "dead0001",
        "NamespaceNotFound",
    )
    assert missing in ignored["message"]
    titles = sorted(i["spec"]["title"].split(":")[0] for i in _incidents(kubectl, namespace))
    assert titles == ["First", "Second"]
    # Alertmanager's repetition is answered the same way, and changes nothing.
    status, again = _post(url, _payload(*alerts))
    assert (status, again["opened"], again["unchanged"]) == (200, [], 2)
    assert [i["reason"] for i in again["ignored"]] == ["NamespaceNotFound"]
    assert process._healthy(), "the operator keeps serving"


def test_an_incident_labelled_before_the_upgrade_is_still_found(
    receiver: tuple[str, OperatorProcess], kubectl: Kubectl, namespace: str
) -> None:
    """Incidents opened by an earlier version carry a derived fingerprint label; the alert
    finds them under it and opens no second incident."""
    url, process = receiver
    legacy = alert_fingerprint(namespace, "feed0004")
    manifest = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": "from-before",
            "labels": {FINGERPRINT: legacy, "sre.agentos.io/rule": "HighErrorRate"},
        },
        "spec": {
            "title": "HighErrorRate: 5xx above 5%",
            "severity": "P0",
            "source": "alertmanager",
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    wait_until(
        lambda: _incidents(kubectl, namespace)[0].get("status", {}).get("phase"),
        what="the lifecycle to take the incident",
        timeout=30,
        detail=process.log_tail,
    )
    status, answer = _post(url, _payload(_alert(namespace, fingerprint="feed0004")))
    assert status == 200, answer
    assert answer["opened"] == []
    assert answer["updated"] == [f"{namespace}/from-before"]
    [only] = _incidents(kubectl, namespace)
    assert only["metadata"]["labels"][FINGERPRINT] == legacy
    detection = wait_until(
        lambda: _incidents(kubectl, namespace)[0].get("status", {}).get("detection"),
        what="status.detection",
        timeout=30,
    )
    assert detection["fingerprint"] == legacy
