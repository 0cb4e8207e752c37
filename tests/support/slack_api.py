"""A local fake of Slack's Web API for the chat-ops tests: a real HTTP server on 127.0.0.1.

Point the operator's ``--slack-api-url`` at ``FakeSlack.url`` (it ends with ``/api/``).
Every call is recorded (``calls``: the method, its arguments whether sent as a form, a
query or JSON, and the Authorization header) before it is answered in Slack's shapes:
``{"ok": true, "channel": {...}}``, ``{"ok": true, "channel": "C...", "ts": "..."}`` or
``{"ok": false, "error": "name_taken"}``. Channel IDs are ``C0000001``, ``C0000002``, ...;
message timestamps are the wall clock's (as Slack's are), increasing across the whole
workspace.

It keeps what a workspace would: channels (name, topic, members, archived) and messages
(channel, ts, thread_ts, text, blocks, metadata), so a test can ask what a channel looks
like rather than replay the calls. Methods it implements: chat.postMessage and
chat.update (with message ``metadata``: kept by an update that sends none),
conversations.history (top-level messages newest first, ``oldest``/``latest``,
``limit``/``cursor`` paging with ``has_more``, metadata shown with
``include_all_metadata``), conversations.replies (the thread's parent and replies,
oldest first, paged the same way),
conversations.create (name_taken for an existing name), conversations.list (paged by
``limit``/``cursor``, archived ones included unless ``exclude_archived``),
conversations.setTopic, conversations.invite, conversations.archive, auth.test.

``response_url(key)`` is a URL like the one Slack puts in a button press or a slash
command; what is posted to it is kept in ``responses[key]`` (acting from Slack).

``add_channel`` seeds a channel (say ``#incident-critical``, or an incident's channel
left behind by an operator killed before recording it); ``refuse(method, error)`` makes
a method answer ``ok: false`` with ``error`` until ``allow(method)``. ``hold(method)``
makes the next call of ``method`` take effect but withholds its answer until
``release()`` (``held`` is set once it arrived): the caller stopped in between is an
operator killed after Slack did something and before it recorded it.

Usage::

    slack = FakeSlack().start()
    try:
        ...  # --slack-api-url slack.url, bot token: slack.token
        assert slack.calls_of("conversations.create")
    finally:
        slack.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.receivers import HOST, free_port

# The bot token the fake accepts (anything else: invalid_auth).
BOT_TOKEN = "xoxb-test-bot-token-0123456789"


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as received."""

    method: str
    arguments: dict[str, Any]
    authorization: str


@dataclass
class FakeChannel:
    id: str
    name: str
    topic: str = ""
    members: list[str] = field(default_factory=list)
    archived: bool = False


@dataclass(frozen=True)
class FakeMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None


