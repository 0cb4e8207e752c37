"""Gaps in the data, and the readings they make Unknown until a rule's range is whole again.

Why
===
A rule's query reads a stretch of the past, not an instant: ``rate(x[5m])`` the last five
minutes, ``rate(x[5m] offset 1d)`` five minutes a day ago. When Prometheus was down (or
answered nothing) for a while, such a stretch holds part of the outage, and a value
extrapolated from the samples on either side of it is not what the workload did: a
workload steadily at 95% CPU read as recovered, a steady request rate as a drop. So a
reading whose stretch overlaps a gap is Unknown, like no reading at all (nothing opened,
recovered or raised; ``for`` clocks pause), until the stretch lies wholly after the gap
again, and, for an offset, until the shifted stretch has passed the gap too.

What a gap is
=============
What the operator saw, per rule: the time between the last cycle that had data and the
first that has data again, the cycles in between having had no answer (Prometheus
unreachable, an error) or an answer without a series for any watched workload::

    cycle:    ok    ok   fail  fail  empty   ok    ok    ok    ok
    time:      0    15    30    45    60     75    90   105   120
    gap:             (15 ......................75)
    rate(x[30s]) at t reads [t-30s, t]: Unknown at 75 and 90, usable from 105.
    rate(x[30s] offset 1h) reads [t-1h-30s, t-1h]: Unknown again from 1h+15 to 1h+105.

An empty answer with no earlier data is no gap (a new rule or a new workload: there was
nothing to miss); a failed query is one even then, starting at that cycle.

Why the operator's own view, not a question to Prometheus: which series and scrape jobs a
query depends on is not known in general (custom queries, several jobs), and "is this
range covered" has no one PromQL answer that holds for every rule; what the operator saw
needs no extra query and applies to every rule alike. What it cannot see: a gap while the
operator was not running (after a restart it only knows gaps from then on), a gap shorter
than one cycle, and one target's missed scrapes while the rule still had data for other
workloads (range functions bridge those as they bridge any missed scrape).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

_ZERO = timedelta(0)


@dataclass(frozen=True)
class QueryWindow:
    """The stretches of the past a query reads: for each offset ``o``, ``[t-o-range, t-o]``.

    ``range`` is the longest range selector of the query (0 when it has none: an instant
    selector reads the latest sample); ``offsets`` always include 0.
    """

    range: timedelta = _ZERO
    offsets: tuple[timedelta, ...] = (_ZERO,)

    def stretches(self, at: datetime) -> Iterator[tuple[timedelta, datetime, datetime]]:
        """(offset, start, end) of each stretch the reading at ``at`` depends on."""
        for offset in self.offsets:
            yield offset, at - offset - self.range, at - offset

    @property
    def reach(self) -> timedelta:
        """How long after its end a gap can still make a reading Unknown."""
        return max(self.offsets, default=_ZERO) + self.range


class Outcome(StrEnum):
    """What one cycle of a rule got."""

    # Values for at least one watched workload.
    DATA = "data"
    # An answer, but without a series for any watched workload.
    EMPTY = "empty"
    # No answer: Prometheus unreachable, or an error.
    FAILED = "failed"


@dataclass(frozen=True)
class Gap:
    """A stretch without data: from the last cycle that had some to the first that has again."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class DataGaps:
    """What one rule remembers of the gaps in its data."""

    # The last cycle that had data; None before the first.
    last_data_at: datetime | None = None
    # A gap in progress: since when (the last cycle with data, or the first failure).
    open_since: datetime | None = None
    # Gaps that ended, kept while they can still make a reading Unknown.
    closed: tuple[Gap, ...] = ()


def track_gaps(gaps: DataGaps, outcome: Outcome, now: datetime, reach: timedelta) -> DataGaps:
    """The gaps after a cycle with ``outcome``; gaps that ended more than ``reach`` ago are
    forgotten (they can no longer overlap a reading)."""
    closed = tuple(gap for gap in gaps.closed if gap.end + reach > now)
    if outcome is Outcome.DATA:
        if gaps.open_since is not None:
            closed += (Gap(gaps.open_since, now),)
        return DataGaps(last_data_at=now, open_since=None, closed=closed)
    open_since = gaps.open_since
    if open_since is None:
        if gaps.last_data_at is not None:
            open_since = gaps.last_data_at
        elif outcome is Outcome.FAILED:
            open_since = now
    return DataGaps(last_data_at=gaps.last_data_at, open_since=open_since, closed=closed)


@dataclass(frozen=True)
class Overlap:
    """A reading's stretch overlaps ``gap``; it is usable again from ``until`` (unless
    another gap comes)."""

    gap: Gap
    offset: timedelta
    until: datetime


def overlapping(gaps: DataGaps, window: QueryWindow, now: datetime) -> Overlap | None:
    """The gap the reading at ``now`` overlaps (the one it is Unknown for longest), or None
    when every stretch it reads lies wholly before or after every gap that ended.

    A gap still open is not looked at: a cycle without data is Unknown anyway.
    """
    found: Overlap | None = None
    for gap in gaps.closed:
        for offset, start, end in window.stretches(now):
            if start < gap.end and end > gap.start:
                until = gap.end + offset + window.range
                if found is None or until > found.until:
                    found = Overlap(gap, offset, until)
    return found
