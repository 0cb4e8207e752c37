"""Slack Events API deliveries as Slack documents them, signed exactly as Slack signs them:
``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">`` with the app's
signing secret, and ``X-Slack-Request-Timestamp: {timestamp}`` (Unix seconds).

Written from Slack's documentation, not with slack_sdk, so the operator's verification is
checked against the protocol rather than against itself.
"""

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any


def signed_headers(
    body: bytes, secret: str, timestamp: int | None = None, retry: int | None = None
) -> dict[str, str]:
    """The headers Slack sends with ``body`` (at ``timestamp``, default now); ``retry``
    adds X-Slack-Retry-Num as Slack's redelivery of the same event does."""
    at = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + at.encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": at, "X-Slack-Signature": signature}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def encoded(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":")).encode()


def url_verification(challenge: str) -> dict[str, Any]:
    return {"token": "legacy", "challenge": challenge, "type": "url_verification"}


def event_callback(event: dict[str, Any], event_id: str = "Ev0001") -> dict[str, Any]:
    """The event_callback envelope around one event."""
    return {
        "token": "legacy",
        "team_id": "T0001",
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("event_ts", time.time()))),
    }


def message_event(channel: str, user: str, text: str, ts: str, **extra: Any) -> dict[str, Any]:
    """A message.channels event: someone wrote ``text`` in ``channel``."""
    return {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
        **extra,
    }


def pin_added_event(channel: str, pinned_by: str, message: dict[str, Any]) -> dict[str, Any]:
    """A pin_added event: ``pinned_by`` pinned ``message`` (a message event's fields)."""
    return {
        "type": "pin_added",
        "user": pinned_by,
        "channel_id": channel,
        "item": {
            "type": "message",
            "channel": channel,
            "message": {k: v for k, v in message.items() if k not in ("channel", "event_ts")},
            "created": int(time.time()),
            "created_by": pinned_by,
        },
        "event_ts": f"{time.time():.6f}",
    }


def form(fields: dict[str, str]) -> bytes:
    """A form-encoded body, as Slack posts interactions and slash commands."""
    return urllib.parse.urlencode(fields).encode()


def button_press(user: str, channel: str, action_id: str, value: str, response_url: str) -> bytes:
    """A block_actions interaction: ``user`` pressed the button ``action_id`` (with
    ``value``) on a message in ``channel``; the form body with its ``payload`` field."""
    payload = {
        "type": "block_actions",
        "team": {"id": "T0001", "domain": "example"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "api_app_id": "A0001",
        "token": "legacy",
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": False},
        "trigger_id": "1.2.3",
        "channel": {"id": channel, "name": "incident"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "incident-actions",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    return form({"payload": json.dumps(payload)})


def slash_command(user: str, channel: str, text: str, response_url: str) -> bytes:
    """``/incident {text}`` typed by ``user`` in ``channel``: the form body Slack posts."""
    return form(
        {
            "token": "legacy",
            "team_id": "T0001",
            "channel_id": channel,
            "channel_name": "incident",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "A0001",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
