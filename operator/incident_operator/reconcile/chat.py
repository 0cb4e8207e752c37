"""Chat-ops decisions that need no I/O: the incident's card, its digest, its channel's
topic, who is invited, which Slack-app channels carry it, and when its channel is archived.

The card is the one message per incident per channel the operator keeps updated in
place (docs/chat-ops.md). Its digest is a hash of everything it shows (and, in the
incident's own channel, of the topic and the people invited), so an update is made only
when something shown changed. The SLA clocks are shown as the minute they fall due, not
as a countdown, so the card does not change every second.

Each card carries Slack message metadata naming its incident (``card_metadata``), so a
card posted by an operator killed before recording it is found again in the channel's
history (``found_card``) and adopted instead of posted twice.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from incident_operator.api.chat import ChatStatus, IncidentChannelSettings
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.chat import incident_channel_name
from incident_operator.domain.conditions import Condition, ConditionStatus, changed_condition
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.notifications import ChannelType
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.contacts import contact_roles
from incident_operator.reconcile.escalation import planned_steps
from incident_operator.reconcile.slack_commands import action_buttons

# A Slack member ID (U0123ABCD, W0123ABCD): only these can be invited.
_MEMBER_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,}$")
# Slack's limit on a header's text.
_HEADER_LIMIT: Final = 150
# The event_type of the metadata every card carries (Slack: lowercase, letters, digits
# and underscores).
CARD_EVENT_TYPE: Final = "incident_card"
# How far before the incident's creation its channel history is read for a lost card:
# the API server's clock and Slack's may differ a little, and the card is never older.
HISTORY_MARGIN: Final = timedelta(minutes=1)


@dataclass(frozen=True)
class Card:
    """What the incident's card says: the fallback text, the blocks and their digest."""

    text: str
    blocks: list[dict[str, Any]]
    digest: str


def _minute(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def incident_card(incident: Incident, bridge_url: str | None = None) -> Card:
    """The card: ID, title, severity, phase, status word, commander, SLA clocks, object."""
    spec, status, meta = incident.spec, incident.status, incident.metadata
    incident_id = status.id or meta.name
    phase = (status.phase or Phase.DETECTED).value
    commander = spec.roles.commander or "unassigned"
    header = f"[{spec.severity.value}] {incident_id}: {spec.title}"[:_HEADER_LIMIT]
    fields = [
        ("Severity", spec.severity.value),
        ("Phase", phase),
        ("Status", spec.state.value),
        ("Commander", commander),
        ("Response due", _minute(status.response_due_at)),
        ("Resolution due", _minute(status.resolution_due_at)),
        ("Next update due", _minute(status.next_update_due_at)),
    ]
    if status.acknowledged_at is not None:
        fields.append(("Acknowledged by", status.recorded.acknowledged_by or "—"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
    ]
    if bridge_url:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Bridge:* <{bridge_url}>"}}
        )
    # Acting from Slack (reconcile/slack_commands.py): its buttons change with the incident.
    buttons = action_buttons(incident)
    if buttons is not None:
        blocks.append(buttons)
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"`kubectl incident show {meta.name} -n {meta.namespace}`",
                }
            ],
        }
    )
    text = f"{header} — {spec.severity.value} · {phase} · {spec.state.value} · {commander}"
    return Card(text, blocks, digest_of(text, blocks))


def digest_of(*parts: Any) -> str:
    """A short stable hash of ``parts`` (status.chat.messages[].digest)."""
    encoded = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def channel_topic(incident: Incident, bridge_url: str | None) -> str:
    """``P0 · commander: dana · Investigating`` (and the bridge), as the runbook's war
    room shows what matters at a glance."""
    spec = incident.spec
    topic = (
        f"{spec.severity.value} · commander: {spec.roles.commander or 'unassigned'} · "
        f"{spec.state.value}"
    )
    return f"{topic} · bridge: {bridge_url}" if bridge_url else topic


def channel_settings(policy: EscalationPolicy | None) -> IncidentChannelSettings | None:
    return policy.spec.chat.incident_channel if policy is not None else None


def wanted_channel_name(incident: Incident, policy: EscalationPolicy | None) -> str | None:
    """The incident channel to create now: its severity is one that gets a channel (at
    declaration or raised to one) and none is recorded yet; None otherwise."""
    settings = channel_settings(policy)
    chat = incident.status.chat or ChatStatus()
    if settings is None or chat.channel is not None or incident.status.id is None:
        return None
    if incident.spec.severity not in settings.severities:
        return None
    if incident.status.phase is Phase.CLOSED:
        return None
    return incident_channel_name(settings.prefix, incident.status.id, incident.spec.title)


