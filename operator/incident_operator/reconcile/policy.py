"""What an EscalationPolicy's status should be: Ready and observedGeneration."""

from datetime import datetime

from incident_operator.api.escalation_policy import EscalationPolicy, EscalationPolicyStatus
from incident_operator.domain.conditions import ConditionStatus, set_condition
from incident_operator.domain.reasons import ConditionType, Reason


def reconcile_policy(policy: EscalationPolicy, now: datetime) -> EscalationPolicyStatus:
    status = policy.status.model_copy(deep=True)
    generation = policy.metadata.generation or None
    steps = len(policy.spec.escalation.steps)
    matrix = f"{steps} escalation steps" if steps else "the runbook's escalation matrix"
    status.conditions = set_condition(
        status.conditions,
        ConditionType.READY,
        ConditionStatus.TRUE,
        Reason.RECONCILED,
        f"{len(policy.spec.detection.rules)} detection rules, {matrix}, "
        f"{len(policy.spec.channels)} channels",
        now,
        generation,
    )
    status.observed_generation = generation
    return status
