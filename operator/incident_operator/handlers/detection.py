"""Detection's registrations: the workload watches that feed its index, its start and stop.

Incident events feed detection's incident index from the one Incident handler
(handlers/incidents.py).

The service itself (the polling loop, the writer, the Alertmanager intake) is
runtime/detection.py; these handlers only read what kopf delivers and hand it over.
"""

from typing import Any

import kopf

from incident_operator.config import Settings
from incident_operator.runtime.detection import DetectionService
from incident_operator.runtime.detection_state import WORKLOADS
from incident_operator.runtime.lifetime import stop_within


def _workload_event(kind: str, body: kopf.Body, event_type: str | None) -> None:
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    if event_type == "DELETED":
        WORKLOADS.remove(namespace, kind, name)
    else:
        WORKLOADS.put(namespace, kind, name, dict(body.meta.labels))


@kopf.on.event("apps", "v1", "deployments")
async def deployment_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("Deployment", body, type)


@kopf.on.event("apps", "v1", "statefulsets")
async def statefulset_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("StatefulSet", body, type)


@kopf.on.event("apps", "v1", "daemonsets")
async def daemonset_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("DaemonSet", body, type)


@kopf.on.startup()
async def start_detection(memo: kopf.Memo, **_: Any) -> None:
    memo["detection_service"] = await DetectionService.start(memo.get("settings") or Settings())


@kopf.on.cleanup()
async def stop_detection(memo: kopf.Memo, **_: Any) -> None:
    service: DetectionService | None = memo.get("detection_service")
    if service is not None:
        await stop_within("detection", service.stop())
