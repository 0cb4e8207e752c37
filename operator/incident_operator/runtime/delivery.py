"""Sending claimed notifications: one attempt each, every failure turned into an outcome.

The incident pipeline claims records (marks them Sending, with a lease) in the status
write that records them, and only then hands them here. Sending never writes the
incident: the outcomes go back to the pipeline, whose next pass records them with the
rest of its decision. A process killed mid-send leaves the records Sending; when the
lease runs out the next pass claims them again and they go out with the same key.
"""

import asyncio
import logging

import aiohttp

from incident_operator.adapters.notifiers import DeliveryError, build_notifier
from incident_operator.adapters.secrets import SecretError, read_secret_value
from incident_operator.api.base import SecretKeyReference
from incident_operator.api.escalation_policy import Channel, EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.notifications import redact
from incident_operator.reconcile.escalation import DeliveryOutcome
from incident_operator.reconcile.messages import outgoing_message
from incident_operator.runtime import clock

logger = logging.getLogger(__name__)


async def send_all(
    incident: Incident,
    policy: EscalationPolicy | None,
    records: list[NotificationRecord],
    send_seconds: float,
) -> list[DeliveryOutcome]:
    """One attempt for each of ``records``, side by side; an outcome for each."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=send_seconds)) as session:
        outcomes = await asyncio.gather(
            *(_send(session, incident, policy, record, send_seconds) for record in records)
        )
    return list(outcomes)


def _channel(policy: EscalationPolicy | None, name: str) -> Channel:
    if policy is None:
        raise DeliveryError(f"channel {name}: no policy governs the incident now", False)
    channel = next((c for c in policy.spec.channels if c.name == name), None)
    if channel is None:
        raise DeliveryError(f"channel {name} is not in policy {policy.metadata.name}", False)
    return channel


async def _secret_value(incident: Incident, ref: SecretKeyReference) -> str:
    """A channel's Secret value; a missing one is a retryable failure naming the Secret."""
    try:
        return await asyncio.to_thread(read_secret_value, incident.metadata.namespace, ref)
    except SecretError as error:
        raise DeliveryError(str(error), retryable=True) from None


async def _send(
    session: aiohttp.ClientSession,
    incident: Incident,
    policy: EscalationPolicy | None,
    record: NotificationRecord,
    send_seconds: float,
) -> DeliveryOutcome:
    """One attempt; every failure becomes an outcome whose text holds no secret."""
    secrets: list[str] = []
    try:
        channel = _channel(policy, record.channel)
        secret = ca = None
        if channel.secret_ref is not None:
            secret = await _secret_value(incident, channel.secret_ref)
            secrets.append(secret)
        if channel.email is not None and channel.email.ca_secret_ref is not None:
            ca = await _secret_value(incident, channel.email.ca_secret_ref)
            secrets.append(ca)
        message, problem = outgoing_message(incident, policy, record, clock.now())
        if problem is not None:
            logger.warning("%s; the built-in template was used", problem.describe())
        notifier = build_notifier(channel, secret, session, send_seconds, ca)
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
