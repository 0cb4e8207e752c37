"""``MaintenanceWindow``: planned work during which matching signals open no incident.

A namespaced resource of its own rather than an EscalationPolicy field: windows are
short-lived and created by the people doing the work (not by GitOps), need their own RBAC
and audit trail, and must not require editing a GitOps-owned policy (docs/maintenance.md).

A window is absolute (``start``/``end``) or recurring (``schedule``: a 5-field cron in a
time zone, each occurrence lasting ``duration``). How long a window may last is capped
twice: by the schema (``HARD_MAXIMUM``, the highest ``spec.maintenance.maxWindow`` a policy
may set) and by the admission policy manifests/admission/maintenance.yaml (the namespace's
policies' ``maxWindow``, default 24h).
"""

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import ConfigDict, Field, field_validator, model_validator

from incident_operator.api.base import (
    ApiModel,
    Duration,
    LabelSelector,
    ObjectMeta,
    Timestamp,
    UserName,
    Within,
    cel,
    unique_by,
)
from incident_operator.api.incident import IncidentSource, WorkloadReference
from incident_operator.domain.conditions import Condition
from incident_operator.domain.durations import parse_duration

# The longest window any policy may allow (spec.maintenance.maxWindow's upper bound).
HARD_MAXIMUM: Final = "720h"
# Without a policy saying otherwise, a window lasts at most this long.
DEFAULT_MAXIMUM: Final = "24h"
# The most signals one window (one occurrence of it) records.
SUPPRESSED_LIMIT: Final = 100

_MESSAGES = {
    "selector": "spec.selector: set workloads or alerts (a non-empty selector)",
    "when": "spec: set either start and end, or schedule",
    "order": "spec.end must be after spec.start",
    "cap": f"spec.end: a window lasts at most {HARD_MAXIMUM}",
    "cron": "spec.schedule.cron must have 5 fields (minute hour day-of-month month day-of-week)",
}
# Five whitespace-separated fields; cronsim checks the rest (the operator and the model).
_CRON_PATTERN = "^ *[^ ]+( +[^ ]+){4} *$"


def _selector_set(path: str) -> str:
    return (
        f"has(self.{path}) && ((has(self.{path}.matchLabels) && "
        f"size(self.{path}.matchLabels) > 0) || (has(self.{path}.matchExpressions) && "
        f"size(self.{path}.matchExpressions) > 0))"
    )


def selector_is_set(selector: LabelSelector | None) -> bool:
    """Whether ``selector`` selects by anything (an empty one would match everything)."""
    return selector is not None and bool(selector.match_labels or selector.match_expressions)


