"""Kubernetes Events for timeline entries, posted beside the pipeline, not in its way.

The timeline in the status is the record; Events tell watchers (`kubectl describe`,
`kubectl get events`). So an incident's next pass never waits for its Events: they go
into a queue that a few workers post from, and one that fails is logged, not retried.
The queue holds only what an Event needs (the object's reference and the entry), so a
storm of thousands of new incidents queues kilobytes, not their whole bodies. Warning
or Normal is decided in one place, ``domain.reasons.event_type``.
"""

import asyncio
import contextlib
import logging
from typing import Any

from incident_operator.adapters.events import post_event
from incident_operator.domain.reasons import event_type
from incident_operator.domain.timeline import Entry

logger = logging.getLogger(__name__)

# Workers posting Events at once, so a storm of incidents does not take every thread.
IN_PARALLEL = 4
# How long stopping waits for the Events still queued.
FLUSH_SECONDS = 3.0

_REFERENCE_KEYS = ("name", "namespace", "uid", "resourceVersion")


def _reference(body: dict[str, Any]) -> dict[str, Any]:
    """The part of an object an Event's involvedObject names."""
    metadata = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {key: metadata.get(key) for key in _REFERENCE_KEYS},
    }


class EventPoster:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[dict[str, Any], Entry]] | None = None
        self._workers: list[asyncio.Task[None]] = []

    def post(self, body: dict[str, Any], entry: Entry) -> None:
        """Queues an Event telling ``entry`` about the object ``body``."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._workers = [
                asyncio.create_task(self._work(self._queue), name=f"events-{n}")
                for n in range(IN_PARALLEL)
            ]
        self._queue.put_nowait((_reference(body), entry))

    async def _work(self, queue: "asyncio.Queue[tuple[dict[str, Any], Entry]]") -> None:
        while True:
            reference, entry = await queue.get()
            try:
                await asyncio.to_thread(
                    post_event, reference, event_type(entry.type), entry.type, entry.message
                )
            except Exception as error:
                logger.warning("posting the Event %s failed: %s", entry.type, error)
            finally:
                queue.task_done()

    async def close(self) -> None:
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), FLUSH_SECONDS)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
