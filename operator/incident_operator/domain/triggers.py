"""The runbook's "Escalate Immediately When" list, as a chain of checks.

Each check looks at one fact and says whether its trigger holds and why; the chain is
evaluated in the runbook's order (cert-manager's policy chains are the model). A trigger
that holds escalates at once to the next step of the matrix, whatever the clock says.

A trigger fires once per *instance*, so it is not fired again on every reconcile:

- a flag people set in ``spec.triggers`` (or the count of affected workloads) is one
  instance for the incident's whole life;
- a rollback that was applied and did not help is one instance per rollback attempt, a
  remediation one per record;
- a lifecycle condition (``ResolutionOverdue``, ``CommanderAssigned`` with reason
  ``CommanderOverdue``, ``UpdateOverdue``) is one instance each time it turns True, named
  by its ``lastTransitionTime``: an update overdue, then posted, then overdue again is
  two instances.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from incident_operator.domain.conditions import Condition, ConditionStatus, find_condition
from incident_operator.domain.reasons import ConditionType, Reason


class TriggerName(StrEnum):
    """The runbook's escalation triggers."""

    # "Data loss confirmed".
    DATA_LOSS = "dataLoss"
    # Triage question 3 answered yes ("Is data at risk?"): not yet a confirmed loss, so a
    # trigger of its own, but one that escalates as early as the loss would.
    DATA_AT_RISK = "dataAtRisk"
    # "Security breach suspected".
    SECURITY_BREACH = "securityBreach"
    # "Customer SLA at risk".
    SLA_AT_RISK = "slaAtRisk"
    # "Multiple systems affected": the flag, two or more affected workloads, or signals
    # from two or more systems (workloads, or rules and alerts without one).
    MULTIPLE_SYSTEMS = "multipleSystems"
    # "No progress in expected timeframe": a lifecycle deadline passed.
    NO_PROGRESS = "noProgress"
    # "External dependencies required".
    EXTERNAL_DEPENDENCY = "externalDependency"
    # The runbook's rollback criteria, "fix does not resolve the original problem": an
    # approved rollback rolled out and detection saw no recovery (or its rollout failed).
    ROLLBACK_FAILED = "rollbackFailed"
    # The same criterion for any other approved remediation (status.remediations): it was
    # applied and did not help (the action failed, or detection saw no recovery).
    REMEDIATION_FAILED = "remediationFailed"


@dataclass(frozen=True)
class TriggerInputs:
    """What the checks look at; gathered from the incident and its policy."""

    data_loss: bool
    security_breach: bool
    sla_at_risk: bool
    multiple_systems: bool
    external_dependency: bool
    affected_workloads: int
    # The incident's conditions, as the lifecycle decided them in the same pass.
    conditions: tuple[Condition, ...]
    # spec.communication.escalateOverdueUpdates of the governing policy.
    escalate_overdue_updates: bool
    # Why the incident's rollback did not help, with the attempt it belongs to; None
    # when no applied rollback failed.
    rollback_failed: tuple[str, str] | None = None
    # The latest remediation that failed, as (record id, why); None when none did.
    remediation_failed: tuple[str, str] | None = None
    # Triage answered "data at risk" (spec.triage.dataAtRisk).
    data_at_risk: bool = False
    # How many distinct systems the incident's signals cover (workloads; a signal without
    # one counts by its rule or alert name).
    signal_systems: int = 0


@dataclass(frozen=True)
class FiredTrigger:
    name: TriggerName
    # Unique within the incident: fires once (see the module docstring).
    instance: str
    # Why, in the words the escalation notice and the timeline use.
    message: str


Check = Callable[[TriggerInputs], FiredTrigger | None]


def _flag(name: TriggerName, message: str) -> Check:
    def check(inputs: TriggerInputs) -> FiredTrigger | None:
        return FiredTrigger(name, name.value, message) if getattr(inputs, _ATTR[name]) else None

    return check


_ATTR = {
    TriggerName.DATA_LOSS: "data_loss",
    TriggerName.DATA_AT_RISK: "data_at_risk",
    TriggerName.SECURITY_BREACH: "security_breach",
    TriggerName.SLA_AT_RISK: "sla_at_risk",
    TriggerName.EXTERNAL_DEPENDENCY: "external_dependency",
}


