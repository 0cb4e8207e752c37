"""Each notifier against a real local receiver: payloads, headers, errors, no secret shown."""

import asyncio
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from incident_operator.adapters.notifiers import DeliveryError, build_notifier
from incident_operator.adapters.notifiers.email import tls_context
from incident_operator.api.escalation_policy import Channel, EmailSettings
from incident_operator.domain.notifications import NotificationKind, OutgoingMessage
from incident_operator.domain.severity import Severity
from tests.harness.certs import Certificates, generate
from tests.support.receivers import (
    SMTP_WARNINGS,
    HttpRecorder,
    SmtpRecorder,
    free_port,
    server_tls,
)

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
SLACK_SECRET = "T000/B000/slack-secret-token"
ROUTING_KEY = "routing-key-secret-0123456789"
TOKEN = "bearer-secret-token"
PASSWORD = "smtp-secret-password"
pytestmark = pytest.mark.filterwarnings(SMTP_WARNINGS)


def _message(
    kind: NotificationKind = NotificationKind.ESCALATION, **changes: Any
) -> OutgoingMessage:
    values: dict[str, Any] = {
        "key": "escalation-P0-1/pd",
        "idempotency_key": "uid-1/escalation-P0-1/pd",
        "kind": kind,
        "incident_id": "INC-0007",
        "namespace": "shop",
        "name": "checkout",
        "title": "Checkout down",
        "severity": Severity.P0,
        "phase": "Investigating",
        "subject": "[P0] INC-0007 ESCALATION NOTICE: Checkout down",
        "text": "ESCALATION NOTICE\n...",
        "dedup_key": "incident-operator/shop/checkout/uid-1",
        "late": False,
        "targets": ("VP Engineering (phone)",),
        "timestamp": NOW,
        **changes,
    }
    return OutgoingMessage(**values)


