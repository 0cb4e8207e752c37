"""The notifiers honour HTTP_PROXY, HTTPS_PROXY and NO_PROXY, as curl does: a webhook
notification goes through a local recording proxy, unless NO_PROXY exempts its host."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from incident_operator.adapters.notifiers import build_notifier
from incident_operator.adapters.notifiers.http import client_session
from incident_operator.adapters.proxies import proxy_for
from incident_operator.adapters.slack_app import SlackApp
from incident_operator.api.escalation_policy import Channel
from incident_operator.domain.notifications import NotificationKind, OutgoingMessage
from incident_operator.domain.severity import Severity
from tests.support.proxies import ForwardProxy
from tests.support.receivers import HttpRecorder

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder().start()
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[ForwardProxy]:
    forward = ForwardProxy().start()
    yield forward
    forward.close()


def _message(key: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        idempotency_key=f"uid-1/{key}",
        kind=NotificationKind.DECLARATION,
        incident_id="INC-0001",
        namespace="shop",
        name="checkout",
        title="Checkout down",
        severity=Severity.P1,
        phase="Investigating",
        subject="[P1] INC-0001: Checkout down",
        text="declared",
        dedup_key="incident-operator/shop/checkout/uid-1",
        late=False,
        targets=(),
        timestamp=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )


def _send_webhook(url: str, key: str) -> None:
    channel = Channel.model_validate({"name": "hook", "type": "webhook", "url": url})

    async def run() -> None:
        async with client_session(5) as session:
            await build_notifier(channel, None, session, 5, None).send(_message(key))

    asyncio.run(run())


def test_a_webhook_goes_through_http_proxy_unless_no_proxy_exempts_its_host(
    receiver: HttpRecorder, proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    proxied = f"{receiver.url}/hooks/proxied"
    _send_webhook(proxied, "via-proxy")
    assert proxy.seen() == [proxied]
    assert receiver.received("/hooks/proxied")[-1].body["key"] == "via-proxy"

    monkeypatch.setenv("NO_PROXY", "example.invalid,127.0.0.1")
    _send_webhook(f"{receiver.url}/hooks/direct", "direct")
    assert proxy.seen() == [proxied]
    assert receiver.received("/hooks/direct")[-1].body["key"] == "direct"


@pytest.mark.parametrize(
    ("environment", "url", "expected"),
    [
        ({}, "https://slack.com/api/", None),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "https://slack.com/api/", "http://proxy:3128"),
        ({"HTTP_PROXY": "http://proxy:3128"}, "https://slack.com/api/", None),
        (
            {"https_proxy": "http://proxy:3128", "no_proxy": ".svc,.cluster.local"},
            "https://slack.com/api/",
            "http://proxy:3128",
        ),
        (
            {"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": ".svc,.cluster.local"},
            "https://fake-slack.tools.svc:8443/api/",
            None,
        ),
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "*"}, "https://slack.com/api/", None),
    ],
    ids=["none", "https", "http-only", "lowercase", "no-proxy-suffix", "no-proxy-star"],
)
def test_the_proxy_chosen_for_a_url(
    environment: dict[str, str],
    url: str,
    expected: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(url) == expected


def test_the_slack_app_client_respects_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk alone would take HTTPS_PROXY for every URL, NO_PROXY or not.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    local = SlackApp("xoxb-test", "http://127.0.0.1:9/api/", 5)
    remote = SlackApp("xoxb-test", "https://slack.com/api/", 5)
    assert local._client.proxy is None
    assert remote._client.proxy == "http://proxy:3128"
