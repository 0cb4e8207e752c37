"""SLA deadlines of an incident, computed from its severity level and the clock.

Deadlines are absolute times so they can be stored in status and survive restarts: an
operator that comes back reads them instead of recomputing from memory.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from incident_operator.domain.severity import SeverityLevel

_SATURDAY = 5


def next_business_day(moment: datetime) -> datetime:
    """The same time on the next weekday (Monday to Friday) after ``moment``."""
    candidate = moment + timedelta(days=1)
    while candidate.weekday() >= _SATURDAY:
        candidate += timedelta(days=1)
    return candidate


@dataclass(frozen=True)
class Deadlines:
    """When the first response, the resolution and the next status update are due."""

    response_due: datetime
    resolution_due: datetime
    # None when the severity has no cadence (P4: "as needed").
    next_update_due: datetime | None


def response_due(level: SeverityLevel, detected_at: datetime) -> datetime:
    if level.response_time is None:
        return next_business_day(detected_at)
    return detected_at + level.response_time


def next_update_due(level: SeverityLevel, last_communication_at: datetime) -> datetime | None:
    """The cadence restarts from the latest communication (declaration or update)."""
    if level.update_every is None:
        return None
    return last_communication_at + level.update_every


def compute_deadlines(
    level: SeverityLevel, detected_at: datetime, last_communication_at: datetime | None = None
) -> Deadlines:
    return Deadlines(
        response_due=response_due(level, detected_at),
        resolution_due=detected_at + level.resolution_target,
        next_update_due=next_update_due(level, last_communication_at or detected_at),
    )


def overdue(due: datetime | None, now: datetime) -> bool:
    return due is not None and now > due


def next_wakeup(deadlines: list[datetime | None], now: datetime) -> datetime | None:
    """The earliest deadline still ahead: when the operator must look again."""
    ahead = [d for d in deadlines if d is not None and d > now]
    return min(ahead) if ahead else None
