"""The incident lifecycle as a closed set of phases and the transitions between them.

The runbook's lifecycle is Detection, Triage, Response (Investigate, Mitigate, Resolve),
Resolution and Post-Incident. The phases follow it::

    Detected -> Triaged -> Investigating <-> Identified <-> Mitigating <-> Monitoring
                                                                              |
                        Closed <- PostIncident <- Resolved <------------------+

Work moves forward, but the response may step back (a regression in Monitoring sends
the incident back to Investigating) and a resolved incident may be reopened, from
Resolved or from PostIncident (where an incident that needs a post-mortem goes as soon as
it is resolved). Nothing leaves Closed and nothing returns to Detected: a new problem is a
new incident.
"""

from enum import StrEnum


class Phase(StrEnum):
    """Where an incident is in the runbook's lifecycle."""

    # Opened by detection or a person; nobody has acknowledged it yet.
    DETECTED = "Detected"
    # Acknowledged and a commander named: severity assessed, roles being assigned.
    TRIAGED = "Triaged"
    # Gathering evidence; the cause is not known (runbook status "Investigating").
    INVESTIGATING = "Investigating"
    # The cause is known (runbook status "Identified").
    IDENTIFIED = "Identified"
    # A mitigation (a fix, a workaround, a rollback) is being applied.
    MITIGATING = "Mitigating"
    # Impact is gone; watching for regression (runbook status "Monitoring").
    MONITORING = "Monitoring"
    # Declared resolved by the commander, or automatically for low severities.
    RESOLVED = "Resolved"
    # Resolved; the post-mortem and its action items are still open.
    POST_INCIDENT = "PostIncident"
    # Nothing left to do. Terminal.
    CLOSED = "Closed"

    @property
    def is_active(self) -> bool:
        """True while the incident still has impact or may have (before Resolved)."""
        return self in _ACTIVE

    @property
    def is_terminal(self) -> bool:
        return self is Phase.CLOSED


_ACTIVE = frozenset(
    {
        Phase.DETECTED,
        Phase.TRIAGED,
        Phase.INVESTIGATING,
        Phase.IDENTIFIED,
        Phase.MITIGATING,
        Phase.MONITORING,
    }
)
_RESPONSE = (Phase.INVESTIGATING, Phase.IDENTIFIED, Phase.MITIGATING, Phase.MONITORING)

ALLOWED_TRANSITIONS: frozenset[tuple[Phase, Phase]] = frozenset(
    # Detection and triage lead into the response, or straight to a resolution for an
    # incident declared after the fact.
    {(Phase.DETECTED, to) for to in (Phase.TRIAGED, *_RESPONSE, Phase.RESOLVED)}
    | {(Phase.TRIAGED, to) for to in (*_RESPONSE, Phase.RESOLVED)}
    # Within the response, any step forward or back.
    | {(a, b) for a in _RESPONSE for b in _RESPONSE if a is not b}
    | {(a, Phase.RESOLVED) for a in _RESPONSE}
    # A regression after resolution reopens the investigation, also while the
    # post-mortem is pending (P0-P3 incidents are in PostIncident right after resolving).
    | {(Phase.RESOLVED, Phase.INVESTIGATING), (Phase.POST_INCIDENT, Phase.INVESTIGATING)}
    | {(Phase.RESOLVED, Phase.POST_INCIDENT), (Phase.RESOLVED, Phase.CLOSED)}
    | {(Phase.POST_INCIDENT, Phase.CLOSED)}
)


class TransitionError(ValueError):
    """A phase change the lifecycle does not allow."""


def can_transition(current: Phase, target: Phase) -> bool:
    return current is target or (current, target) in ALLOWED_TRANSITIONS


def check_transition(current: Phase, target: Phase) -> None:
    """Raises TransitionError with a message a responder can act on."""
    if can_transition(current, target):
        return
    allowed = sorted(b.value for a, b in ALLOWED_TRANSITIONS if a is current)
    hint = f"; from {current.value} it may go to {', '.join(allowed)}" if allowed else ""
    raise TransitionError(f"an incident cannot go from {current.value} to {target.value}{hint}")
