"""When a maintenance window holds: an absolute span, or the occurrences of a cron schedule.

A schedule's cron is read in its IANA time zone (cronsim with zoneinfo): ``0 2 * * *`` in
Europe/Berlin starts at 02:00 local time on both sides of a daylight-saving change; a
start that does not exist that night (spring forward) moves to the next existing minute,
and one that exists twice (fall back) is taken the first time. Each occurrence then lasts
``duration`` of real time. The clock is passed in.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim


@dataclass(frozen=True)
class Span:
    """One occurrence of a window, in UTC: it holds for ``start <= now < end``."""

    start: datetime
    end: datetime

    def holds(self, now: datetime) -> bool:
        return self.start <= now < self.end


def occurrence(cron: str, time_zone: str, duration: timedelta, now: datetime) -> Span | None:
    """The occurrence of the schedule ``now`` falls in; None between occurrences.

    When occurrences overlap (a duration longer than the interval), the earliest one that
    still holds is returned.
    """
    zone = ZoneInfo(time_zone)
    # Occurrences that started after ``now - duration`` have not ended by ``now``.
    start = next(CronSim(cron, (now - duration).astimezone(zone)))
    span = Span(start.astimezone(UTC), start.astimezone(UTC) + duration)
    return span if span.holds(now) else None


def next_start(cron: str, time_zone: str, now: datetime) -> datetime:
    """When the schedule next starts an occurrence after ``now``, in UTC."""
    return next(CronSim(cron, now.astimezone(ZoneInfo(time_zone)))).astimezone(UTC)
