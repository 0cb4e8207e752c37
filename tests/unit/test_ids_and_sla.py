from datetime import UTC, datetime, timedelta

import pytest

from incident_operator.domain.ids import (
    format_incident_id,
    parse_incident_id,
    parse_incident_reference,
)
from incident_operator.domain.severity import Severity, level
from incident_operator.domain.sla import compute_deadlines, next_business_day


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "INC-0001"), (42, "INC-0042"), (9999, "INC-9999"), (12345, "INC-12345")],
)
def test_ids_round_trip(number: int, text: str) -> None:
    assert format_incident_id(number) == text
    assert parse_incident_id(text) == number
    assert parse_incident_id(text.lower()) == number


@pytest.mark.parametrize("text", ["INC-1", "INC-", "inc-00x1", "0042", "my-incident"])
def test_not_ids(text: str) -> None:
    assert parse_incident_id(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("INC-0042", 42),
        ("inc-42", 42),
        ("INC-42", 42),
        ("42", 42),
        ("0042", 42),
        ("INC-12345", 12345),
    ],
)
def test_references_people_type(text: str, number: int) -> None:
    assert parse_incident_reference(text) == number


@pytest.mark.parametrize("text", ["INC-", "INC-0", "0", "inc-00x1", "my-incident", "inc-42-db"])
def test_not_references(text: str) -> None:
    assert parse_incident_reference(text) is None


def test_a_bare_number_is_a_reference_only_where_asked() -> None:
    assert parse_incident_reference("42", bare_number=False) is None
    assert parse_incident_reference("INC42", bare_number=False) == 42


def test_ids_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        format_incident_id(0)


# 2026-11-25 is a Wednesday.
WED = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FRI = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
SAT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
MON = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [(WED, WED + timedelta(days=1)), (FRI, MON), (SAT, MON)],
)
def test_next_business_day(moment: datetime, expected: datetime) -> None:
    assert next_business_day(moment) == expected


@pytest.mark.parametrize(
    ("severity", "response", "resolution", "update"),
    [
        (Severity.P0, timedelta(minutes=5), timedelta(hours=1), timedelta(minutes=15)),
        (Severity.P1, timedelta(minutes=15), timedelta(hours=4), timedelta(minutes=30)),
        (Severity.P2, timedelta(minutes=30), timedelta(hours=8), timedelta(hours=1)),
        (Severity.P3, timedelta(hours=2), timedelta(hours=24), timedelta(days=1)),
        (Severity.P4, timedelta(days=1), timedelta(weeks=1), None),
    ],
)
def test_deadlines_from_detection(
    severity: Severity, response: timedelta, resolution: timedelta, update: timedelta | None
) -> None:
    deadlines = compute_deadlines(level(severity), WED)
    assert deadlines.response_due == WED + response
    assert deadlines.resolution_due == WED + resolution
    assert deadlines.next_update_due == (None if update is None else WED + update)


def test_an_update_restarts_the_communication_clock_only() -> None:
    posted = WED + timedelta(minutes=10)
    deadlines = compute_deadlines(level(Severity.P0), WED, posted)
    assert deadlines.next_update_due == posted + timedelta(minutes=15)
    assert deadlines.response_due == WED + timedelta(minutes=5)
