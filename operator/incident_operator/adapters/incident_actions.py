"""The writes people make to an Incident, one way for the plugin and for Slack.

``kubectl incident`` (cli/) and the Slack buttons and slash command
(runtime/slack_actions.py) make the same changes through this module: which merge patch
each action is, the guards that keep it honest (a patch computed from the incident as it
is, guarded by its resourceVersion and computed again after a conflict; an approval only
for the proposal shown), and the refusals, as ``ActionRefused`` with the plugin's words.

Every write is made as the caller: ``sre.agentos.io/changed-by`` is the user name the API
server reports for the client (a SelfSubjectReview), so the admission policies
(manifests/admission/) check it is really them. The plugin's client is the person's own
kubeconfig; the Slack actions' client is the operator's, impersonating the person the
policy maps the Slack member to (``client_transport.impersonating``): RBAC, admission
and the audit log see that person, and the operator's own rights add nothing. Both
clients are adapters/incident_client.py's ``IncidentClient``; this module imports no
Kubernetes client, so the plugin starts fast.
"""

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from incident_operator.adapters.incident_client import Build
from incident_operator.adapters.kube_http import api_message as api_message
from incident_operator.adapters.refusals import ActionRefused
from incident_operator.api import API_VERSION
from incident_operator.api.annotations import (
    ACKNOWLEDGED_BY,
    APPROVE_REMEDIATION,
    APPROVE_REMEDIATION_REQUEST,
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_PROPOSAL,
    CHANGED_BY,
)
from incident_operator.domain.escape import escape
from incident_operator.domain.responder_words import ROLES


def label(incident: dict[str, Any]) -> str:
    """The incident's ID, or its name while it has none; escaped."""
    return escape((incident.get("status") or {}).get("id") or incident["metadata"]["name"])


class Incidents(Protocol):
    """What the actions need of a client: the plugin's Cluster, or IncidentClient."""

    def whoami(self) -> str: ...

    def find(self, reference: str) -> dict[str, Any]: ...

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]: ...

    def patch_from(self, incident: dict[str, Any], build: Build) -> dict[str, Any]: ...


# ------------------------------------------------------------------------ the actions


def as_caller(me: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The metadata part of a patch made by ``me``."""
    return {"metadata": {"annotations": {CHANGED_BY: me, **(extra or {})}}}


def acknowledge(incidents: Incidents, incident: dict[str, Any], me: str) -> str | None:
    """Acknowledges as ``me``; who acknowledged it before, if anyone (nothing written)."""
    already = incident["metadata"].get("annotations", {}).get(ACKNOWLEDGED_BY)
    if already:
        return str(already)
    incidents.patch(incident, as_caller(me, {ACKNOWLEDGED_BY: me}))
    return None


def set_spec(
    incidents: Incidents, incident: dict[str, Any], me: str, spec: dict[str, Any]
) -> dict[str, Any]:
    """Sets spec fields outright, as ``me``."""
    return incidents.patch(incident, {**as_caller(me), "spec": spec})


def assign(incidents: Incidents, incident: dict[str, Any], me: str, role: str, user: str) -> str:
    """Gives ``role`` (a ROLES word) to ``user`` ('me': the caller); who now has it."""
    if role not in ROLES:
        raise ActionRefused(f"no role {role!r}: use one of {', '.join(sorted(ROLES))}")
    holder = me if user == "me" else user
    set_spec(incidents, incident, me, {"roles": {ROLES[role]: holder}})
    return holder


def post_update(
    incidents: Incidents, incident: dict[str, Any], me: str, message: str, now: datetime
) -> int:
    """Appends a status update by ``me`` to spec.updates; how many there are now."""
    update = {"message": message, "author": me, "time": now.isoformat()}
    as_me = as_caller(me)

    def append(current: dict[str, Any]) -> dict[str, Any]:
        updates = [*((current.get("spec") or {}).get("updates") or []), update]
        return {**as_me, "spec": {"updates": updates}}

    patched = incidents.patch_from(incident, append)
    return len(patched["spec"]["updates"])


def resolve(
    incidents: Incidents, incident: dict[str, Any], me: str, override: str | None = None
) -> dict[str, Any]:
    """Sets the state Resolved (with the commander's override and its reason)."""
    spec: dict[str, Any] = {"state": "Resolved"}
    if override:
        spec["resolution"] = {"override": {"by": me, "reason": override}}
    return incidents.patch(incident, {**as_caller(me), "spec": spec})


# The phases a Resolved the operator accepted leads to.
RESOLVED_PHASES = ("Resolved", "PostIncident", "Closed")


def resolution_decision(
    generation: int, how_to_tick: Callable[[str], str]
) -> Callable[[dict[str, Any]], str | None]:
    """Reads the operator's decision on a Resolved written at ``generation``: the phase it
    led to, None while undecided; ActionRefused when it is held (``how_to_tick(label)``
    says how to tick the open items, in the words of the plugin or of Slack)."""

    def decided(body: dict[str, Any]) -> str | None:
        status = body.get("status") or {}
        if (status.get("observedGeneration") or 0) < generation:
            return None
        if status.get("phase") in RESOLVED_PHASES:
            return str(status["phase"])
        refused: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "TransitionRefused"),
            {},
        )
        if refused.get("status") != "True":
            return None
        if refused.get("reason") == "PreResolutionOpen":
            open_items = (status.get("resolution") or {}).get("openItems") or []
            raise ActionRefused(
                f"{label(body)}: Resolved is held, pre-resolution verification open: "
                f"{escape(', '.join(open_items))}; tick them {how_to_tick(label(body))}"
            )
        raise ActionRefused(f"{label(body)}: {escape(refused.get('message', 'refused'))}")

    return decided


