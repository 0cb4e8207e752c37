"""Routing, keys, backoff, claims and outcomes: the rules of at-least-once delivery."""

from datetime import UTC, datetime, timedelta

import pytest

from incident_operator.api.escalation_status import NOTIFICATION_LIMIT, NotificationRecord
from incident_operator.api.incident import IncidentStatus
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import (
    MAX_ATTEMPTS,
    MAX_CLIENT_ERROR_ATTEMPTS,
    Audience,
    ChannelInfo,
    ChannelType,
    DeliveryState,
    NotificationKind,
    after_failure,
    backoff,
    idempotency_key,
    is_late,
    pagerduty_dedup_key,
    redact,
    retryable_http_status,
    retryable_smtp_code,
    route,
)
from incident_operator.domain.reasons import Reason
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.escalation import (
    DeliveryOutcome,
    apply_outcomes,
    claim_due,
    notification_condition,
    prune_records,
)

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=15)
K = NotificationKind
PAGER, PHONE, CHAT, EMAIL = (
    ContactMethod.PAGER,
    ContactMethod.PHONE,
    ContactMethod.CHAT,
    ContactMethod.EMAIL,
)

RUNBOOK_CHANNELS = [
    ChannelInfo("pd", ChannelType.PAGERDUTY),
    ChannelInfo("crit", ChannelType.SLACK, chat_channel="#incident-critical"),
    ChannelInfo("high", ChannelType.SLACK, chat_channel="#incident-high"),
    ChannelInfo("warn", ChannelType.SLACK, chat_channel="#incident-warning"),
    ChannelInfo("mon", ChannelType.SLACK, chat_channel="#monitoring"),
    ChannelInfo("all", ChannelType.SLACK, chat_channel="#incident-all"),
    ChannelInfo("mail", ChannelType.EMAIL),
    ChannelInfo("hook", ChannelType.WEBHOOK),
    ChannelInfo("customers", ChannelType.EMAIL, audience=Audience.CUSTOMER),
]


@pytest.mark.parametrize(
    ("kind", "severity", "methods", "expected"),
    [
        # Critical: page immediately, #incident-critical.
        (K.ESCALATION, Severity.P0, (PAGER,), ["pd", "crit", "all", "hook"]),
        # High: page, #incident-high.
        (K.ESCALATION, Severity.P1, (PAGER,), ["pd", "high", "all", "hook"]),
        (K.ESCALATION, Severity.P1, (CHAT, PHONE), ["pd", "high", "all", "hook"]),
        # Warning: chat only, even for a pager target.
        (K.ESCALATION, Severity.P2, (PAGER,), ["warn", "all", "hook"]),
        (K.ESCALATION, Severity.P2, (CHAT,), ["warn", "all", "hook"]),
        # Info: an escalation (the P3 Team Lead step) reaches #monitoring, never a pager.
        (K.ESCALATION, Severity.P3, (CHAT,), ["mon", "all", "hook"]),
        (K.ESCALATION, Severity.P3, (PAGER,), ["mon", "all", "hook"]),
        (K.ESCALATION, Severity.P4, (EMAIL,), ["mon", "all", "mail", "hook"]),
        # Info: declarations, updates and reminders go to #monitoring too (issue 14: the
        # runbook maps Info to #monitoring and promises P3 daily updates).
        (K.DECLARATION, Severity.P4, (), ["mon", "all", "hook"]),
        (K.DECLARATION, Severity.P3, (), ["mon", "all", "hook"]),
        (K.STATUS_UPDATE, Severity.P3, (), ["mon", "all", "hook"]),
        (K.UPDATE_REMINDER, Severity.P4, (), ["mon", "all", "hook"]),
        # E-mail targets reach the e-mail channels.
        (K.ESCALATION, Severity.P1, (EMAIL,), ["high", "all", "mail", "hook"]),
        (K.DECLARATION, Severity.P0, (), ["crit", "all", "hook"]),
        (K.STATUS_UPDATE, Severity.P2, (), ["warn", "all", "hook"]),
        (K.CUSTOMER_INITIAL, Severity.P1, (), ["customers"]),
        (K.CUSTOMER_RESOLUTION, Severity.P3, (), []),
    ],
)
def test_alert_level_routing(
    kind: NotificationKind,
    severity: Severity,
    methods: tuple[ContactMethod, ...],
    expected: list[str],
) -> None:
    assert route(kind, severity, RUNBOOK_CHANNELS, methods) == expected


def test_acknowledge_and_resolve_go_to_the_paged_channels() -> None:
    channels = RUNBOOK_CHANNELS
    assert route(K.ACKNOWLEDGEMENT, Severity.P0, channels, paged=["pd"]) == ["pd"]
    assert route(K.ACKNOWLEDGEMENT, Severity.P0, channels) == []
    assert route(K.RESOLUTION, Severity.P1, channels, paged=["pd"]) == ["pd", "high", "all", "hook"]
    # Info: a PagerDuty channel paged before the severity was lowered is resolved, and
    # the resolution is told in #monitoring like the declaration was.
    assert route(K.RESOLUTION, Severity.P3, channels, paged=["pd"]) == ["pd", "mon", "all", "hook"]


