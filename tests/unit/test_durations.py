from datetime import timedelta

import pytest

from incident_operator.domain.durations import (
    DURATION_MAX_LENGTH,
    DurationError,
    duration_nanoseconds,
    format_duration,
    humanize,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("0s", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("168h", timedelta(weeks=1)),
        ("1.5h", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("1h1m1s", timedelta(hours=1, minutes=1, seconds=1)),
    ],
)
def test_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "5", "-5m", "5 m", "1d", "1w", "m5", "5min", "1h 30m", "PT5M", "500us", "500µs", "10ns"],
)
def test_parse_rejects_with_a_message_naming_the_text(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(weeks=1), "168h"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=1, milliseconds=500), "1.5s"),
    ],
)
def test_format_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_format_refuses_negative() -> None:
    with pytest.raises(DurationError):
        format_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(minutes=125), "2 hours 5 minutes"), (timedelta(seconds=59), "0 hours 0 minutes")],
)
def test_humanize(value: timedelta, text: str) -> None:
    assert humanize(value) == text


# Go's time.ParseDuration (and so CEL's duration()) overflows beyond this many nanoseconds.
GO_LIMIT_NS = 2**63 - 1


@pytest.mark.parametrize(
    "text",
    [
        "9999999999999h",  # the issue's: Go overflows, and Python's timedelta did too
        "1000000ms",  # 7 digits: write 1000s or 16m40s
        "999999h999999h999999h",  # 21 characters
        "0.00000000000000000001s",  # 23 characters
    ],
)
def test_the_format_bounds_length_and_digits(text: str) -> None:
    with pytest.raises(DurationError, match="at most 6 digits"):
        parse_duration(text)


def test_the_largest_durations_the_format_admits_do_not_overflow_go() -> None:
    # Three 7-character parts do not fit in 20 characters; two and a 6-character one do.
    largest = "999999h999999h99999h"
    assert len(largest) == DURATION_MAX_LENGTH
    assert duration_nanoseconds(largest) < GO_LIMIT_NS


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("1h", 3_600_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("250ms", 250_000_000),
        # Sub-nanosecond fractions are truncated, as Go does, not rounded.
        ("3600.0000000009s", 3_600_000_000_000),
        # Beyond a bound by a tenth of a microsecond: a timedelta would round it away.
        ("3600.0000001s", 3_600_000_000_100),
        ("0.1s", 100_000_000),
        ("1.1ms", 1_100_000),
    ],
)
def test_nanoseconds_as_go_reads_them(text: str, nanoseconds: int) -> None:
    assert duration_nanoseconds(text) == nanoseconds
