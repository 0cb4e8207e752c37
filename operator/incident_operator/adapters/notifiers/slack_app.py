"""Notifications through the operator's Slack app: posted in the thread of the incident's
card in the channel (status.chat.messages), with the incoming-webhook notifier's blocks.

Each reply carries the notification's idempotency key as message metadata. An attempt
after the first (``again``: a failure, or an attempt interrupted by a restart after Slack
may have taken the reply) first looks for that key in the thread and posts nothing when
the reply is there: a restart does not repeat a reply."""

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.notifiers.slack import slack_body
from incident_operator.adapters.slack_app import SlackApp, reply_metadata
from incident_operator.api.chat import ChatStatus
from incident_operator.domain.notifications import OutgoingMessage


class SlackAppNotifier:
    def __init__(
        self, app: SlackApp, chat_channel: str, chat: ChatStatus | None, again: bool = False
    ) -> None:
        self._app = app
        self._chat_channel = chat_channel
        self._chat = chat or ChatStatus()
        self._again = again

    async def send(self, message: OutgoingMessage) -> None:
        channel = await self._app.channel_id(self._chat_channel)
        card = next((m for m in self._chat.messages if m.channel == channel), None)
        if card is None:
            # The card is posted by the pass that claimed this; it comes next time.
            raise DeliveryError(f"the incident's card is not in {self._chat_channel} yet", True)
        key = message.idempotency_key
        if self._again and await self._posted_before(channel, card.ts, key):
            return  # the interrupted attempt reached Slack
        body = slack_body(message, None)
        await self._app.post(
            channel, body["text"], body["blocks"], thread_ts=card.ts, metadata=reply_metadata(key)
        )

    async def _posted_before(self, channel: str, thread_ts: str, key: str) -> bool:
        """The reply with ``key`` is in the thread already; without the history scope
        (missing_scope) it is posted without looking, as before."""
        try:
            return await self._app.in_thread(channel, thread_ts, key)
        except DeliveryError as error:
            if error.retryable or not error.message.endswith("missing_scope"):
                raise
            return False