def responder_ids(incident: Incident, policy: EscalationPolicy | None) -> list[str]:
    """Slack member IDs of the contacts (primary and backup) of the roles the escalation
    steps reached so far target, in order, each once."""
    escalation = incident.status.escalation
    if escalation is None or policy is None:
        return []
    found: list[str] = []
    for reached in escalation.steps:
        steps = planned_steps(policy, reached.severity)
        if reached.ordinal >= len(steps):
            continue
        for _, role in steps[reached.ordinal].roles:
            for row in contact_roles(policy, role):
                for contact in (row.primary, row.backup):
                    mention = contact.slack.mention if contact and contact.slack else None
                    member = (mention or "").lstrip("@")
                    if _MEMBER_ID.match(member) and member not in found:
                        found.append(member)
    return found


def app_channels(incident: Incident, policy: EscalationPolicy | None) -> list[str]:
    """The chatChannel of every slackApp channel a notification of the incident is
    routed to, in the order first used: each gets the card."""
    if policy is None:
        return []
    by_name = {c.name: c for c in policy.spec.channels if c.type is ChannelType.SLACK_APP}
    found: list[str] = []
    for record in incident.status.notifications:
        channel = by_name.get(record.channel)
        if channel is not None and channel.chat_channel and channel.chat_channel not in found:
            found.append(channel.chat_channel)
    return found


def uses_slack_app(policy: EscalationPolicy | None) -> bool:
    """The policy needs the operator's Slack app (a slackApp channel or incident channels)."""
    if policy is None:
        return False
    return channel_settings(policy) is not None or any(
        c.type is ChannelType.SLACK_APP for c in policy.spec.channels
    )


def archive_at(incident: Incident, policy: EscalationPolicy | None) -> datetime | None:
    """When the incident's channel is to be archived: ``archiveAfter`` after Closed;
    None while open, without a channel, or once archived."""
    chat = incident.status.chat
    closed = incident.status.closed_at
    if chat is None or chat.channel is None or chat.channel.archived_at is not None:
        return None
    if incident.status.phase is not Phase.CLOSED or closed is None:
        return None
    settings = channel_settings(policy) or IncidentChannelSettings()
    return closed + parse_duration(settings.archive_after)


def chat_ready_condition(
    conditions: list[Condition],
    policy: EscalationPolicy,
    app_configured: bool,
    now: datetime,
    generation: int | None,
) -> Condition | None:
    """The policy's ChatReady condition, or None when it would not change (a policy that
    never used the Slack app gets none)."""
    if uses_slack_app(policy) and not app_configured:
        status, reason = ConditionStatus.FALSE, Reason.SLACK_APP_NOT_CONFIGURED
        message = (
            "the policy uses the operator's Slack app (a slackApp channel or "
            "spec.chat.incidentChannel) but the operator runs without --slack-app-secret: "
            "nothing is posted through it (docs/chat-ops.md)"
        )
    elif uses_slack_app(policy) or any(c.type == ConditionType.CHAT_READY for c in conditions):
        status, reason = ConditionStatus.TRUE, Reason.SLACK_APP_CONFIGURED
        message = (
            "the operator's Slack app is configured"
            if uses_slack_app(policy)
            else "the policy uses no Slack app"
        )
    else:
        return None
    return changed_condition(
        conditions, ConditionType.CHAT_READY, status, reason, message, now, generation
    )


def card_metadata(incident: Incident) -> dict[str, Any]:
    """The Slack message metadata of the incident's card: which incident it is (its UID:
    an incident deleted and declared again under the same name has another card)."""
    meta = incident.metadata
    return {
        "event_type": CARD_EVENT_TYPE,
        "event_payload": {"uid": meta.uid, "namespace": meta.namespace, "name": meta.name},
    }


def history_oldest(incident: Incident) -> str | None:
    """The ``oldest`` of the conversations.history read for a lost card: a little before
    the incident was created (no card of it can be older); None without a creation time."""
    created = incident.metadata.creation_timestamp
    if created is None:
        return None
    return f"{(created - HISTORY_MARGIN).timestamp():.6f}"


def found_card(messages: list[dict[str, Any]], incident: Incident) -> str | None:
    """The ts of the incident's card among ``messages`` (a conversations.history page with
    include_all_metadata): the oldest top-level message whose metadata names the
    incident's UID, or None. Replies in a thread are never cards."""
    uid = incident.metadata.uid
    if not uid:
        return None
    found: list[str] = []
    for message in messages:
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload") or {}
        ts = str(message.get("ts") or "")
        thread = message.get("thread_ts")
        if not ts or (thread is not None and thread != ts):
            continue
        if metadata.get("event_type") == CARD_EVENT_TYPE and payload.get("uid") == uid:
            found.append(ts)
    return min(found, key=float) if found else None
