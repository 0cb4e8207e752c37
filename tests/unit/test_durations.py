from datetime import timedelta

import pytest

from incident_operator.domain.durations import (
    DurationError,
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
    "text", ["", "5", "-5m", "5 m", "1d", "1w", "m5", "5min", "1h 30m", "PT5M"]
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
