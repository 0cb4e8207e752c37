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
