"""Maintenance windows, decided: does one hold now, does it match a signal, what its status
should say, and what it records of a signal it holds back.

The runtime (runtime/maintenance.py) reads windows from its registry, asks these functions
and writes the status they return. A polling signal is re-decided every detection cycle,
so it needs nothing kept: it opens on the first cycle after the window. An inbound alert is
sent again only now and then, so its entry keeps the incident to open (``pending``) and the
window's end opens it while the alert is still firing.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from incident_operator.api.incident import (
    DetectionStatus,
    IncidentSource,
    IncidentSpec,
)
from incident_operator.api.maintenance import (
    SUPPRESSED_LIMIT,
    MaintenanceWindow,
    MaintenanceWindowSpec,
    MaintenanceWindowStatus,
    SuppressedSignal,
    selector_is_set,
)
from incident_operator.domain.conditions import (
    ConditionStatus,
    set_condition,
)
from incident_operator.domain.durations import format_duration, parse_duration
from incident_operator.domain.maintenance import Span, next_start, occurrence
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.detection import NewIncident
from incident_operator.reconcile.governing_policy import selector_matches

# A held signal's lastSeen is written at most this often.
LAST_SEEN_REFRESH: Final = timedelta(minutes=1)


def current_span(spec: MaintenanceWindowSpec, now: datetime) -> Span | None:
    """The occurrence holding at ``now``; None when the window does not hold."""
    if spec.schedule is not None:
        schedule = spec.schedule
        return occurrence(schedule.cron, schedule.time_zone, parse_duration(schedule.duration), now)
    assert spec.start is not None
    assert spec.end is not None
    span = Span(spec.start, spec.end)
    return span if span.holds(now) else None


def upcoming_start(spec: MaintenanceWindowSpec, now: datetime) -> datetime | None:
    """When the window next begins after ``now``: a schedule's next occurrence, or an
    absolute window's start while it is still ahead."""
    if spec.schedule is not None:
        return next_start(spec.schedule.cron, spec.schedule.time_zone, now)
    assert spec.start is not None
    return spec.start if spec.start > now else None


def matches(spec: MaintenanceWindowSpec, source: IncidentSource, labels: Mapping[str, str]) -> bool:
    """Whether the window holds back a signal from ``source`` with ``labels``: the
    workload selector a polling signal's workload labels, the alert selector an inbound
    alert's labels."""
    selector = (
        spec.selector.workloads if source == IncidentSource.PROMETHEUS else (spec.selector.alerts)
    )
    if selector is None or not selector_is_set(selector):
        return False
    return selector_matches(selector, dict(labels))


def too_long(spec: MaintenanceWindowSpec, maximum: timedelta) -> str | None:
    """Why the window is refused against the namespace's policy maximum; None when not."""
    if spec.length() <= maximum:
        return None
    field = "spec.schedule.duration" if spec.schedule is not None else "spec.end"
    return (
        f"{field}: the window lasts {format_duration(spec.length())}, longer than "
        f"spec.maintenance.maxWindow {format_duration(maximum)} of this namespace's policies"
    )


# ------------------------------------------------------------------------------ status


