"""When customers are owed a message, by the runbook: pure rules, the clock passed in.

The runbook's P0 and P1 actions say "Begin customer communication within 15 minutes"
(30 for P1); its communication cadence ("Every 15 minutes", ...) applies to customers
too once they have been told. Customer messages are written and published by people
(the communications lead or the commander); the operator only keeps the clock::

    nothing published yet    due: detection + first-message deadline (P0 15m, P1 30m;
                             none for P2-P4 unless a policy sets one)
    told, still active       due: last published message + the severity's update cadence
    told, resolved           due: the resolution, until a Resolution message is published
    not told, resolved       nothing is due (customers never heard of it)
    Closed                   nothing is due (the record no longer changes)

The next message's kind follows the same cases: Initial until one is published,
Progress while active, Resolution once resolved.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incident_operator.domain.severity import Severity

# The runbook's severity actions: "Begin customer communication within 15/30 minutes".
FIRST_MESSAGE_WITHIN: dict[Severity, timedelta] = {
    Severity.P0: timedelta(minutes=15),
    Severity.P1: timedelta(minutes=30),
}


class CustomerMessageKind(StrEnum):
    """The runbook's three customer communication templates."""

    # "Initial Notification": customers first hear of the incident.
    INITIAL = "Initial"
    # "Progress Update": on the cadence while the incident is active.
    PROGRESS = "Progress"
    # "Resolution Notification": the service is restored.
    RESOLUTION = "Resolution"


class CustomerDue(StrEnum):
    """Which customer message a due time is for (said in the condition and the reminder)."""

    FIRST = "first customer message"
    PROGRESS = "customer progress update"
    RESOLUTION = "customer resolution message"


@dataclass(frozen=True)
class CustomerClock:
    """The next customer message owed: its kind, and by when (None: nothing is owed)."""

    kind: CustomerMessageKind
    due_at: datetime | None
    due: CustomerDue | None


@dataclass(frozen=True)
class Published:
    """What matters of the messages published so far."""

    # When the last one was published; None when none was.
    last_at: datetime | None
    # The last one published was a Resolution: customers' last word is that it is over
    # (a reopening makes the incident active again, and the cadence applies anew).
    last_was_resolution: bool


def customer_clock(
    *,
    detected_at: datetime,
    first_within: timedelta | None,
    update_every: timedelta | None,
    published: Published,
    active: bool,
    resolved_at: datetime | None,
    closed: bool,
) -> CustomerClock:
    """The next customer message and when it is due (see the module's table)."""
    if published.last_at is None:
        if not active:
            # Never told and already resolved: there is nothing to tell them about.
            return CustomerClock(CustomerMessageKind.INITIAL, None, None)
        due_at = detected_at + first_within if first_within is not None else None
        return CustomerClock(
            CustomerMessageKind.INITIAL, due_at, CustomerDue.FIRST if due_at else None
        )
    if active:
        due_at = published.last_at + update_every if update_every is not None else None
        return CustomerClock(
            CustomerMessageKind.PROGRESS, due_at, CustomerDue.PROGRESS if due_at else None
        )
    if closed or published.last_was_resolution or resolved_at is None:
        return CustomerClock(CustomerMessageKind.RESOLUTION, None, None)
    return CustomerClock(CustomerMessageKind.RESOLUTION, resolved_at, CustomerDue.RESOLUTION)
