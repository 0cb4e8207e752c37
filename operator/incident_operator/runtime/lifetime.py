"""Stopping the operator's services within a known time, whatever they are doing.

kopf runs cleanup handlers after its own tasks are stopped, and retries one that raises
a minute later: a service that hangs or fails while stopping would keep the process
alive until the kubelet kills it, holding the Lease. So each service's stop runs under
a deadline, and what it raises or leaves unfinished is logged, never re-raised: whatever
was cut short is in the status already (a send in flight goes out again after its
lease, a decision not written is made again by the next leader).

Bound on shutdown (README, "Running it"): kopf cancels its watchers at once and gives
the tasks they spawned 5 s; the services then stop side by side, each within
``STOP_SECONDS``; releasing the Lease is two API calls of at most 5 s each. So the
process is gone within 23 s of SIGTERM, and the chart's terminationGracePeriodSeconds
(30 s) exceeds that.
"""

import asyncio
import logging
from collections.abc import Awaitable

logger = logging.getLogger(__name__)

# How long one service may take to stop.
STOP_SECONDS = 8.0


async def stop_within(what: str, stopping: Awaitable[None], seconds: float = STOP_SECONDS) -> None:
    """Awaits ``stopping`` for at most ``seconds``; logs and swallows what it raises."""
    try:
        await asyncio.wait_for(stopping, seconds)
    except TimeoutError:
        logger.warning("stopping %s took over %.0f s; left unfinished", what, seconds)
    except Exception:
        logger.exception("stopping %s failed; going on with the shutdown", what)
