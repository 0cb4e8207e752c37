"""The runbook's "When to Rollback" criteria for a fix attempt, as a table."""

from datetime import UTC, datetime, timedelta

import pytest

from incident_operator.domain.fix_attempt import DetectionFacts, fix_findings, next_fix_check
from incident_operator.domain.reasons import FixCriterion

FIX = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
WINDOW = 5 * MIN
DETECTED = FIX - 10 * MIN


def _detection(
    breaching: bool, started: datetime | None = DETECTED, evaluated: datetime = FIX
) -> DetectionFacts:
    return DetectionFacts(
        rule="error-rate",
        breaching=breaching,
        breach_started_at=started,
        last_evaluated_at=evaluated,
        value=0.2,
        threshold=0.05,
    )


ONE = ["error-rate Deployment/web"]
TWO = [*ONE, "latency Deployment/api"]


@pytest.mark.parametrize(
    ("detection", "before", "now_pairs", "due", "now", "expected"),
    [
        # Just rolled out, still breaching: too early to judge.
        (_detection(True, evaluated=FIX + MIN), ONE, ONE, None, FIX + MIN, []),
        # Still the breach from before the fix, a whole window later: does not resolve.
        (
            _detection(True, evaluated=FIX + WINDOW),
            ONE,
            ONE,
            None,
            FIX + WINDOW,
            [FixCriterion.NOT_RESOLVED],
        ),
        # The window passed but detection has not evaluated since: not yet.
        (_detection(True, evaluated=FIX + 4 * MIN), ONE, ONE, None, FIX + 6 * MIN, []),
        # Recovered after the fix: nothing to roll back.
        (_detection(False, evaluated=FIX + WINDOW), ONE, [], None, FIX + WINDOW, []),
        # Recovered, then a new breach after the fix: new issues (not "not resolved").
        (
            _detection(True, started=FIX + 2 * MIN, evaluated=FIX + 6 * MIN),
            ONE,
            ONE,
            None,
            FIX + 6 * MIN,
            [FixCriterion.NEW_ISSUES],
        ),
        # Another rule on another workload breaches too: wider impact.
        (
            _detection(True, evaluated=FIX + MIN),
            ONE,
            TWO,
            None,
            FIX + MIN,
            [FixCriterion.WIDER_IMPACT],
        ),
        # As many pairs, but different ones: not wider.
        (
            _detection(True, evaluated=FIX + MIN),
            ONE,
            ["latency Deployment/api"],
            None,
            FIX + MIN,
            [],
        ),
        # The resolution deadline passed with the fix in.
        (
            _detection(True, evaluated=FIX + MIN),
            ONE,
            ONE,
            FIX + MIN,
            FIX + MIN,
            [FixCriterion.TIME_EXCEEDED],
        ),
        # Without detection only the deadline counts.
        (None, [], [], FIX + MIN, FIX + 2 * MIN, [FixCriterion.TIME_EXCEEDED]),
        (None, [], [], FIX + MIN, FIX, []),
        # A fix rolled out after the deadline had passed gets its chance.
        (None, [], [], FIX - MIN, FIX + 2 * MIN, []),
        # Several hold: all named, in the runbook's order.
        (
            _detection(True, evaluated=FIX + WINDOW),
            ONE,
            TWO,
            FIX + MIN,
            FIX + WINDOW,
            [FixCriterion.WIDER_IMPACT, FixCriterion.NOT_RESOLVED, FixCriterion.TIME_EXCEEDED],
        ),
    ],
)
def test_fix_criteria(
    detection: DetectionFacts | None,
    before: list[str],
    now_pairs: list[str],
    due: datetime | None,
    now: datetime,
    expected: list[FixCriterion],
) -> None:
    findings = fix_findings(
        fix_at=FIX,
        monitoring_window=WINDOW,
        detection=detection,
        breaching_before=before,
        breaching_now=now_pairs,
        resolution_due_at=due,
        now=now,
    )
    assert [f.criterion for f in findings] == expected


def test_the_evidence_names_rule_values_and_times() -> None:
    (finding,) = fix_findings(
        fix_at=FIX,
        monitoring_window=WINDOW,
        detection=_detection(True, evaluated=FIX + WINDOW),
        breaching_before=ONE,
        breaching_now=ONE,
        resolution_due_at=None,
        now=FIX + WINDOW,
    )
    assert finding.evidence == (
        "error-rate still breaches (value 0.2, threshold 0.05) at "
        "2026-03-01T12:05:00+00:00, a monitoring window (5m) after the fix rolled out at "
        "2026-03-01T12:00:00+00:00"
    )
    (wider,) = fix_findings(
        fix_at=FIX,
        monitoring_window=WINDOW,
        detection=None,
        breaching_before=ONE,
        breaching_now=TWO,
        resolution_due_at=None,
        now=FIX,
    )
    assert "new: latency Deployment/api" in wider.evidence


@pytest.mark.parametrize(
    ("due", "now", "expected"),
    [
        (None, FIX, FIX + WINDOW),
        (FIX + MIN, FIX, FIX + MIN),
        (FIX + 10 * MIN, FIX, FIX + WINDOW),
        (FIX + 10 * MIN, FIX + WINDOW, FIX + 10 * MIN),
        (FIX + MIN, FIX + WINDOW, None),
    ],
)
def test_the_next_check(due: datetime | None, now: datetime, expected: datetime | None) -> None:
    assert (
        next_fix_check(fix_at=FIX, monitoring_window=WINDOW, resolution_due_at=due, now=now)
        == expected
    )