def _multiple_systems(inputs: TriggerInputs) -> FiredTrigger | None:
    name = TriggerName.MULTIPLE_SYSTEMS
    if inputs.multiple_systems:
        return FiredTrigger(name, name.value, "multiple systems affected")
    if inputs.affected_workloads >= 2:
        return FiredTrigger(
            name,
            name.value,
            f"multiple systems affected ({inputs.affected_workloads} workloads)",
        )
    if inputs.signal_systems >= 2:
        # The same instance as the flag's: the incident escalates for it once.
        return FiredTrigger(
            name,
            name.value,
            f"multiple systems affected (signals from {inputs.signal_systems} systems)",
        )
    return None


def _condition_instance(
    inputs: TriggerInputs,
    type_: str,
    what: str,
    reason: str | None = None,
    status: ConditionStatus = ConditionStatus.TRUE,
) -> FiredTrigger | None:
    found = find_condition(inputs.conditions, type_)
    if found is None or found.status is not status:
        return None
    if reason is not None and found.reason != reason:
        return None
    stamp = found.last_transition_time.isoformat()
    name = TriggerName.NO_PROGRESS
    return FiredTrigger(name, f"{name.value}/{type_}@{stamp}", f"no progress: {what}")


def _resolution_overdue(inputs: TriggerInputs) -> FiredTrigger | None:
    return _condition_instance(inputs, ConditionType.RESOLUTION_OVERDUE, "resolution target passed")


def _commander_overdue(inputs: TriggerInputs) -> FiredTrigger | None:
    return _condition_instance(
        inputs,
        ConditionType.COMMANDER_ASSIGNED,
        "no incident commander by the runbook's deadline",
        reason=Reason.COMMANDER_OVERDUE,
        status=ConditionStatus.FALSE,
    )


def _update_overdue(inputs: TriggerInputs) -> FiredTrigger | None:
    if not inputs.escalate_overdue_updates:
        return None
    return _condition_instance(inputs, ConditionType.UPDATE_OVERDUE, "status update overdue")


def _rollback_failed(inputs: TriggerInputs) -> FiredTrigger | None:
    if inputs.rollback_failed is None:
        return None
    attempt, why = inputs.rollback_failed
    name = TriggerName.ROLLBACK_FAILED
    return FiredTrigger(name, f"{name.value}/{attempt}", why)


def _remediation_failed(inputs: TriggerInputs) -> FiredTrigger | None:
    if inputs.remediation_failed is None:
        return None
    record, why = inputs.remediation_failed
    name = TriggerName.REMEDIATION_FAILED
    return FiredTrigger(name, f"{name.value}/{record}", why)


# In the runbook's order; each entry is one line of its "Escalate Immediately When".
CHECKS: tuple[Check, ...] = (
    # Data loss confirmed.
    _flag(TriggerName.DATA_LOSS, "data loss confirmed"),
    # Data at risk (triage); escalates before a loss is confirmed.
    _flag(TriggerName.DATA_AT_RISK, "data at risk (triage)"),
    # Security breach suspected.
    _flag(TriggerName.SECURITY_BREACH, "security breach suspected"),
    # Customer SLA at risk.
    _flag(TriggerName.SLA_AT_RISK, "customer SLA at risk"),
    # Multiple systems affected.
    _multiple_systems,
    # A rollback did not resolve the problem (the runbook's "When to Rollback" criteria).
    _rollback_failed,
    # A remediation did not resolve the problem (the same criteria, any kind).
    _remediation_failed,
    # No progress: open past the resolution target.
    _resolution_overdue,
    # No progress: no commander in time (P0: 5 minutes).
    _commander_overdue,
    # No progress: no status update in time, when the policy says it escalates.
    _update_overdue,
    # External dependencies required.
    _flag(TriggerName.EXTERNAL_DEPENDENCY, "external dependency required"),
)


def fired_triggers(inputs: TriggerInputs) -> list[FiredTrigger]:
    """Every trigger that holds now, in the runbook's order."""
    return [fired for check in CHECKS if (fired := check(inputs)) is not None]
