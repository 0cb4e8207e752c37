"""One timer for all incidents: wakes each at its nearest deadline (of all its clocks).

Deadlines live in the incidents' status, so nothing is lost when the operator restarts:
the watch's initial listing reconciles every incident, which schedules it again. A
single task over a dict of due times costs the same idle CPU for 10 incidents or
10,000, where a kopf daemon or timer per incident would not.
"""

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from incident_operator.adapters.metrics import DEADLINE_LATENESS
from incident_operator.runtime import clock

Key = tuple[str, str]
logger = logging.getLogger(__name__)


# Wake-ups handled at once, as kopf handles at most this many objects' events at once.
IN_PARALLEL = 50


class Wakeups:
    """Due times by key, in a heap: scheduling and waking cost log(n), not a scan of all
    n keys on every tick (which grew quadratically over a burst of thousands)."""

    def __init__(self, in_parallel: int = IN_PARALLEL) -> None:
        self._due: dict[Key, datetime] = {}
        # (when, key) pairs; an entry whose time no longer matches _due is stale and skipped.
        self._heap: list[tuple[datetime, Key]] = []
        self._changed = asyncio.Event()
        self._in_parallel = in_parallel
        self._running: set[asyncio.Task[None]] = set()

    def schedule(self, key: Key, when: datetime | None) -> None:
        if when is None:
            self._due.pop(key, None)
        elif self._due.get(key) != when:
            self._due[key] = when
            heapq.heappush(self._heap, (when, key))
            self._changed.set()

    def forget(self, key: Key) -> None:
        self._due.pop(key, None)

    def due_at(self, key: Key) -> datetime | None:
        return self._due.get(key)

    def _pop_ready(self, now: datetime) -> list[tuple[datetime, Key]]:
        ready = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._due.get(key) == when:
                del self._due[key]
                ready.append((when, key))
        return ready

    def _next_due(self) -> datetime | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: rescheduled or forgotten since
        return self._heap[0][0] if self._heap else None

    async def run(self, wake: Callable[[Key], Awaitable[None]]) -> None:
        """Calls ``wake`` for each key whose time has come, until cancelled; a slow one
        does not hold up the others (up to ``in_parallel`` at once)."""
        slots = asyncio.Semaphore(self._in_parallel)
        try:
            while True:
                self._changed.clear()
                for when, key in self._pop_ready(clock.now()):
                    await slots.acquire()
                    # Measured once a slot is free: waiting for one is lateness too.
                    DEADLINE_LATENESS.observe(max((clock.now() - when).total_seconds(), 0.0))
                    task = asyncio.create_task(self._wake(wake, key, slots))
                    self._running.add(task)
                    task.add_done_callback(self._running.discard)
                upcoming = self._next_due()
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
