"""Fix attempts: revisions of an incident's workloads rolled out after detection.

reconcile.rollback proposes rolling one back (source FixAttempt) when one of the
runbook's "When to Rollback" criteria holds (domain.fix_attempt). This module finds the
fix attempt among the workloads read, records it (``status.fixAttempt``, with the
breaching rule/workload pairs at first sight as the baseline of WiderImpact), and judges
it. The record is what survives a restart: the same fix keeps its first baseline.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    FixAttemptStatus,
    Incident,
    MetricReading,
    WorkloadReference,
)
from incident_operator.domain.detection import is_breach
from incident_operator.domain.fix_attempt import (
    DetectionFacts,
    Finding,
    fix_findings,
    next_fix_check,
)
from incident_operator.domain.rollback_plan import (
    Revision,
    Workload,
    current_revision,
    template_digest,
)
from incident_operator.reconcile.governing_policy import monitoring_window


@dataclass(frozen=True)
class FixAttempt:
    """A workload whose current revision rolled out after detection."""

    workload: Workload
    fix: Revision
    # The revision it replaced: the highest one below the fix.
    before: Revision
    record: FixAttemptStatus


def breaching_pairs(metrics: Iterable[MetricReading]) -> list[str]:
    """The breaching "rule Kind/name" pairs of status.metrics, sorted."""
    return sorted(
        {
            f"{reading.rule} {reading.workload.kind.value}/{reading.workload.name}"
            for reading in metrics
            if is_breach(reading.level)
        }
    )


def latest_fix_attempt(
    incident: Incident,
    workloads: Mapping[tuple[str, str], Workload | None],
    candidates: Iterable[WorkloadReference],
) -> FixAttempt | None:
    """The most recent fix attempt among the candidates read, with its record."""
    detected_at = incident.status.detected_at
    if detected_at is None:
        return None
    latest: tuple[Workload, Revision, Revision] | None = None
    for reference in candidates:
        workload = workloads.get((reference.kind.value, reference.name))
        current = current_revision(workload) if workload is not None else None
        if workload is None or current is None or current.rolled_out_at is None:
            continue
        if current.rolled_out_at <= detected_at:
            continue
        earlier = [r for r in workload.history if r.number < current.number]
        if not earlier:
            continue
        if latest is None or (latest[1].rolled_out_at or detected_at) < current.rolled_out_at:
            latest = (workload, current, earlier[-1])
    if latest is None:
        return None
    workload, fix, before = latest
    assert fix.rolled_out_at is not None
    target = WorkloadReference.model_validate({"kind": workload.kind, "name": workload.name})
    digest = template_digest(fix.template)
    recorded = incident.status.fix_attempt
    if recorded is not None and recorded.target == target and recorded.digest == digest:
        record = recorded
    else:
        record = FixAttemptStatus(
            target=target,
            revision=fix.number,
            rolled_out_at=fix.rolled_out_at,
            digest=digest,
            breaching_before=breaching_pairs(incident.status.metrics),
        )
    return FixAttempt(workload, fix, before, record)


def _facts(incident: Incident) -> DetectionFacts | None:
    detection = incident.status.detection
    if detection is None:
        return None
    return DetectionFacts(
        rule=detection.rule,
        breaching=detection.breaching,
        breach_started_at=detection.breach_started_at,
        last_evaluated_at=detection.last_evaluated_at,
        value=detection.value,
        threshold=detection.threshold,
    )


def judge_fix_attempt(
    incident: Incident, policy: EscalationPolicy | None, attempt: FixAttempt, now: datetime
) -> tuple[list[Finding], datetime | None]:
    """The criteria that hold for ``attempt``, and when to look again for the time-based
    ones (None: nothing left to wait for)."""
    record, window = attempt.record, monitoring_window(policy)
    findings = fix_findings(
        fix_at=record.rolled_out_at,
        monitoring_window=window,
        detection=_facts(incident),
        breaching_before=record.breaching_before,
        breaching_now=breaching_pairs(incident.status.metrics),
        resolution_due_at=incident.status.resolution_due_at,
        now=now,
    )
    wake = next_fix_check(
        fix_at=record.rolled_out_at,
        monitoring_window=window,
        resolution_due_at=incident.status.resolution_due_at,
        now=now,
    )
    return findings, wake
