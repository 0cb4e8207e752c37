"""The Slack app adapter against the local fake of Slack's Web API: adoption on
name_taken, paging, threads, and which failures are worth retrying."""

import asyncio
from collections.abc import Iterator

import pytest

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.slack_app import SlackApp
from tests.support.receivers import free_port
from tests.support.slack_api import BOT_TOKEN, FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


def test_an_existing_channel_is_adopted_not_created_twice(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_operator.adapters.slack_app._PAGE", 2)
    for number in range(5):  # three pages before the archived one is found
        slack.add_channel(f"other-{number}")
    existing = slack.add_channel("inc-0001-api", archived=True)

    async def run() -> tuple[str, str]:
        app = SlackApp(BOT_TOKEN, slack.url, 5)
        return await app.create_channel("inc-0001-api"), await app.create_channel("inc-0002-db")

    adopted, created = asyncio.run(run())
    assert adopted == existing.id
    assert slack.channel_named("inc-0002-db") is not None
    assert created == slack.channel_named("inc-0002-db").id  # type: ignore[union-attr]
    assert len(slack.calls_of("conversations.create")) == 2
    assert [c.arguments.get("cursor") for c in slack.calls_of("conversations.list")] == [
        None,
        "2",
        "4",
    ]


def test_post_update_thread_topic_invite_archive(slack: FakeSlack) -> None:
    channel = slack.add_channel("incident-critical")

    async def run() -> None:
        app = SlackApp(BOT_TOKEN, slack.url, 5)
        channel_id = await app.channel_id("#incident-critical")
        _, ts = await app.post(channel_id, "card", [])
        await app.update(channel_id, ts, "card, updated", [])
        await app.post(channel_id, "reply", [], thread_ts=ts)
        await app.set_topic(channel_id, "P0 · commander: dana · Investigating")
        await app.invite(channel_id, ["U1"])
        await app.invite(channel_id, ["U1"])  # already in: no error
        await app.archive(channel_id)
        await app.archive(channel_id)  # already archived: no error

    asyncio.run(run())
    card, reply = slack.messages_in(channel.id)
    assert card.text == "card, updated"
    assert reply.thread_ts == card.ts
    assert channel.topic.startswith("P0 · commander: dana")
    assert channel.members == ["U1"]
    assert channel.archived


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        ("ratelimited", True),
        ("internal_error", True),
        ("missing_scope", False),
        ("channel_not_found", False),
        ("not_in_channel", False),
    ],
)
def test_which_refusals_are_retried(slack: FakeSlack, error: str, retryable: bool) -> None:
    channel = slack.add_channel("c")
    slack.refuse("chat.postMessage", error)
    with pytest.raises(DeliveryError) as raised:
        asyncio.run(SlackApp(BOT_TOKEN, slack.url, 5).post(channel.id, "x", []))
    assert raised.value.message == f"Slack chat.postMessage: {error}"
    assert raised.value.retryable is retryable


def test_a_bad_token_is_not_retried_and_never_shown(slack: FakeSlack) -> None:
    token = "xoxb-wrong-token-value"
    with pytest.raises(DeliveryError) as raised:
        asyncio.run(SlackApp(token, slack.url, 5).post("C1", "x", []))
    assert not raised.value.retryable
    assert "invalid_auth" in raised.value.message
    assert token not in raised.value.message


def test_slack_unreachable_is_retried() -> None:
    app = SlackApp(BOT_TOKEN, f"http://127.0.0.1:{free_port()}/api/", 2)
    with pytest.raises(DeliveryError) as raised:
        asyncio.run(app.post("C1", "x", []))
    assert raised.value.retryable
    assert BOT_TOKEN not in raised.value.message


def test_an_unknown_channel_name() -> None:
    fake = FakeSlack().start()
    try:
        with pytest.raises(DeliveryError) as raised:
            asyncio.run(SlackApp(BOT_TOKEN, fake.url, 5).channel_id("#nowhere"))
    finally:
        fake.close()
    assert not raised.value.retryable
    assert "#nowhere" in raised.value.message