@pytest.mark.parametrize(
    ("severity", "paged", "expected"),
    [
        # Announced like a declaration; PagerDuty triggered again only where it had paged.
        (Severity.P0, ["pd"], ["pd", "crit", "all", "hook"]),
        (Severity.P1, ["pd"], ["pd", "high", "all", "hook"]),
        (Severity.P1, [], ["high", "all", "hook"]),
        # Warning and info never page, even a channel paged before a severity was lowered.
        (Severity.P2, ["pd"], ["warn", "all", "hook"]),
        (Severity.P3, ["pd"], ["mon", "all", "hook"]),
        (Severity.P4, [], ["mon", "all", "hook"]),
    ],
)
def test_a_reopening_is_announced_and_triggers_the_paged_channels(
    severity: Severity, paged: list[str], expected: list[str]
) -> None:
    assert route(K.REOPENED, severity, RUNBOOK_CHANNELS, paged=paged) == expected


def test_a_step_naming_its_channel_overrides_routing() -> None:
    # #incident-all still hears of it: it receives every notification.
    assert route(K.ESCALATION, Severity.P3, RUNBOOK_CHANNELS, (PHONE,), explicit="mail") == [
        "all",
        "mail",
    ]
    assert route(K.ESCALATION, Severity.P0, RUNBOOK_CHANNELS, (PHONE,), explicit="gone") == []


def test_without_the_runbooks_chat_channel_a_generic_one_is_used() -> None:
    channels = [
        ChannelInfo("generic", ChannelType.SLACK),
        ChannelInfo("high", ChannelType.SLACK, chat_channel="#incident-high"),
    ]
    assert route(K.DECLARATION, Severity.P0, channels) == ["generic"]
    # Without #monitoring, a P3 escalation too.
    assert route(K.ESCALATION, Severity.P3, channels, (CHAT,)) == ["generic"]
    only_high = [channels[1]]
    assert route(K.DECLARATION, Severity.P0, only_high) == ["high"]


def test_slack_app_channels_are_routed_as_the_webhook_ones() -> None:
    """A slackApp channel carries what a Slack webhook channel of the same chatChannel
    would: declarations, updates and resolutions (threaded under the card), and
    #incident-all hears of every notification."""
    channels = [
        ChannelInfo("app-critical", ChannelType.SLACK_APP, chat_channel="#incident-critical"),
        ChannelInfo("app-all", ChannelType.SLACK_APP, chat_channel="#incident-all"),
        ChannelInfo("app-sre", ChannelType.SLACK_APP, chat_channel="#sre-team"),
        ChannelInfo("hook-high", ChannelType.SLACK, chat_channel="#incident-high"),
    ]
    for kind in (K.DECLARATION, K.STATUS_UPDATE, K.RESOLUTION):
        assert route(kind, Severity.P0, channels) == ["app-critical", "app-all"], kind
    assert route(K.DECLARATION, Severity.P1, channels) == ["app-all", "hook-high"]
    assert route(K.COORDINATION, Severity.P0, channels) == ["app-all", "app-sre"]
    assert route(K.ESCALATION, Severity.P3, channels, (PHONE,), explicit="hook-high") == [
        "app-all",
        "hook-high",
    ]


@pytest.mark.parametrize(
    ("attempts", "expected"), [(1, 2), (2, 4), (3, 8), (6, 64), (9, 300), (50, 300)]
)
def test_backoff_doubles_up_to_a_cap(attempts: int, expected: int) -> None:
    assert backoff(attempts) == timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("attempts", "retryable", "gives_up"),
    [
        (1, True, False),
        (MAX_ATTEMPTS - 1, True, False),
        (MAX_ATTEMPTS, True, True),
        (1, False, False),
        (MAX_CLIENT_ERROR_ATTEMPTS, False, True),
    ],
)
def test_client_errors_are_not_retried_forever(
    attempts: int, retryable: bool, gives_up: bool
) -> None:
    retry = after_failure(attempts, retryable, T0)
    assert (retry.next_attempt_at is None) is gives_up


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (429, True), (408, True), (400, False), (401, False), (410, False)],
)
def test_http_status_classes(status: int, retryable: bool) -> None:
    assert retryable_http_status(status) is retryable


@pytest.mark.parametrize(
    ("code", "retryable"), [(421, True), (450, True), (535, False), (550, False)]
)
def test_smtp_codes_are_the_other_way_round(code: int, retryable: bool) -> None:
    assert retryable_smtp_code(code) is retryable


@pytest.mark.parametrize(
    ("due", "started", "late"),
    [
        (T0, T0 - timedelta(hours=1), False),
        (T0, T0 + timedelta(seconds=1), True),  # due before this operator started
        (T0 - timedelta(minutes=2), T0 - timedelta(hours=1), True),  # far behind
    ],
)
def test_lateness(due: datetime, started: datetime, late: bool) -> None:
    assert is_late(due, T0, started) is late


