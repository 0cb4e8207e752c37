"""An incident's signals (status.signals) and their aggregate (status.detection).

Detection, the Alertmanager intake and the other intakes write one signal each; the
lifecycle reads only ``status.detection``, which is their aggregate, so a grouped
incident recovers only when all of its signals have, and regresses when any breaches
again:

- breaching while any signal breaches; its level and value are the worst breaching one's;
- ``breachStartedAt`` the earliest among them;
- ``recoveredAt`` the latest recovery once none breaches (so the monitoring window runs
  from the last signal's recovery);
- the fingerprint, policy and rule are those of the signal that opened the incident.

An incident opened before signals existed has only ``status.detection``: ``signals_of``
reads it as its first signal, so the next write records it in status.signals.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentSource,
    SignalStatus,
)
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level

_LEVEL_ORDER = {Level.CRITICAL: 3, Level.WARNING: 2, Level.UNKNOWN: 1, Level.OK: 0}


def signals_of(incident: Incident) -> list[SignalStatus]:
    """The incident's signals; a legacy incident's status.detection as its only one."""
    status = incident.status
    if status.signals:
        return list(status.signals)
    detection = status.detection
    if detection is None:
        return []
    return [
        SignalStatus(
            **detection.model_dump(),
            id="s1",
            source=incident.spec.source,
            severity=incident.spec.severity,
            first_seen=status.detected_at
            or detection.breach_started_at
            or (detection.last_evaluated_at),
        )
    ]


def find_signal(incident: Incident, fingerprint: str) -> SignalStatus | None:
    return next((s for s in signals_of(incident) if s.fingerprint == fingerprint), None)


_DETECTION_FIELDS = frozenset(DetectionStatus.model_fields)


def detection_of(signal: SignalStatus) -> DetectionStatus:
    """What detection wrote of ``signal``, without its identity (to compare with what
    it would write now)."""
    return DetectionStatus.model_validate(signal.model_dump(include=set(_DETECTION_FIELDS)))


def signal_detection(incident: Incident, fingerprint: str) -> DetectionStatus | None:
    """The detection status of the incident's signal ``fingerprint``; None when it has no
    such signal."""
    found = find_signal(incident, fingerprint)
    return detection_of(found) if found is not None else None


def next_signal_id(signals: Sequence[SignalStatus]) -> str:
    highest = max((int(s.id[1:]) for s in signals), default=0)
    return f"s{highest + 1}"


def as_signal(
    detection: DetectionStatus,
    id_: str,
    source: IncidentSource,
    severity: Severity,
    first_seen: datetime,
) -> SignalStatus:
    return SignalStatus(
        **detection.model_dump(), id=id_, source=source, severity=severity, first_seen=first_seen
    )


def with_detection(signal: SignalStatus, detection: DetectionStatus) -> SignalStatus:
    """``signal`` with what detection now says of it; its identity stays."""
    return signal.model_copy(update=dict(detection))


def updated_signals(
    incident: Incident | None, detection: DetectionStatus, now: datetime
) -> list[SignalStatus]:
    """The incident's signals once ``detection`` is written on the one it belongs to (by
    fingerprint); a signal not there yet is added (the first one of a new incident)."""
    signals = signals_of(incident) if incident is not None else []
    current = next((s for s in signals if s.fingerprint == detection.fingerprint), None)
    if current is not None:
        return replace_signal(signals, with_detection(current, detection))
    source = incident.spec.source if incident is not None else IncidentSource.PROMETHEUS
    severity = incident.spec.severity if incident is not None else Severity.P2
    first_seen = detection.breach_started_at or now
    return [*signals, as_signal(detection, next_signal_id(signals), source, severity, first_seen)]


def replace_signal(signals: Sequence[SignalStatus], updated: SignalStatus) -> list[SignalStatus]:
    return [updated if s.id == updated.id else s for s in signals]


def aggregate(signals: Sequence[SignalStatus]) -> DetectionStatus | None:
    """status.detection of an incident with these signals (see the module docstring)."""
    if not signals:
        return None
    first = signals[0]
    breaching = [s for s in signals if s.breaching]
    worst = max(
        breaching or signals,
        key=lambda s: (_LEVEL_ORDER[s.level], s.value if s.value is not None else float("-inf")),
    )
    starts = [s.breach_started_at for s in breaching if s.breach_started_at is not None]
    recoveries = [s.recovered_at for s in signals if s.recovered_at is not None]
    recovered_at = None
    if not breaching and len(recoveries) == len(signals):
        recovered_at = max(recoveries)
    return DetectionStatus(
        fingerprint=first.fingerprint,
        policy=first.policy,
        rule=first.rule,
        workload=first.workload,
        level=worst.level,
        value=worst.value,
        threshold=worst.threshold,
        breaching=bool(breaching),
        breach_started_at=min(starts) if starts else first.breach_started_at,
        recovered_at=recovered_at,
        last_evaluated_at=max(s.last_evaluated_at for s in signals),
    )


def signals_wire(signals: Sequence[SignalStatus]) -> list[dict[str, Any]]:
    """status.signals as a merge patch value (the whole list: it is replaced)."""
    return [s.model_dump(mode="json", by_alias=True, exclude_none=True) for s in signals]