class FakeSlack:
    """The fake Web API; thread-safe, so tests read it while the operator calls it."""

    def __init__(self, token: str = BOT_TOKEN, port: int | None = None) -> None:
        self.token = token
        self.port = port or free_port()
        self.calls: list[SlackCall] = []
        self.channels: dict[str, FakeChannel] = {}
        # Messages by (channel, ts); updates replace them in place.
        self.messages: dict[tuple[str, str], FakeMessage] = {}
        self._refused: dict[str, str] = {}
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self._hold: tuple[str, Callable[[dict[str, Any]], bool]] | None = None
        # Set when the held call arrived (it took effect, its answer is withheld).
        self.held = threading.Event()
        self._release: asyncio.Event | None = None
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/api/"

    def start(self) -> FakeSlack:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def add_channel(self, name: str, archived: bool = False) -> FakeChannel:
        """A channel that exists before the test (``name`` without #)."""
        with self._lock:
            return self._new_channel(name.lstrip("#"), archived)

    def refuse(self, method: str, error: str) -> None:
        """``method`` answers ``{"ok": false, "error": error}`` until ``allow``."""
        with self._lock:
            self._refused[method] = error

    def allow(self, method: str) -> None:
        with self._lock:
            self._refused.pop(method, None)

    def hold(
        self, method: str, when: Callable[[dict[str, Any]], bool] = lambda arguments: True
    ) -> None:
        """The next call of ``method`` (whose arguments ``when`` accepts) takes effect, and
        its answer waits for ``release``."""
        with self._lock:
            self._hold = (method, when)
            self.held.clear()

    def release(self) -> None:
        """Answers the held call (if its caller is still there)."""
        release = self._release
        if release is not None:
            self._loop.call_soon_threadsafe(release.set)

    def response_url(self, key: str) -> str:
        """Where an answer to the interaction ``key`` is posted (kept in ``responses``)."""
        return f"http://{HOST}:{self.port}/response/{key}"

    def responses_to(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.responses.get(key, []))

    # ------------------------------------------------------------------ queries

    def calls_of(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel_named(self, name: str) -> FakeChannel | None:
        with self._lock:
            return next((c for c in self.channels.values() if c.name == name.lstrip("#")), None)

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[FakeMessage]:
        """The channel's messages in order; with ``thread_ts``, the replies in that thread."""
        with self._lock:
            found = [m for m in self.messages.values() if m.channel == channel]
        if thread_ts is not None:
            found = [m for m in found if m.thread_ts == thread_ts]
        return sorted(found, key=lambda m: float(m.ts))

    # ------------------------------------------------------------------ server

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_post("/response/{key}", self._respond)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port, reuse_address=True).start()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        arguments: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            arguments.update(await request.json())
        else:
            arguments.update(dict(await request.post()))
        authorization = request.headers.get("Authorization", "")
        with self._lock:
            self.calls.append(SlackCall(method, arguments, authorization))
            if authorization != f"Bearer {self.token}":
                answer: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
            elif method in self._refused:
                answer = {"ok": False, "error": self._refused[method]}
            else:
                answer = self._answer(method, arguments)
            holding = (
                self._hold is not None and self._hold[0] == method and self._hold[1](arguments)
            )
            if holding:
                self._hold, self._release = None, asyncio.Event()
        if holding and self._release is not None:
            self.held.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), timeout=60)
        return web.json_response(answer)

    async def _respond(self, request: web.Request) -> web.Response:
        answer = await request.json()
        with self._lock:
            self.responses.setdefault(request.match_info["key"], []).append(answer)
        return web.json_response({"ok": True})

    def _new_channel(self, name: str, archived: bool = False) -> FakeChannel:
        channel = FakeChannel(f"C{next(self._ids):07d}", name, archived=archived)
        self.channels[channel.id] = channel
        return channel

    def _next_ts(self) -> str:
        self._last_ts = max(round(time.time(), 6), round(self._last_ts + 0.000001, 6))
        return f"{self._last_ts:.6f}"

    def _answer(self, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Slack's answer to a call (the lock is held)."""
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "team_id": "T0TEST"}
        if method == "conversations.create":
            name = str(arguments["name"])
            if any(c.name == name for c in self.channels.values()):
                return {"ok": False, "error": "name_taken"}
            return {"ok": True, "channel": _shown(self._new_channel(name))}
        if method == "conversations.list":
            return self._list(arguments)
        channel = self._channel(str(arguments.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if channel.archived:
            archiving = method == "conversations.archive"
            return {"ok": False, "error": "already_archived" if archiving else "is_archived"}
        if method == "conversations.history":
            return self._history(channel, arguments)
        if method == "conversations.replies":
            return self._replies(channel, arguments)
        if method == "chat.postMessage":
            blocks = _blocks(arguments.get("blocks"))
            thread = arguments.get("thread_ts")
            ts = self._next_ts()
            text = str(arguments.get("text", ""))
            metadata = _metadata(arguments.get("metadata"))
            message = FakeMessage(channel.id, ts, text, blocks, thread, metadata)
            self.messages[(channel.id, ts)] = message
            return {"ok": True, "channel": channel.id, "ts": ts}
        if method == "chat.update":
            key = (channel.id, str(arguments.get("ts")))
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            old = self.messages[key]
            self.messages[key] = FakeMessage(
                channel.id,
                old.ts,
                str(arguments.get("text", "")),
                _blocks(arguments.get("blocks")),
                old.thread_ts,
                _metadata(arguments.get("metadata")) or old.metadata,
            )
            return {"ok": True, "channel": channel.id, "ts": old.ts}
        if method == "conversations.setTopic":
            channel.topic = str(arguments.get("topic", ""))
            return {"ok": True, "channel": _shown(channel)}
        if method == "conversations.invite":
            users = [u for u in str(arguments.get("users", "")).split(",") if u]
            if all(u in channel.members for u in users):
                return {"ok": False, "error": "already_in_channel"}
            channel.members += [u for u in users if u not in channel.members]
            return {"ok": True, "channel": _shown(channel)}
        if method == "conversations.archive":
            channel.archived = True
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    def _channel(self, reference: str) -> FakeChannel | None:
        if reference in self.channels:
            return self.channels[reference]
        name = reference.lstrip("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def _history(self, channel: FakeChannel, arguments: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: top-level messages (replies stay in their thread),
        newest first, within ``oldest``..``latest``, paged by ``limit``/``cursor``."""
        oldest = float(arguments.get("oldest") or 0)
        latest = float(arguments.get("latest") or "inf")
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel.id
            and m.thread_ts in (None, m.ts)
            and oldest < float(m.ts) < latest
        ]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        return self._page(found, arguments)

    def _replies(self, channel: FakeChannel, arguments: dict[str, Any]) -> dict[str, Any]:
        """conversations.replies: the thread of ``ts``, its parent first, oldest first."""
        parent = str(arguments.get("ts") or "")
        if (channel.id, parent) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel.id and (m.ts == parent or m.thread_ts == parent)
        ]
        found.sort(key=lambda m: float(m.ts))
        return self._page(found, arguments)

    def _page(self, found: list[FakeMessage], arguments: dict[str, Any]) -> dict[str, Any]:
        """A page of messages as Slack lists them (cursor, limit, has_more, metadata with
        include_all_metadata)."""
        with_metadata = str(arguments.get("include_all_metadata", "")).lower() in ("true", "1")
        start = int(arguments.get("cursor") or 0)
        limit = int(arguments.get("limit") or 100)
        page = found[start : start + limit]
        more = start + limit < len(found)
        shown = []
        for message in page:
            item: dict[str, Any] = {
                "type": "message",
                "user": "UBOT",
                "bot_id": "BBOT",
                "text": message.text,
                "ts": message.ts,
                "blocks": message.blocks,
            }
            if message.thread_ts is not None:
                item["thread_ts"] = message.thread_ts
            if with_metadata and message.metadata:
                item["metadata"] = message.metadata
            shown.append(item)
        return {
            "ok": True,
            "messages": shown,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _list(self, arguments: dict[str, Any]) -> dict[str, Any]:
        exclude = str(arguments.get("exclude_archived", "")).lower() in ("true", "1")
        listed = [c for c in self.channels.values() if not (exclude and c.archived)]
        start = int(arguments.get("cursor") or 0)
        limit = int(arguments.get("limit") or 100)
        page = listed[start : start + limit]
        following = start + limit if start + limit < len(listed) else ""
        return {
            "ok": True,
            "channels": [_shown(c) for c in page],
            "response_metadata": {"next_cursor": str(following)},
        }


def _shown(channel: FakeChannel) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "is_archived": channel.archived,
        "topic": {"value": channel.topic},
    }


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        loaded: list[dict[str, Any]] = json.loads(value) if value else []
        return loaded
    return list(value or [])


def _metadata(value: Any) -> dict[str, Any] | None:
    """Message metadata as sent (JSON, or a JSON string in a form): event_type and
    event_payload, as Slack keeps them."""
    if isinstance(value, str):
        value = json.loads(value) if value else None
    if not isinstance(value, dict):
        return None
    return {"event_type": value.get("event_type"), "event_payload": value.get("event_payload")}
