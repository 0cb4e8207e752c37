"""Notifications through the operator's Slack app: posted in the thread of the incident's
card in the channel (status.chat.messages), with the incoming-webhook notifier's blocks."""

from incident_operator.adapters.notifiers.base import DeliveryError
from incident_operator.adapters.notifiers.slack import slack_body
from incident_operator.adapters.slack_app import SlackApp
from incident_operator.api.chat import ChatStatus
from incident_operator.domain.notifications import OutgoingMessage


class SlackAppNotifier:
    def __init__(self, app: SlackApp, chat_channel: str, chat: ChatStatus | None) -> None:
        self._app = app
        self._chat_channel = chat_channel
        self._chat = chat or ChatStatus()

    async def send(self, message: OutgoingMessage) -> None:
        channel = await self._app.channel_id(self._chat_channel)
        card = next((m for m in self._chat.messages if m.channel == channel), None)
        if card is None:
            # The card is posted by the pass that claimed this; it comes next time.
            raise DeliveryError(f"the incident's card is not in {self._chat_channel} yet", True)
        body = slack_body(message, None)
        await self._app.post(channel, body["text"], body["blocks"], thread_ts=card.ts)
