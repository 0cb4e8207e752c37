"""One timer for all incidents: wakes each at its nearest deadline (of all its clocks).

Deadlines live in the incidents' status, so nothing is lost when the operator restarts:
the watch's initial listing reconciles every incident, which schedules it again. A
single task over a dict of due times costs the same idle CPU for 10 incidents or
10,000, where a kopf daemon or timer per incident would not.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from incident_operator.runtime import clock

Key = tuple[str, str]
logger = logging.getLogger(__name__)


# Wake-ups handled at once, as kopf handles at most this many objects' events at once.
IN_PARALLEL = 50


class Wakeups:
    def __init__(self, in_parallel: int = IN_PARALLEL) -> None:
        self._due: dict[Key, datetime] = {}
        self._changed = asyncio.Event()
        self._in_parallel = in_parallel
        self._running: set[asyncio.Task[None]] = set()

    def schedule(self, key: Key, when: datetime | None) -> None:
        if when is None:
            self._due.pop(key, None)
        elif self._due.get(key) != when:
            self._due[key] = when
            self._changed.set()

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)

    def due_at(self, key: Key) -> datetime | None:
        return self._due.get(key)

    async def run(self, wake: Callable[[Key], Awaitable[None]]) -> None:
        """Calls ``wake`` for each key whose time has come, until cancelled; a slow one
        does not hold up the others (up to ``in_parallel`` at once)."""
        slots = asyncio.Semaphore(self._in_parallel)
        try:
            while True:
                self._changed.clear()
                now = clock.now()
                ready = [key for key, when in self._due.items() if when <= now]
                for key in ready:
                    self._due.pop(key, None)
                    await slots.acquire()
                    task = asyncio.create_task(self._wake(wake, key, slots))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                upcoming = min(self._due.values(), default=None)
                timeout = None if upcoming is None else (upcoming - clock.now()).total_seconds()
                timeout = None if timeout is None else max(timeout, 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=timeout)
        finally:
            for task in self._running:
                task.cancel()
            await asyncio.gather(*self._running, return_exceptions=True)

    @staticmethod
    async def _wake(
        wake: Callable[[Key], Awaitable[None]], key: Key, slots: asyncio.Semaphore
    ) -> None:
        try:
            await wake(key)
        except Exception:
            logger.exception("deciding %s/%s at its deadline failed", *key)
        finally:
            slots.release()
