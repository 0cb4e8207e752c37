"""The one place handlers read the time, so tests and benchmarks can see where it comes from."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
