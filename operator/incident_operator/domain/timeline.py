"""Keeping the scribe's timeline bounded without losing count of what happened.

When the timeline grows past its limit, the oldest entries are folded into one summary
entry that says how many there were, of which kinds, and from when to when; a summary
folded again adds its count, so the total is never lost.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from incident_operator.domain.reasons import EntryType

SUMMARY_TYPE = EntryType.SUMMARIZED
_COUNT_PREFIX = "count="


@dataclass(frozen=True)
class Entry:
    time: datetime
    type: str
    actor: str
    message: str


def _count(entry: Entry) -> int:
    if entry.type != SUMMARY_TYPE:
        return 1
    head = entry.message.split(" ", 1)[0]
    return int(head.removeprefix(_COUNT_PREFIX)) if head.startswith(_COUNT_PREFIX) else 1


def bound(entries: list[Entry], limit: int) -> list[Entry]:
    """At most ``limit`` entries: the oldest folded into one summary at the front."""
    if len(entries) <= limit:
        return entries
    folded, kept = entries[: len(entries) - limit + 1], entries[len(entries) - limit + 1 :]
    total = sum(_count(e) for e in folded)
    kinds = Counter(e.type for e in folded if e.type != SUMMARY_TYPE)
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    message = (
        f"{_COUNT_PREFIX}{total} earlier entries summarised "
        f"({folded[0].time.isoformat()} to {folded[-1].time.isoformat()})"
        + (f": {detail}" if detail else "")
    )
    summary = Entry(folded[-1].time, SUMMARY_TYPE, "incident-operator", message)
    return [summary, *kept]
