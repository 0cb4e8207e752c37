"""Who is on call at a given instant: a rotation of people, with overrides.

A rotation is one layer in PagerDuty's sense: ``people`` take turns of ``length``, the
first turn beginning at ``start``, hand-offs keeping the local time of ``start`` in the
rotation's time zone. Overrides (someone covering for a while) win over the layer.
Everything here is pure: the instant asked about is passed in.

Hand-offs in local time
-----------------------
Hand-off ``k`` is at the wall-clock time ``start + k * length`` in the rotation's time
zone, not ``k * length`` seconds after ``start``. So a weekly rotation that starts on a
Monday at 09:00 Europe/Berlin hands off every Monday at 09:00 Berlin time, summer or
winter, and the week that contains a clock change is an hour shorter or longer. With
UTC (the default) the two readings are the same.

Where the wall-clock time of a hand-off happens twice (clocks go back), the hand-off is
at the first of the two. Where it does not happen at all (clocks go forward), it is read
with the offset in force before the jump, as Python does (PEP 495): a 02:30 hand-off on
the night clocks jump from 02:00 to 03:00 is at 03:30 summer time. A turn that this
leaves without any length (a one-hour turn inside the skipped hour) is skipped.

The layer repeats in both directions: ``start`` fixes which person's turn it is, so
before ``start`` the turns run backwards from it, and somebody is on call at any instant.

Overrides
---------
An override puts ``person`` on call from ``start`` (inclusive) to ``end`` (exclusive),
whoever the layer names. Where overrides overlap, the one that starts latest wins (the
most recent arrangement is the one people mean); between two that start together, the
one listed later. A person's time on call is cut into pieces wherever an override begins
or ends, so a ``Shift`` is a stretch with one person and one reason.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Listings stop after this many shifts, whatever window is asked for: a bound on the work
# a one-hour rotation asked about for a year would otherwise cost.
MAX_SHIFTS = 1000


@dataclass(frozen=True)
class Override:
    """Someone covering a stretch of the rotation."""

    person: str
    start: datetime  # aware; inclusive
    end: datetime  # aware; exclusive, after start


@dataclass(frozen=True)
class Rotation:
    """One layer of people taking turns, plus its overrides."""

    name: str
    people: tuple[str, ...]  # in turn order; at least one
    start: datetime  # aware: when the first turn (people[0]'s) begins
    length: timedelta  # of one turn, in wall-clock time of the zone; positive
    time_zone: str = "UTC"  # an IANA name; hand-offs keep start's local time in it
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Shift:
    """A stretch of time with one person on call."""

    person: str
    start: datetime  # inclusive, in UTC
    end: datetime  # exclusive, in UTC
    override: bool  # whether an override (rather than the rotation's turn) put them there


def known_time_zone(name: str) -> bool:
    """Whether ``name`` is a zone of the IANA database this process has."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, as America
        return False
    return True


def _handoff(rotation: Rotation, zone: ZoneInfo, turn: int) -> datetime:
    """When turn ``turn`` begins: start's local time plus ``turn`` lengths, on the wall."""
    local_start = rotation.start.astimezone(zone).replace(tzinfo=None)
    wall = local_start + turn * rotation.length
    # fold=0: the first of a repeated time; a skipped time read with the earlier offset.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _turn_at(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """The turn whose stretch holds ``at``: the last whose hand-off is at or before it."""
    local_start = rotation.start.astimezone(zone).replace(tzinfo=None)
    local_at = at.astimezone(zone).replace(tzinfo=None)
    # A first guess from wall-clock time, off by at most one near a clock change.
    turn = (local_at - local_start) // rotation.length
    while _handoff(rotation, zone, turn) > at:
        turn -= 1
    while _handoff(rotation, zone, turn + 1) <= at:
        turn += 1
    return turn


@dataclass(frozen=True)
class _Cover:
    """A stretch in which one override wins."""

    override: Override
    start: datetime
    end: datetime


def _covers(overrides: Sequence[Override]) -> list[_Cover]:
    """The stretches overrides win, in order, without overlaps (latest-starting wins)."""
    edges = sorted({moment.astimezone(UTC) for o in overrides for moment in (o.start, o.end)})
    covers: list[_Cover] = []
    for begin, finish in itertools.pairwise(edges):
        ranked = [
            (o.start, index, o)
            for index, o in enumerate(overrides)
            if o.start <= begin and finish <= o.end
        ]
        if not ranked:
            continue
        winner = max(ranked, key=lambda entry: (entry[0], entry[1]))[2]
        if covers and covers[-1].override is winner and covers[-1].end == begin:
            covers[-1] = _Cover(winner, covers[-1].start, finish)
        else:
            covers.append(_Cover(winner, begin, finish))
    return covers


def on_call(rotation: Rotation, at: datetime) -> Shift:
    """Who is on call at ``at`` (aware), and the stretch they are on call for."""
    return _Schedule(rotation).shift_at(at)


def shifts(rotation: Rotation, start: datetime, end: datetime) -> list[Shift]:
    """The shifts that cover ``[start, end)``, in order, at most ``MAX_SHIFTS``.

    The first may begin before ``start`` and the last end after ``end``: shifts are
    listed whole, and each begins where the one before it ends.
    """
    schedule = _Schedule(rotation)
    listed: list[Shift] = []
    moment = start.astimezone(UTC)
    while moment < end and len(listed) < MAX_SHIFTS:
        shift = schedule.shift_at(moment)
        listed.append(shift)
        moment = shift.end
    return listed


def next_handoffs(rotation: Rotation, at: datetime, count: int) -> list[Shift]:
    """The shift at ``at`` and the ``count`` that follow it (at most ``MAX_SHIFTS``)."""
    schedule = _Schedule(rotation)
    listed = [schedule.shift_at(at)]
    while len(listed) <= min(count, MAX_SHIFTS):
        listed.append(schedule.shift_at(listed[-1].end))
    return listed


class _Schedule:
    """A rotation with its zone and override stretches worked out once, for listings."""

    def __init__(self, rotation: Rotation) -> None:
        self.rotation = rotation
        self.zone = ZoneInfo(rotation.time_zone)
        self.covers = _covers(rotation.overrides)

    def shift_at(self, at: datetime) -> Shift:
        at = at.astimezone(UTC)
        for cover in self.covers:
            if cover.start <= at < cover.end:
                return Shift(cover.override.person, cover.start, cover.end, override=True)
        rotation, zone = self.rotation, self.zone
        turn = _turn_at(rotation, zone, at)
        start, end = _handoff(rotation, zone, turn), _handoff(rotation, zone, turn + 1)
        # The turn, cut where an override ends before ``at`` or begins after it.
        start = max([start, *(c.end for c in self.covers if start < c.end <= at)])
        end = min([end, *(c.start for c in self.covers if at < c.start < end)])
        person = rotation.people[turn % len(rotation.people)]
        return Shift(person, start, end, override=False)
