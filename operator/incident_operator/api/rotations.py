"""On-call rotations of an EscalationPolicy (``spec.rotations``).

The runbook's Emergency Contact List names the on-call SRE by rotation ("PagerDuty
rotation", backup "Secondary rotation"); these are those rotations, with who is on call
worked out by ``domain.rotations.on_call``. The model refuses what the API server
refuses, with the same messages. That the time zone exists the API server cannot check,
and the model does not either: a policy stored with a misspelt zone must stay readable,
its escalation working. ``reconcile.rotations`` reports it instead, as the policy's
``RotationsValid=False`` condition naming the field, and the plugin refuses to guess.
"""

from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator

from incident_operator.api.base import (
    ApiModel,
    Duration,
    Timestamp,
    UserName,
    Within,
    cel,
)
from incident_operator.domain import rotations
from incident_operator.domain.durations import parse_duration

RotationName = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
# IANA names such as Europe/Berlin, America/Argentina/Buenos_Aires, Etc/GMT+5 or UTC.
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
]
_END_AFTER_START = "end must be after start"


class RotationOverride(ApiModel):
    """Someone on call instead of the rotation's turn, from start until end."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [cel("self.end > self.start", _END_AFTER_START)]
        }
    )

    user: UserName = Field(description="Who is on call instead: a user or display name.")
    start: Timestamp = Field(description="When the override begins (RFC 3339).")
    end: Timestamp = Field(description="When it ends (RFC 3339), after start; exclusive.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.end > self.start:
            raise ValueError(_END_AFTER_START)
        return self


class Rotation(ApiModel):
    """People taking turns on call, like one layer of a PagerDuty schedule."""

    name: RotationName = Field(
        description="The rotation's name, e.g. primary or secondary; contacts name it."
    )
    people: Annotated[list[UserName], Field(min_length=1, max_length=52)] = Field(
        description="Who takes turns, in order (Kubernetes user names or display names); "
        "the first is on call from start."
    )
    start: Timestamp = Field(
        description="When the first turn begins (RFC 3339); its local time in timeZone is "
        "the hand-off time of every turn. Turns also run backwards from it."
    )
    length: Annotated[Duration, Within("1h", "2160h")] = Field(
        default="168h",
        description="How long one turn lasts, in wall-clock time of timeZone (168h: weekly; "
        "a turn across a daylight-saving change is an hour shorter or longer).",
    )
    time_zone: TimeZoneName = Field(
        default="UTC",
        description="The IANA time zone hand-offs keep their local time in, e.g. "
        "Europe/Berlin. One the operator's zone database does not have is reported as the "
        "policy's RotationsValid=False condition.",
    )
    overrides: Annotated[list[RotationOverride], Field(max_length=64)] = Field(
        default=[],
        description="Stretches someone else covers; they win over the turns, and where they "
        "overlap the one that starts latest wins.",
    )

    def schedule(self) -> rotations.Rotation:
        """The rotation for ``domain.rotations``; its time zone must be known
        (``rotations.known_time_zone``)."""
        return rotations.Rotation(
            name=self.name,
            people=tuple(self.people),
            start=self.start,
            length=parse_duration(self.length),
            time_zone=self.time_zone,
            overrides=tuple(rotations.Override(o.user, o.start, o.end) for o in self.overrides),
        )
