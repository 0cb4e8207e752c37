"""Kubernetes Events for timeline entries, posted beside the pipeline, not in its way.

The timeline in the status is the record; Events tell watchers (`kubectl describe`,
`kubectl get events`). So an incident's next pass never waits for its Events, a few are
posted at once, and one that fails is logged, not retried. Warning or Normal is decided
in one place, ``domain.reasons.event_type``.
"""

import asyncio
import logging
from typing import Any

from incident_operator.adapters.events import post_event
from incident_operator.domain.reasons import event_type
from incident_operator.domain.timeline import Entry

logger = logging.getLogger(__name__)

# Events being posted at once, so a storm of incidents does not fill every thread.
IN_PARALLEL = 4
# How long stopping waits for Events still being posted.
FLUSH_SECONDS = 5.0


class EventPoster:
    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None
        self._posting: set[asyncio.Task[None]] = set()

    def post(self, body: dict[str, Any], entry: Entry) -> None:
        """Posts ``entry`` about the object ``body`` in the background."""
        task = asyncio.create_task(self._post(body, entry))
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _post(self, body: dict[str, Any], entry: Entry) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(IN_PARALLEL)
        async with self._slots:
            try:
                await asyncio.to_thread(
                    post_event, body, event_type(entry.type), entry.type, entry.message
                )
            except Exception as error:
                logger.warning("posting the Event %s failed: %s", entry.type, error)

    async def close(self) -> None:
        if self._posting:
            await asyncio.wait(set(self._posting), timeout=FLUSH_SECONDS)
        for task in self._posting:
            task.cancel()
