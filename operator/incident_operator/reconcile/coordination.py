"""SRE team coordination: role changes and hand-offs, each told to #sre-team once.

The runbook's Incident Channels give #sre-team "SRE team coordination"; the scribe notes
responder assignments. Whoever holds a role (spec.roles) is people's to change; the
lifecycle tells each change in the timeline (RoleAssigned), comparing spec.roles with
status.recorded.roles and then recording the new roles. The pipeline hands the same
difference (``changed_roles`` of the recorded roles before and after the lifecycle) to
the escalation plan, which numbers each change in status.escalation.roleChanges and
records one Coordination notification for it::

    recorded.roles (before)  --+
                               +-- changed_roles --> RoleChange #n --> coordination-n-<role>
    recorded.roles (after)   --+                     (status)          (NotificationRecord)

Both land in the one status write of the pass: once written, the roles recorded are the
roles in the spec, so a restart neither repeats a change nor loses one.
"""

from dataclasses import dataclass
from typing import Any

from incident_operator.api.escalation_status import IncidentRole, RoleChange
from incident_operator.api.incident import Incident, Roles

# The runbook's names of the roles, as messages say them.
ROLE_TITLES: dict[IncidentRole, str] = {
    IncidentRole.COMMANDER: "Incident Commander",
    IncidentRole.TECH_LEAD: "Technical Lead",
    IncidentRole.COMMS_LEAD: "Communications Lead",
    IncidentRole.SCRIBE: "Scribe",
}
# The Python attribute of api.incident.Roles for each role.
_ATTRIBUTE: dict[IncidentRole, str] = {
    IncidentRole.COMMANDER: "commander",
    IncidentRole.TECH_LEAD: "tech_lead",
    IncidentRole.COMMS_LEAD: "comms_lead",
    IncidentRole.SCRIBE: "scribe",
}


@dataclass(frozen=True)
class RoleMove:
    """One role whose holder changed (None: nobody)."""

    role: IncidentRole
    previous: str | None
    current: str | None


def changed_roles(before: Roles, after: Roles) -> list[RoleMove]:
    """The roles whose holder differs between ``before`` and ``after``, in the runbook's
    order (commander, technical lead, communications lead, scribe)."""
    moves = []
    for role, attribute in _ATTRIBUTE.items():
        previous, current = getattr(before, attribute), getattr(after, attribute)
        if previous != current:
            moves.append(RoleMove(role, previous, current))
    return moves


def is_handoff(change: RoleChange) -> bool:
    """A role moving from one person to another (not a first assignment, not a vacancy)."""
    return change.previous is not None and change.current is not None


def describe_change(change: RoleChange) -> str:
    """``Hand-off: Incident Commander @alice -> @bob``, ``Technical Lead: @carol assigned``."""
    title = ROLE_TITLES[change.role]
    if is_handoff(change):
        return f"Hand-off: {title} @{change.previous} -> @{change.current}"
    if change.current is not None:
        return f"Role assigned: {title} @{change.current}"
    return f"Role vacant: {title} (was @{change.previous})"


def coordination_context(incident: Incident, ref: str | None) -> dict[str, Any] | None:
    """The ``coordination`` variable of a Coordination message: the change numbered
    ``ref`` and who holds each role now; None when the change is no longer in status."""
    escalation = incident.status.escalation
    if escalation is None or ref is None or not ref.isdigit():
        return None
    change = next((c for c in escalation.role_changes if c.number == int(ref)), None)
    if change is None:
        return None
    roles = incident.spec.roles
    return {
        "number": change.number,
        "role": change.role.value,
        "title": ROLE_TITLES[change.role],
        "previous": change.previous,
        "current": change.current,
        "handoff": is_handoff(change),
        "line": describe_change(change),
        "roles": [
            {"title": title, "holder": getattr(roles, _ATTRIBUTE[role])}
            for role, title in ROLE_TITLES.items()
        ],
    }
