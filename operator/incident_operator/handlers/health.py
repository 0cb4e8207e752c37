"""Keeps the readiness state true to what the operator is doing."""

import asyncio
import contextlib
from typing import Any

import kopf
from kubernetes import client

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters.health_server import READINESS

PROBE_EVERY_SECONDS = 10.0
_tasks: list[asyncio.Task[None]] = []


def _probe_api() -> None:
    k8s.custom_objects().list_cluster_custom_object(k8s.GROUP, k8s.VERSION, "incidents", limit=1)


async def _probe_forever() -> None:
    while True:
        with contextlib.suppress(client.ApiException, OSError):
            await asyncio.to_thread(_probe_api)
            READINESS.api_ok()
        await asyncio.sleep(PROBE_EVERY_SECONDS)


@kopf.on.startup()
async def start_probing(**_: Any) -> None:
    # kopf starts its watches once the startup handlers are done.
    READINESS.watching.set()
    _tasks.append(asyncio.create_task(_probe_forever(), name="api-probe"))


@kopf.on.cleanup()
async def stop_probing(memo: kopf.Memo, **_: Any) -> None:
    READINESS.watching.clear()
    # kopf.run waits on its stop flag in a thread even when a signal stopped it; set the
    # flag (when the entry point gave one) so the process can exit and release its Lease.
    stop = getattr(memo, "stop", None)
    if stop is not None:
        stop.set()
    for task in _tasks:
        task.cancel()
    await asyncio.gather(*_tasks, return_exceptions=True)
    _tasks.clear()
