"""EscalationPolicy events: keep the registry, re-plan the incidents, report the status.

Event handlers on purpose: kopf's create/update handlers keep a diff-base annotation on
the object, and a GitOps-managed policy must not be written to outside its status.
"""

from typing import Any

import kopf

from incident_operator.api import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.config import Settings
from incident_operator.runtime.incidents import IncidentPipeline
from incident_operator.runtime.policies import POLICIES
from incident_operator.runtime.policy_status import (
    parse_policy,
    write_chat_ready,
    write_contacts_resolved,
    write_ready,
    write_rotations_valid,
    write_templates_valid,
)


@kopf.on.event(GROUP, VERSION, "escalationpolicies")
async def on_policy(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    raw = dict(body)
    parsed = None if type == "DELETED" else parse_policy(raw)
    if isinstance(parsed, EscalationPolicy):
        changed = POLICIES.put(parsed)
    else:
        changed = POLICIES.remove(namespace, name)
    pipeline: IncidentPipeline | None = memo.get("incidents")
    if changed and pipeline is not None:
        pipeline.replan_namespace(namespace)
    if parsed is None:
        return
    await write_ready(raw, parsed)
    if isinstance(parsed, EscalationPolicy):
        await write_templates_valid(raw, parsed)
        await write_rotations_valid(raw, parsed)
        await write_contacts_resolved(raw, parsed)
        settings: Settings = memo.get("settings") or Settings()
        await write_chat_ready(raw, parsed, settings.slack_app_secret is not None)
