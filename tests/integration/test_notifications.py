"""Delivery guarantees on a real API server: restarts mid-send, receivers down, 4xx, lateness,
and e-mail over STARTTLS to a server whose certificate a private CA signed."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.harness.certs import Certificates, generate
from tests.harness.wait import wait_until
from tests.support.escalation_env import (
    SECRET_NAME,
    SECRETS,
    EscalationEnv,
    all_sent,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
    records,
    time_of,
)
from tests.support.receivers import HOST, SmtpRecorder, server_tls

pytestmark = pytest.mark.timeout(240)
# A short send timeout makes a claim's lease short (timeout + 5s): a restarted operator
# takes over an interrupted send after that.
SEND_TIMEOUT = "3"


@pytest.fixture(autouse=True)
def _short_send_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCIDENT_OPERATOR_SEND_TIMEOUT", SEND_TIMEOUT)


def test_a_restart_in_the_middle_of_a_send_resends_once_with_the_same_key(
    env: EscalationEnv,
) -> None:
    http = env.http
    env.setup("pagerduty", "slack-high", "webhook", escalation=first_step_only())
    first = env.start_operator("first.log")
    try:
        http.hold()
        env.apply(incident("api", "P1"))
        # The sends are out and held: the records say Sending, the receiver has them.
        held = env.wait_for(
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
    with env.operator("second.log") as second:
        body = env.wait_for("api", lambda b: all_sent(b, 5), "every record Sent", second)
    uid = body["metadata"]["uid"]
    by_key = http.by_key()
    # None skipped: every record reached the receiver; at most one resend each, same key.
    assert set(by_key) == {f"{uid}/{key}" for key in claimed}
    assert all(len(calls) == 2 for calls in by_key.values()), {k: len(v) for k, v in by_key.items()}
    assert [r["attempts"] for r in records(body)] == [2] * 5
    # PagerDuty got the same dedup key both times: one alert, not two.
    assert len({c.body["dedup_key"] for c in http.received("/pagerduty")}) == 1


def test_a_receiver_down_then_up(env: EscalationEnv) -> None:
    http = env.http
    env.setup("webhook", escalation=first_step_only("webhook"))
    http.stop()  # connection refused
    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        failing = env.wait_for(
            "api",
            # Both records (declaration, escalation) failed twice, so each has three
            # attempts at least once it is through.
            lambda b: (
                len(records(b)) == 2
                and all(r.get("attempts", 0) >= 2 and r.get("error") for r in records(b))
            ),
            "a second failed attempt of each notification",
            operator,
        )
        conditions_input = [r for r in records(failing) if r.get("error")]
        assert all("unreachable" in r["error"] for r in conditions_input)
        assert all(r["state"] in ("Pending", "Sending") for r in records(failing))
        http.start()
        # Then it answers 503 once more before accepting.
        http.fail("/webhook", 503, times=1)
        body = env.wait_for("api", lambda b: all_sent(b, 2), "delivered after retries", operator)
    for record in records(body):
        assert record["attempts"] >= 3
        assert "error" not in record
    backoff = [e for e in env.events() if e["reason"] == "NotificationRetrying"]
    assert backoff
    assert all("next attempt at" in e["message"] for e in backoff)
    env.assert_no_secret("api")


def test_a_client_error_is_not_retried_forever(env: EscalationEnv) -> None:
    http = env.http
    env.setup("slack-high", escalation=first_step_only("slack-high"))
    http.fail("/slack", 404)  # e.g. the webhook was revoked
    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        body = env.wait_for(
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
    env.assert_no_secret("api")


def test_an_escalation_due_while_the_operator_was_down_goes_out_late(
    env: EscalationEnv,
) -> None:
    http = env.http
    steps = [
        {"severities": ["P1"], "after": "0s", "targets": [{"name": "Primary", "method": "chat"}]},
        {"severities": ["P1"], "after": "6s", "targets": [{"name": "Manager", "method": "chat"}]},
    ]
    env.setup("slack-high", escalation={"steps": steps})
    with env.operator("first.log") as operator:
        env.apply(incident("api", "P1"))
        body = env.wait_for(
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
    assert escalation(env.get("api"))["level"] == 1
    with env.operator("second.log") as operator:
        body = env.wait_for(
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


# -------------------------------------------------------------------- e-mail over TLS


@pytest.fixture
def private_ca(tmp_path: Path) -> Certificates:
    """A CA of the test's own and a certificate it signed for 127.0.0.1."""
    return generate(tmp_path / "smtp-certs")