class MaintenanceSelector(ApiModel):
    """Which signals the window holds back; a signal matching either selector is held."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    f"{_selector_set('workloads')} || {_selector_set('alerts')}",
                    _MESSAGES["selector"],
                )
            ]
        }
    )

    workloads: LabelSelector | None = Field(
        default=None,
        description="Matches the labels of the workload a detection rule (polling) breaches on.",
    )
    alerts: LabelSelector | None = Field(
        default=None,
        description="Matches the labels of an inbound alert (Alertmanager, PagerDuty, the "
        "generic webhook).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not (selector_is_set(self.workloads) or selector_is_set(self.alerts)):
            raise ValueError(_MESSAGES["selector"])
        return self


class Schedule(ApiModel):
    """A recurring window: it opens at every time the cron names, for ``duration``."""

    cron: Annotated[
        str,
        Field(
            min_length=1,
            max_length=128,
            json_schema_extra={
                "x-kubernetes-validations": [
                    cel(f"self.matches('{_CRON_PATTERN}')", _MESSAGES["cron"])
                ]
            },
        ),
    ] = Field(
        description="When each occurrence starts: 5 cron fields (minute hour day-of-month "
        "month day-of-week), read in timeZone, e.g. `0 2 * * 6` (Saturdays 02:00)."
    )
    time_zone: Annotated[str, Field(min_length=1, max_length=64)] = Field(
        default="UTC",
        description="The IANA time zone the cron is read in (Europe/Berlin); occurrences "
        "follow its daylight-saving changes.",
    )
    duration: Annotated[Duration, Within("1s", HARD_MAXIMUM)] = Field(
        description="How long each occurrence lasts; the window's length for admission."
    )

    @field_validator("cron")
    @classmethod
    def _cron_parses(cls, value: str) -> str:
        if not re.match(_CRON_PATTERN, value):
            raise ValueError(_MESSAGES["cron"])
        try:
            CronSim(value, datetime(2000, 1, 1))
        except CronSimError as error:
            raise ValueError(f"spec.schedule.cron: {error}") from error
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"spec.schedule.timeZone: unknown time zone {value!r}") from error
        return value


class MaintenanceWindowSpec(ApiModel):
    """Planned work: which signals to hold back, when, why and who is doing it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.schedule) ? !has(self.start) && !has(self.end) : "
                    "has(self.start) && has(self.end)",
                    _MESSAGES["when"],
                ),
                cel(
                    "!has(self.start) || !has(self.end) || self.end > self.start",
                    _MESSAGES["order"],
                    field_path=".end",
                ),
                cel(
                    "!has(self.start) || !has(self.end) || "
                    f"self.end - self.start <= duration('{HARD_MAXIMUM}')",
                    _MESSAGES["cap"],
                    field_path=".end",
                ),
            ]
        }
    )

    selector: MaintenanceSelector = Field(
        description="The signals the window holds back: by workload labels, alert labels or both."
    )
    start: Timestamp | None = Field(
        default=None, description="When an absolute window begins (RFC 3339)."
    )
    end: Timestamp | None = Field(
        default=None,
        description="When an absolute window ends (RFC 3339); `kubectl incident maintenance "
        "end` sets it to now.",
    )
    schedule: Schedule | None = Field(
        default=None, description="A recurring window instead of start and end."
    )
    reason: Annotated[str, Field(min_length=1, max_length=1024)] = Field(
        description="Why: the planned work, for whoever wonders why nobody was paged."
    )
    owner: UserName = Field(
        description="Who is doing the work (the Kubernetes user `kubectl incident "
        "maintenance start` ran as)."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        absolute = self.start is not None or self.end is not None
        if (self.schedule is not None) == absolute or (
            absolute and (self.start is None or self.end is None)
        ):
            raise ValueError(_MESSAGES["when"])
        if self.start is not None and self.end is not None:
            if self.end <= self.start:
                raise ValueError(_MESSAGES["order"])
            if self.end - self.start > parse_duration(HARD_MAXIMUM):
                raise ValueError(_MESSAGES["cap"])
        return self

    def length(self) -> timedelta:
        """How long the window (one occurrence of it) lasts: what admission caps."""
        if self.schedule is not None:
            return parse_duration(self.schedule.duration)
        assert self.start is not None
        assert self.end is not None
        return self.end - self.start


class SuppressedSignal(ApiModel):
    """One signal the window held back (in its current occurrence)."""

    fingerprint: Annotated[str, Field(min_length=1, max_length=128)]
    source: IncidentSource
    rule: Annotated[str, Field(max_length=256)] | None = Field(
        default=None, description="The detection rule, or the alert's name."
    )
    workload: WorkloadReference | None = None
    first_seen: datetime
    last_seen: datetime = Field(description="Refreshed at most once a minute.")
    still_breaching: bool = Field(
        default=True,
        description="False once the alert resolved during the window: it opens nothing at the end.",
    )
    pending: dict[str, Any] | None = Field(
        default=None,
        description="For a signal that is not re-decided every cycle (an inbound alert): "
        "the incident to open when the window ends if it is still breaching.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )


class MaintenanceWindowStatus(ApiModel):
    observed_generation: int | None = None
    active: bool | None = Field(default=None, description="True while the window holds.")
    current_start: datetime | None = Field(
        default=None, description="When the current (or last) occurrence began."
    )
    current_end: datetime | None = Field(
        default=None, description="When the current (or last) occurrence ends."
    )
    next_start: datetime | None = Field(
        default=None, description="When the next occurrence of a schedule begins."
    )
    suppressed: Annotated[
        list[SuppressedSignal],
        Field(
            max_length=SUPPRESSED_LIMIT,
            description="The signals held back in the current occurrence, by fingerprint; "
            "a schedule's list starts empty at every occurrence.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["fingerprint"],
            },
        ),
        unique_by("fingerprint"),
    ] = []
    conditions: Annotated[
        list[Condition],
        Field(
            max_length=8,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        ),
    ] = []


class MaintenanceWindow(ApiModel):
    api_version: Literal["sre.agentos.io/v1alpha1"] = "sre.agentos.io/v1alpha1"
    kind: Literal["MaintenanceWindow"] = "MaintenanceWindow"
    metadata: ObjectMeta = ObjectMeta()
    spec: MaintenanceWindowSpec
    status: MaintenanceWindowStatus = MaintenanceWindowStatus()


class MaintenanceSettings(ApiModel):
    """``EscalationPolicy.spec.maintenance``: limits on the namespace's windows."""

    max_window: Annotated[Duration, Within("1m", HARD_MAXIMUM)] = Field(
        default=DEFAULT_MAXIMUM,
        description="The longest MaintenanceWindow (or schedule duration) admission accepts "
        "in this namespace; with several policies, the smallest applies.",
    )
