"""What an Incident's status should be, given its spec, its current status and the clock.

This covers what the foundation needs: the first phase, the detection time, the SLA
deadlines from the severity level (recomputed when the severity changes, restarted by
each status update people post), the Ready and CommanderAssigned conditions and
``observedGeneration``. Later capabilities add their own pure steps here.
"""

from datetime import datetime

from incident_operator.api.incident import Incident, IncidentState, IncidentStatus, TimelineEntry
from incident_operator.domain.conditions import ConditionStatus, set_condition
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.severity import SeverityLevel
from incident_operator.domain.sla import compute_deadlines

OPERATOR_ACTOR = "incident-operator"

_STATE_PHASE = {
    IncidentState.INVESTIGATING: Phase.INVESTIGATING,
    IncidentState.IDENTIFIED: Phase.IDENTIFIED,
    IncidentState.MONITORING: Phase.MONITORING,
    IncidentState.RESOLVED: Phase.RESOLVED,
}


def _initial_phase(state: IncidentState) -> Phase:
    """A new incident starts Detected unless people declare it further along."""
    wanted = _STATE_PHASE[state]
    return Phase.DETECTED if wanted is Phase.INVESTIGATING else wanted


def _last_communication(incident: Incident) -> datetime | None:
    times = [update.time for update in incident.spec.updates]
    return max(times) if times else None


def reconcile_incident(
    incident: Incident, level: SeverityLevel, now: datetime, incident_id: str | None
) -> IncidentStatus:
    """The desired status; ``incident`` is not modified."""
    status = incident.status.model_copy(deep=True)
    spec = incident.spec
    generation = incident.metadata.generation or None
    if incident_id is not None:
        status.id = incident_id
    if status.detected_at is None:
        status.detected_at = now
    if status.phase is None:
        status.phase = _initial_phase(spec.state)
        status.timeline.append(
            TimelineEntry(
                time=now,
                type="Declared",
                actor=OPERATOR_ACTOR,
                message=f"{spec.severity.value} incident opened ({spec.source.value}): "
                f"{spec.title}; phase {status.phase.value}",
            )
        )
    deadlines = compute_deadlines(level, status.detected_at, _last_communication(incident))
    status.response_due_at = deadlines.response_due
    status.resolution_due_at = deadlines.resolution_due
    status.next_update_due_at = deadlines.next_update_due
    commander = spec.roles.commander
    status.conditions = set_condition(
        status.conditions,
        ConditionType.COMMANDER_ASSIGNED,
        ConditionStatus.TRUE if commander else ConditionStatus.FALSE,
        Reason.ASSIGNED if commander else Reason.NOT_ASSIGNED,
        f"{commander} is the incident commander" if commander else "no commander is named",
        now,
        generation,
    )
    status.conditions = set_condition(
        status.conditions,
        ConditionType.READY,
        ConditionStatus.TRUE,
        Reason.RECONCILED,
        f"phase {status.phase.value}",
        now,
        generation,
    )
    status.observed_generation = generation
    return status

