"""The chat log: lines of an incident's Slack channel the scribe would have written down.

Two halves, both pure (docs/chat-ops.md#logging-from-chat):

- taking a line (runtime/chat_log.py): a message starting with the policy's
  ``spec.chat.logMarker`` (the marker a word of its own: ``!log deploy reverted``), or a
  pinned message, becomes a ChatLogEntry in ``status.chat.log``, keyed by its Slack ts so
  a message (or its retried delivery, or its pin after it was logged) is logged once. The
  author is the Kubernetes user of the policy contact whose ``slack.mention`` is the Slack
  member ID, else ``slack:<ID>``;
- telling it (the lifecycle, reconcile/incident.py): each new line becomes one ChatLogged
  timeline entry with its author and text. ``status.chat.log`` is kept in the order lines
  arrived (a pin of an old message comes last); ``status.recorded.chatLog`` holds the ts
  of the last line told, and the lines after it are new, so a restart repeats nothing. When
  the log is full its oldest lines are dropped; a recorded ts no longer there was dropped
  with them, and every line left is new.
"""

from collections.abc import Sequence

from incident_operator.api.chat import CHAT_LOG_LIMIT, ChatLogEntry
from incident_operator.api.contacts import Contact
from incident_operator.api.incident import IncidentStatus
from incident_operator.domain.reasons import EntryType
from incident_operator.domain.timeline import Entry
from incident_operator.reconcile.slack_events import ChatLine, ts_time

# ChatLogEntry.text's bound.
TEXT_LIMIT = 4096
AUTHOR_LIMIT = 256
# Slack escapes these three in message text (and nothing else).
_SLACK_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def unescape(text: str) -> str:
    for escaped, plain in _SLACK_ESCAPES:
        text = text.replace(escaped, plain)
    return text


def logged_text(line: ChatLine, marker: str) -> str | None:
    """What the line logs: its text without the marker (case aside); None when it logs
    nothing (no marker as its first word, or nothing after it). A pin logs its whole text,
    without the marker if it starts with it."""
    text = unescape(line.text).strip()
    head = text[: len(marker)]
    rest = text[len(marker) :]
    marked = head.lower() == marker.lower() and (not rest or rest[0].isspace())
    if marked:
        text = rest.strip()
    elif not line.pinned:
        return None
    return text[:TEXT_LIMIT] or None


def slack_author(user: str, contacts: Sequence[Contact]) -> str:
    """The Kubernetes user of the contact whose slack.mention is ``user`` (with or without
    its @), else ``slack:<user>``."""
    for contact in contacts:
        mention = contact.slack.mention if contact.slack else None
        if mention and contact.user and mention.removeprefix("@") == user:
            return contact.user
    return f"slack:{user}"[:AUTHOR_LIMIT]


def chat_log_entry(line: ChatLine, text: str, author: str) -> ChatLogEntry:
    return ChatLogEntry(ts=line.ts, author=author, text=text, time=ts_time(line.ts))


def with_line(
    log: Sequence[ChatLogEntry], entry: ChatLogEntry, limit: int = CHAT_LOG_LIMIT
) -> list[ChatLogEntry] | None:
    """The log with ``entry`` last (its oldest lines dropped to stay within ``limit``);
    None when a line of that ts is already there: nothing to write."""
    if any(logged.ts == entry.ts for logged in log):
        return None
    return [*log, entry][-limit:]


def record_chat_log(status: IncidentStatus) -> list[Entry]:
    """One ChatLogged entry per line of status.chat.log not told yet;
    ``status.recorded.chat_log`` moves on (``status`` is the lifecycle's working copy:
    changed in place)."""
    log = status.chat.log if status.chat is not None else []
    told = status.recorded.chat_log
    positions = [i for i, line in enumerate(log) if line.ts == told]
    new = log[positions[-1] + 1 :] if positions else log
    if new:
        status.recorded.chat_log = new[-1].ts
    return [Entry(line.time, EntryType.CHAT_LOGGED, line.author, line.text) for line in new]
