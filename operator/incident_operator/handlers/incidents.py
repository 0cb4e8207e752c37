"""Incident handlers: give it an ID, keep its status in step with its spec and the clock."""

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters.incident_ids import IdAllocationError, IncidentIdAllocator
from incident_operator.api import GROUP, VERSION
from incident_operator.api.incident import Incident, IncidentSpec, IncidentStatus
from incident_operator.domain.reasons import Reason
from incident_operator.domain.severity import level
from incident_operator.handlers import clock
from incident_operator.reconcile.incident import reconcile_incident
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.status_patch import status_difference


def _not_ready(
    body: kopf.Body, patch: kopf.Patch, reason: str, message: str
) -> None:
    raw_status = dict(body.get("status") or {})
    generation = body.metadata.get("generation")
    patch.status["conditions"] = not_ready_conditions(
        raw_status, reason, message, clock.now(), generation
    )
    kopf.event(body, type="Warning", reason=reason, message=message)


@kopf.on.resume(GROUP, VERSION, "incidents")
@kopf.on.create(GROUP, VERSION, "incidents")
@kopf.on.update(GROUP, VERSION, "incidents")
async def reconcile(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    try:
        spec = IncidentSpec.model_validate(dict(body.spec))
    except ValidationError as error:
        _not_ready(body, patch, Reason.INVALID_SPEC, describe_validation_error(error, "spec"))
        return
    try:
        status = IncidentStatus.model_validate(dict(body.get("status") or {}))
    except ValidationError as error:
        _not_ready(body, patch, Reason.INVALID_STATUS, describe_validation_error(error, "status"))
        return
    incident = Incident.model_validate(
        {"metadata": dict(body.metadata), "spec": spec, "status": status}
    )
    incident_id = status.id
    if incident_id is None:
        allocator = IncidentIdAllocator(k8s.core(), k8s.custom_objects())
        meta = incident.metadata
        try:
            incident_id = await asyncio.to_thread(
                allocator.assign, meta.namespace, meta.name, meta.uid
            )
        except IdAllocationError as error:
            _not_ready(body, patch, Reason.ID_ALLOCATION_FAILED, str(error))
            raise kopf.TemporaryError(str(error), delay=5) from error
    desired = reconcile_incident(incident, level(spec.severity), clock.now(), incident_id)
    current_wire = status.to_wire()
    difference = status_difference(current_wire, desired.to_wire())
    if difference:
        patch.status.update(difference)
    for entry in desired.timeline[len(status.timeline) :]:
        kopf.event(body, type="Normal", reason=entry.type, message=entry.message)
