"""Slack's Events API deliveries (POST /slack/events), read into what the chat log needs.

Slack posts a JSON envelope once its signature is verified (adapters/alertmanager_receiver.py):
``url_verification`` when the Request URL is saved (answered with its challenge), and
``event_callback`` carrying one event. Two events are read (docs/chat-ops.md#logging-from-chat):

- ``message`` in a channel: a person's line (no subtype; ``thread_broadcast`` and
  ``file_share`` are people's lines too). Bots' messages (``bot_id`` set or subtype
  ``bot_message``), edits and deletions are not lines: the operator's own card and
  thread updates never come back into the timeline.
- ``pin_added``: the pinned message, as its author wrote it.

Everything else is ignored (200, nothing written), so subscribing to more events harms nothing.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from incident_operator.reconcile.alerts import PayloadError

# Message subtypes that are still a person's line in the channel.
_PEOPLE_SUBTYPES = frozenset({"thread_broadcast", "file_share"})


@dataclass(frozen=True)
class UrlVerification:
    """Slack checking the Request URL: answered with ``challenge``."""

    challenge: str


@dataclass(frozen=True)
class ChatLine:
    """A person's message in a channel, written or pinned."""

    channel: str
    # The message's timestamp, its ID in the channel.
    ts: str
    # The Slack member ID of its author.
    user: str
    text: str
    # Pinned (pin_added) rather than written: logged whatever its first word.
    pinned: bool


@dataclass(frozen=True)
class Ignored:
    """A delivery that logs nothing; the reason is the answer's."""

    reason: str


SlackEvent = UrlVerification | ChatLine | Ignored


def ts_time(ts: str) -> datetime:
    """The time a Slack message timestamp ("1712345678.123456") stands for, exactly."""
    seconds, _, fraction = ts.partition(".")
    micros = int((fraction + "000000")[:6])
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=micros)


def _is_ts(value: object) -> bool:
    if not isinstance(value, str):
        return False
    seconds, dot, fraction = value.partition(".")
    return bool(dot) and seconds.isdigit() and fraction.isdigit()


def _line(channel: object, message: Any, pinned: bool) -> SlackEvent:
    if not isinstance(message, dict):
        return Ignored("the event has no message")
    if message.get("bot_id") or message.get("subtype") == "bot_message":
        return Ignored("a bot's message")
    subtype = message.get("subtype")
    if subtype is not None and subtype not in _PEOPLE_SUBTYPES:
        return Ignored(f"a message of subtype {subtype}")
    user, ts, text = message.get("user"), message.get("ts"), message.get("text")
    if not isinstance(channel, str) or not channel:
        return Ignored("the event names no channel")
    if not isinstance(user, str) or not user or not _is_ts(ts) or not isinstance(text, str):
        return Ignored("the message has no user, ts or text")
    assert isinstance(ts, str)
    return ChatLine(channel=channel, ts=ts, user=user, text=text, pinned=pinned)


def parse_event(body: bytes) -> SlackEvent:
    """The delivery's meaning; PayloadError when it is not a Slack envelope at all."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"the body is not JSON: {error}") from error
    if not isinstance(envelope, dict):
        raise PayloadError("the body is not a JSON object")
    kind = envelope.get("type")
    if kind == "url_verification":
        challenge = envelope.get("challenge")
        if not isinstance(challenge, str):
            raise PayloadError("url_verification without a challenge")
        return UrlVerification(challenge)
    if kind != "event_callback":
        return Ignored(f"an envelope of type {kind!r}")
    event = envelope.get("event")
    if not isinstance(event, dict):
        raise PayloadError("event_callback without an event")
    if event.get("type") == "message":
        return _line(event.get("channel"), event, pinned=False)
    if event.get("type") == "pin_added":
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") != "message":
            return Ignored("a pin of something other than a message")
        return _line(event.get("channel_id") or item.get("channel"), item.get("message"), True)
    return Ignored(f"an event of type {event.get('type')!r}")
