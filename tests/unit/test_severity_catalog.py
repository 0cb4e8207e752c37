"""The severity catalog against every number in the runbook's tables."""

from datetime import timedelta

import pytest

from incident_operator.domain.severity import (
    ACTION_ITEM_SLA,
    ALERT_SEVERITY,
    CATALOG,
    ActionItemPriority,
    AlertLevel,
    OnCall,
    Severity,
    level,
)

M = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)
W = timedelta(weeks=1)


# Severity Levels: response time, resolution target, escalation, communication, on-call.
@pytest.mark.parametrize(
    ("severity", "response", "resolution", "escalate_to", "escalate_after", "update", "on_call"),
    [
        (Severity.P0, 5 * M, 1 * H, "VP Engineering", 15 * M, 15 * M, OnCall.ALL_HANDS),
        (
            Severity.P1,
            15 * M,
            4 * H,
            "Engineering Manager",
            1 * H,
            30 * M,
            OnCall.PRIMARY_AND_SECONDARY,
        ),
        (Severity.P2, 30 * M, 8 * H, "Team Lead", 2 * H, 1 * H, OnCall.PRIMARY),
        (Severity.P3, 2 * H, 24 * H, "Team Lead", 4 * H, 1 * D, OnCall.BUSINESS_HOURS),
        (Severity.P4, None, 1 * W, None, None, None, OnCall.NONE),
    ],
)
def test_severity_table(
    severity: Severity,
    response: timedelta | None,
    resolution: timedelta,
    escalate_to: str | None,
    escalate_after: timedelta | None,
    update: timedelta | None,
    on_call: OnCall,
) -> None:
    row = level(severity)
    assert row.severity is severity
    assert row.response_time == response
    assert row.response_next_business_day is (severity is Severity.P4)
    assert row.resolution_target == resolution
    assert row.escalation_target == escalate_to
    assert row.escalation_after == escalate_after
    assert row.update_every == update
    assert row.on_call is on_call


# Post-Mortem Timeline: schedule within, complete within.
@pytest.mark.parametrize(
    ("severity", "schedule", "complete"),
    [
        (Severity.P0, 24 * H, 72 * H),
        (Severity.P1, 48 * H, 1 * W),
        (Severity.P2, 1 * W, 2 * W),
        (Severity.P3, 2 * W, 30 * D),
        (Severity.P4, None, None),
    ],
)
def test_postmortem_timeline(
    severity: Severity, schedule: timedelta | None, complete: timedelta | None
) -> None:
    assert level(severity).postmortem_schedule_within == schedule
    assert level(severity).postmortem_complete_within == complete


# Alert Severity Mapping: alert level, pages?, Slack channel, incident severity.
@pytest.mark.parametrize(
    ("alert", "pages", "channel", "severity"),
    [
        (AlertLevel.CRITICAL, True, "#incident-critical", Severity.P0),
        (AlertLevel.HIGH, True, "#incident-high", Severity.P1),
        (AlertLevel.WARNING, False, "#incident-warning", Severity.P2),
        (AlertLevel.INFO, False, "#monitoring", Severity.P3),
    ],
)
def test_alert_mapping(alert: AlertLevel, pages: bool, channel: str, severity: Severity) -> None:
    assert ALERT_SEVERITY[alert] is severity
    assert level(severity).pages is pages
    assert level(severity).chat_channel == channel


# Action Item Tracking: priority to SLA; P4 is the backlog.
@pytest.mark.parametrize(
    ("priority", "sla"),
    [
        (ActionItemPriority.P1, 1 * W),
        (ActionItemPriority.P2, 2 * W),
        (ActionItemPriority.P3, 30 * D),
        (ActionItemPriority.P4, None),
    ],
)
def test_action_item_sla(priority: ActionItemPriority, sla: timedelta | None) -> None:
    assert ACTION_ITEM_SLA[priority] == sla


def test_catalog_covers_every_severity_once() -> None:
    assert list(CATALOG) == list(Severity)


@pytest.mark.parametrize(
    ("a", "b", "more_severe"),
    [
        (Severity.P0, Severity.P1, True),
        (Severity.P2, Severity.P1, False),
        (Severity.P3, Severity.P3, False),
    ],
)
def test_severity_order(a: Severity, b: Severity, more_severe: bool) -> None:
    assert a.is_more_severe_than(b) is more_severe
