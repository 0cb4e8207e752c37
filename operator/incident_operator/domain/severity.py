"""The runbook's severity levels, P0 to P4, with their attributes as shipped defaults.

Each number below comes from the runbook's tables (Severity Levels, Post-Mortem
Timeline, Action Item Tracking); ``tests/unit/test_severity.py`` checks them one by one.
A policy may override some of them per severity; the catalog is the fallback.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Severity(StrEnum):
    """Incident severity; P0 is the most severe."""

    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """0 for P0 up to 4 for P4: lower is more severe."""
        return int(self.value[1])

    def is_more_severe_than(self, other: "Severity") -> bool:
        return self.rank < other.rank


class OnCall(StrEnum):
    """Who the runbook calls in for a severity (On-Call Required)."""

    ALL_HANDS = "All hands"
    PRIMARY_AND_SECONDARY = "Primary + Secondary"
    PRIMARY = "Primary"
    BUSINESS_HOURS = "Business hours"
    NONE = "None"


@dataclass(frozen=True)
class SeverityLevel:
    """One row of the runbook's severity tables."""

    severity: Severity
    # The runbook's one-line definition.
    definition: str
    # Time to first response. None for P4, whose response is "next business day".
    response_time: timedelta | None
    # True where the runbook gives the response as "next business day" instead of a time.
    response_next_business_day: bool
    resolution_target: timedelta
    # Who is escalated to automatically, and after how long; None when nobody is.
    escalation_target: str | None
    escalation_after: timedelta | None
    # How often a status update is due; None for P4 ("as needed").
    update_every: timedelta | None
    on_call: OnCall
    # Post-mortem: schedule within, complete within; None where the runbook asks for none.
    postmortem_schedule_within: timedelta | None
    postmortem_complete_within: timedelta | None
    # The runbook's Slack channel for the alert level that maps to this severity.
    chat_channel: str
    # Whether the runbook pages someone for this severity.
    pages: bool


_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_WEEK = timedelta(weeks=1)
# The runbook's "1 month"; a fixed 30 days keeps deadlines reproducible.
MONTH = timedelta(days=30)

CATALOG: dict[Severity, SeverityLevel] = {
    Severity.P0: SeverityLevel(
        severity=Severity.P0,
        definition="Complete system outage or data loss affecting all users.",
        response_time=timedelta(minutes=5),
        response_next_business_day=False,
        resolution_target=_HOUR,
        # "Automatic to VP Engineering": the escalation matrix gives the time, 15 minutes.
        escalation_target="VP Engineering",
        escalation_after=timedelta(minutes=15),
        update_every=timedelta(minutes=15),
        on_call=OnCall.ALL_HANDS,
        postmortem_schedule_within=24 * _HOUR,
        postmortem_complete_within=72 * _HOUR,
        chat_channel="#incident-critical",
        pages=True,
    ),
    Severity.P1: SeverityLevel(
        severity=Severity.P1,
        definition="Major functionality impaired affecting significant user base.",
        response_time=timedelta(minutes=15),
        response_next_business_day=False,
        resolution_target=4 * _HOUR,
        escalation_target="Engineering Manager",
        escalation_after=_HOUR,
        update_every=timedelta(minutes=30),
        on_call=OnCall.PRIMARY_AND_SECONDARY,
        postmortem_schedule_within=48 * _HOUR,
        postmortem_complete_within=_WEEK,
        chat_channel="#incident-high",
        pages=True,
    ),
    Severity.P2: SeverityLevel(
        severity=Severity.P2,
        definition="Partial functionality impaired affecting subset of users.",
        response_time=timedelta(minutes=30),
        response_next_business_day=False,
        resolution_target=8 * _HOUR,
        escalation_target="Team Lead",
        escalation_after=2 * _HOUR,
        update_every=_HOUR,
        on_call=OnCall.PRIMARY,
        postmortem_schedule_within=_WEEK,
        postmortem_complete_within=2 * _WEEK,
        chat_channel="#incident-warning",
        pages=False,
    ),
    Severity.P3: SeverityLevel(
        severity=Severity.P3,
        definition="Minor issue with workaround available.",
        response_time=2 * _HOUR,
        response_next_business_day=False,
        resolution_target=24 * _HOUR,
        escalation_target="Team Lead",
        escalation_after=4 * _HOUR,
        update_every=_DAY,
        on_call=OnCall.BUSINESS_HOURS,
        postmortem_schedule_within=2 * _WEEK,
        postmortem_complete_within=MONTH,
        chat_channel="#monitoring",
        pages=False,
    ),
    Severity.P4: SeverityLevel(
        severity=Severity.P4,
        definition="No immediate impact, improvement opportunity.",
        response_time=None,
        response_next_business_day=True,
        resolution_target=_WEEK,
        escalation_target=None,
        escalation_after=None,
        update_every=None,
        on_call=OnCall.NONE,
        postmortem_schedule_within=None,
        postmortem_complete_within=None,
        chat_channel="#monitoring",
        pages=False,
    ),
}


def level(severity: Severity) -> SeverityLevel:
    return CATALOG[severity]


# The runbook's examples of each severity, word for word (P3 and P4 lists as given; the
# runbook has none for P4). Shown with the definitions in ``kubectl explain``,
# ``kubectl incident show`` and the declaration, so whoever picks a severity sees them.
EXAMPLES: dict[Severity, tuple[str, ...]] = {
    Severity.P0: (
        "Complete AgentOS platform unavailable",
        "Data corruption or loss affecting production",
        "Security breach with active exploitation",
        "Payment processing completely failed",
        "All agents failing to execute",
    ),
    Severity.P1: (
        "Agent execution success rate < 50%",
        "API latency > 10x normal",
        "Authentication service degraded",
        "Single region complete outage",
        "Critical integrations failing",
    ),
    Severity.P2: (
        "Specific agent type failing",
        "Performance degradation (2-5x latency)",
        "Non-critical feature unavailable",
        "Logging/monitoring gaps",
        "Single integration failing",
    ),
    Severity.P3: (
        "UI cosmetic issues",
        "Documentation errors",
        "Non-critical alert noise",
        "Minor performance issues",
    ),
    Severity.P4: (),
}


def describe(severity: Severity) -> str:
    """``P1 - Major functionality impaired ... (e.g. Agent execution success rate < 50%;
    API latency > 10x normal; ...)``: the definition and the runbook's examples."""
    examples = EXAMPLES[severity]
    tail = f" (e.g. {'; '.join(examples)})" if examples else ""
    return f"{severity.value} - {level(severity).definition.removesuffix('.')}{tail}."


class AlertLevel(StrEnum):
    """Alert levels of the runbook's Alert Severity Mapping."""

    CRITICAL = "critical"
    HIGH = "high"
    WARNING = "warning"
    INFO = "info"


# Alert level to incident severity; the runbook maps Info to "P3-P4" and we open P3.
ALERT_SEVERITY: dict[AlertLevel, Severity] = {
    AlertLevel.CRITICAL: Severity.P0,
    AlertLevel.HIGH: Severity.P1,
    AlertLevel.WARNING: Severity.P2,
    AlertLevel.INFO: Severity.P3,
}


class ActionItemPriority(StrEnum):
    """Action item priorities of the runbook's Action Item Tracking table."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


# Time to complete an action item; None is the runbook's "Backlog".
ACTION_ITEM_SLA: dict[ActionItemPriority, timedelta | None] = {
    ActionItemPriority.P1: _WEEK,
    ActionItemPriority.P2: 2 * _WEEK,
    ActionItemPriority.P3: MONTH,
    ActionItemPriority.P4: None,
}