def window_status(
    window: MaintenanceWindow, now: datetime, refused: str | None = None
) -> MaintenanceWindowStatus:
    """The window's status at ``now``. A new occurrence of a schedule starts with an empty
    ``suppressed``; ``refused`` (a message) marks a window over its policy maximum, which
    holds nothing."""
    old = window.status
    span = None if refused else current_span(window.spec, now)
    suppressed = list(old.suppressed)
    current_start, current_end = old.current_start, old.current_end
    if span is not None and span.start != old.current_start:
        suppressed = []
        current_start, current_end = span.start, span.end
    elif span is not None:
        current_end = span.end
    if window.spec.schedule is None:
        # An absolute window's occurrence is itself, even when `end` moved (ended early).
        current_start, current_end = window.spec.start, window.spec.end
    generation = window.metadata.generation
    if refused:
        conditions = set_condition(
            old.conditions,
            ConditionType.READY,
            ConditionStatus.FALSE,
            Reason.WINDOW_TOO_LONG,
            refused,
            now,
            generation,
        )
    else:
        active = span is not None
        conditions = set_condition(
            old.conditions,
            ConditionType.READY,
            ConditionStatus.TRUE,
            Reason.WINDOW_ACTIVE if active else Reason.WINDOW_INACTIVE,
            "holding back matching signals" if active else "outside its time: holding nothing",
            now,
            generation,
        )
    return MaintenanceWindowStatus(
        observed_generation=generation,
        active=span is not None,
        current_start=current_start,
        current_end=current_end,
        next_start=None if refused else upcoming_start(window.spec, now),
        suppressed=suppressed,
        conditions=conditions,
    )


def status_wire(status: MaintenanceWindowStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=True)


# --------------------------------------------------------------------- held signals


def _pending(new: NewIncident) -> dict[str, Any] | None:
    """The incident an inbound alert opens at the window's end; polling needs none."""
    if new.spec.source == IncidentSource.PROMETHEUS:
        return None
    return {
        "name": new.name,
        "labels": dict(new.labels),
        "spec": new.spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
        "detection": new.detection.model_dump(mode="json", by_alias=True, exclude_none=True),
        "signalLabels": dict(new.signal_labels),
        "policy": new.policy,
    }


def pending_incident(namespace: str, pending: Mapping[str, Any]) -> NewIncident:
    """The NewIncident kept in an entry's ``pending``, to hand to the router again."""
    return NewIncident(
        namespace=namespace,
        name=str(pending["name"]),
        labels=dict(pending.get("labels") or {}),
        spec=IncidentSpec.model_validate(pending["spec"]),
        detection=DetectionStatus.model_validate(pending["detection"]),
        signal_labels=dict(pending.get("signalLabels") or {}),
        policy=pending.get("policy"),
    )


def recorded(
    suppressed: list[SuppressedSignal], new: NewIncident, now: datetime
) -> list[SuppressedSignal] | None:
    """``suppressed`` with ``new`` recorded; None when nothing needs writing (already
    recorded, seen within the last minute, or the list is full)."""
    detection = new.detection
    entry = next((s for s in suppressed if s.fingerprint == new.fingerprint), None)
    if entry is None:
        if len(suppressed) >= SUPPRESSED_LIMIT:
            return None
        fresh = SuppressedSignal(
            fingerprint=new.fingerprint,
            source=new.spec.source or IncidentSource.PROMETHEUS,
            rule=(detection.rule or "")[:256] or None,
            workload=new.spec.affected[0] if new.spec.affected else None,
            first_seen=now,
            last_seen=now,
            still_breaching=True,
            pending=_pending(new),
        )
        return [*suppressed, fresh]
    if entry.still_breaching and now - entry.last_seen < LAST_SEEN_REFRESH:
        return None
    updated = entry.model_copy(update={"last_seen": now, "still_breaching": True})
    return [updated if s is entry else s for s in suppressed]


def resolved(
    suppressed: list[SuppressedSignal], fingerprint: str, now: datetime
) -> list[SuppressedSignal] | None:
    """``suppressed`` with the alert ``fingerprint`` marked no longer breaching; None when
    it holds no such breaching entry."""
    entry = next((s for s in suppressed if s.fingerprint == fingerprint), None)
    if entry is None or not entry.still_breaching:
        return None
    updated = entry.model_copy(update={"last_seen": now, "still_breaching": False})
    return [updated if s is entry else s for s in suppressed]


def to_open(window: MaintenanceWindow) -> list[NewIncident]:
    """What the window's end opens: the inbound alerts it held that still fire."""
    namespace = window.metadata.namespace
    return [
        pending_incident(namespace, s.pending)
        for s in window.status.suppressed
        if s.still_breaching and s.pending is not None
    ]
