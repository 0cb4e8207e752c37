"""When a fix attempt should be rolled back: the runbook's "When to Rollback", as pure rules.

A fix attempt is a revision of an affected workload rolled out *after* the incident was
detected. The runbook rolls a fix back when it

=================================================  =======================================
runbook                                            rule here (first that holds is named)
=================================================  =======================================
fix causes new issues                              NewIssues: the incident's rule breaches
                                                   in a breach that started after the fix
                                                   (it recovered, then breached again)
fix causes wider impact than original issue        WiderImpact: more (rule, workload) pairs
                                                   breach now than when the fix was seen
fix does not resolve original problem              NotResolved: the breach that was there
                                                   before the fix is still there a
                                                   monitoring window after it
time to fix exceeds acceptable threshold           TimeExceeded: the resolution deadline
                                                   passed while the fix was in and the
                                                   incident not resolved
=================================================  =======================================

Every rule reads only what is recorded (status.detection, status.metrics, the fix
attempt's record, the deadline) and the clock passed in, so a restarted operator reaches
the same answer.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from incident_operator.domain.durations import format_duration
from incident_operator.domain.reasons import FixCriterion


@dataclass(frozen=True)
class DetectionFacts:
    """What detection last said about the incident's rule (status.detection)."""

    rule: str
    breaching: bool
    breach_started_at: datetime | None
    last_evaluated_at: datetime
    value: float | None
    threshold: float | None


@dataclass(frozen=True)
class Finding:
    """A criterion that holds, and the evidence for people (rule, values, times)."""

    criterion: FixCriterion
    evidence: str


def _reading(facts: DetectionFacts) -> str:
    if facts.value is None:
        return "no value"
    limit = f", threshold {facts.threshold:g}" if facts.threshold is not None else ""
    return f"value {facts.value:g}{limit}"


def fix_findings(
    *,
    fix_at: datetime,
    monitoring_window: timedelta,
    detection: DetectionFacts | None,
    breaching_before: Iterable[str],
    breaching_now: Iterable[str],
    resolution_due_at: datetime | None,
    now: datetime,
) -> list[Finding]:
    """The criteria that hold for a fix rolled out at ``fix_at``, in the table's order.

    ``breaching_before`` and ``breaching_now`` name the breaching (rule, workload) pairs
    when the fix was first seen and now.
    """
    findings: list[Finding] = []
    stamp = fix_at.isoformat()
    if detection is not None and detection.breaching and detection.breach_started_at:
        started = detection.breach_started_at
        if started > fix_at:
            findings.append(
                Finding(
                    FixCriterion.NEW_ISSUES,
                    f"{detection.rule} breaches again since {started.isoformat()} "
                    f"({_reading(detection)}), after the fix rolled out at {stamp}",
                )
            )
    before, after = set(breaching_before), set(breaching_now)
    if len(after) > len(before):
        added = ", ".join(sorted(after - before)) or "more of them"
        findings.append(
            Finding(
                FixCriterion.WIDER_IMPACT,
                f"{len(after)} rule/workload pairs breach now against {len(before)} when the "
                f"fix rolled out at {stamp} (new: {added})",
            )
        )
    if (
        detection is not None
        and detection.breaching
        and (detection.breach_started_at is None or detection.breach_started_at <= fix_at)
        and detection.last_evaluated_at >= fix_at + monitoring_window
    ):
        findings.append(
            Finding(
                FixCriterion.NOT_RESOLVED,
                f"{detection.rule} still breaches ({_reading(detection)}) at "
                f"{detection.last_evaluated_at.isoformat()}, a monitoring window "
                f"({format_duration(monitoring_window)}) after the fix rolled out at {stamp}",
            )
        )
    # The deadline must pass while the fix is in: a fix rolled out after it gets its chance.
    if resolution_due_at is not None and fix_at < resolution_due_at <= now:
        findings.append(
            Finding(
                FixCriterion.TIME_EXCEEDED,
                f"the resolution deadline {resolution_due_at.isoformat()} passed with the fix "
                f"rolled out at {stamp} and the incident not resolved",
            )
        )
    return findings


def next_fix_check(
    *,
    fix_at: datetime,
    monitoring_window: timedelta,
    resolution_due_at: datetime | None,
    now: datetime,
) -> datetime | None:
    """The next moment a time-based criterion may start to hold (None: none left)."""
    moments = [fix_at + monitoring_window, resolution_due_at]
    upcoming = [moment for moment in moments if moment is not None and moment > now]
    return min(upcoming, default=None)
