"""The public status page, derived: components and their states, public incidents and
their updates. Pure: everything comes in as arguments (the clock too), nothing is read.

What customers see is chosen here, so what they must never see is left out here
(docs/status-page.md)::

    shown                                       never shown
    component names, descriptions, groups       the policy, its namespace, its signals
    each component's state                      workloads, labels, annotations
    incidents with a published customer         spec.title, summary, impact, updates,
      message (open, or last message within       timeline, roles, authors, user names,
      90 days)                                    the incident's name and namespace
    each published message: its text, time

A component's state is the worst ``STATE_BY_SEVERITY`` over the open incidents of the
policy's namespace that cover it (an affected workload is one of its workloads, or a
signal's rule name or alertname is one of its signals); with none (or only P3/P4) it is
under_maintenance while an active MaintenanceWindow of that namespace selects one of its
workloads by their labels, else operational. Identifiers are short hashes, so neither a
namespace nor a name can be read from them, and they stay the same across restarts.
"""

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, IncidentSource
from incident_operator.api.maintenance import MaintenanceWindow
from incident_operator.api.status_page import StatusComponent
from incident_operator.domain.customer_communication import CustomerMessageKind
from incident_operator.domain.phases import Phase
from incident_operator.domain.status_page import (
    IMPACT_BY_SEVERITY,
    INDICATOR_BY_IMPACT,
    INDICATOR_BY_STATE,
    INDICATOR_DESCRIPTIONS,
    STATE_BY_SEVERITY,
    ComponentState,
    Impact,
    Indicator,
    PublicIncidentStatus,
    worst_indicator,
    worst_state,
)
from incident_operator.reconcile.detection import is_open
from incident_operator.reconcile.maintenance import current_span, matches
from incident_operator.reconcile.messages import published_message
from incident_operator.reconcile.signals import signals_of

