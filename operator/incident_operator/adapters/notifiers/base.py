"""The one-method interface every notification channel implements (Flagger's notifier).

A notifier sends one rendered message and either returns (the receiver accepted it) or
raises ``DeliveryError`` saying whether trying again could help. Its messages must never
contain a secret: the Slack webhook URL, the routing key, the token or the password.
"""

from typing import Protocol

from incident_operator.domain.notifications import OutgoingMessage

IDEMPOTENCY_HEADER = "Idempotency-Key"


class DeliveryError(Exception):
    """A failed attempt; ``retryable`` is False when the request itself is wrong."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class Notifier(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Delivers ``message`` or raises DeliveryError."""
