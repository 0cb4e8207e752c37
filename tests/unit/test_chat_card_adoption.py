"""A card posted but not recorded before a restart is found again, not posted twice: the
card's metadata, which history message is the incident's card (reconcile/chat.py), the
history read through the Slack app adapter against the local fake of Slack's Web API,
ChatOps looking for a lost card (missing_scope: posted without looking, said once), and a
notification in the card's thread sent again after an interrupted attempt posted once."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.notifiers.slack_app import SlackAppNotifier
from incident_operator.adapters.slack_app import SlackApp
from incident_operator.api.chat import ChatMessage, ChatStatus
from incident_operator.api.incident import Incident
from incident_operator.config import Settings
from incident_operator.domain.notifications import NotificationKind, OutgoingMessage
from incident_operator.domain.reasons import Reason
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.chat import (
    CARD_EVENT_TYPE,
    card_metadata,
    found_card,
    history_oldest,
)
from incident_operator.runtime.chat import ChatOps
from tests.support.slack_api import BOT_TOKEN, FakeSlack

UID = "6c1b3f0e-0000-4000-8000-000000000042"
CREATED = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _incident(uid: str = UID) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "api",
                "namespace": "shop",
                "uid": uid,
                "creationTimestamp": CREATED.isoformat(),
            },
            "spec": {"title": "Checkout errors", "severity": "P0"},
            "status": {"id": "INC-0042", "phase": "Detected"},
        }
    )


def _message(ts: str, uid: str | None = UID, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "ts": ts, "text": "card", **extra}
    if uid is not None:
        message["metadata"] = {
            "event_type": extra.pop("event_type", CARD_EVENT_TYPE),
            "event_payload": {"uid": uid, "namespace": "shop", "name": "api"},
        }
    return message


def test_the_card_metadata_names_the_incident_by_uid() -> None:
    assert card_metadata(_incident()) == {
        "event_type": "incident_card",
        "event_payload": {"uid": UID, "namespace": "shop", "name": "api"},
    }


def test_history_is_read_from_a_minute_before_the_incident_began() -> None:
    assert history_oldest(_incident()) == f"{CREATED.timestamp() - 60:.6f}"
    unknown = _incident().model_copy(
        update={"metadata": _incident().metadata.model_copy(update={"creation_timestamp": None})}
    )
    assert history_oldest(unknown) is None


@pytest.mark.parametrize(
    ("messages", "adopted"),
    [
        ([], None),
        # A message without metadata (a person's, an old card) is not adopted.
        ([_message("1795780800.000100", uid=None)], None),
        # Another incident's card (an incident deleted and declared again: another UID).
        ([_message("1795780800.000100", uid="another")], None),
        # Another app's metadata naming the same UID is no card.
        ([_message("1795780800.000100", event_type="deploy")], None),
        ([_message("1795780800.000100")], "1795780800.000100"),
        # A card with replies is its thread's parent (thread_ts == ts).
        ([_message("1795780800.000100", thread_ts="1795780800.000100")], "1795780800.000100"),
        # A reply carrying the metadata (broadcast) is never the card.
        ([_message("1795780900.000100", thread_ts="1795780800.000100")], None),
        # Two (a crash twice over): the oldest is the card, newest first as Slack lists.
        ([_message("1795780900.000100"), _message("1795780800.000100")], "1795780800.000100"),
    ],
)
def test_which_history_message_is_the_incidents_card(
    messages: list[dict[str, Any]], adopted: str | None
) -> None:
    assert found_card(messages, _incident()) == adopted


def test_an_incident_without_uid_adopts_nothing() -> None:
    assert found_card([_message("1795780800.000100", uid="")], _incident(uid="")) is None


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


def test_history_pages_carry_the_cards_metadata(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("incident_operator.adapters.slack_app.HISTORY_PAGE", 2)
    channel = slack.add_channel("incident-critical")
    incident = _incident()

    async def run() -> list[list[dict[str, Any]]]:
        app = SlackApp(BOT_TOKEN, slack.url, 5)
        _, card = await app.post(channel.id, "card", [], metadata=card_metadata(incident))
        await app.post(channel.id, "reply", [], thread_ts=card)
        for number in range(3):
            await app.post(channel.id, f"chatter {number}", [])
        await app.update(channel.id, card, "card, updated", [])  # metadata kept
        return [page async for page in app.history(channel.id, "0")]

    pages = asyncio.run(run())
    # Newest first, two a page, replies not listed: 3 chatter + the card over 2 pages.
    assert [len(page) for page in pages] == [2, 2]
    card = pages[-1][-1]
    assert card["text"] == "card, updated"
    assert found_card([m for page in pages for m in page], incident) == card["ts"]
    calls = slack.calls_of("conversations.history")
    assert [c.arguments.get("cursor") for c in calls] == [None, "2"]
    assert all(c.arguments["include_all_metadata"] in ("1", "true") for c in calls)


def test_a_card_older_than_oldest_is_not_listed(slack: FakeSlack) -> None:
    channel = slack.add_channel("c")

    async def run() -> list[list[dict[str, Any]]]:
        app = SlackApp(BOT_TOKEN, slack.url, 5)
        _, ts = await app.post(channel.id, "old card", [], metadata=card_metadata(_incident()))
        return [page async for page in app.history(channel.id, ts)]

    assert asyncio.run(run()) == [[]]


def _chat_ops(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> tuple[ChatOps, list[str]]:
    events: list[str] = []

    def post_event(body: Any, kind: str, reason: Reason, message: str) -> None:
        events.append(f"{reason}: {message}")

    monkeypatch.setattr("incident_operator.runtime.chat.post_event", post_event)
    return ChatOps(Settings(slack_api_url=slack.url)), events


def _body(incident: Incident) -> dict[str, Any]:
    return {"metadata": {"name": "api", "namespace": "shop"}} | incident.model_dump(
        by_alias=True, mode="json", exclude_none=True
    )


def test_chat_ops_finds_a_lost_card(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    chat, events = _chat_ops(slack, monkeypatch)
    channel = slack.add_channel("c")
    app = SlackApp(BOT_TOKEN, slack.url, 5)
    incident = _incident()

    async def run() -> tuple[str | None, str]:
        await app.post(channel.id, "chatter", [])
        _, ts = await app.post(channel.id, "card", [], metadata=card_metadata(incident))
        return await chat._lost_card(app, _body(incident), channel.id), ts

    found, ts = asyncio.run(run())
    assert found == ts
    assert events == []


def test_without_the_history_scope_the_card_is_posted_and_that_said_once(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat, events = _chat_ops(slack, monkeypatch)
    channel = slack.add_channel("c")
    slack.refuse("conversations.history", "missing_scope")
    app = SlackApp(BOT_TOKEN, slack.url, 5)
    body = _body(_incident())

    async def run() -> list[str | None]:
        return [await chat._lost_card(app, body, channel.id) for _ in range(2)]

    assert asyncio.run(run()) == [None, None]
    assert len(slack.calls_of("conversations.history")) == 1
    assert len(events) == 1
    assert "conversations.history: missing_scope" in events[0]
    assert "channels:history" in events[0]


@pytest.mark.parametrize(("error", "retryable"), [("ratelimited", True), ("not_in_channel", False)])
def test_a_history_failure_other_than_the_scope_posts_nothing(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, error: str, retryable: bool
) -> None:
    chat, events = _chat_ops(slack, monkeypatch)
    channel = slack.add_channel("c")
    slack.refuse("conversations.history", error)
    app = SlackApp(BOT_TOKEN, slack.url, 5)
    with pytest.raises(DeliveryError) as raised:
        asyncio.run(chat._lost_card(app, _body(_incident()), channel.id))
    assert raised.value.retryable is retryable
    assert events == []


def _outgoing(key: str) -> OutgoingMessage:
    return OutgoingMessage(
        key=key,
        idempotency_key=f"{UID}/{key}",
        kind=NotificationKind.ESCALATION,
        incident_id="INC-0042",
        namespace="shop",
        name="api",
        title="Checkout errors",
        severity=Severity.P0,
        phase="Investigating",
        subject="[P0] INC-0042 ESCALATION NOTICE: Checkout errors",
        text="ESCALATION NOTICE",
        dedup_key="incident-operator/shop/api",
        late=False,
        targets=(),
        timestamp=CREATED,
    )


def test_a_reply_sent_again_after_an_interrupted_attempt_is_not_posted_twice(
    slack: FakeSlack,
) -> None:
    channel = slack.add_channel("incident-critical")
    app = SlackApp(BOT_TOKEN, slack.url, 5)

    async def run() -> str:
        _, card = await app.post(channel.id, "card", [], metadata=card_metadata(_incident()))
        chat = ChatStatus(messages=[ChatMessage(channel=channel.id, ts=card, digest="d")])
        first = SlackAppNotifier(app, channel.id, chat)
        again = SlackAppNotifier(app, channel.id, chat, again=True)
        await first.send(_outgoing("escalation-P0-1/app"))
        # The first attempt reached Slack but was never recorded: the same key again.
        await again.send(_outgoing("escalation-P0-1/app"))
        # A later notification retried after a real failure (never posted) is posted.
        await again.send(_outgoing("escalation-P0-2/app"))
        return card

    card = asyncio.run(run())
    replies = slack.messages_in(channel.id, thread_ts=card)
    assert [m.metadata for m in replies] == [
        {"event_type": "incident_notification", "event_payload": {"idempotency_key": key}}
        for key in (f"{UID}/escalation-P0-1/app", f"{UID}/escalation-P0-2/app")
    ]
    # Only the attempts after the first looked in the thread.
    assert len(slack.calls_of("conversations.replies")) == 2


def test_without_the_history_scope_a_reply_sent_again_is_posted(slack: FakeSlack) -> None:
    channel = slack.add_channel("incident-critical")
    slack.refuse("conversations.replies", "missing_scope")
    app = SlackApp(BOT_TOKEN, slack.url, 5)

    async def run() -> str:
        _, card = await app.post(channel.id, "card", [])
        chat = ChatStatus(messages=[ChatMessage(channel=channel.id, ts=card, digest="d")])
        await SlackAppNotifier(app, channel.id, chat, again=True).send(_outgoing("x/app"))
        return card

    card = asyncio.run(run())
    assert len(slack.messages_in(channel.id, thread_ts=card)) == 1
