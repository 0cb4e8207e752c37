"""Chat-ops through the operator's Slack app, in the incident pass's acting phase.

After a pass writes its decision (and before the notifications it claimed are sent),
``ChatOps.sync`` brings Slack in line with the incident::

    incident channel wanted (policy spec.chat.incidentChannel, its severity) and none
    recorded -> conversations.create (name_taken: adopt the existing one)
             -> status.chat.channel written at once
    for the incident channel and each slackApp channel a notification is routed to:
        no card recorded   -> conversations.history since the incident began: a card
                              of it there (its metadata names the incident's UID) is
                              adopted, recorded and updated (chat.update); else
                              chat.postMessage (with that metadata), status.chat.messages[]
                              written at once
                              (incident channel: then topic and invites, then the digest)
        digest differs     -> chat.update of the same ts (incident channel: topic, invites)
    Closed + archiveAfter  -> conversations.archive, status.chat.channel.archivedAt

Each Slack call is followed by its record before the next call, so a restart repeats at
most the call in flight: a channel created but not recorded is adopted by name (the name
depends on the incident alone), a card posted but not recorded is found in the channel's
history by its metadata and adopted (without the history scope, missing_scope, the card
is posted without looking, said once in a ChatFailed Event). Slack refusing is an Event
(ChatFailed) and the pass goes on; a retryable failure is tried again after
``RETRY_AFTER``.

Status writes here touch only status.chat.channel and status.chat.messages (merge
patches, guarded by resourceVersion and retried on a conflict); the caller holds the
incident's pipeline lock, so no pass of ours races them.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from incident_operator.adapters.alertmanager_receiver import CachedToken
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.secrets import secret_reader
from incident_operator.adapters.slack_app import SlackApp
from incident_operator.api.chat import ChatMessage, ChatStatus, IncidentChannel
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.config import Settings
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.chat import (
    app_channels,
    archive_at,
    card_metadata,
    channel_settings,
    channel_topic,
    digest_of,
    found_card,
    history_oldest,
    incident_card,
    responder_ids,
    uses_slack_app,
    wanted_channel_name,
)
from incident_operator.runtime import clock
from incident_operator.runtime.wakeups import Key

logger = logging.getLogger(__name__)

BOT_TOKEN_KEY: Final = "bot-token"
# When a retryable Slack failure is tried again.
RETRY_AFTER: Final = timedelta(seconds=10)
# Conflicting writes of status.chat tried again before giving up until the next pass.
_WRITE_TRIES: Final = 5

ChatChange = Callable[[ChatStatus], ChatStatus]


class ChatOps:
    """The Slack side of the incident pass; a no-op for policies that do not use it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # The bot token, re-read from the Secret every 30 s (a rotated one is in use
        # within that long), and the client made for it.
        self._token = (
            None
            if settings.slack_app_secret is None
            else CachedToken(
                secret_reader(*settings.slack_app_secret, BOT_TOKEN_KEY),
                what="the Slack app's bot token",
            )
        )
        self._app: tuple[str, SlackApp] | None = None
        # The last warning posted per incident, so a failure that repeats every pass is
        # one Event, not one a pass.
        self._warned: dict[Key, str] = {}
        # Channels whose history the app may not read (missing_scope): their cards are
        # posted without looking for a lost one, and that is said once.
        self._history_refused: set[str] = set()

    async def app(self) -> SlackApp | None:
        """The Slack app client (None without --slack-app-secret); DeliveryError when
        its Secret cannot be read."""
        if self._token is None:
            return None
        token = await self._token.get()
        if token is None:
            namespace, name = self._settings.slack_app_secret or ("", "")
            raise DeliveryError(
                f"the Slack app's bot token could not be read (Secret {namespace}/{name}, "
                f"key {BOT_TOKEN_KEY})",
                retryable=True,
            )
        if self._app is None or self._app[0] != token:
            self._app = (
                token,
                SlackApp(token, self._settings.slack_api_url, self._settings.send_timeout),
            )
        return self._app[1]

    def forget(self, key: Key) -> None:
        self._warned.pop(key, None)

    async def sync(
        self, body: dict[str, Any], policy: EscalationPolicy | None
    ) -> tuple[dict[str, Any], datetime | None]:
        """Slack brought in line with ``body``: the incident as written now, and when to
        look again (the channel's archiving, a retry), if ever."""
        if not uses_slack_app(policy):
            return body, None
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        try:
            app = await self.app()
            if app is None:
                await self._warn(
                    body,
                    Reason.SLACK_APP_NOT_CONFIGURED,
                    f"policy {policy.metadata.name if policy else '-'} uses the Slack app "
                    "(a slackApp channel or spec.chat.incidentChannel) but the operator "
                    "runs without --slack-app-secret: nothing is posted (docs/chat-ops.md)",
                )
                return body, None
            body, wake_at, failure = await self._sync(app, body, policy)
            if failure is not None:
                await self._warn(body, Reason.CHAT_FAILED, f"Slack app: {failure.message}")
                return body, clock.now() + RETRY_AFTER if failure.retryable else wake_at
        except DeliveryError as error:
            await self._warn(body, Reason.CHAT_FAILED, f"Slack app: {error.message}")
            return body, clock.now() + RETRY_AFTER if error.retryable else None
        except Exception as error:  # a bug or the API server: the rest of the pass goes on
            logger.exception("chat-ops for %s/%s failed", *key)
            message = f"Slack app: unexpected error ({type(error).__name__})"
            await self._warn(body, Reason.CHAT_FAILED, message)
            return body, clock.now() + RETRY_AFTER
        self._warned.pop(key, None)
        return body, wake_at

    async def _sync(
        self, app: SlackApp, body: dict[str, Any], policy: EscalationPolicy | None
    ) -> tuple[dict[str, Any], datetime | None, DeliveryError | None]:
        """The incident as written, when to look again, and the first failure of a
        channel's card (the other channels were kept all the same)."""
        incident = Incident.model_validate(body)
        settings = channel_settings(policy)
        name = wanted_channel_name(incident, policy)
        if name is not None:
            body = await _fresh(body)
            incident = Incident.model_validate(body)
            name = wanted_channel_name(incident, policy)
        if name is not None:
            channel_id = await app.create_channel(name)
            created = IncidentChannel(id=channel_id, name=name, created_at=clock.now())
            body = await self._record(body, lambda chat: _with(chat, channel=created))
            incident = Incident.model_validate(body)
        chat = incident.status.chat or ChatStatus()
        own = chat.channel
        if own is not None and own.archived_at is not None:
            own = None
        bridge = settings.bridge_url if settings is not None else None
        targets: list[tuple[str, bool]] = [(own.id, True)] if own is not None else []
        targets += [(reference, False) for reference in app_channels(incident, policy)]
        # One channel failing (the bot not in it, say) leaves the others kept; the first
        # failure is reported once all were tried.
        failure: DeliveryError | None = None
        done: set[str] = set()
        for reference, is_own in targets:
            try:
                channel_id = await app.channel_id(reference)
                if channel_id not in done:
                    done.add(channel_id)
                    body = await self._keep_card(app, body, policy, channel_id, is_own, bridge)
            except DeliveryError as error:
                failure = failure or error
        incident = Incident.model_validate(body)
        due = archive_at(incident, policy)
        if due is not None and due <= clock.now():
            chat = incident.status.chat or ChatStatus()
            assert chat.channel is not None
            await app.archive(chat.channel.id)
            archived = chat.channel.model_copy(update={"archived_at": clock.now()})
            body, due = await self._record(body, lambda c: _with(c, channel=archived)), None
        return body, due, failure

    async def _keep_card(
        self,
        app: SlackApp,
        body: dict[str, Any],
        policy: EscalationPolicy | None,
        channel_id: str,
        is_own: bool,
        bridge: str | None,
    ) -> dict[str, Any]:
        """Posts the card in ``channel_id`` once, and updates it when it changed."""
        incident = Incident.model_validate(body)
        card = incident_card(incident, bridge if is_own else None)
        topic = channel_topic(incident, bridge) if is_own else ""
        invited = responder_ids(incident, policy) if is_own else []
        # In the incident's own channel the digest covers the topic and invites too.
        digest = digest_of(card.digest, topic, invited) if is_own else card.digest
        chat = incident.status.chat or ChatStatus()
        recorded = next((m for m in chat.messages if m.channel == channel_id), None)
        if recorded is None:
            fresh = await _fresh(body)
            return await self._post_card(app, fresh, policy, channel_id, is_own, bridge)
        if recorded.digest == digest:
            return body
        # The metadata too, so a card posted before cards carried it is found after all.
        metadata = card_metadata(incident)
        await app.update(recorded.channel, recorded.ts, card.text, card.blocks, metadata)
        if is_own:
            await app.set_topic(channel_id, topic)
            await app.invite(channel_id, invited)
        done = recorded.model_copy(update={"digest": digest})
        return await self._record(body, _with_message(done))

    async def _post_card(
        self,
        app: SlackApp,
        body: dict[str, Any],
        policy: EscalationPolicy | None,
        channel_id: str,
        is_own: bool,
        bridge: str | None,
    ) -> dict[str, Any]:
        """Posts the card in ``channel_id`` unless the incident read afresh has one there
        (the body a pass decided from may predate our own record of it)."""
        incident = Incident.model_validate(body)
        chat = incident.status.chat or ChatStatus()
        if any(m.channel == channel_id for m in chat.messages):
            return await self._keep_card(app, body, policy, channel_id, is_own, bridge)
        lost = await self._lost_card(app, body, channel_id)
        if lost is not None:
            # Posted by a pass killed before recording it: recorded now with an empty
            # digest, so it is brought up to date (and the topic and invites done) in place.
            adopted = ChatMessage(channel=channel_id, ts=lost, digest="")
            body = await self._record(body, _with_message(adopted))
            return await self._keep_card(app, body, policy, channel_id, is_own, bridge)
        card = incident_card(incident, bridge if is_own else None)
        topic = channel_topic(incident, bridge) if is_own else ""
        invited = responder_ids(incident, policy) if is_own else []
        digest = digest_of(card.digest, topic, invited) if is_own else card.digest
        posted_in, ts = await app.post(
            channel_id, card.text, card.blocks, metadata=card_metadata(incident)
        )
        # Recorded before anything else: a restart must never post a second card. In the
        # incident's own channel the digest stays empty until the topic and invites are
        # done, so a restart in between does them (and updates the card once more).
        recorded = ChatMessage(channel=posted_in, ts=ts, digest=digest if not is_own else "")
        body = await self._record(body, _with_message(recorded))
        if not is_own:
            return body
        await app.set_topic(channel_id, topic)
        await app.invite(channel_id, invited)
        done = recorded.model_copy(update={"digest": digest})
        return await self._record(body, _with_message(done))

    async def _lost_card(self, app: SlackApp, body: dict[str, Any], channel_id: str) -> str | None:
        """The ts of a card of the incident already in ``channel_id`` (posted, then the
        operator stopped before recording it), from the channel's history since the
        incident began; None when there is none or the app may not read the history."""
        if channel_id in self._history_refused:
            return None
        incident = Incident.model_validate(body)
        try:
            async for page in app.history(channel_id, history_oldest(incident)):
                found = found_card(page, incident)
                if found is not None:
                    return found
        except DeliveryError as error:
            if error.retryable or not error.message.endswith("missing_scope"):
                raise
            self._history_refused.add(channel_id)
            await self._warn(
                body,
                Reason.CHAT_FAILED,
                f"Slack app: {error.message}: the card is posted without looking for one "
                "posted before a restart, so a restart at the wrong moment can leave a second "
                "card; give the app channels:history (groups:history for private channels)",
            )
        return None

    async def _record(self, body: dict[str, Any], change: ChatChange) -> dict[str, Any]:
        """Writes ``change`` of status.chat (its channel and messages only), read again
        and retried on a conflict."""
        metadata = body["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        for _ in range(_WRITE_TRIES):
            raw = (body.get("status") or {}).get("chat") or {}
            chat = change(ChatStatus.model_validate(raw)).to_wire()
            difference = {"chat": {k: chat.get(k) for k in ("channel", "messages")}}
            written = await asyncio.to_thread(
                write_status, namespace, name, metadata["resourceVersion"], difference
            )
            if written is not None:
                return written
            fresh = await asyncio.to_thread(read_incident, namespace, name)
            if fresh is None:
                raise DeliveryError(f"incident {namespace}/{name} is gone", retryable=False)
            body, metadata = fresh, fresh["metadata"]
        raise DeliveryError("status.chat could not be written (conflicts)", retryable=True)

    async def _warn(self, body: dict[str, Any], reason: Reason, message: str) -> None:
        key: Key = (body["metadata"]["namespace"], body["metadata"]["name"])
        logger.warning("%s/%s: %s", *key, message)
        if self._warned.get(key) == message:
            return
        self._warned[key] = message
        try:
            await asyncio.to_thread(post_event, body, "Warning", reason, message)
        except Exception as error:  # the API server may be what failed
            logger.warning("posting the Event %s failed: %s", reason, error)


def _with(chat: ChatStatus, **changes: Any) -> ChatStatus:
    return chat.model_copy(update=changes)


def _with_message(message: ChatMessage) -> ChatChange:
    def change(chat: ChatStatus) -> ChatStatus:
        others = [m for m in chat.messages if m.channel != message.channel]
        return _with(chat, messages=[*others, message])

    return change


async def _fresh(body: dict[str, Any]) -> dict[str, Any]:
    """The incident as stored now: a pass may decide from a watch event older than our
    own last record, and what is created in Slack must be decided from the newest."""
    metadata = body["metadata"]
    fresh = await asyncio.to_thread(read_incident, metadata["namespace"], metadata["name"])
    if fresh is None:
        raise DeliveryError(f"incident {metadata['namespace']}/{metadata['name']} is gone", False)
    return fresh
