"""Sending claimed notifications: one attempt each, every failure turned into an outcome.

The incident pipeline claims records (marks them Sending, with a lease) in the status
write that records them, and only then hands them here. Sending never writes the
incident: the outcomes go back to the pipeline, whose next pass records them with the
rest of its decision. A process killed mid-send leaves the records Sending; when the
lease runs out the next pass claims them again and they go out with the same key.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp

from incident_operator.adapters.metrics import NOTIFICATIONS
from incident_operator.adapters.notifiers import DeliveryError, Notifier, build_notifier
from incident_operator.adapters.notifiers.http import client_session
from incident_operator.adapters.notifiers.slack_app import SlackAppNotifier
from incident_operator.adapters.secrets import SecretError, read_secret_value
from incident_operator.adapters.slack_app import SlackApp
from incident_operator.api.base import SecretKeyReference
from incident_operator.api.escalation_policy import Channel, EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.notifications import ChannelType, OutgoingMessage, redact
from incident_operator.reconcile.contacts import find_contact
from incident_operator.reconcile.escalation import DeliveryOutcome
from incident_operator.reconcile.messages import outgoing_message
from incident_operator.reconcile.webhook_bodies import BodyTemplateError, JsonBody, render_body
from incident_operator.runtime import clock

logger = logging.getLogger(__name__)


# Sends in flight at once across all incidents, so a storm does not open thousands of
# connections (nor hold thousands of rendered messages) at a time.
SENDS_IN_PARALLEL = 64
# How long a Secret value read for a send is reused: a storm of incidents on one channel
# reads its Secret once every few seconds instead of once a send, and a rotated value
# is in use within this long.
SECRET_REUSE = timedelta(seconds=5)

SecretValue = Callable[[Incident, SecretKeyReference], Awaitable[str]]
# The operator's Slack app client (runtime/chat.py), None when it runs without one.
SlackAppClient = Callable[[], Awaitable[SlackApp | None]]


async def _no_slack_app() -> SlackApp | None:
    return None


class Sender:
    """Sends notifications: one HTTP session and a bounded number of sends at a time."""

    def __init__(self, send_seconds: float, slack_app: SlackAppClient = _no_slack_app) -> None:
        self._send_seconds = send_seconds
        self._slack_app = slack_app
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(SENDS_IN_PARALLEL)
        self._secrets: dict[tuple[str, str, str], tuple[datetime, str]] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send_all(
        self,
        incident: Incident,
        policy: EscalationPolicy | None,
        records: list[NotificationRecord],
    ) -> list[DeliveryOutcome]:
        """One attempt for each of ``records``, side by side; an outcome for each."""
        if self._session is None:
            self._session = client_session(self._send_seconds)
        session = self._session
        outcomes = await asyncio.gather(
            *(self._send_one(session, incident, policy, record) for record in records)
        )
        return list(outcomes)

    async def _send_one(
        self,
        session: aiohttp.ClientSession,
        incident: Incident,
        policy: EscalationPolicy | None,
        record: NotificationRecord,
    ) -> DeliveryOutcome:
        async with self._slots:
            outcome = await _send(
                session,
                incident,
                policy,
                record,
                self._send_seconds,
                self._secret,
                self._slack_app,
            )
        NOTIFICATIONS.labels(
            channel=_channel_type(policy, record.channel),
            outcome="sent" if outcome.error is None else "failed",
        ).inc()
        return outcome

    async def _secret(self, incident: Incident, ref: SecretKeyReference) -> str:
        """A channel's Secret value, reused for SECRET_REUSE; a missing one is a retryable
        failure naming the Secret (and is read again next time)."""
        key = (incident.metadata.namespace, ref.name, ref.key)
        now = clock.now()
        cached = self._secrets.get(key)
        if cached is not None and now - cached[0] < SECRET_REUSE:
            return cached[1]
        try:
            value = await asyncio.to_thread(read_secret_value, incident.metadata.namespace, ref)
        except SecretError as error:
            self._secrets.pop(key, None)
            raise DeliveryError(str(error), retryable=True) from None
        self._secrets = {k: v for k, v in self._secrets.items() if now - v[0] < SECRET_REUSE}
        self._secrets[key] = (now, value)
        return value


def _channel(policy: EscalationPolicy | None, name: str) -> Channel:
    if policy is None:
        raise DeliveryError(f"channel {name}: no policy governs the incident now", False)
    channel = next((c for c in policy.spec.channels if c.name == name), None)
    if channel is None:
        raise DeliveryError(f"channel {name} is not in policy {policy.metadata.name}", False)
    return channel


def _channel_type(policy: EscalationPolicy | None, name: str) -> str:
    """The channel's type for incident_operator_notifications_total; "unknown" when the
    policy no longer has it."""
    try:
        return _channel(policy, name).type.value
    except DeliveryError:
        return "unknown"


def _secret_ref(
    policy: EscalationPolicy | None, channel: Channel, record: NotificationRecord
) -> SecretKeyReference | None:
    """The channel's secret; for a page to a contact, its own service's routing key."""
    if record.contact is None or channel.type is not ChannelType.PAGERDUTY:
        return channel.secret_ref
    contact = find_contact(policy, record.contact)
    if contact is None or contact.pagerduty is None:
        raise DeliveryError(
            f"contact {record.contact} has no pagerduty in policy "
            f"{policy.metadata.name if policy else '-'} spec.contacts",
            False,
        )
    return contact.pagerduty.secret_ref


def _webhook_body(channel: Channel, message: OutgoingMessage) -> JsonBody | None:
    """What the channel's bodyTemplate renders for ``message``; None without one. A
    template that fails fails the same way every time: not retryable until it is fixed."""
    if channel.type is not ChannelType.WEBHOOK or channel.body_template is None:
        return None
    try:
        return render_body(channel.body_template, message, channel.name, channel.audience)
    except BodyTemplateError as error:
        raise DeliveryError(f"channel {channel.name}: {error.describe()}", False) from None


async def _send(
    session: aiohttp.ClientSession,
    incident: Incident,
    policy: EscalationPolicy | None,
    record: NotificationRecord,
    send_seconds: float,
    secret_value: SecretValue,
    slack_app: SlackAppClient = _no_slack_app,
) -> DeliveryOutcome:
    """One attempt; every failure becomes an outcome whose text holds no secret."""
    secrets: list[str] = []
    try:
        channel = _channel(policy, record.channel)
        secret = ca = None
        secret_ref = _secret_ref(policy, channel, record)
        if secret_ref is not None:
            secret = await secret_value(incident, secret_ref)
            secrets.append(secret)
        if channel.url_secret_ref is not None:
            # The URL is the credential (Teams, Google Chat): redacted like the others.
            url = await secret_value(incident, channel.url_secret_ref)
            secrets.append(url)
            channel = channel.model_copy(update={"url": url})
        if channel.email is not None and channel.email.ca_secret_ref is not None:
            ca = await secret_value(incident, channel.email.ca_secret_ref)
            secrets.append(ca)
        message, problem = outgoing_message(incident, policy, record, clock.now())
        if problem is not None:
            logger.warning("%s; the built-in template was used", problem.describe())
        notifier: Notifier
        if channel.type is ChannelType.SLACK_APP:
            notifier = await _slack_app_notifier(slack_app, channel, incident, record.attempts > 1)
        else:
            body = _webhook_body(channel, message)
            notifier = build_notifier(channel, secret, session, send_seconds, ca, body)
        await asyncio.wait_for(notifier.send(message), send_seconds)
    except DeliveryError as error:
        return DeliveryOutcome(
            record.key,
            record.attempts,
            clock.now(),
            redact(error.message, secrets),
            error.retryable,
        )
    except TimeoutError:
        return DeliveryOutcome(record.key, record.attempts, clock.now(), "timed out")
    except Exception as error:  # a bug must not stop the other sends; no text: it may hold a secret
        logger.error("sending %s failed unexpectedly: %s", record.key, type(error).__name__)
        return DeliveryOutcome(
            record.key, record.attempts, clock.now(), f"unexpected error ({type(error).__name__})"
        )
    return DeliveryOutcome(record.key, record.attempts, clock.now())


async def _slack_app_notifier(
    slack_app: SlackAppClient, channel: Channel, incident: Incident, again: bool = False
) -> Notifier:
    """A slackApp channel posts through the operator's Slack app, in the card's thread
    (``again``: an attempt after the first, which first looks whether one reached Slack)."""
    app = await slack_app()
    if app is None:
        raise DeliveryError(
            f"channel {channel.name}: the operator runs without --slack-app-secret", False
        )
    return SlackAppNotifier(app, channel.chat_channel or "", incident.status.chat, again)
