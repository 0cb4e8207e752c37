"""Incident handlers: the watch and the deadline timer both call one reconcile.

Level-triggered on purpose: every event (spec, annotations, status written by detection
or a rollback) and every deadline leads to the same decision from the whole object, and
only the difference is written. kopf's event handler writes nothing of its own to the
object (no diff-base annotation, no finalizer).
"""

import asyncio
import logging
from datetime import timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters import metrics
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_ids import IdAllocationError, IncidentIdAllocator
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.postmortem_store import store_draft
from incident_operator.api import GROUP, VERSION
from incident_operator.api.incident import Incident, IncidentSpec, IncidentStatus
from incident_operator.domain.reasons import Reason
from incident_operator.handlers import clock
from incident_operator.handlers.governing import resolve_governing
from incident_operator.handlers.wakeups import WAKEUPS, Key
from incident_operator.reconcile.incident import reconcile_incident
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.status_patch import status_difference

logger = logging.getLogger(__name__)
# How long after a failed reconcile (an API error, say) the incident is tried again.
RETRY_AFTER = timedelta(seconds=5)


async def _not_ready(body: dict[str, Any], reason: str, message: str) -> None:
    metadata = body["metadata"]
    raw_status = dict(body.get("status") or {})
    conditions = not_ready_conditions(
        raw_status, reason, message, clock.now(), metadata.get("generation")
    )
    if conditions == raw_status.get("conditions"):
        return
    written = await asyncio.to_thread(
        write_status,
        metadata["namespace"],
        metadata["name"],
        metadata["resourceVersion"],
        {"conditions": conditions},
    )
    if written:
        await asyncio.to_thread(post_event, body, "Warning", reason, message)


async def reconcile(body: dict[str, Any]) -> None:
    """Decide the status of one incident from its whole body and write the difference."""
    metadata = body["metadata"]
    namespace, name = metadata["namespace"], metadata["name"]
    try:
        spec = IncidentSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        await _not_ready(body, Reason.INVALID_SPEC, describe_validation_error(error, "spec"))
        return
    try:
        status = IncidentStatus.model_validate(body.get("status") or {})
    except ValidationError as error:
        await _not_ready(body, Reason.INVALID_STATUS, describe_validation_error(error, "status"))
        return
    if status.id is None:
        # The ID is written on its own (guarded against a racing replica); its write
        # brings a new event, and the rest of the status is decided from that.
        allocator = IncidentIdAllocator(k8s.core(), k8s.custom_objects())
        try:
            await asyncio.to_thread(allocator.assign, namespace, name, metadata["uid"])
        except IdAllocationError as error:
            await _not_ready(body, Reason.ID_ALLOCATION_FAILED, str(error))
            WAKEUPS.schedule((namespace, name), clock.now() + RETRY_AFTER)
        return
    incident = Incident.model_validate({"metadata": metadata, "spec": spec, "status": status})
    governing = await resolve_governing(incident)
    outcome = reconcile_incident(incident, governing, clock.now(), None)
    if outcome.postmortem_draft is not None and outcome.status.post_mortem is not None:
        configmap = outcome.status.post_mortem.config_map or f"{name}-postmortem"
        await asyncio.to_thread(store_draft, body, configmap, outcome.postmortem_draft)
    difference = status_difference(status.to_wire(), outcome.status.to_wire())
    if difference:
        written = await asyncio.to_thread(
            write_status, namespace, name, metadata["resourceVersion"], difference
        )
        if not written:
            return
        for entry in outcome.new_entries:
            await asyncio.to_thread(post_event, body, "Normal", entry.type, entry.message)
        _observe(status, outcome.status, spec.severity.value)
    phase = outcome.status.phase.value if outcome.status.phase else "Unknown"
    metrics.INCIDENTS.record(namespace, name, spec.severity.value, phase)
    WAKEUPS.schedule((namespace, name), outcome.wake_at)


def _observe(before: IncidentStatus, after: IncidentStatus, severity: str) -> None:
    """Response-time histograms, observed once: when the written status first has them."""
    if after.detected_at is None:
        return
    if before.acknowledged_at is None and after.acknowledged_at is not None:
        waited = after.acknowledged_at - after.detected_at
        metrics.TIME_TO_ACKNOWLEDGE.labels(severity).observe(waited.total_seconds())
    if before.resolved_at is None and after.resolved_at is not None:
        lasted = after.resolved_at - after.detected_at
        metrics.TIME_TO_RESOLVE.labels(severity).observe(lasted.total_seconds())


@kopf.on.event(GROUP, VERSION, "incidents")
async def on_incident_event(body: kopf.Body, type: str | None, **_: Any) -> None:
    key: Key = (str(body.meta.namespace), str(body.meta.name))
    if type == "DELETED":
        WAKEUPS.forget(key)
        metrics.INCIDENTS.forget(*key)
        return
    with metrics.RECONCILE_SECONDS.labels("Incident").time():
        await _reconcile_with_retry(dict(body), key)


async def _reconcile_with_retry(body: dict[str, Any], key: Key) -> None:
    try:
        await reconcile(body)
    except Exception:
        logger.exception("reconciling incident %s/%s failed; retrying", *key)
        WAKEUPS.schedule(key, clock.now() + RETRY_AFTER)


async def _wake(key: Key) -> None:
    body = await asyncio.to_thread(read_incident, *key)
    if body is not None:
        await _reconcile_with_retry(body, key)


_tasks: list[asyncio.Task[None]] = []


@kopf.on.startup()
async def start_deadline_timer(**_: Any) -> None:
    _tasks.append(asyncio.create_task(WAKEUPS.run(_wake), name="incident-deadlines"))


@kopf.on.cleanup()
async def stop_deadline_timer(**_: Any) -> None:
    for task in _tasks:
        task.cancel()
    await asyncio.gather(*_tasks, return_exceptions=True)
    _tasks.clear()
