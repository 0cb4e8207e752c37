"""An EscalationPolicy's own status: Ready (the spec parsed), TemplatesValid, RotationsValid
and ContactsResolved.

Only status is written, by server-side apply, each condition by its own field manager,
so detection's MetricsAvailable (and each other's) stay as they are. Nothing here writes
a policy's spec or metadata: GitOps tools own those.
"""

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters.events import post_event
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.conditions import Condition, ConditionStatus
from incident_operator.domain.reasons import ConditionType, EventType, Reason
from incident_operator.reconcile.chat import chat_ready_condition
from incident_operator.reconcile.contacts import contact_problems, contacts_condition
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.messages import template_problems, templates_condition
from incident_operator.reconcile.policy import reconcile_policy
from incident_operator.reconcile.rotations import rotations_condition
from incident_operator.reconcile.webhook_bodies import body_template_problems
from incident_operator.runtime import clock

KIND, PLURAL = "EscalationPolicy", "escalationpolicies"
TEMPLATES_MANAGER = "incident-operator-notifications"
ROTATIONS_MANAGER = "incident-operator-rotations"
CONTACTS_MANAGER = "incident-operator-contacts"
CHAT_MANAGER = "incident-operator-chat"
_CONDITION = TypeAdapter(Condition)
_CONDITIONS = TypeAdapter(list[Condition])


def parse_policy(body: dict[str, Any]) -> EscalationPolicy | ValidationError:
    try:
        return EscalationPolicy.model_validate(body)
    except ValidationError as error:
        return error


def _ready_only(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in conditions if c["type"] == ConditionType.READY]


async def write_ready(body: dict[str, Any], parsed: EscalationPolicy | ValidationError) -> None:
    """Ready and observedGeneration, applied only when they change."""
    metadata = body["metadata"]
    raw_status = dict(body.get("status") or {})
    generation = metadata.get("generation")
    warning: str | None = None
    if isinstance(parsed, ValidationError):
        warning = describe_validation_error(parsed, "")
        conditions = not_ready_conditions(
            raw_status, Reason.INVALID_SPEC, warning, clock.now(), generation
        )
        desired = {"observedGeneration": generation, "conditions": _ready_only(conditions)}
    else:
        status = reconcile_policy(parsed, clock.now()).to_wire()
        desired = {
            "observedGeneration": status.get("observedGeneration"),
            "conditions": _ready_only(status.get("conditions", [])),
        }
    current = {
        "observedGeneration": raw_status.get("observedGeneration"),
        "conditions": _ready_only(raw_status.get("conditions") or []),
    }
    if desired == current:
        return
    if warning:
        await asyncio.to_thread(post_event, body, EventType.WARNING, Reason.INVALID_SPEC, warning)
    await asyncio.to_thread(
        k8s.apply_status,
        KIND,
        PLURAL,
        metadata["namespace"],
        metadata["name"],
        desired,
        k8s.FIELD_MANAGER,
    )


async def write_templates_valid(body: dict[str, Any], policy: EscalationPolicy) -> None:
    """TemplatesValid: the policy's overrides and its webhook channels' bodyTemplates
    rendered against samples."""
    problems = template_problems(policy.spec.communication.templates)
    body_problems = body_template_problems(policy.spec.channels)
    generation = policy.metadata.generation or None
    await _write_derived_condition(
        body,
        policy,
        lambda conditions: templates_condition(
            conditions, problems, clock.now(), generation, body_problems
        ),
        TEMPLATES_MANAGER,
        Reason.TEMPLATE_ERROR,
    )


async def write_rotations_valid(body: dict[str, Any], policy: EscalationPolicy) -> None:
    """RotationsValid: every rotation's time zone is known; a Warning Event when not."""
    generation = policy.metadata.generation or None
    rotations = policy.spec.rotations
    await _write_derived_condition(
        body,
        policy,
        lambda conditions: rotations_condition(conditions, rotations, clock.now(), generation),
        ROTATIONS_MANAGER,
        Reason.UNKNOWN_TIME_ZONE,
    )


async def write_contacts_resolved(body: dict[str, Any], policy: EscalationPolicy) -> None:
    """ContactsResolved: every role escalation targets name has a row in spec.contacts."""
    problems = contact_problems(policy)
    generation = policy.metadata.generation or None
    await _write_derived_condition(
        body,
        policy,
        lambda conditions: contacts_condition(conditions, problems, clock.now(), generation),
        CONTACTS_MANAGER,
        Reason.UNKNOWN_ROLE,
    )


async def write_chat_ready(
    body: dict[str, Any], policy: EscalationPolicy, app_configured: bool
) -> None:
    """ChatReady: a policy using the Slack app while the operator has none is told so."""
    generation = policy.metadata.generation or None
    await _write_derived_condition(
        body,
        policy,
        lambda conditions: chat_ready_condition(
            conditions, policy, app_configured, clock.now(), generation
        ),
        CHAT_MANAGER,
        Reason.SLACK_APP_NOT_CONFIGURED,
    )


async def _write_derived_condition(
    body: dict[str, Any],
    policy: EscalationPolicy,
    decide: Callable[[list[Condition]], Condition | None],
    manager: str,
    warning_reason: Reason,
) -> None:
    """Writes the condition ``decide`` gives under its own field manager, with a Warning
    Event when it is False; nothing when it would not change."""
    if decide(policy.status.conditions) is None:
        return
    # The event's body may be older than this handler's own last write (each status write
    # is a watch event of its own): decide again on what is stored, so the condition's
    # lastTransitionTime and the Warning Event are written once per change.
    metadata = policy.metadata
    try:
        stored = await asyncio.to_thread(k8s.read_status, PLURAL, metadata.namespace, metadata.name)
    except Exception as error:
        if k8s.is_not_found(error):
            return
        raise
    try:
        current = _CONDITIONS.validate_python(stored.get("conditions") or [])
    except ValidationError:
        current = []
    condition = decide(current)
    if condition is None:
        return
    wire = _CONDITION.dump_python(condition, mode="json", by_alias=True, exclude_none=True)
    await asyncio.to_thread(
        k8s.apply_status,
        KIND,
        PLURAL,
        metadata.namespace,
        metadata.name,
        {"conditions": [wire]},
        manager,
    )
    if condition.status is ConditionStatus.FALSE:
        await asyncio.to_thread(
            post_event, body, EventType.WARNING, warning_reason, condition.message
        )
