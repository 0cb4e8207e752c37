"""Polling with deadlines: the only way the harness waits for anything."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
# The first pause between two tries of wait_until.
FIRST_RETRY = 0.025


class WaitTimeoutError(TimeoutError):
    """A condition did not hold before its deadline."""


class ComponentFailedError(RuntimeError):
    """A component exited, or did not become healthy, while the harness waited for it."""


def wait_until(
    check: Callable[[], T | None],
    *,
    what: str,
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], str | None] | None = None,
    detail: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy, and return that.

    ``check`` may raise: the exception counts as "not yet" and the last one is shown
    if the deadline passes. ``abort`` is asked before each try; a non-empty string
    means waiting is pointless (a process exited, say) and fails at once with it.
    ``detail`` adds context (a log tail) to the error.

    The first retries come sooner (from FIRST_RETRY, doubling up to ``interval``): most
    conditions hold within milliseconds of the first try (a namespace's ServiceAccount,
    a request just answered), and a whole ``interval`` per wait adds up over a suite.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    pause = min(FIRST_RETRY, interval)
    while True:
        if abort is not None:
            reason = abort()
            if reason:
                raise ComponentFailedError(_message(f"{what}: {reason}", None, detail))
        try:
            result = check()
        except Exception as exc:  # any failure means "not ready yet"
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            raise WaitTimeoutError(
                _message(f"timed out after {timeout:.0f}s waiting for {what}", last_error, detail)
            )
        time.sleep(pause)
        pause = min(pause * 2, interval)


def _message(head: str, error: BaseException | None, detail: Callable[[], str] | None) -> str:
    parts = [head]
    if error is not None:
        parts.append(f"last error: {type(error).__name__}: {error}")
    if detail is not None:
        text = detail()
        if text:
            parts.append(text)
    return "\n".join(parts)
