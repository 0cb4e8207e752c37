"""EscalationPolicy handlers: validate and report Ready, touching nothing but status.

Event handlers are used on purpose: kopf's create/update handlers keep a diff-base
annotation on the object, and a GitOps-managed policy must not be written to outside
its status. The Ready condition is written by server-side apply, so conditions other
parts of the operator own (detection's MetricsAvailable) stay as they are.
"""

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.api import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.handlers import clock
from incident_operator.handlers.registry import POLICIES
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.policy import reconcile_policy


def _ready_only(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in conditions if c["type"] == ConditionType.READY]


@kopf.on.event(GROUP, VERSION, "escalationpolicies")
async def reconcile(body: kopf.Body, type: str | None, **_: Any) -> None:
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    if type == "DELETED":
        POLICIES.remove(namespace, name)
        return
    raw_status = dict(body.get("status") or {})
    generation = body.metadata.get("generation")
    try:
        policy = EscalationPolicy.model_validate(dict(body))
    except ValidationError as error:
        POLICIES.remove(namespace, name)
        message = describe_validation_error(error, "")
        conditions = not_ready_conditions(
            raw_status, Reason.INVALID_SPEC, message, clock.now(), generation
        )
        desired = {"observedGeneration": generation, "conditions": _ready_only(conditions)}
        warning: str | None = message
    else:
        POLICIES.put(policy)
        status = reconcile_policy(policy, clock.now()).to_wire()
        desired = {
            "observedGeneration": status.get("observedGeneration"),
            "conditions": _ready_only(status.get("conditions", [])),
        }
        warning = None
    current = {
        "observedGeneration": raw_status.get("observedGeneration"),
        "conditions": _ready_only(raw_status.get("conditions") or []),
    }
    if desired == current:
        return
    if warning:
        kopf.event(body, type="Warning", reason=Reason.INVALID_SPEC, message=warning)
    await asyncio.to_thread(
        k8s.apply_status,
        "EscalationPolicy",
        "escalationpolicies",
        namespace,
        name,
        desired,
        k8s.FIELD_MANAGER,
    )
