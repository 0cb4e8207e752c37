"""The notifier for what a channel has nothing to say about: accepts and drops it."""

from incident_operator.domain.notifications import OutgoingMessage


class NoopNotifier:
    async def send(self, message: OutgoingMessage) -> None:
        return None
