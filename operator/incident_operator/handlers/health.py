"""Keeps the readiness state true to what the operator is doing."""

import asyncio
import contextlib
from typing import Any

import kopf
from kubernetes import client

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters.health_server import READINESS
from incident_operator.config import Settings

PROBE_EVERY_SECONDS = 10.0
_tasks: list[asyncio.Task[None]] = []


def _probe_api(namespace: str | None) -> None:
    # In a watched namespace when the operator watches some only: its rights there are
    # Roles, so a cluster-wide list would be forbidden (docs/install.md#rbac).
    if namespace is None:
        k8s.custom_objects().list_cluster_custom_object(
            k8s.GROUP, k8s.VERSION, "incidents", limit=1
        )
    else:
        k8s.custom_objects().list_namespaced_custom_object(
            k8s.GROUP, k8s.VERSION, namespace, "incidents", limit=1
        )


async def _probe_forever(namespace: str | None) -> None:
    while True:
        with contextlib.suppress(client.ApiException, OSError):
            await asyncio.to_thread(_probe_api, namespace)
            READINESS.api_ok()
        await asyncio.sleep(PROBE_EVERY_SECONDS)


@kopf.on.startup()
async def start_probing(memo: kopf.Memo, **_: Any) -> None:
    # kopf starts its watches once the startup handlers are done.
    READINESS.watching.set()
    namespaces = (memo.get("settings") or Settings()).namespaces
    probe = _probe_forever(namespaces[0] if namespaces else None)
    _tasks.append(asyncio.create_task(probe, name="api-probe"))


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