@pytest.fixture(scope="module")
def http() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder().start()
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A private CA and a certificate it signed for 127.0.0.1 and localhost."""
    return generate(tmp_path_factory.mktemp("smtp-certs"))


def _send(
    channel: dict[str, Any],
    secret: str | None,
    message: OutgoingMessage,
    ca: str | None = None,
) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            notifier = build_notifier(Channel.model_validate(channel), secret, session, 5, ca)
            await notifier.send(message)

    asyncio.run(run())


def test_slack_posts_blocks_with_the_key_in_a_header(http: HttpRecorder) -> None:
    # Slack's URL is the secret; the recorder's path stands in for it.
    url = f"{http.url}/slack/{SLACK_SECRET}"
    channel = {"name": "s", "type": "slack", "chatChannel": "#incident-critical"}
    _send({**channel, "secretRef": {"name": "x", "key": "y"}}, url, _message(late=True))
    call = http.received(f"/slack/{SLACK_SECRET}")[-1]
    assert call.headers["Idempotency-Key"] == "uid-1/escalation-P0-1/pd"
    assert call.body["channel"] == "#incident-critical"
    assert call.body["text"].endswith("(late)")
    types = [block["type"] for block in call.body["blocks"]]
    assert types == ["header", "section", "context"]
    assert "ESCALATION NOTICE" in call.body["blocks"][1]["text"]["text"]


@pytest.mark.parametrize(
    ("kind", "severity", "action", "pd_severity"),
    [
        (NotificationKind.ESCALATION, Severity.P0, "trigger", "critical"),
        (NotificationKind.ESCALATION, Severity.P1, "trigger", "error"),
        (NotificationKind.ESCALATION, Severity.P2, "trigger", "warning"),
        (NotificationKind.ESCALATION, Severity.P3, "trigger", "info"),
        (NotificationKind.ESCALATION, Severity.P4, "trigger", "info"),
        (NotificationKind.ACKNOWLEDGEMENT, Severity.P0, "acknowledge", None),
        (NotificationKind.RESOLUTION, Severity.P1, "resolve", None),
        # A reopened incident triggers the resolved alert again (same dedup key).
        (NotificationKind.REOPENED, Severity.P1, "trigger", "error"),
    ],
)
def test_pagerduty_events_v2(
    http: HttpRecorder,
    kind: NotificationKind,
    severity: Severity,
    action: str,
    pd_severity: str | None,
) -> None:
    channel = {
        "name": "pd",
        "type": "pagerduty",
        "url": f"{http.url}/pagerduty",
        "secretRef": {"name": "x", "key": "y"},
    }
    before = len(http.received("/pagerduty"))
    _send(channel, ROUTING_KEY, _message(kind, severity=severity))
    calls = http.received("/pagerduty")
    assert len(calls) == before + 1
    call = calls[-1]
    assert call.path == "/pagerduty/v2/enqueue"
    assert call.body["routing_key"] == ROUTING_KEY
    assert call.body["event_action"] == action
    assert call.body["dedup_key"] == "incident-operator/shop/checkout/uid-1"
    if pd_severity is None:
        assert "payload" not in call.body
    else:
        assert call.body["payload"]["severity"] == pd_severity
        assert call.body["payload"]["custom_details"]["targets"] == ["VP Engineering (phone)"]


def test_webhook_json_with_bearer_token(http: HttpRecorder) -> None:
    channel = {
        "name": "hook",
        "type": "webhook",
        "url": f"{http.url}/webhook/ops",
        "secretRef": {"name": "x", "key": "y"},
    }
    _send(channel, TOKEN, _message(NotificationKind.DECLARATION))
    call = http.received("/webhook/ops")[-1]
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.body["kind"] == "Declaration"
    assert call.body["incident"] == {
        "id": "INC-0007",
        "namespace": "shop",
        "name": "checkout",
        "title": "Checkout down",
        "severity": "P0",
        "phase": "Investigating",
    }
    assert call.body["idempotencyKey"] == "uid-1/escalation-P0-1/pd"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (403, False), (404, False)],
)
def test_http_errors_say_whether_to_retry_and_show_no_secret(
    http: HttpRecorder, status: int, retryable: bool
) -> None:
    prefix = f"/slack/{status}/{SLACK_SECRET}"
    http.fail(prefix, status)
    try:
        with pytest.raises(DeliveryError) as raised:
            _send(
                {"name": "s", "type": "slack", "secretRef": {"name": "x", "key": "y"}},
                f"{http.url}{prefix}",
                _message(),
            )
    finally:
        http.clear(prefix)
    assert raised.value.retryable is retryable
    assert f"HTTP {status}" in raised.value.message
    assert SLACK_SECRET not in raised.value.message


def test_a_refused_connection_is_retryable_and_hides_the_url() -> None:
    port = free_port()  # nothing listens on it
    url = f"http://127.0.0.1:{port}/slack/{SLACK_SECRET}"
    channel = {"name": "s", "type": "slack", "secretRef": {"name": "x", "key": "y"}}
    with pytest.raises(DeliveryError) as raised:
        _send(channel, url, _message())
    assert raised.value.retryable
    assert SLACK_SECRET not in raised.value.message
    assert str(port) not in raised.value.message


@pytest.mark.parametrize(
    ("channel", "secret", "needs"),
    [
        (
            {"name": "s", "type": "slack", "secretRef": {"name": "x", "key": "y"}},
            None,
            "webhook URL",
        ),
        (
            {"name": "p", "type": "pagerduty", "secretRef": {"name": "x", "key": "y"}},
            "",
            "routing key",
        ),
    ],
)
def test_a_channel_without_its_secret_is_a_clear_permanent_error(
    channel: dict[str, Any], secret: str | None, needs: str
) -> None:
    with pytest.raises(DeliveryError) as raised:
        _send(channel, secret, _message())
    assert needs in raised.value.message
    assert not raised.value.retryable


def _email_channel(port: int, **settings: Any) -> dict[str, Any]:
    return {
        "name": "mail",
        "type": "email",
        "email": {
            "host": "127.0.0.1",
            "port": port,
            "startTls": False,
            "from": "incidents@example.com",
            "to": ["sre@example.com", "status@example.com"],
            **settings,
        },
        "secretRef": {"name": "x", "key": "y"},
    }


def test_email_with_credentials() -> None:
    smtp = SmtpRecorder(username="ops", password=PASSWORD).start()
    try:
        channel = _email_channel(smtp.port, username="ops")
        _send(channel, PASSWORD, _message(NotificationKind.CUSTOMER_INITIAL, subject="Hello"))
        (mail,) = smtp.received()
    finally:
        smtp.stop()
    assert mail.login == "ops"
    assert mail.rcpt_tos == ["sre@example.com", "status@example.com"]
    assert mail.message["Subject"] == "Hello"
    assert mail.message["X-Idempotency-Key"] == "uid-1/escalation-P0-1/pd"
    assert mail.message["Message-ID"].endswith("@incident-operator>")
    assert PASSWORD not in mail.raw


def test_email_wrong_password_is_permanent_and_hides_it() -> None:
    smtp = SmtpRecorder(username="ops", password=PASSWORD).start()
    try:
        with pytest.raises(DeliveryError) as raised:
            _send(_email_channel(smtp.port, username="ops"), "wrong-" + PASSWORD, _message())
    finally:
        smtp.stop()
    assert not raised.value.retryable
    assert "535" in raised.value.message
    assert PASSWORD not in raised.value.message


def test_email_server_down_is_retryable() -> None:
    with pytest.raises(DeliveryError) as raised:
        _send(_email_channel(free_port()), None, _message())
    assert raised.value.retryable


CA_REF = {"name": "smtp-ca", "key": "ca.crt"}


@pytest.mark.parametrize(
    ("implicit", "settings"),
    [(False, {"startTls": True}), (True, {"tls": True, "startTls": True})],
    ids=["starttls", "implicit-tls"],
)
def test_email_over_tls_trusts_the_ca_it_is_given(
    certs: Certificates, implicit: bool, settings: dict[str, Any]
) -> None:
    smtp = SmtpRecorder("ops", PASSWORD, tls=server_tls(certs), implicit_tls=implicit).start()
    try:
        channel = _email_channel(smtp.port, username="ops", caSecretRef=CA_REF, **settings)
        _send(channel, PASSWORD, _message(), ca=certs.ca_cert.read_text())
        (mail,) = smtp.received()
    finally:
        smtp.stop()
    assert (mail.tls, mail.login) == (True, "ops")
    assert mail.message["X-Idempotency-Key"] == "uid-1/escalation-P0-1/pd"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_starttls_without_the_ca_fails_verification_for_good(
    certs: Certificates, host: str
) -> None:
    smtp = SmtpRecorder("ops", PASSWORD, tls=server_tls(certs)).start()
    # The system trust store does not know the test's CA.
    channel = _email_channel(smtp.port, host=host, username="ops", startTls=True)
    try:
        with pytest.raises(DeliveryError) as raised:
            _send(channel, PASSWORD, _message())
        assert smtp.received() == []
    finally:
        smtp.stop()
    assert not raised.value.retryable
    assert "TLS certificate verification failed against the system trust store" in (
        raised.value.message
    )
    assert "unable to get local issuer certificate" in raised.value.message
    assert PASSWORD not in raised.value.message


def test_starttls_with_another_ca_fails_verification(certs: Certificates, tmp_path: Path) -> None:
    other = generate(tmp_path / "other")
    smtp = SmtpRecorder(tls=server_tls(certs)).start()
    channel = _email_channel(smtp.port, startTls=True, caSecretRef=CA_REF)
    try:
        with pytest.raises(DeliveryError) as raised:
            _send(channel, None, _message(), ca=other.ca_cert.read_text())
    finally:
        smtp.stop()
    assert not raised.value.retryable
    assert "verification failed against email.caSecretRef" in raised.value.message


@pytest.mark.parametrize("ca", ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nxx\n"])
def test_a_ca_bundle_that_is_not_pem_names_its_secret(ca: str) -> None:
    with pytest.raises(DeliveryError) as raised:
        _send(_email_channel(free_port(), caSecretRef=CA_REF), None, _message(), ca=ca)
    assert not raised.value.retryable
    assert raised.value.message == (
        "Secret smtp-ca key 'ca.crt' (email.caSecretRef) holds no PEM CA certificate"
    )


def test_the_ca_context_verifies_the_certificate_and_the_host_name(certs: Certificates) -> None:
    settings = EmailSettings.model_validate(
        {"host": "smtp.example.com", "from": "a@b.c", "to": ["d@e.f"], "caSecretRef": CA_REF}
    )
    context = tls_context(settings, certs.ca_cert.read_text())
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    # Without caSecretRef: aiosmtplib's default, the system trust store.
    assert tls_context(settings.model_copy(update={"ca_secret_ref": None}), None) is None
