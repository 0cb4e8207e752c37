"""Chat-ops: a policy's chat settings, and what the operator records of an incident's
chat (its own channel, the message it keeps updated in each channel, what was logged
from chat). docs/chat-ops.md.

The Slack app itself (bot token, signing secret) is the operator's, set by
``--slack-app-secret``: one app per Slack workspace, as incident tools install it.
"""

from datetime import datetime
from typing import Annotated, Final

from pydantic import Field

from incident_operator.api.base import ApiModel, Duration, Timestamp, Within
from incident_operator.domain.severity import Severity

# The most chat lines one incident records (status.chat.log).
CHAT_LOG_LIMIT: Final = 200

SlackId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Z0-9]+$")]
# A Slack message timestamp, its ID within a channel: "1712345678.123456".
SlackTs = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9]+\.[0-9]+$")]


class IncidentChannelSettings(ApiModel):
    """An incident's own Slack channel: the runbook's bridge/war room (P0 action 3)."""

    severities: Annotated[list[Severity], Field(max_length=5)] = Field(
        default=[Severity.P0, Severity.P1],
        description="Severities that get a channel of their own at declaration (and when "
        "raised to one).",
    )
    prefix: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = (
        Field(default="inc", description="Channel names are <prefix>-<number>-<title slug>.")
    )
    archive_after: Annotated[Duration, Within("0s", "2160h")] = Field(
        default="24h", description="How long after the incident is Closed its channel is archived."
    )
    bridge_url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = Field(
        default=None,
        description="The bridge call's URL (Zoom, Meet, ...), posted in the channel and kept "
        "in its topic.",
    )


class ChatSettings(ApiModel):
    """How this policy's incidents use chat through the operator's Slack app."""

    incident_channel: IncidentChannelSettings | None = Field(
        default=None,
        description="Create a channel per incident of the given severities; unset: none.",
    )
    log_marker: Annotated[str, Field(min_length=1, max_length=16)] = Field(
        default="!log",
        description="A message in the incident's channel starting with this (or pinned) is "
        "added to the timeline as the scribe would, with its author.",
    )


class IncidentChannel(ApiModel):
    """The incident's own Slack channel, recorded as soon as it exists."""

    id: SlackId
    name: Annotated[str, Field(min_length=1, max_length=80)]
    created_at: Timestamp
    archived_at: datetime | None = None


class ChatMessage(ApiModel):
    """The message the operator keeps updated in place in one channel for the incident."""

    channel: SlackId = Field(description="The Slack channel ID.")
    ts: SlackTs = Field(description="The message's timestamp (its ID in the channel).")
    digest: Annotated[str, Field(max_length=64)] = Field(
        default="", description="A hash of what it last said: an update is made when it differs."
    )


class ChatLogEntry(ApiModel):
    """A line logged from the incident's channel (the log marker or a pin)."""

    ts: SlackTs = Field(description="The Slack message's timestamp: each is logged once.")
    author: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        description="The Kubernetes user of the contact with this Slack ID, else slack:<ID>."
    )
    text: Annotated[str, Field(max_length=4096)]
    time: Timestamp


class ChatStatus(ApiModel):
    """What the operator did and saw in chat for this incident."""

    channel: IncidentChannel | None = None
    messages: Annotated[
        list[ChatMessage],
        Field(
            max_length=32,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["channel"],
            },
        ),
    ] = []
    log: Annotated[
        list[ChatLogEntry],
        Field(
            max_length=CHAT_LOG_LIMIT,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["ts"],
            },
        ),
    ] = []
