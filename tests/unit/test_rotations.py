"""Who is on call: turns, hand-off boundaries, overrides and daylight-saving changes."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from incident_operator.api.escalation_policy import EscalationPolicySpec
from incident_operator.api.rotations import Rotation as RotationModel
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.reasons import Reason
from incident_operator.domain.rotations import (
    MAX_SHIFTS,
    Override,
    Rotation,
    Shift,
    next_handoffs,
    on_call,
    shifts,
)
from incident_operator.reconcile.invalid import describe_validation_error
from incident_operator.reconcile.rotations import on_call_in, rotations_condition


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


WEEKLY = Rotation(
    name="primary",
    people=("alice", "bob", "carol"),
    start=utc("2026-11-02T09:00:00Z"),
    length=timedelta(hours=168),
)


@pytest.mark.parametrize(
    ("at", "person", "start", "end"),
    [
        # The first turn begins at start, inclusive.
        ("2026-11-02T09:00:00Z", "alice", "2026-11-02T09:00:00Z", "2026-11-09T09:00:00Z"),
        ("2026-11-09T08:59:59.999999Z", "alice", "2026-11-02T09:00:00Z", "2026-11-09T09:00:00Z"),
        # The hand-off instant belongs to the next person.
        ("2026-11-09T09:00:00Z", "bob", "2026-11-09T09:00:00Z", "2026-11-16T09:00:00Z"),
        ("2026-11-20T00:00:00Z", "carol", "2026-11-16T09:00:00Z", "2026-11-23T09:00:00Z"),
        # After the last person, the first again.
        ("2026-11-23T09:00:00Z", "alice", "2026-11-23T09:00:00Z", "2026-11-30T09:00:00Z"),
        # Before start the turns run backwards.
        ("2026-11-02T08:59:59Z", "carol", "2026-10-26T09:00:00Z", "2026-11-02T09:00:00Z"),
        ("2026-10-20T00:00:00Z", "bob", "2026-10-19T09:00:00Z", "2026-10-26T09:00:00Z"),
        # A time given in another offset is the same instant.
        ("2026-11-09T10:00:00+01:00", "bob", "2026-11-09T09:00:00Z", "2026-11-16T09:00:00Z"),
    ],
)
def test_turns_and_their_boundaries(at: str, person: str, start: str, end: str) -> None:
    assert on_call(WEEKLY, utc(at)) == Shift(person, utc(start), utc(end), override=False)


def _with(*overrides: tuple[str, str, str]) -> Rotation:
    return Rotation(
        name="primary",
        people=("alice", "bob"),
        start=utc("2026-11-02T09:00:00Z"),
        length=timedelta(hours=168),
        overrides=tuple(Override(p, utc(s), utc(e)) for p, s, e in overrides),
    )


@pytest.mark.parametrize(
    ("overrides", "at", "expected"),
    [
        # Inside an override: its person, for its stretch.
        (
            [("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z")],
            "2026-11-04T12:00:00Z",
            ("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", True),
        ),
        # Before it, the turn ends where the override begins ...
        (
            [("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z")],
            "2026-11-03T00:00:00Z",
            ("alice", "2026-11-02T09:00:00Z", "2026-11-04T00:00:00Z", False),
        ),
        # ... and after it, resumes where it ends (end is exclusive).
        (
            [("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z")],
            "2026-11-05T00:00:00Z",
            ("alice", "2026-11-05T00:00:00Z", "2026-11-09T09:00:00Z", False),
        ),
        # Across a hand-off, the override holds on; the turn after it is cut short.
        (
            [("dave", "2026-11-08T00:00:00Z", "2026-11-10T00:00:00Z")],
            "2026-11-09T09:00:00Z",
            ("dave", "2026-11-08T00:00:00Z", "2026-11-10T00:00:00Z", True),
        ),
        (
            [("dave", "2026-11-08T00:00:00Z", "2026-11-10T00:00:00Z")],
            "2026-11-10T00:00:00Z",
            ("bob", "2026-11-10T00:00:00Z", "2026-11-16T09:00:00Z", False),
        ),
        # Overlapping: the one that starts latest wins while it lasts ...
        (
            [
                ("dave", "2026-11-03T00:00:00Z", "2026-11-06T00:00:00Z"),
                ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
            ],
            "2026-11-04T00:00:00Z",
            ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", True),
        ),
        # ... whatever the order they are listed in ...
        (
            [
                ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
                ("dave", "2026-11-03T00:00:00Z", "2026-11-06T00:00:00Z"),
            ],
            "2026-11-04T23:00:00Z",
            ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", True),
        ),
        # ... and the earlier one covers the rest of its stretch.
        (
            [
                ("dave", "2026-11-03T00:00:00Z", "2026-11-06T00:00:00Z"),
                ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
            ],
            "2026-11-05T00:00:00Z",
            ("dave", "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z", True),
        ),
        # Starting together: the one listed later wins.
        (
            [
                ("dave", "2026-11-04T00:00:00Z", "2026-11-06T00:00:00Z"),
                ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
            ],
            "2026-11-04T01:00:00Z",
            ("erin", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", True),
        ),
        # Back to back, the same person: one stretch.
        (
            [
                ("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"),
                ("dave", "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z"),
            ],
            "2026-11-04T01:00:00Z",
            ("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", True),
        ),
    ],
)
def test_overrides(
    overrides: list[tuple[str, str, str]], at: str, expected: tuple[str, str, str, bool]
) -> None:
    person, start, end, override = expected
    assert on_call(_with(*overrides), utc(at)) == Shift(person, utc(start), utc(end), override)


def _berlin(length_hours: int, start: str = "2026-03-23T09:00:00+01:00") -> Rotation:
    return Rotation(
        name="primary",
        people=("alice", "bob"),
        start=utc(start),
        length=timedelta(hours=length_hours),
        time_zone="Europe/Berlin",
    )


@pytest.mark.parametrize(
    ("rotation", "at", "person", "start", "end"),
    [
        # Weekly at 09:00 Berlin time: 08:00Z in winter, 07:00Z in summer (29 March 2026).
        (_berlin(168), "2026-03-25T00:00:00Z", "alice", "2026-03-23T08:00Z", "2026-03-30T07:00Z"),
        (_berlin(168), "2026-03-30T07:00:00Z", "bob", "2026-03-30T07:00Z", "2026-04-06T07:00Z"),
        # And back to 08:00Z after clocks go back (25 October 2026): a 169-hour week.
        (_berlin(168), "2026-10-20T00:00:00Z", "alice", "2026-10-19T07:00Z", "2026-10-26T08:00Z"),
        # Daily at 09:00: the day of the change is 23 hours long.
        (_berlin(24), "2026-03-29T07:30:00Z", "alice", "2026-03-29T07:00Z", "2026-03-30T07:00Z"),
        (_berlin(24), "2026-03-29T06:30:00Z", "bob", "2026-03-28T08:00Z", "2026-03-29T07:00Z"),
        # Twelve-hour turns at 09:00 and 21:00 local, either side of the change.
        (_berlin(12), "2026-03-28T21:00:00Z", "bob", "2026-03-28T20:00Z", "2026-03-29T07:00Z"),
        (_berlin(12), "2026-03-29T18:30:00Z", "alice", "2026-03-29T07:00Z", "2026-03-29T19:00Z"),
        # A 02:30 hand-off on the night 02:00 jumps to 03:00 is at 03:30 summer time.
        (
            _berlin(24, "2026-03-27T02:30:00+01:00"),
            "2026-03-29T01:00:00Z",
            "bob",
            "2026-03-28T01:30Z",
            "2026-03-29T01:30Z",
        ),
        # A 02:30 hand-off on the night 03:00 goes back to 02:00 is at the first 02:30.
        (
            _berlin(24, "2026-10-23T02:30:00+02:00"),
            "2026-10-25T00:40:00Z",
            "alice",
            "2026-10-25T00:30Z",
            "2026-10-26T01:30Z",
        ),
    ],
)
def test_hand_offs_keep_local_time(
    rotation: Rotation, at: str, person: str, start: str, end: str
) -> None:
    assert on_call(rotation, utc(at)) == Shift(person, utc(start), utc(end), override=False)


def test_a_turn_inside_the_skipped_hour_is_skipped() -> None:
    hourly = Rotation(
        name="hourly",
        people=("alice", "bob"),
        start=utc("2026-03-29T00:00:00+01:00"),
        length=timedelta(hours=1),
        time_zone="Europe/Berlin",
    )
    listed = shifts(hourly, utc("2026-03-29T00:00:00+01:00"), utc("2026-03-29T04:00:00+02:00"))
    # 00:00 alice, 01:00 bob, 02:00 (skipped: read as 03:00 summer time) alice, 03:00 bob.
    assert [(s.person, s.start, s.end) for s in listed] == [
        ("alice", utc("2026-03-28T23:00Z"), utc("2026-03-29T00:00Z")),
        ("bob", utc("2026-03-29T00:00Z"), utc("2026-03-29T01:00Z")),
        ("bob", utc("2026-03-29T01:00Z"), utc("2026-03-29T02:00Z")),
    ]


def test_shifts_tile_the_window_and_are_listed_whole() -> None:
    rotation = _with(("dave", "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z"))
    listed = shifts(rotation, utc("2026-11-03T00:00:00Z"), utc("2026-11-10T00:00:00Z"))
    assert [(s.person, s.start, s.end, s.override) for s in listed] == [
        ("alice", utc("2026-11-02T09:00Z"), utc("2026-11-04T00:00Z"), False),
        ("dave", utc("2026-11-04T00:00Z"), utc("2026-11-05T00:00Z"), True),
        ("alice", utc("2026-11-05T00:00Z"), utc("2026-11-09T09:00Z"), False),
        ("bob", utc("2026-11-09T09:00Z"), utc("2026-11-16T09:00Z"), False),
    ]


def test_listings_are_bounded() -> None:
    hourly = Rotation("h", ("a", "b"), utc("2026-01-01T00:00Z"), timedelta(hours=1))
    assert len(shifts(hourly, utc("2026-01-01T00:00Z"), utc("2027-01-01T00:00Z"))) == MAX_SHIFTS
    assert len(next_handoffs(hourly, utc("2026-01-01T00:00Z"), 5)) == 6


NOON = "2026-11-04T12:00:00Z"


def _spec(rotation: dict[str, Any]) -> dict[str, Any]:
    base = {"name": "primary", "people": ["alice"], "start": "2026-11-02T09:00:00Z"}
    return {"rotations": [{**base, **rotation}]}


@pytest.mark.parametrize(
    ("rotation", "message"),
    [
        (
            {"overrides": [{"user": "d", "start": NOON, "end": NOON}]},
            "spec.rotations.0.overrides.0: Value error, end must be after start",
        ),
        ({"timeZone": "Europe/Berlin "}, "spec.rotations.0.timeZone: String should match"),
        ({"timeZone": "../etc/passwd"}, "spec.rotations.0.timeZone: String should match"),
        ({"length": "30m"}, "spec.rotations.0.length: Value error, must be between 1h and 2160h"),
        ({"length": "2161h"}, "spec.rotations.0.length: Value error, must be between 1h and 2160h"),
        ({"people": []}, "spec.rotations.0.people: List should have at least 1 item"),
        (
            {"people": [f"p{n}" for n in range(53)]},
            "spec.rotations.0.people: List should have at most 52",
        ),
        ({"start": "2026-11-02T09:00:00"}, "spec.rotations.0.start: Value error, must be an RFC"),
        ({"name": "Primary"}, "spec.rotations.0.name: String should match pattern"),
    ],
)
def test_model_refusals_name_the_field(rotation: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        EscalationPolicySpec.model_validate(_spec(rotation))
    assert describe_validation_error(refused.value, "spec").startswith(message)


def test_rotation_names_are_unique() -> None:
    spec = _spec({})
    spec["rotations"].append(spec["rotations"][0])
    with pytest.raises(ValidationError, match=re.escape("Duplicate value: {'name': 'primary'}")):
        EscalationPolicySpec.model_validate(spec)


def test_model_defaults_and_schedule() -> None:
    model = RotationModel.model_validate(_spec({})["rotations"][0])
    assert (model.length, model.time_zone, model.overrides) == ("168h", "UTC", [])
    schedule = model.schedule()
    assert schedule.length == timedelta(hours=168)
    assert on_call(schedule, utc("2026-11-03T00:00Z")).person == "alice"


def _rotations(*zones: str) -> list[RotationModel]:
    return [
        RotationModel.model_validate(
            {"name": f"r{i}", "people": ["a"], "start": NOON, "timeZone": zone}
        )
        for i, zone in enumerate(zones)
    ]


NOW = utc("2026-11-26T12:00:00Z")


def test_no_rotations_no_condition() -> None:
    assert rotations_condition([], [], NOW, 1) is None


def test_known_zones_are_true() -> None:
    condition = rotations_condition([], _rotations("UTC", "Europe/Berlin"), NOW, 3)
    assert condition is not None
    assert (condition.status, condition.reason, condition.observed_generation) == (
        ConditionStatus.TRUE,
        Reason.TIME_ZONES_KNOWN,
        3,
    )
    # Unchanged: nothing to write.
    assert rotations_condition([condition], _rotations("UTC", "Europe/Berlin"), NOW, 3) is None


def test_an_unknown_zone_is_false_naming_the_field() -> None:
    condition = rotations_condition([], _rotations("UTC", "Europe/Berln", "America"), NOW, 2)
    assert condition is not None
    assert (condition.status, condition.reason) == (
        ConditionStatus.FALSE,
        Reason.UNKNOWN_TIME_ZONE,
    )
    assert condition.message == (
        "spec.rotations[1].timeZone: unknown time zone 'Europe/Berln' (rotation r1); use an "
        "IANA name such as Europe/Berlin; spec.rotations[2].timeZone: unknown time zone "
        "'America' (rotation r2); use an IANA name such as Europe/Berlin"
    )


def test_removing_every_rotation_clears_a_false_condition() -> None:
    false = rotations_condition([], _rotations("Nowhere/Land"), NOW, 1)
    assert false is not None
    cleared = rotations_condition([false], [], NOW, 2)
    assert cleared is not None
    assert cleared.status is ConditionStatus.TRUE


def test_on_call_in_a_rotation_by_name() -> None:
    rotations = _rotations("UTC", "Nowhere/Land")
    assert on_call_in(rotations, "r0", NOW) == Shift(
        "a", utc("2026-11-25T12:00:00Z"), utc("2026-12-02T12:00:00Z"), override=False
    )
    assert on_call_in(rotations, "r1", NOW) is None  # unknown zone: no guess
    assert on_call_in(rotations, "missing", NOW) is None
