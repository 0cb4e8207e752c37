"""Durations as people write them in manifests: ``90s``, ``5m``, ``1h30m``, ``168h``.

The format is Go's ``time.ParseDuration`` without signs or sub-millisecond units, the
same as Kubernetes' ``metav1.Duration``. Keeping to it lets the CRDs' CEL rules compare
durations with ``duration()``, which knows nothing of days or weeks.
"""

import re
from datetime import timedelta

DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(DURATION_PATTERN)


class DurationError(ValueError):
    """A duration string that does not follow the format."""


def parse_duration(text: str) -> timedelta:
    """Parses ``text``; raises DurationError naming the text when it is malformed."""
    if not _WHOLE.fullmatch(text):
        raise DurationError(
            f"invalid duration {text!r}: use numbers with units ms, s, m, h, e.g. 90s, 5m, 1h30m"
        )
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


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
