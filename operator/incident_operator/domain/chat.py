"""Chat-ops rules that need no I/O: the name of an incident's own Slack channel.

Slack channel names are lowercase letters, digits, hyphens and underscores, at most 80
characters. The name is derived from the incident alone (its ID and title), so a restart
between creating the channel and recording it finds the same name again and adopts the
channel instead of creating a second one (docs/chat-ops.md).
"""

import re
from typing import Final

# Slack's limit on a channel name.
CHANNEL_NAME_LIMIT: Final = 80
_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def incident_channel_name(prefix: str, incident_id: str, title: str) -> str:
    """``#inc-0042-checkout-errors``'s name (without the #): the prefix, the ID's number
    and a slug of the title, cut at a word boundary to fit Slack's 80 characters."""
    number = incident_id.rsplit("-", 1)[-1].lower()
    head = f"{prefix}-{number}"
    slug = _NOT_ALLOWED.sub("-", title.lower()).strip("-")
    room = CHANNEL_NAME_LIMIT - len(head) - 1
    if len(slug) > room:
        cut = slug[:room]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return f"{head}-{slug}" if slug else head
