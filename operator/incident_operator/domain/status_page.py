"""What the public status page says about a component: pure rules, no I/O.

The words are Atlassian Statuspage's, so existing widgets and aggregators read our
``/api/v2/*.json`` as they read theirs. A component's state comes from the open incidents
that cover it (the worst one wins) and from the maintenance windows holding it::

    open incident P0     major_outage
    open incident P1     partial_outage
    open incident P2     degraded_performance
    open incident P3/P4  operational   (a minor issue with a workaround, or informational:
                                        the runbook's P3/P4 do not affect customers)
    no open incident     under_maintenance while a window holds it, else operational

An incident counts as open while its phase is active (Detected to Monitoring): once it
is Resolved, customers' service is back.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from incident_operator.domain.severity import Severity


class ComponentState(StrEnum):
    """A component's state, in Statuspage's words (its v2 API's ``status`` values)."""

    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"


# The state an open incident of each severity puts its components in (the table above).
STATE_BY_SEVERITY: Final[dict[Severity, ComponentState]] = {
    Severity.P0: ComponentState.MAJOR_OUTAGE,
    Severity.P1: ComponentState.PARTIAL_OUTAGE,
    Severity.P2: ComponentState.DEGRADED_PERFORMANCE,
    Severity.P3: ComponentState.OPERATIONAL,
    Severity.P4: ComponentState.OPERATIONAL,
}


class PublicIncidentStatus(StrEnum):
    """A public incident's (and each of its updates') status, in Statuspage's words."""

    # An Initial customer message: the service is affected, the cause is being looked for.
    INVESTIGATING = "investigating"
    # A Progress customer message: the cause is known and being fixed.
    IDENTIFIED = "identified"
    # A Progress customer message while the incident is in Monitoring: a fix is out.
    MONITORING = "monitoring"
    # A Resolution customer message, or the incident is no longer active.
    RESOLVED = "resolved"


class Impact(StrEnum):
    """How badly a public incident hurts customers, in Statuspage's words."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


# A public incident's impact by its severity (the runbook's P3/P4 do not affect customers).
IMPACT_BY_SEVERITY: Final[dict[Severity, Impact]] = {
    Severity.P0: Impact.CRITICAL,
    Severity.P1: Impact.MAJOR,
    Severity.P2: Impact.MINOR,
    Severity.P3: Impact.NONE,
    Severity.P4: Impact.NONE,
}


class Indicator(StrEnum):
    """The whole page's status indicator, in Statuspage's words (``status.indicator``)."""

    NONE = "none"
    MAINTENANCE = "maintenance"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


# What the page says for each indicator (``status.description``), as Statuspage says it.
INDICATOR_DESCRIPTIONS: Final[dict[Indicator, str]] = {
    Indicator.NONE: "All Systems Operational",
    Indicator.MAINTENANCE: "Service Under Maintenance",
    Indicator.MINOR: "Minor Service Outage",
    Indicator.MAJOR: "Partial System Outage",
    Indicator.CRITICAL: "Major Service Outage",
}

# Worst last: a component shows the worst state any rule gives it.
STATE_ORDER: Final = (
    ComponentState.OPERATIONAL,
    ComponentState.UNDER_MAINTENANCE,
    ComponentState.DEGRADED_PERFORMANCE,
    ComponentState.PARTIAL_OUTAGE,
    ComponentState.MAJOR_OUTAGE,
)
INDICATOR_ORDER: Final = (
    Indicator.NONE,
    Indicator.MAINTENANCE,
    Indicator.MINOR,
    Indicator.MAJOR,
    Indicator.CRITICAL,
)
# The page's indicator a component's state alone calls for.
INDICATOR_BY_STATE: Final[dict[ComponentState, Indicator]] = {
    ComponentState.OPERATIONAL: Indicator.NONE,
    ComponentState.UNDER_MAINTENANCE: Indicator.MAINTENANCE,
    ComponentState.DEGRADED_PERFORMANCE: Indicator.MINOR,
    ComponentState.PARTIAL_OUTAGE: Indicator.MAJOR,
    ComponentState.MAJOR_OUTAGE: Indicator.CRITICAL,
}
# The page's indicator an unresolved public incident's impact alone calls for.
INDICATOR_BY_IMPACT: Final[dict[Impact, Indicator]] = {
    Impact.NONE: Indicator.NONE,
    Impact.MINOR: Indicator.MINOR,
    Impact.MAJOR: Indicator.MAJOR,
    Impact.CRITICAL: Indicator.CRITICAL,
}


def worst_state(states: Iterable[ComponentState]) -> ComponentState:
    """The worst of ``states``; operational when there are none."""
    return max(states, key=STATE_ORDER.index, default=ComponentState.OPERATIONAL)


def worst_indicator(indicators: Iterable[Indicator]) -> Indicator:
    """The worst of ``indicators``; none when there are none."""
    return max(indicators, key=INDICATOR_ORDER.index, default=Indicator.NONE)


@dataclass(frozen=True)
class Document:
    """One rendered document of the page: its body, its media type, and when what it
    says last changed (its Last-Modified)."""

    body: bytes
    content_type: str
    last_modified: datetime
