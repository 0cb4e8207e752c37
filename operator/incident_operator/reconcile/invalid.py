"""Status for an object the operator cannot read: a Ready=False condition, nothing else.

Works on the raw status so that an unreadable status is amended, not replaced.
"""

from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from incident_operator.domain.conditions import Condition, ConditionStatus, set_condition
from incident_operator.domain.reasons import ConditionType, Reason

_MAX_ERRORS_SHOWN = 5
_CONDITIONS = TypeAdapter(list[Condition])


def describe_validation_error(error: ValidationError, prefix: str) -> str:
    """``spec.severity: Input should be 'P0', ...; spec.title: Field required``."""
    details = error.errors()
    parts = [
        ".".join(str(part) for part in (prefix, *detail["loc"])) + f": {detail['msg']}"
        for detail in details[:_MAX_ERRORS_SHOWN]
    ]
    if len(details) > _MAX_ERRORS_SHOWN:
        parts.append(f"and {len(details) - _MAX_ERRORS_SHOWN} more")
    return "; ".join(parts)


def not_ready_conditions(
    raw_status: dict[str, Any],
    reason: Reason,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """The status' conditions with Ready=False; unreadable conditions are started afresh."""
    try:
        current = _CONDITIONS.validate_python(raw_status.get("conditions") or [])
    except ValidationError:
        current = []
    updated = set_condition(
        current, ConditionType.READY, ConditionStatus.FALSE, reason, message, now, generation
    )
    wire: list[dict[str, Any]] = _CONDITIONS.dump_python(
        updated, mode="json", by_alias=True, exclude_none=True
    )
    return wire