@pytest.fixture
def tls_smtp(private_ca: Certificates) -> Iterator[SmtpRecorder]:
    """An SMTP server that requires STARTTLS, then AUTH as ops with the Secret's password."""
    smtp = SmtpRecorder("ops", SECRETS["smtp-password"], tls=server_tls(private_ca)).start()
    yield smtp
    smtp.stop()


def _mail_channel(name: str, port: int, **email: object) -> dict[str, object]:
    return {
        "name": name,
        "type": "email",
        "email": {
            "host": HOST,
            "port": port,
            "startTls": True,
            "from": "incidents@example.com",
            "to": ["oncall@example.com"],
            "username": "ops",
            **email,
        },
        "secretRef": {"name": SECRET_NAME, "key": "smtp-password"},
    }


def test_email_over_starttls_trusts_the_ca_of_its_secret(
    env: EscalationEnv, private_ca: Certificates, tls_smtp: SmtpRecorder
) -> None:
    ca = private_ca.ca_cert.read_text()
    env.create_secret(**{"smtp-ca.crt": ca})
    private = {"name": SECRET_NAME, "key": "smtp-ca.crt"}
    absent = {"name": "smtp-ca", "key": "ca.crt"}
    channels = [
        # The private CA from the channel Secret: delivered.
        _mail_channel("mail", tls_smtp.port, caSecretRef=private),
        # The system's trust store, which does not know the CA: refused, for good.
        _mail_channel("mail-no-ca", tls_smtp.port),
        # A CA Secret that does not exist: a failure naming it, retried.
        _mail_channel("mail-ca-missing", tls_smtp.port, caSecretRef=absent),
    ]
    env.apply_policy(escalation=first_step_only(method="email"), channels=channels)

    def settled(body: dict[str, Any]) -> bool:
        by_channel = {r["channel"]: r for r in records(body)}
        return (
            by_channel.keys() == {"mail", "mail-no-ca", "mail-ca-missing"}
            and by_channel["mail"]["state"] == "Sent"
            and by_channel["mail-no-ca"]["state"] == "Failed"
            and bool(by_channel["mail-ca-missing"].get("error"))
        )

    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        body = env.wait_for(
            "api",
            settled,
            "the mail sent, the one without the CA failed, the missing CA Secret reported",
            operator,
        )
    by_channel = {r["channel"]: r for r in records(body)}
    (mail,) = tls_smtp.received()
    assert (mail.tls, mail.login, mail.rcpt_tos) == (True, "ops", ["oncall@example.com"])
    assert mail.message["X-Idempotency-Key"] == f"{body['metadata']['uid']}/escalation-P1-0/mail"
    no_ca = by_channel["mail-no-ca"]
    assert no_ca["attempts"] == 3
    assert no_ca["error"].startswith(
        f"SMTP server {HOST}:{tls_smtp.port}: TLS certificate verification failed against "
        "the system trust store ("
    )
    missing = by_channel["mail-ca-missing"]
    assert missing["error"] == f"Secret {env.namespace}/smtp-ca not found"
    assert missing["state"] in ("Pending", "Sending")
    # Neither the password nor the CA bundle in status, Events or the log.
    env.assert_no_secret("api", also={"smtp-ca": ca.splitlines()[1]})
