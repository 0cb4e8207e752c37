"""EscalationPolicy handlers: validate and report Ready, touching nothing but status.

Event handlers are used on purpose: kopf's create/update handlers keep a diff-base
annotation on the object, and a GitOps-managed policy must not be written to outside
its status.
"""

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.api import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.reasons import Reason
from incident_operator.handlers import clock
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.policy import reconcile_policy
from incident_operator.reconcile.status_patch import status_difference


def _write_status(namespace: str, name: str, difference: dict[str, Any]) -> None:
    k8s.custom_objects().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "escalationpolicies",
        name,
        {"status": difference},
        field_manager=k8s.FIELD_MANAGER,
    )


@kopf.on.event(GROUP, VERSION, "escalationpolicies")
async def reconcile(body: kopf.Body, type: str | None, **_: Any) -> None:
    if type == "DELETED":
        return
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    raw_status = dict(body.get("status") or {})
    try:
        policy = EscalationPolicy.model_validate(dict(body))
    except ValidationError as error:
        message = describe_validation_error(error, "")
        desired = {
            "conditions": not_ready_conditions(
                raw_status, Reason.INVALID_SPEC, message, clock.now(),
                body.metadata.get("generation"),
            ),
            "observedGeneration": body.metadata.get("generation"),
        }
        difference = {
            key: value for key, value in desired.items() if raw_status.get(key) != value
        }
        if difference:
            kopf.event(body, type="Warning", reason=Reason.INVALID_SPEC, message=message)
            await asyncio.to_thread(_write_status, namespace, name, difference)
        return
    desired_status = reconcile_policy(policy, clock.now())
    difference = status_difference(policy.status.to_wire(), desired_status.to_wire())
    if difference:
        await asyncio.to_thread(_write_status, namespace, name, difference)
