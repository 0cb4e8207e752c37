"""Notifiers, one module per channel type, and the factory that picks one for a channel."""

from typing import Any

import aiohttp

from incident_operator.adapters.notifiers.base import DeliveryError, Notifier
from incident_operator.adapters.notifiers.email import EmailNotifier
from incident_operator.adapters.notifiers.noop import NoopNotifier
from incident_operator.adapters.notifiers.pagerduty import DEFAULT_BASE_URL, PagerDutyNotifier
from incident_operator.adapters.notifiers.slack import SlackNotifier
from incident_operator.adapters.notifiers.webhook import WebhookNotifier
from incident_operator.api.escalation_policy import Channel
from incident_operator.domain.notifications import ChannelType

__all__ = ["DeliveryError", "Notifier", "build_notifier"]


def build_notifier(
    channel: Channel,
    secret: str | None,
    session: aiohttp.ClientSession,
    timeout: float,
    ca: str | None = None,
    webhook_body: dict[str, Any] | list[Any] | None = None,
) -> Notifier:
    """The notifier for ``channel``; ``secret`` is the value its secretRef names, ``ca``
    the PEM bundle its ``email.caSecretRef`` names, ``webhook_body`` what its bodyTemplate
    rendered for the message.

    A channel missing what it needs raises DeliveryError (not retryable): the policy
    must be fixed. The CRD's rules refuse most such channels before they get here.
    """
    if channel.type is ChannelType.SLACK:
        if not secret:
            raise DeliveryError(f"channel {channel.name}: no webhook URL (secretRef)", False)
        return SlackNotifier(session, secret, channel.chat_channel)
    if channel.type is ChannelType.PAGERDUTY:
        if not secret:
            raise DeliveryError(f"channel {channel.name}: no routing key (secretRef)", False)
        return PagerDutyNotifier(session, secret, channel.url or DEFAULT_BASE_URL)
    if channel.type is ChannelType.EMAIL:
        if channel.email is None:
            raise DeliveryError(f"channel {channel.name}: no email settings", False)
        return EmailNotifier(channel.email, secret, timeout, ca)
    if channel.type is ChannelType.WEBHOOK:
        if not channel.url:
            raise DeliveryError(f"channel {channel.name}: no url", False)
        return WebhookNotifier(session, channel.url, secret, webhook_body)
    return NoopNotifier()
