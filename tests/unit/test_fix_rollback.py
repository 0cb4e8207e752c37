"""Proposals to roll back a fix attempt (a revision rolled out after detection)."""

from datetime import datetime
from typing import Any

from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    MetricReading,
    RollbackPhase,
    RollbackSource,
    WorkloadReference,
)
from incident_operator.cli.render import rollback_section
from incident_operator.domain.reasons import FixCriterion
from incident_operator.domain.rollback_plan import JSON_PATCH, Workload, template_digest
from incident_operator.domain.signals import Level
from incident_operator.reconcile.rollback import (
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_PROPOSAL,
    RollbackDecision,
    workloads_to_observe,
)
from tests.unit.test_rollback_reconcile import (
    KEY,
    MIN,
    T0,
    _decide,
    _incident,
    _policy,
    _template,
    _workload,
)

# Detected at T0; revision 2 (web:2) went out two minutes later as a fix.
FIX_AT = T0 + 2 * MIN
FIXED = _workload([("web:1", T0 - 60 * MIN), ("web:2", FIX_AT)])
# The policy's monitoring window is 5m.
POLICY = _policy()
WEB = WorkloadReference.model_validate({"kind": "Deployment", "name": "web"})


def _watched(
    incident: Incident,
    breaching: bool,
    at: datetime,
    started: datetime = T0 - MIN,
    pairs: tuple[str, ...] = ("error-rate",),
) -> Incident:
    """``incident`` with detection's word at ``at`` and breaching readings for ``pairs``
    (rule names, all on Deployment/web)."""
    detection = DetectionStatus(
        fingerprint="f",
        policy="shop",
        rule="error-rate",
        level=Level.CRITICAL if breaching else Level.OK,
        value=0.2 if breaching else 0.01,
        threshold=0.05,
        breaching=breaching,
        breach_started_at=started,
        last_evaluated_at=at,
    )
    metrics = [
        MetricReading(rule=rule, workload=WEB, level=Level.CRITICAL, at=at)
        for rule in (pairs if breaching else ())
    ]
    status = incident.status.model_copy(update={"detection": detection, "metrics": metrics})
    return incident.model_copy(update={"status": status})


def _decide_fix(incident: Incident, now: datetime, workload: Workload = FIXED) -> RollbackDecision:
    return _decide(incident, {KEY: workload}, now=now, policy=POLICY)


def _written(incident: Incident, decision: RollbackDecision, **metadata: Any) -> Incident:
    """``incident`` once the pipeline wrote ``decision``'s status."""
    status = incident.status.model_copy(
        update={
            "rollback": decision.rollback,
            "fix_attempt": decision.fix_attempt,
            "timeline": [*incident.status.timeline, *decision.entries],
        }
    )
    meta = incident.metadata.model_copy(update=metadata)
    return incident.model_copy(update={"status": status, "metadata": meta})


def test_a_fix_is_recorded_and_judged_when_the_window_ends() -> None:
    early = _watched(_incident(), breaching=True, at=T0 + 3 * MIN)
    decision = _decide_fix(early, now=T0 + 3 * MIN)
    assert decision.rollback is None
    assert decision.entries == ()
    record = decision.fix_attempt
    assert record is not None
    assert (record.target, record.revision, record.rolled_out_at) == (WEB, 2, FIX_AT)
    assert record.digest == template_digest(_template("web:2"))
    assert record.breaching_before == ["error-rate Deployment/web"]
    # Looked at again when the monitoring window after the fix ends.
    assert decision.wake_at == FIX_AT + 5 * MIN
    # Never settled: the workload is read again on the next pass.
    assert not decision.nothing_to_propose


def test_a_fix_that_does_not_resolve_is_proposed_for_rollback() -> None:
    still = _watched(_incident(), breaching=True, at=FIX_AT + 5 * MIN)
    decision = _decide_fix(still, now=FIX_AT + 5 * MIN)
    rollback = decision.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.PROPOSED
    assert rollback.source is RollbackSource.FIX_ATTEMPT
    assert rollback.criterion is FixCriterion.NOT_RESOLVED
    assert (rollback.current_revision, rollback.target_revision) == (2, 1)
    assert rollback.current_revision_at == FIX_AT
    assert rollback.diff == "container app: image web:2 -> web:1"
    assert "error-rate still breaches" in (rollback.evidence or "")
    (entry,) = decision.entries
    assert entry.type == "RollbackProposed"
    assert "(fix attempt, NotResolved: error-rate still breaches" in entry.message
    assert FIX_AT.isoformat() in entry.message
    # Once written, deciding again (a restart, the next pass) proposes nothing new,
    # also when a second criterion comes true meanwhile.
    written = _written(still, decision)
    later = written.model_copy(
        update={"status": written.status.model_copy(update={"resolution_due_at": FIX_AT + 6 * MIN})}
    )
    again = _decide_fix(later, now=FIX_AT + 7 * MIN)
    assert again.entries == ()
    assert again.rollback is not None
    assert again.rollback.criterion is FixCriterion.NOT_RESOLVED


