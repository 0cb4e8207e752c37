"""Durations as people write them in manifests: ``90s``, ``5m``, ``1h30m``, ``168h``.

The format is Go's ``time.ParseDuration`` without signs or sub-millisecond units, the
same as Kubernetes' ``metav1.Duration``. Keeping to it lets the CRDs' CEL rules compare
durations with ``duration()``, which knows nothing of days or weeks.

Overflow
--------
Go's (and so CEL's) ``duration()`` fails on anything beyond 2562047h (int64 nanoseconds),
and then a CEL rule fails with a type-conversion error that names the rule, not the
value. So the format itself is bounded: at most 20 characters, and at most 6 digits
before the decimal point of each number. The largest value it admits is under 2100000h
(three ``999999h``-sized parts do not fit in 20 characters), so ``duration()`` never
overflows on a string that matches, and a CEL rule that checks the format first can
always name the field and its bounds instead.
"""

import re
from datetime import timedelta

DURATION_PATTERN = r"^(0|([0-9]{1,6}(\.[0-9]+)?(ms|s|m|h))+)$"
DURATION_MAX_LENGTH = 20

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(DURATION_PATTERN)


class DurationError(ValueError):
    """A duration string that does not follow the format."""


def parse_duration(text: str) -> timedelta:
    """Parses ``text``; raises DurationError naming the text when it is malformed."""
    if len(text) > DURATION_MAX_LENGTH or not _WHOLE.fullmatch(text):
        raise DurationError(
            f"invalid duration {text[: DURATION_MAX_LENGTH + 1]!r}: use numbers of at most 6 "
            f"digits with units ms, s, m, h, e.g. 90s, 5m, 1h30m (at most "
            f"{DURATION_MAX_LENGTH} characters)"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


_UNIT_NANOSECONDS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_PART_DIGITS = re.compile(r"([0-9]+)(?:\.([0-9]+))?(ms|s|m|h)")
_INT64_MAX = 2**63 - 1


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's ``leadingFraction``: the digits as an integer and their scale, stopping (but
    not failing) where the integer would overflow."""
    value, scale = 0, 1.0
    for digit in digits:
        if value > _INT64_MAX // 10:
            break
        following = value * 10 + int(digit)
        if following > 2**63:
            break
        value, scale = following, scale * 10
    return value, scale


def duration_nanoseconds(text: str) -> int:
    """``text`` in nanoseconds, exactly as Go's ``time.ParseDuration`` (and so CEL's
    ``duration()``) reads it, fractions truncated the same way; raises DurationError.

    The bounds of the API compare in nanoseconds with this, so the models and the API
    server's CEL rules agree on values a hair beyond a bound (``3600.0000001s``), which a
    timedelta's microseconds would round away.
    """
    parse_duration(text)
    total = 0
    for whole, fraction, unit in _PART_DIGITS.findall(text):
        nanoseconds = int(whole) * _UNIT_NANOSECONDS[unit]
        if fraction:
            value, scale = _leading_fraction(fraction)
            # Go: v += uint64(float64(f) * (float64(unit) / scale))
            nanoseconds += int(float(value) * (float(_UNIT_NANOSECONDS[unit]) / scale))
        total += nanoseconds
    return total


def format_duration(value: timedelta) -> str:
    """The shortest canonical form: ``1h30m``, ``15m``, ``0s``; inverse of parse_duration."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms < 0:
        raise DurationError(f"negative duration {value}")
    if total_ms == 0:
        return "0s"
    hours, rest_ms = divmod(total_ms, 3_600_000)
    minutes, rest_ms = divmod(rest_ms, 60_000)
    seconds, millis = divmod(rest_ms, 1000)
    if seconds and millis:
        tail = f"{seconds}.{millis:03d}".rstrip("0") + "s"
    elif seconds:
        tail = f"{seconds}s"
    else:
        tail = f"{millis}ms" if millis else ""
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", tail]
    return "".join(parts)


def humanize(value: timedelta) -> str:
    """``2 hours 5 minutes`` — the runbook's ``[X hours Y minutes]``."""
    minutes_total = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes_total, 60)
    return f"{hours} hours {minutes} minutes"
