"""Delivery guarantees on a real API server: restarts mid-send, receivers down, 4xx, lateness."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.support.escalation_env import (
    Kubectl,
    all_sent,
    apply,
    assert_no_secret,
    channels,
    create_secret,
    escalation,
    events,
    get,
    incident,
    operator_for,
    policy,
    records,
    time_of,
    wait_for,
)
from tests.support.receivers import HttpRecorder

pytestmark = pytest.mark.timeout(240)
# A short send timeout makes a claim's lease short (timeout + 5s): a restarted operator
# takes over an interrupted send after that.
SEND_TIMEOUT = "3"


@pytest.fixture
def http() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder().start()
    yield recorder
    recorder.close()


@pytest.fixture(autouse=True)
def _short_send_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_OPERATOR_SEND_TIMEOUT", SEND_TIMEOUT)


def _first_step_only(channel: str | None = None) -> dict[str, object]:
    step: dict[str, object] = {
        "severities": ["P1"],
        "after": "0s",
        "targets": [{"name": "Primary", "method": "pager"}],
    }
    if channel:
        step["channel"] = channel
    return {"steps": [step]}


def test_a_restart_in_the_middle_of_a_send_resends_once_with_the_same_key(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    http: HttpRecorder,
    tmp_path: Path,
) -> None:
    create_secret(k8s_api, namespace, http)
    apply(
        kubectl,
        namespace,
        policy(
            "team",
            escalation=_first_step_only(),
            channels=channels(http, "pagerduty", "slack-high", "webhook"),
        ),
    )
    first = OperatorProcess(
        cluster.kubeconfig, tmp_path / "first.log", extra_args=("--namespace", namespace)
    ).start()
    try:
        http.hold()
        apply(kubectl, namespace, incident("api", "P1"))
        # The sends are out and held: the records say Sending, the receiver has them.
        held = wait_for(
            kubectl,
            namespace,
            "api",
            lambda b: (
                len(records(b)) == 5
                and {r["state"] for r in records(b)} == {"Sending"}
                and len(http.received()) == 5
            ),
            "five sends claimed and received, unanswered",
            first,
        )
        first.stop(kill=True)
    finally:
        first.stop(kill=True)
    http.release()
    claimed = {r["key"]: r for r in records(held)}
    assert all(r["attempts"] == 1 for r in claimed.values())
    with operator_for(cluster.kubeconfig, namespace, tmp_path / "second.log") as second:
        body = wait_for(
            kubectl, namespace, "api", lambda b: all_sent(b, 5), "every record Sent", second
        )
    uid = body["metadata"]["uid"]
    by_key = http.by_key()
    # None skipped: every record reached the receiver; at most one resend each, same key.
    assert set(by_key) == {f"{uid}/{key}" for key in claimed}
    assert all(len(calls) == 2 for calls in by_key.values()), {k: len(v) for k, v in by_key.items()}
    assert [r["attempts"] for r in records(body)] == [2] * 5
    # PagerDuty got the same dedup key both times: one alert, not two.
    assert len({c.body["dedup_key"] for c in http.received("/pagerduty")}) == 1


def test_a_receiver_down_then_up(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    http: HttpRecorder,
    tmp_path: Path,
) -> None:
    create_secret(k8s_api, namespace, http)
    apply(
        kubectl,
        namespace,
        policy("team", escalation=_first_step_only("webhook"), channels=channels(http, "webhook")),
    )
    http.stop()  # connection refused
    log = tmp_path / "operator.log"
    with operator_for(cluster.kubeconfig, namespace, log) as operator:
        apply(kubectl, namespace, incident("api", "P1"))
        failing = wait_for(
            kubectl,
            namespace,
            "api",
            lambda b: any(r.get("attempts", 0) >= 2 and r.get("error") for r in records(b)),
            "a second failed attempt",
            operator,
        )
        conditions_input = [r for r in records(failing) if r.get("error")]
        assert all("unreachable" in r["error"] for r in conditions_input)
        assert all(r["state"] in ("Pending", "Sending") for r in records(failing))
        http.start()
        # Then it answers 503 once more before accepting.
        http.fail("/webhook", 503, times=1)
        body = wait_for(
            kubectl, namespace, "api", lambda b: all_sent(b, 2), "delivered after retries", operator
        )
    for record in records(body):
        assert record["attempts"] >= 3
        assert "error" not in record
    backoff = [e for e in events(kubectl, namespace) if e["reason"] == "NotificationRetrying"]
    assert backoff
    assert all("next attempt at" in e["message"] for e in backoff)
    assert_no_secret(json.dumps(body), json.dumps(events(kubectl, namespace)), log.read_text())


def test_a_client_error_is_not_retried_forever(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    http: HttpRecorder,
    tmp_path: Path,
) -> None:
    create_secret(k8s_api, namespace, http)
    apply(
        kubectl,
        namespace,
        policy(
            "team",
            escalation=_first_step_only("slack-high"),
            channels=channels(http, "slack-high"),
        ),
    )
    http.fail("/slack", 404)  # e.g. the webhook was revoked
    log = tmp_path / "operator.log"
    with operator_for(cluster.kubeconfig, namespace, log) as operator:
        apply(kubectl, namespace, incident("api", "P1"))
        body = wait_for(
            kubectl,
            namespace,
            "api",
            lambda b: len(records(b)) == 2 and all(r["state"] == "Failed" for r in records(b)),
            "both notifications Failed",
            operator,
        )
    for record in records(body):
        assert record["attempts"] == 3
        assert "HTTP 404" in record["error"]
    assert len(http.received("/slack")) == 6
    timeline = [e for e in body["status"]["timeline"] if e["type"] == "NotificationFailed"]
    assert len(timeline) == 2
    # The Slack URL is the secret: not in the error, status, Events or log.
    assert_no_secret(json.dumps(body), json.dumps(events(kubectl, namespace)), log.read_text())


def test_an_escalation_due_while_the_operator_was_down_goes_out_late(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    http: HttpRecorder,
    tmp_path: Path,
) -> None:
    create_secret(k8s_api, namespace, http)
    steps = [
        {"severities": ["P1"], "after": "0s", "targets": [{"name": "Primary", "method": "chat"}]},
        {"severities": ["P1"], "after": "6s", "targets": [{"name": "Manager", "method": "chat"}]},
    ]
    apply(
        kubectl,
        namespace,
        policy("team", escalation={"steps": steps}, channels=channels(http, "slack-high")),
    )
    with operator_for(cluster.kubeconfig, namespace, tmp_path / "first.log") as operator:
        apply(kubectl, namespace, incident("api", "P1"))
        body = wait_for(
            kubectl,
            namespace,
            "api",
            lambda b: escalation(b).get("level") == 1 and all_sent(b, 2),
            "the first step sent",
            operator,
        )
    due = time_of(body["status"]["detectedAt"]) + timedelta(seconds=6)
    # The operator is down while the second step falls due.
    wait_until(
        lambda: datetime.now(UTC) > due + timedelta(seconds=1),
        timeout=30,
        what="the second step's time to pass",
    )
    assert escalation(get(kubectl, namespace, "incident", "api"))["level"] == 1
    with operator_for(cluster.kubeconfig, namespace, tmp_path / "second.log") as operator:
        body = wait_for(
            kubectl,
            namespace,
            "api",
            lambda b: escalation(b).get("level") == 2 and all_sent(b, 3),
            "the late step sent",
            operator,
        )
    step = escalation(body)["steps"][1]
    assert (step["key"], step["late"], time_of(step["dueAt"])) == ("P1-1", True, due)
    (record,) = [r for r in records(body) if r["key"] == "escalation-P1-1/slack-high"]
    assert record["late"] is True
    late_posts = [c for c in http.received("/slack") if c.body["text"].endswith("(late)")]
    assert len(late_posts) == 1
