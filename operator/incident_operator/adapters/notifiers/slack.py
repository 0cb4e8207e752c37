"""Slack incoming webhooks: a message with blocks (header, the rendered text, context)."""

from typing import Any

import aiohttp

from incident_operator.adapters.notifiers.base import IDEMPOTENCY_HEADER
from incident_operator.adapters.notifiers.http import post_json
from incident_operator.domain.notifications import OutgoingMessage

# Slack's limits: 150 characters in a header, 3000 in a section's text.
_HEADER_LIMIT = 150
_SECTION_LIMIT = 2900


def slack_body(message: OutgoingMessage, chat_channel: str | None) -> dict[str, Any]:
    """The webhook payload; ``text`` is the fallback notifications show."""
    late = " (late)" if message.late else ""
    # A contact's mention leads the fallback text, which is what notifies them.
    mention = f"{message.mention} " if message.mention else ""
    body: dict[str, Any] = {
        "text": f"{mention}{message.subject}{late}",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": message.subject[:_HEADER_LIMIT]},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{mention}```{message.text[:_SECTION_LIMIT]}```",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{message.incident_id} · {message.severity.value} · "
                        f"{message.phase} · {message.namespace}/{message.name}{late}",
                    }
                ],
            },
        ],
    }
    if chat_channel:
        body["channel"] = chat_channel
    return body


class SlackNotifier:
    def __init__(
        self, session: aiohttp.ClientSession, webhook_url: str, chat_channel: str | None
    ) -> None:
        self._session = session
        self._url = webhook_url
        self._chat_channel = chat_channel

    async def send(self, message: OutgoingMessage) -> None:
        await post_json(
            self._session,
            self._url,
            slack_body(message, self._chat_channel),
            {IDEMPOTENCY_HEADER: message.idempotency_key},
            [self._url],
            "Slack",
        )
