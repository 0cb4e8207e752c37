"""The operator's Slack app: the few Web API methods chat-ops uses, over slack_sdk.

Every failure becomes ``DeliveryError`` saying whether trying again could help:
rate limits, Slack's own 5xx and the network are retryable; a refusal (invalid_auth,
missing_scope, channel_not_found, is_archived, ...) is not, since the app or the policy
must be fixed. The bot token is only ever handed to slack_sdk: errors are made here from
Slack's error code, never from the request, so none can show it.

Channel names are resolved to IDs through conversations.list (archived channels
included, so an archived incident channel is found rather than created again) and kept
for the process's life: a channel's ID never changes.

A card is posted with message metadata (``metadata``), and ``history`` reads a
channel's recent messages with theirs (conversations.history, include_all_metadata), so
chat-ops can find a card it posted but did not record before a restart. A notification
in a card's thread carries its idempotency key the same way (``reply_metadata``), and
``in_thread`` finds it there (conversations.replies), so a notification sent again after
an interrupted attempt is not posted twice.
"""

from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.proxies import proxy_for

# Slack error codes worth trying again; any other ``ok: false`` is a refusal.
RETRYABLE_ERRORS: Final = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Answers that mean the wanted state is already there.
_ALREADY = frozenset({"already_in_channel", "already_archived", "cant_invite_self"})
# Channels asked for per conversations.list page.
_PAGE = 200
# Messages asked for per conversations.history page, and the most pages read: a lost
# card is looked for among the channel's last 1000 messages since the incident began.
HISTORY_PAGE = 200
HISTORY_PAGES = 5
# The event_type of the metadata of a notification posted in a card's thread.
REPLY_EVENT_TYPE: Final = "incident_notification"


def reply_metadata(idempotency_key: str) -> dict[str, Any]:
    """The Slack message metadata of a notification in the card's thread."""
    return {"event_type": REPLY_EVENT_TYPE, "event_payload": {"idempotency_key": idempotency_key}}


def _is_channel_id(reference: str) -> bool:
    return reference[:1] in ("C", "G") and reference.isalnum() and reference.isupper()


class SlackApp:
    """The Web API calls of chat-ops, one client per bot token."""

    def __init__(self, token: str, base_url: str, timeout: float) -> None:
        self._client = AsyncWebClient(token=token, base_url=base_url, timeout=int(timeout) or 1)
        # slack_sdk reads HTTPS_PROXY but not NO_PROXY: the proxy is chosen for this URL.
        self._client.proxy = proxy_for(base_url)
        self._ids: dict[str, str] = {}

    async def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        """Calls slack_sdk's own method for ``method`` (it encodes each as Slack wants)."""
        try:
            response = await getattr(self._client, method.replace(".", "_"))(**arguments)
        except SlackApiError as error:
            code = str(error.response.get("error") or f"HTTP {error.response.status_code}")
            retryable = code in RETRYABLE_ERRORS or error.response.status_code >= 500
            raise DeliveryError(f"Slack {method}: {code}", retryable) from None
        except TimeoutError:
            raise DeliveryError(f"Slack {method}: no answer in time", True) from None
        except aiohttp.ClientError as error:
            raise DeliveryError(f"Slack {method}: {type(error).__name__}", True) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def channel_id(self, reference: str) -> str:
        """The ID of ``reference`` (#name, name or an ID)."""
        if _is_channel_id(reference):
            return reference
        name = reference.lstrip("#")
        if name not in self._ids:
            found = await self.find_channel(name)
            if found is None:
                raise DeliveryError(f"Slack: no channel #{name} (channel_not_found)", False)
            self._ids[name] = found
        return self._ids[name]

    async def find_channel(self, name: str) -> str | None:
        """The ID of the channel called ``name``, archived or not; None if there is none."""
        cursor = ""
        while True:
            page = await self._call(
                "conversations.list",
                types="public_channel,private_channel",
                exclude_archived=False,
                limit=_PAGE,
                **({"cursor": cursor} if cursor else {}),
            )
            for channel in page.get("channels") or []:
                if channel.get("name") == name:
                    return str(channel["id"])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return None

    async def create_channel(self, name: str) -> str:
        """Creates ``name`` and returns its ID; one that exists already (name_taken: we
        created it before a restart lost the record) is adopted, not created again."""
        try:
            created = await self._call("conversations.create", name=name, is_private=False)
        except DeliveryError as error:
            if not error.message.endswith("name_taken"):
                raise
            existing = await self.find_channel(name)
            if existing is None:
                raise
            self._ids[name] = existing
            return existing
        channel_id = str(created["channel"]["id"])
        self._ids[name] = channel_id
        return channel_id

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """Posts a message (in the thread of ``thread_ts`` if given, with Slack message
        ``metadata`` {event_type, event_payload} if given); (channel ID, ts)."""
        arguments: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks}
        if thread_ts is not None:
            arguments["thread_ts"] = thread_ts
        if metadata is not None:
            arguments["metadata"] = metadata
        posted = await self._call("chat.postMessage", **arguments)
        return str(posted["channel"]), str(posted["ts"])

    async def update(
        self,
        channel: str,
        ts: str,
        text: str,
        blocks: list[dict[str, Any]],
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Replaces the message ``ts`` in place (its metadata too, if given)."""
        arguments: dict[str, Any] = {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
        if metadata is not None:
            arguments["metadata"] = metadata
        await self._call("chat.update", **arguments)

    async def history(
        self, channel: str, oldest: str | None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The channel's top-level messages since ``oldest`` (a ts), newest first, a page
        at a time with their metadata; at most HISTORY_PAGES pages."""
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = await self._call(
                "conversations.history",
                channel=channel,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                **({"oldest": oldest} if oldest else {}),
                **({"cursor": cursor} if cursor else {}),
            )
            yield list(page.get("messages") or [])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not cursor:
                return

    async def set_topic(self, channel: str, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel, topic=topic)

    async def invite(self, channel: str, users: list[str]) -> None:
        """Invites ``users`` (member IDs); those already in are no error."""
        if not users:
            return
        try:
            await self._call("conversations.invite", channel=channel, users=",".join(users))
        except DeliveryError as error:
            if error.message.rsplit(": ", 1)[-1] not in _ALREADY:
                raise

    async def archive(self, channel: str) -> None:
        try:
            await self._call("conversations.archive", channel=channel)
        except DeliveryError as error:
            if error.message.rsplit(": ", 1)[-1] not in _ALREADY:
                raise

    async def in_thread(self, channel: str, thread_ts: str, idempotency_key: str) -> bool:
        """Whether the thread of ``thread_ts`` holds a reply carrying ``idempotency_key``
        in its metadata (conversations.replies, at most HISTORY_PAGES pages)."""
        cursor = ""
        for _ in range(HISTORY_PAGES):
            page = await self._call(
                "conversations.replies",
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                **({"cursor": cursor} if cursor else {}),
            )
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    metadata.get("event_type") == REPLY_EVENT_TYPE
                    and payload.get("idempotency_key") == idempotency_key
                ):
                    return True
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not cursor:
                return False
        return False
