"""An EscalationPolicy's RotationsValid condition: every rotation can be worked out.

The schema checks a rotation's form; whether its ``timeZone`` is in the zone database
only the operator can tell, and a policy with a misspelt zone must keep governing its
incidents. So the problem is this condition (and a Warning Event), naming the field,
and ``kubectl incident oncall`` refuses that rotation with the same words.
"""

from datetime import datetime

from incident_operator.api.rotations import Rotation
from incident_operator.domain.conditions import (
    Condition,
    ConditionStatus,
    changed_condition,
    find_condition,
)
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.rotations import Shift, known_time_zone, on_call


def rotation_problems(rotations: list[Rotation]) -> list[str]:
    """One line per rotation that cannot be worked out, naming its field."""
    return [
        f"spec.rotations[{index}].timeZone: unknown time zone {rotation.time_zone!r} "
        f"(rotation {rotation.name}); use an IANA name such as Europe/Berlin"
        for index, rotation in enumerate(rotations)
        if not known_time_zone(rotation.time_zone)
    ]


def on_call_in(rotations: list[Rotation], name: str, at: datetime) -> Shift | None:
    """Who is on call at ``at`` in the rotation called ``name`` (a contact's ``rotation``);
    None when the policy has no such rotation or its time zone is unknown."""
    for rotation in rotations:
        if rotation.name == name and known_time_zone(rotation.time_zone):
            return on_call(rotation.schedule(), at)
    return None


def rotations_condition(
    conditions: list[Condition],
    rotations: list[Rotation],
    now: datetime,
    generation: int | None,
) -> Condition | None:
    """The policy's RotationsValid condition, or None when it would not change.

    A policy that never had rotations gets none: the condition appears with the first.
    """
    existing = find_condition(conditions, ConditionType.ROTATIONS_VALID)
    if not rotations and existing is None:
        return None
    problems = rotation_problems(rotations)
    if problems:
        status, reason, message = (
            ConditionStatus.FALSE,
            Reason.UNKNOWN_TIME_ZONE,
            "; ".join(problems),
        )
    else:
        status, reason = ConditionStatus.TRUE, Reason.TIME_ZONES_KNOWN
        message = f"{len(rotations)} rotations, every time zone known"
    return changed_condition(
        conditions, ConditionType.ROTATIONS_VALID, status, reason, message, now, generation
    )