def _no_proposal(incident: dict[str, Any], rollback: dict[str, Any]) -> ActionRefused:
    shown, name = label(incident), escape(incident["metadata"]["name"])
    if not rollback:
        return ActionRefused(
            f"{shown} has no rollback proposal: the operator proposes one when an affected "
            "workload had a new revision shortly before detection. Ask for one with "
            f"`kubectl patch incident {name} --type=merge -p "
            """'{"spec":{"rollback":{"target":{"kind":"Deployment","name":"NAME"}}}}'`"""
        )
    phase = rollback.get("phase")
    detail = f": {rollback['message']}" if rollback.get("message") else ""
    if phase == "Refused":
        return ActionRefused(f"{shown}: the rollback is refused ({rollback.get('reason')}){detail}")
    if rollback.get("approvedBy"):
        return ActionRefused(
            f"{shown}: the rollback was already approved by {escape(rollback['approvedBy'])} "
            f"(it is {phase}){detail}"
        )
    return ActionRefused(f"{shown}: the rollback is {phase}, not awaiting approval{detail}")


def rollback_proposal(incident: dict[str, Any]) -> dict[str, Any]:
    """status.rollback while it awaits approval; ActionRefused saying why it does not."""
    rollback: dict[str, Any] = (incident.get("status") or {}).get("rollback") or {}
    if rollback.get("phase") != "Proposed":
        raise _no_proposal(incident, rollback)
    pending = ((incident.get("metadata") or {}).get("annotations") or {}).get(APPROVE_ROLLBACK)
    if pending:
        # Written, not yet recorded by the operator: someone else won the race.
        raise ActionRefused(
            f"{label(incident)}: the rollback was already approved by {escape(pending)} "
            "(the operator is recording it)"
        )
    if not rollback.get("proposal"):
        raise ActionRefused(
            f"{label(incident)}: the proposal has no identifier yet (an operator older "
            "than this plugin, or one that has not re-planned it); try again in a few seconds"
        )
    return rollback


def rollback_what(rollback: dict[str, Any]) -> str:
    """``Deployment/web from revision 2 to revision 1``."""
    target = rollback.get("target") or {}
    current = rollback.get("currentRevision")
    start = f"revision {current}" if current is not None else "its current template"
    return (
        f"{target.get('kind')}/{target.get('name')} from {start} to revision "
        f"{rollback.get('targetRevision')}"
    )


def approve_rollback(
    incidents: Incidents, incident: dict[str, Any], me: str, proposal: str
) -> dict[str, Any]:
    """Approves the rollback proposal ``proposal`` as ``me``, in one guarded patch that
    is refused (nothing written) when the proposal is another by then or someone else
    approved it first."""

    def approval(current: dict[str, Any]) -> dict[str, Any]:
        # Computed again from a fresh read after a conflict: the approval must still be
        # for the proposal shown, and nobody may have approved it in between.
        now = rollback_proposal(current)
        if now.get("proposal") != proposal:
            raise ActionRefused(
                f"{label(current)}: the proposal changed while you approved it (it is now "
                f"{escape(str(now.get('proposal')))}: roll back {escape(rollback_what(now))}); "
                f"nothing was approved. Look at it again (kubectl incident show "
                f"{label(current)}) and approve again"
            )
        annotations = {APPROVE_ROLLBACK: me, APPROVE_ROLLBACK_PROPOSAL: proposal, CHANGED_BY: me}
        return {"metadata": {"annotations": annotations}}

    return incidents.patch_from(incident, approval)


