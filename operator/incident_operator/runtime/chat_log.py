"""POST /slack/events, once its Slack signature is verified: chat lines into status.chat.log.

The incident is found by the channel the event happened in (status.chat.channel.id, from
detection's in-memory index: no API call for the many events of other channels). Its
governing policy gives the marker and the contacts that map Slack members to Kubernetes
users (reconcile/chat_log.py). The line is written under the incident's lock
(runtime/detection_writer.py), as a merge patch of status.chat.log alone guarded by the
resourceVersion it was decided from: a write that lost a race is decided again from the
incident as it now is, so a line is never lost nor written twice, and Slack's retry of
a delivery finds its ts logged and changes nothing. The pipeline then tells the line in
the timeline (ChatLogged).
"""

import asyncio
import logging
from typing import Any

from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.api.chat import ChatLogEntry, ChatSettings
from incident_operator.api.incident import Incident
from incident_operator.reconcile.alerts import PayloadError
from incident_operator.reconcile.chat_log import (
    chat_log_entry,
    logged_text,
    slack_author,
    with_line,
)
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.pagerduty_intake import policy_contacts
from incident_operator.reconcile.slack_events import (
    Ignored,
    UrlVerification,
    parse_event,
)
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.policies import POLICIES, PolicyRegistry

logger = logging.getLogger(__name__)

# Guarded writes tried before the line is given up (each lost race re-reads the incident).
_ATTEMPTS = 5


class ChatLogIntake:
    """Takes Slack's event deliveries (the Events API) for the chat log."""

    def __init__(
        self, writer: Writer, incidents: IncidentIndex, policies: PolicyRegistry = POLICIES
    ) -> None:
        self._writer = writer
        self._incidents = incidents
        self._policies = policies

    async def __call__(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            event = parse_event(body)
        except PayloadError as error:
            return 400, {"error": str(error)}
        if isinstance(event, Ignored):
            return 200, {"ignored": event.reason}
        if isinstance(event, UrlVerification):
            return 200, {"challenge": event.challenge}
        held = self._incidents.by_chat_channel(event.channel)
        if held is None:
            return 200, {"ignored": f"channel {event.channel} is no incident's channel"}
        # Decided from the index's copy (its spec and labels), so the many messages without
        # the marker cost no API call.
        namespace, name = held.metadata.namespace, held.metadata.name
        policy = governing_policy(held, self._policies.in_namespace(namespace)).policy
        marker = (policy.spec.chat if policy is not None else ChatSettings()).log_marker
        text = logged_text(event, marker)
        if text is None:
            return 200, {"ignored": f"not a line to log (no {marker!r} first)"}
        entry = chat_log_entry(event, text, slack_author(event.user, policy_contacts(policy)))
        return await self._log(namespace, name, event.channel, entry)

    async def _log(
        self, namespace: str, name: str, channel: str, entry: ChatLogEntry
    ) -> tuple[int, dict[str, Any]]:
        """Adds ``entry`` to the incident's status.chat.log unless it is there already."""
        async with self._writer.lock(namespace, name):
            for _ in range(_ATTEMPTS):
                raw = await asyncio.to_thread(read_incident, namespace, name)
                incident = Incident.model_validate(raw) if raw is not None else None
                chat = incident.status.chat if incident is not None else None
                if incident is None or chat is None or chat.channel is None:
                    return 200, {"ignored": f"{namespace}/{name} is gone"}
                if chat.channel.id != channel:
                    return 200, {"ignored": f"{namespace}/{name} has another channel now"}
                log = with_line(chat.log, entry)
                if log is None:
                    return 200, {"unchanged": f"{namespace}/{name}", "ts": entry.ts}
                written = await asyncio.to_thread(
                    write_status,
                    namespace,
                    name,
                    incident.metadata.resource_version,
                    {"chat": {"log": [line.to_wire() for line in log]}},
                )
                if written is not None:
                    logger.info(
                        "%s/%s: logged %s from chat (%s)", namespace, name, entry.ts, entry.author
                    )
                    answer = {"logged": f"{namespace}/{name}", "ts": entry.ts}
                    return 200, answer | {"author": entry.author}
        logger.warning(
            "%s/%s: chat line %s not logged: kept losing races", namespace, name, entry.ts
        )
        return 503, {"error": "the incident kept changing; retry"}