def test_a_fix_that_helps_is_not_rolled_back_and_its_proposal_is_withdrawn() -> None:
    still = _watched(_incident(), breaching=True, at=FIX_AT + 5 * MIN)
    proposed = _written(still, _decide_fix(still, now=FIX_AT + 5 * MIN))
    recovered = _watched(proposed, breaching=False, at=FIX_AT + 6 * MIN)
    decision = _decide_fix(recovered, now=FIX_AT + 6 * MIN)
    assert decision.rollback is None
    (entry,) = decision.entries
    assert entry.type == "ProposalWithdrawn"
    assert "no rollback criterion holds for its fix attempt any more (was NotResolved)" in (
        entry.message
    )


def test_a_new_breach_after_the_fix_is_new_issues() -> None:
    again = _watched(_incident(), breaching=True, at=FIX_AT + 2 * MIN, started=FIX_AT + MIN)
    decision = _decide_fix(again, now=FIX_AT + 2 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.criterion is FixCriterion.NEW_ISSUES


def test_wider_impact_is_judged_against_the_breaches_when_the_fix_was_first_seen() -> None:
    first = _watched(_incident(), breaching=True, at=FIX_AT + MIN)
    seen = _written(first, _decide_fix(first, now=FIX_AT + MIN))
    assert seen.status.rollback is None
    wider = _watched(seen, breaching=True, at=FIX_AT + 2 * MIN, pairs=("error-rate", "latency"))
    decision = _decide_fix(wider, now=FIX_AT + 2 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.criterion is FixCriterion.WIDER_IMPACT
    assert "new: latency Deployment/web" in (decision.rollback.evidence or "")
    # The baseline is the record's, not the readings of the moment.
    assert decision.fix_attempt == seen.status.fix_attempt


def test_a_passed_resolution_deadline_is_time_exceeded() -> None:
    incident = _incident(status={"resolutionDueAt": (FIX_AT + MIN).isoformat()})
    late = _watched(incident, breaching=True, at=FIX_AT + 2 * MIN)
    decision = _decide_fix(late, now=FIX_AT + 2 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.criterion is FixCriterion.TIME_EXCEEDED


def test_an_approved_fix_rollback_runs_like_any_other() -> None:
    still = _watched(_incident(), breaching=True, at=FIX_AT + 5 * MIN)
    proposed = _written(still, _decide_fix(still, now=FIX_AT + 5 * MIN))
    assert proposed.status.rollback is not None
    assert proposed.status.rollback.proposal
    # As the plugin approves: the approver and the proposal they were shown.
    annotations = {
        APPROVE_ROLLBACK: "alice",
        APPROVE_ROLLBACK_PROPOSAL: proposed.status.rollback.proposal,
    }
    approved = proposed.model_copy(
        update={"metadata": proposed.metadata.model_copy(update={"annotations": annotations})}
    )
    decision = _decide_fix(approved, now=FIX_AT + 6 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.phase is RollbackPhase.IN_PROGRESS
    assert decision.rollback.approved_by == "alice"
    assert decision.patch is not None
    assert decision.patch.content_type == JSON_PATCH
    template = decision.patch.body[1]["value"]
    assert template["spec"]["containers"][0]["image"] == "web:1"
    # While it runs, no fix attempt is judged: only the target is read.
    running = _written(approved, decision)
    assert [o.reference for o in workloads_to_observe(running)] == [WEB]


def test_a_request_wins_over_a_fix_attempt() -> None:
    still = _watched(
        _incident(request={"target": {"kind": "Deployment", "name": "web"}}),
        breaching=True,
        at=FIX_AT + 5 * MIN,
    )
    decision = _decide_fix(still, now=FIX_AT + 5 * MIN)
    assert decision.rollback is not None
    assert decision.rollback.source is RollbackSource.REQUESTED
    assert decision.rollback.criterion is None


def test_a_revision_before_detection_is_not_a_fix_attempt() -> None:
    before = _workload([("web:1", T0 - 60 * MIN), ("web:2", T0 - 45 * MIN)])
    still = _watched(_incident(), breaching=True, at=T0 + 30 * MIN)
    decision = _decide_fix(still, now=T0 + 30 * MIN, workload=before)
    assert decision.rollback is None
    assert decision.fix_attempt is None


def test_show_names_the_criterion_and_its_evidence() -> None:
    still = _watched(_incident(), breaching=True, at=FIX_AT + 5 * MIN)
    decision = _decide_fix(still, now=FIX_AT + 5 * MIN)
    status = _written(still, decision).status.model_dump(mode="json", by_alias=True)
    lines = rollback_section(status)
    assert lines[1].endswith("revision 2 -> 1  (FixAttempt, NotResolved)")
    assert any(
        line.startswith("  because error-rate still breaches (value 0.2, threshold 0.05)")
        for line in lines
    )