class Creates(Protocol):
    def create(self, body: dict[str, Any]) -> dict[str, Any]: ...


def incident_name(title: str) -> str:
    """A new incident's object name from its title: ``checkout-is-down-3f2a``."""
    import secrets  # here: it imports hashlib, which most plugin commands do not need

    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-")
    return f"{words or 'incident'}-{secrets.token_hex(2)}"


def declare(incidents: Creates, name: str, spec: dict[str, Any], me: str) -> dict[str, Any]:
    """Creates the Incident ``name`` with ``spec``, declared by ``me``."""
    body = {
        "apiVersion": API_VERSION,
        "kind": "Incident",
        "metadata": {"name": name, "annotations": {CHANGED_BY: me}},
        "spec": spec,
    }
    return incidents.create(body)


def publish(
    incidents: Incidents,
    incident: dict[str, Any],
    me: str,
    message: dict[str, Any],
    now: datetime,
) -> int:
    """Appends customer ``message`` (kind, text, subject) to spec.customerMessages,
    authored by ``me``; how many there are now."""
    entry = {**message, "author": me, "time": now.isoformat()}

    def append(current: dict[str, Any]) -> dict[str, Any]:
        published = (current.get("spec") or {}).get("customerMessages") or []
        return {**as_caller(me), "spec": {"customerMessages": [*published, entry]}}

    patched = incidents.patch_from(incident, append)
    return len(patched["spec"]["customerMessages"])


def _records(incident: dict[str, Any]) -> list[dict[str, Any]]:
    return list((incident.get("status") or {}).get("remediations") or [])


def remediation_proposed(incident: dict[str, Any], record_id: str) -> dict[str, Any]:
    """The remediation ``record_id`` while it awaits approval; ActionRefused saying why
    it does not."""
    shown = label(incident)
    record = next((r for r in _records(incident) if r.get("id") == record_id), None)
    if record is None:
        ids = ", ".join(str(r.get("id")) for r in _records(incident)) or "none"
        raise ActionRefused(f"{shown} has no remediation {escape(record_id)} (it has: {ids})")
    annotations = (incident.get("metadata") or {}).get("annotations") or {}
    pending = annotations.get(APPROVE_REMEDIATION)
    if pending:
        raise ActionRefused(
            f"{shown}: an approval by {escape(pending)} is being recorded; look again with "
            f"`kubectl incident show {shown}`"
        )
    if record.get("approvedBy"):
        raise ActionRefused(
            f"{shown}: {escape(record_id)} was already approved by "
            f"{escape(record['approvedBy'])} (it is {record.get('phase')})"
        )
    if record.get("phase") != "Proposed" or not record.get("proposal"):
        raise ActionRefused(
            f"{shown}: {escape(record_id)} is {record.get('phase')}, not awaiting approval"
            + (f": {escape(record['message'])}" if record.get("message") else "")
        )
    return record


def approve_remediation(
    incidents: Incidents, incident: dict[str, Any], me: str, record_id: str, proposal: str
) -> dict[str, Any]:
    """Approves remediation ``record_id``'s proposal ``proposal`` as ``me``, in one
    guarded patch refused when the proposal changed or someone approved first."""

    def approval(current: dict[str, Any]) -> dict[str, Any]:
        now = remediation_proposed(current, record_id)
        if now.get("proposal") != proposal:
            raise ActionRefused(
                f"{label(current)}: the proposal of {escape(record_id)} changed while you "
                f"approved it (now {escape(str(now.get('proposal')))}: "
                f"{escape(str(now.get('summary')))}); nothing was approved. Look again and "
                "approve again"
            )
        annotations = {
            APPROVE_REMEDIATION: me,
            APPROVE_REMEDIATION_REQUEST: f"{record_id}:{proposal}",
            CHANGED_BY: me,
        }
        return {"metadata": {"annotations": annotations}}

    return incidents.patch_from(incident, approval)
