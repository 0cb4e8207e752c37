"""The runbook's triage: five questions, a deadline, and how the answers read.

The runbook's Phase 2 asks five questions (production? users/agents impacted? data at
risk? security component? business impact?); people answer them in ``spec.triage``
(``kubectl incident triage``). P1's action 2 is "Assess scope and impact within 15
minutes"; P0 gets the same 15 minutes (a P0 is never given longer than a P1, and its
5-minute clock is the commander's). P2-P4 have no triage deadline in the runbook. A
policy may set its own (``spec.severities.<P>.triageWithin``).

The answers feed the escalation triggers (reconcile/escalation.py: security component
is "security breach suspected", data at risk is the dataAtRisk trigger) and the Impact
lines of the messages (``triage_summary``).
"""

from datetime import datetime, timedelta

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Triage
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.severity import Severity

# The runbook's P1 action 2, "Assess scope and impact within 15 minutes"; P0 the same.
TRIAGE_DEADLINE = {Severity.P0: timedelta(minutes=15), Severity.P1: timedelta(minutes=15)}


def triage_due(
    severity: Severity, detected_at: datetime, policy: EscalationPolicy | None = None
) -> datetime | None:
    """When the triage questions are due; None when neither runbook nor policy sets one.

    The governing policy's ``severities.<P>.triageWithin`` overrides the runbook's.
    """
    override = getattr(policy.spec.severities, severity.value) if policy else None
    if override is not None and override.triage_within is not None:
        return detected_at + parse_duration(override.triage_within)
    within = TRIAGE_DEADLINE.get(severity)
    return detected_at + within if within is not None else None


def triage_answered(triage: Triage | None) -> bool:
    return triage is not None and not triage.unanswered()


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def triage_summary(triage: Triage | None) -> str:
    """The answers in one line, for the timeline and the messages' Impact; "" if none."""
    if triage is None:
        return ""
    parts = [f"production: {_yes_no(triage.affects_production)}"]
    if triage.users_impacted is not None:
        parts.append(f"users impacted: {triage.users_impacted}")
    if triage.agents_impacted is not None:
        parts.append(f"agents impacted: {triage.agents_impacted}")
    parts.append(f"data at risk: {_yes_no(triage.data_at_risk)}")
    parts.append(f"security component: {_yes_no(triage.security_component)}")
    if triage.business_impact is not None:
        parts.append(f"business impact: {triage.business_impact}")
    return "; ".join(parts)