# How long a resolved incident stays on the page after its last published message.
PAST_INCIDENTS: Final = timedelta(days=90)
# Labels of a workload of a namespace, by (namespace, kind, name); None: not known.
LabelsOf = Callable[[str, str, str], Mapping[str, str] | None]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def public_id(*parts: str) -> str:
    """A short, stable identifier of ``parts`` that does not reveal them."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Component:
    """A component as the page shows it."""

    id: str
    name: str
    description: str
    # The group's name; None: shown on its own.
    group: str | None
    # Its place on the page, from 0.
    position: int
    state: ComponentState
    created_at: datetime
    # The latest change this page knows of: an incident covering it opening or resolving.
    updated_at: datetime


@dataclass(frozen=True)
class Update:
    """One published customer message, as an update of its public incident."""

    id: str
    status: PublicIncidentStatus
    body: str
    at: datetime


@dataclass(frozen=True)
class PublicIncident:
    id: str
    name: str
    status: PublicIncidentStatus
    impact: Impact
    # When customers were first told (the first published message).
    created_at: datetime
    updated_at: datetime
    # When it began (detection), which may be before customers were told.
    started_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    # Newest first.
    updates: tuple[Update, ...]
    component_ids: tuple[str, ...]

    @property
    def resolved(self) -> bool:
        return self.status == PublicIncidentStatus.RESOLVED


@dataclass(frozen=True)
class StatusPage:
    """Everything the page and its API say, at one instant."""

    title: str
    updated_at: datetime
    components: tuple[Component, ...]
    # Newest first (by first message).
    incidents: tuple[PublicIncident, ...]
    indicator: Indicator

    @property
    def description(self) -> str:
        return INDICATOR_DESCRIPTIONS[self.indicator]

    @property
    def unresolved(self) -> tuple[PublicIncident, ...]:
        return tuple(i for i in self.incidents if not i.resolved)

    @property
    def past(self) -> tuple[PublicIncident, ...]:
        return tuple(i for i in self.incidents if i.resolved)


def covers(component: StatusComponent, incident: Incident) -> bool:
    """Whether ``incident`` (of the component's namespace) is about ``component``."""
    workloads = {(w.kind, w.name) for w in component.workloads}
    if any((w.kind, w.name) in workloads for w in incident.spec.affected):
        return True
    signals = set(component.signals)
    return any(signal.rule in signals for signal in signals_of(incident))


def _in_maintenance(
    component: StatusComponent,
    namespace: str,
    windows: Sequence[MaintenanceWindow],
    labels_of: LabelsOf,
    now: datetime,
) -> datetime | None:
    """When the maintenance holding one of the component's workloads began; None: none."""
    for window in windows:
        span = current_span(window.spec, now)
        if span is None:
            continue
        for workload in component.workloads:
            labels = labels_of(namespace, workload.kind, workload.name)
            if labels is not None and matches(window.spec, IncidentSource.PROMETHEUS, labels):
                return span.start
    return None


def _component(
    policy: EscalationPolicy,
    component: StatusComponent,
    position: int,
    incidents: Sequence[Incident],
    windows: Sequence[MaintenanceWindow],
    labels_of: LabelsOf,
    now: datetime,
) -> Component:
    namespace = policy.metadata.namespace
    covering = [i for i in incidents if covers(component, i)]
    state = worst_state(STATE_BY_SEVERITY[i.spec.severity] for i in covering if is_open(i))
    changes = [policy.metadata.creation_timestamp or _EPOCH]
    for incident in covering:
        changes += [t for t in (_started(incident), incident.status.resolved_at) if t]
    if state == ComponentState.OPERATIONAL:
        began = _in_maintenance(component, namespace, windows, labels_of, now)
        if began is not None:
            state = ComponentState.UNDER_MAINTENANCE
            changes.append(began)
    return Component(
        id=public_id(namespace, policy.metadata.name, component.name),
        name=component.name,
        description=component.description,
        group=component.group,
        position=position,
        state=state,
        created_at=policy.metadata.creation_timestamp or _EPOCH,
        updated_at=max(changes),
    )


def _started(incident: Incident) -> datetime | None:
    return incident.status.detected_at or incident.metadata.creation_timestamp


def _update_status(
    kind: CustomerMessageKind, last: bool, phase: Phase | None
) -> PublicIncidentStatus:
    if kind == CustomerMessageKind.INITIAL:
        return PublicIncidentStatus.INVESTIGATING
    if kind == CustomerMessageKind.RESOLUTION:
        return PublicIncidentStatus.RESOLVED
    if last and phase == Phase.MONITORING:
        return PublicIncidentStatus.MONITORING
    return PublicIncidentStatus.IDENTIFIED


def _public_incident(
    incident: Incident, components: Sequence[tuple[str, StatusComponent]], now: datetime
) -> PublicIncident | None:
    """The incident as customers see it; None when nothing about it was published, or
    its last message is older than ``PAST_INCIDENTS`` and it is over."""
    messages = incident.spec.customer_messages
    if not messages:
        return None
    active = is_open(incident)
    last_at = messages[-1].time
    if not active and now - last_at > PAST_INCIDENTS:
        return None
    key = public_id(incident.metadata.namespace, incident.metadata.name, incident.metadata.uid)
    phase = incident.status.phase
    updates = []
    for number, message in enumerate(messages, start=1):
        rendered = published_message(incident, str(number))
        assert rendered is not None  # ``number`` is one of the messages
        status = _update_status(message.kind, number == len(messages), phase)
        updates.append(Update(f"{key}-{number}", status, rendered.text, message.time))
    first = published_message(incident, "1")
    assert first is not None
    if not active:
        status = PublicIncidentStatus.RESOLVED
    elif updates[-1].status == PublicIncidentStatus.RESOLVED:
        # Told it was over, yet still active (reopened, or not yet resolved here).
        status = (
            PublicIncidentStatus.MONITORING
            if phase == Phase.MONITORING
            else PublicIncidentStatus.IDENTIFIED
        )
    else:
        status = updates[-1].status
    resolved_at = None if active else (incident.status.resolved_at or last_at)
    monitoring = [u.at for u in updates if u.status == PublicIncidentStatus.MONITORING]
    return PublicIncident(
        id=key,
        name=first.subject,
        status=status,
        impact=IMPACT_BY_SEVERITY[incident.spec.severity],
        created_at=messages[0].time,
        updated_at=max(last_at, resolved_at or last_at),
        started_at=_started(incident) or messages[0].time,
        monitoring_at=monitoring[0] if monitoring else None,
        resolved_at=resolved_at,
        updates=tuple(reversed(updates)),
        component_ids=tuple(
            component_id for component_id, component in components if covers(component, incident)
        ),
    )


def build_page(
    *,
    title: str,
    policies: Iterable[EscalationPolicy],
    incidents: Iterable[Incident],
    windows: Iterable[MaintenanceWindow],
    labels_of: LabelsOf,
    now: datetime,
) -> StatusPage:
    """The page at ``now`` from every policy's components, every incident and window."""
    by_namespace: dict[str, list[Incident]] = {}
    for incident in incidents:
        by_namespace.setdefault(incident.metadata.namespace, []).append(incident)
    windows_in: dict[str, list[MaintenanceWindow]] = {}
    for window in windows:
        windows_in.setdefault(window.metadata.namespace, []).append(window)
    components: list[Component] = []
    declared: dict[str, list[tuple[str, StatusComponent]]] = {}
    for policy in sorted(policies, key=lambda p: (p.metadata.namespace, p.metadata.name)):
        namespace = policy.metadata.namespace
        for spec in policy.spec.status_page.components:
            component = _component(
                policy,
                spec,
                len(components),
                by_namespace.get(namespace, []),
                windows_in.get(namespace, []),
                labels_of,
                now,
            )
            components.append(component)
            declared.setdefault(namespace, []).append((component.id, spec))
    public = [
        shown
        for namespace, held in by_namespace.items()
        for incident in held
        if (shown := _public_incident(incident, declared.get(namespace, []), now)) is not None
    ]
    public.sort(key=lambda i: (i.created_at, i.id), reverse=True)
    indicator = worst_indicator(
        [INDICATOR_BY_STATE[c.state] for c in components]
        + [INDICATOR_BY_IMPACT[i.impact] for i in public if not i.resolved]
    )
    times = [c.updated_at for c in components] + [i.updated_at for i in public]
    return StatusPage(
        title=title,
        updated_at=max(times, default=_EPOCH),
        components=tuple(components),
        incidents=tuple(public),
        indicator=indicator,
    )
