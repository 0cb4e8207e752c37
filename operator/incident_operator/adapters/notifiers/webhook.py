"""A generic webhook: the notification as JSON, with an optional bearer token.

The JSON is ``webhook_body``'s unless the channel's bodyTemplate rendered one (Teams,
Google Chat: reconcile/webhook_bodies.py); the runtime renders it and hands it over.
"""

from typing import Any

import aiohttp

from incident_operator.adapters.notifiers.base import IDEMPOTENCY_HEADER
from incident_operator.adapters.notifiers.http import post_json
from incident_operator.domain.notifications import OutgoingMessage


def webhook_body(message: OutgoingMessage) -> dict[str, Any]:
    return {
        "key": message.key,
        "idempotencyKey": message.idempotency_key,
        "kind": message.kind.value,
        "incident": {
            "id": message.incident_id,
            "namespace": message.namespace,
            "name": message.name,
            "title": message.title,
            "severity": message.severity.value,
            "phase": message.phase,
        },
        "subject": message.subject,
        "text": message.text,
        "targets": list(message.targets),
        "late": message.late,
        "timestamp": message.timestamp.isoformat(),
    }


class WebhookNotifier:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        token: str | None,
        body: dict[str, Any] | list[Any] | None = None,
    ) -> None:
        self._session = session
        self._url = url
        self._token = token
        # The bodyTemplate's rendering of the message, sent instead of webhook_body's.
        self._body = body

    async def send(self, message: OutgoingMessage) -> None:
        headers = {IDEMPOTENCY_HEADER: message.idempotency_key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        await post_json(
            self._session,
            self._url,
            webhook_body(message) if self._body is None else self._body,
            headers,
            [self._token] if self._token else [],
            "webhook",
        )
