"""On-call rotations: one person at any instant, shifts that tile time, local hand-offs."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from incident_operator.domain.rotations import MAX_SHIFTS, Override, Rotation, on_call, shifts

# Zones with and without daylight saving, north and south, whole and half hours.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "America/Sao_Paulo",
]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
PEOPLE = st.lists(st.sampled_from(["alice", "bob", "carol", "dave"]), min_size=1, max_size=6)
INSTANTS = st.integers(min_value=-400 * 24 * 60, max_value=800 * 24 * 60).map(
    lambda minutes: EPOCH + timedelta(minutes=minutes)
)


@st.composite
def overrides(draw: st.DrawFn) -> Override:
    start = draw(INSTANTS)
    minutes = draw(st.integers(min_value=1, max_value=30 * 24 * 60))
    person = draw(st.sampled_from(["erin", "frank"]))
    return Override(person, start, start + timedelta(minutes=minutes))


@st.composite
def rotations(draw: st.DrawFn, with_overrides: bool = True) -> Rotation:
    return Rotation(
        name="primary",
        people=tuple(draw(PEOPLE)),
        start=draw(INSTANTS),
        length=timedelta(hours=draw(st.integers(min_value=1, max_value=2160))),
        time_zone=draw(st.sampled_from(ZONES)),
        overrides=tuple(draw(st.lists(overrides(), max_size=5))) if with_overrides else (),
    )


@given(rotations(), INSTANTS)
def test_exactly_one_person_at_any_instant(rotation: Rotation, at: datetime) -> None:
    shift = on_call(rotation, at)
    assert shift.start <= at < shift.end
    assert shift.person in {*rotation.people, *(o.person for o in rotation.overrides)}
    # The same answer anywhere in the shift: it is one stretch, not an artefact of ``at``.
    assert on_call(rotation, shift.start) == shift
    assert on_call(rotation, shift.end - timedelta(microseconds=1)) == shift


@given(rotations(), INSTANTS, st.integers(min_value=1, max_value=90 * 24))
def test_shifts_tile_time_without_gaps(rotation: Rotation, start: datetime, hours: int) -> None:
    end = start + timedelta(hours=hours)
    listed = shifts(rotation, start, end)
    assert listed[0].start <= start
    assert listed[-1].end >= end or len(listed) == MAX_SHIFTS
    for before, after in itertools.pairwise(listed):
        assert before.start < before.end == after.start


@given(rotations(), INSTANTS)
def test_overrides_win_latest_start_first(rotation: Rotation, at: datetime) -> None:
    covering = [
        (o.start, index, o) for index, o in enumerate(rotation.overrides) if o.start <= at < o.end
    ]
    shift = on_call(rotation, at)
    if covering:
        assert shift.override
        assert shift.person == max(covering, key=lambda entry: entry[:2])[2].person
    else:
        assert not shift.override


@given(
    rotations(with_overrides=False),
    st.integers(min_value=1, max_value=90),
    st.integers(min_value=4 * 60, max_value=22 * 60),
    INSTANTS,
)
def test_whole_day_turns_hand_off_at_the_local_time_of_start(
    rotation: Rotation, days: int, minute_of_day: int, at: datetime
) -> None:
    zone = ZoneInfo(rotation.time_zone)
    # A hand-off time of day that no clock change in these zones skips or repeats.
    hour, minute = divmod(minute_of_day, 60)
    local = rotation.start.astimezone(zone).replace(hour=hour, minute=minute)
    daily = Rotation(
        name=rotation.name,
        people=rotation.people,
        start=local.astimezone(UTC),
        length=timedelta(days=days),
        time_zone=rotation.time_zone,
    )
    for shift in shifts(daily, at, at + timedelta(days=3 * days)):
        for moment in (shift.start, shift.end):
            wall = moment.astimezone(zone)
            assert (wall.hour, wall.minute) == (local.hour, local.minute)
        # Whole turns only: a day is 23 to 25 hours, never a different number of days.
        assert abs(shift.end - shift.start - timedelta(days=days)) <= timedelta(hours=1)