def test_keys_identify_incident_and_notification() -> None:
    assert idempotency_key("uid-1", "escalation-P0-1/pd") == "uid-1/escalation-P0-1/pd"
    assert pagerduty_dedup_key("ns", "api", "uid-1") == "incident-operator/ns/api/uid-1"
    assert len(pagerduty_dedup_key("n" * 63, "a" * 253, "u" * 36)) == 255


def test_redact_hides_every_secret() -> None:
    text = "POST https://hooks.slack.com/services/SECRET failed: token SECRET2"
    assert redact(text, ["SECRET", "SECRET2", ""]) == (
        "POST https://hooks.slack.com/services/[redacted] failed: token [redacted]"
    )


def _record(key: str = "declaration/s", **changes: object) -> NotificationRecord:
    values: dict[str, object] = {
        "key": key,
        "kind": K.DECLARATION,
        "channel": "s",
        "due_at": T0,
        "created_at": T0,
    }
    return NotificationRecord.model_validate({**values, **changes})


def test_claiming_marks_sending_with_a_lease() -> None:
    records = [
        _record("a/s"),
        _record("b/s", state="Pending", next_attempt_at=T0 + timedelta(minutes=1), attempts=1),
        _record("c/s", state="Sent", attempts=1),
    ]
    updated, claimed = claim_due(records, T0, LEASE)
    assert [r.key for r in claimed] == ["a/s"]
    assert (claimed[0].state, claimed[0].attempts, claimed[0].next_attempt_at) == (
        DeliveryState.SENDING,
        1,
        T0 + LEASE,
    )
    assert updated[1:] == records[1:]
    # Nothing else is claimable until the lease runs out: no second sender.
    assert claim_due(updated, T0 + LEASE - timedelta(seconds=1), LEASE)[1] == []


def test_a_send_cut_short_is_resent_once_its_lease_runs_out() -> None:
    _, (claimed,) = claim_due([_record()], T0, LEASE)
    _, (again,) = claim_due([claimed], T0 + LEASE, LEASE)
    assert again.attempts == 2
    assert again.error is not None
    assert "interrupted" in again.error


def test_outcomes_sent_retry_and_failed() -> None:
    records, _claimed = claim_due(
        [_record("ok/s"), _record("retry/s"), _record("bad/s", attempts=2)], T0, LEASE
    )
    at = T0 + timedelta(seconds=1)
    outcomes = [
        DeliveryOutcome("ok/s", 1, at),
        DeliveryOutcome("retry/s", 1, at, "Slack answered HTTP 503", retryable=True),
        DeliveryOutcome("bad/s", 3, at, "Slack answered HTTP 404", retryable=False),
    ]
    updated, entries = apply_outcomes(records, outcomes, at)
    by_key = {r.key: r for r in updated}
    assert (by_key["ok/s"].state, by_key["ok/s"].sent_at) == (DeliveryState.SENT, at)
    assert by_key["retry/s"].state is DeliveryState.PENDING
    assert by_key["retry/s"].next_attempt_at == at + timedelta(seconds=2)
    assert by_key["bad/s"].state is DeliveryState.FAILED
    assert [e.type for e in entries] == ["NotificationSent", "NotificationFailed"]


def test_a_stale_outcome_is_ignored() -> None:
    records, _ = claim_due([_record()], T0, LEASE)
    records, _ = claim_due(records, T0 + LEASE, LEASE)  # taken over: attempt 2
    updated, entries = apply_outcomes(records, [DeliveryOutcome("declaration/s", 1, T0)], T0)
    assert updated == records
    assert entries == []


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], (ConditionStatus.FALSE, Reason.DELIVERING)),
        ([_record(state="Sent")], (ConditionStatus.FALSE, Reason.DELIVERING)),
        (
            [_record(state="Pending", attempts=1, error="HTTP 503")],
            (ConditionStatus.TRUE, Reason.DELIVERY_RETRYING),
        ),
        (
            [_record(state="Failed", attempts=3, error="HTTP 404")],
            (ConditionStatus.TRUE, Reason.DELIVERY_FAILED),
        ),
    ],
)
def test_notification_condition(
    records: list[NotificationRecord], expected: tuple[ConditionStatus, str]
) -> None:
    status, reason, message = notification_condition(IncidentStatus(notifications=records))
    assert (status, reason) == expected
    if status is ConditionStatus.TRUE:
        assert "HTTP" in message


def test_pruning_keeps_pending_and_the_newest_final_records() -> None:
    old = [
        _record(f"old-{i}/s", state="Sent", sent_at=T0 + timedelta(seconds=i))
        for i in range(NOTIFICATION_LIMIT)
    ]
    pending = [_record(f"new-{i}/s") for i in range(5)]
    kept = prune_records([*old, *pending])
    assert len(kept) == NOTIFICATION_LIMIT
    assert {r.key for r in pending} <= {r.key for r in kept}
    assert "old-0/s" not in {r.key for r in kept}
