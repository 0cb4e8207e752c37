"""Conditions in the shape of Kubernetes' metav1.Condition, and the rule for updating them.

A condition's ``last_transition_time`` changes only when its status changes; a new
reason or message alone keeps it, as the API conventions ask (and Argo Rollouts'
``utils/conditions`` does).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from incident_operator.domain.reasons import ConditionType, Reason


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Condition:
    """One observation about an object, keyed by ``type``."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    last_transition_time: datetime
    observed_generation: int | None = None

    # Lets pydantic (in the api package) read and write the camelCase wire names
    # without this module importing it.
    __pydantic_config__: ClassVar[dict[str, Any]] = {
        "alias_generator": _camel,
        "populate_by_name": True,
    }


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


def set_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: ConditionStatus,
    reason: Reason,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """Returns ``conditions`` with ``type_`` set; other types keep their order and values.

    Only the closed sets of domain.reasons are accepted, so mypy catches a misspelt type
    or reason; conditions read back from the API keep plain strings.
    """
    existing = find_condition(conditions, type_)
    if existing is None:
        new = Condition(type_, status, reason, message, now, observed_generation)
        return [*conditions, new]
    transition = now if existing.status is not status else existing.last_transition_time
    updated = replace(
        existing,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    return [updated if c.type == type_ else c for c in conditions]


def changed_condition(
    conditions: Sequence[Condition],
    type_: ConditionType,
    status: ConditionStatus,
    reason: Reason,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> Condition | None:
    """The condition ``type_`` set as given, or None when it already says exactly that
    (for a writer that writes one condition only when it changes)."""
    existing = find_condition(conditions, type_)
    if existing is not None and (
        existing.status is status
        and existing.reason == reason
        and existing.message == message
        and existing.observed_generation == observed_generation
    ):
        return None
    updated = set_condition(conditions, type_, status, reason, message, now, observed_generation)
    return find_condition(updated, type_)


def is_true(conditions: Iterable[Condition], type_: str) -> bool:
    found = find_condition(conditions, type_)
    return found is not None and found.status is ConditionStatus.TRUE
