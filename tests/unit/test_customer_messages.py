"""Customer communication with an injected clock: drafts, publishing, the clock, reminders.

Each pass is ``decide_incident`` as the runtime calls it; ``_written`` is the incident
after the runtime wrote the decision (and people changed its spec).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy, Templates
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus, find_condition
from incident_operator.domain.customer_communication import (
    CustomerDue,
    CustomerMessageKind,
    Published,
    customer_clock,
)
from incident_operator.domain.notifications import NotificationKind
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.messages import (
    outgoing_message,
    published_message,
    template_problems,
)
from incident_operator.reconcile.pipeline import IncidentDecision, IncidentInputs, decide_incident
from tests.unit.test_reconcile import VERIFIED

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
STARTED = T0 - timedelta(hours=1)
LEASE = timedelta(seconds=15)
CHANNELS = [
    {
        "name": "high",
        "type": "slack",
        "chatChannel": "#incident-high",
        "secretRef": {"name": "s", "key": "slack"},
    },
    {"name": "ops-hook", "type": "webhook", "url": "http://127.0.0.1:1/ops"},
    {
        "name": "status-page",
        "type": "webhook",
        "url": "http://127.0.0.1:1/status",
        "audience": "customer",
    },
]


def _policy(**spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "team", "namespace": "shop", "generation": 1},
            "spec": {"default": True, "channels": CHANNELS, **spec},
        }
    )


POLICY = _policy()


def _new(severity: str = "P1", **spec: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "u-1", "generation": 1},
            "spec": {
                "title": "Checkout errors",
                "severity": severity,
                "impact": "Payments fail for a third of customers.",
                "affected": [{"kind": "Deployment", "name": "checkout"}],
                "roles": {"commander": "alice", "commsLead": "carol"},
                **spec,
            },
        }
    )


def _decide(
    incident: Incident, now: datetime, policy: EscalationPolicy | None = POLICY
) -> IncidentDecision:
    return decide_incident(
        IncidentInputs(
            incident=incident,
            governing=governing_policy(incident, [policy] if policy else []),
            now=now,
            started_at=STARTED,
            lease=LEASE,
            incident_id="INC-0007",
        )
    )


def _written(incident: Incident, decision: IncidentDecision, **spec: Any) -> Incident:
    """The incident once ``decision`` was written, and people changed ``spec`` (wire names);
    a Resolved comes with the pre-resolution verification ticked, as the gate asks."""
    if spec.get("state") == "Resolved":
        spec = {"checklist": VERIFIED, **spec}
    changed = Incident.model_validate({"spec": {**incident.spec.to_wire(), **spec}}).spec
    return incident.model_copy(update={"status": decision.status, "spec": changed})


def _message(kind: str, text: str, at: datetime, author: str = "carol") -> dict[str, str]:
    return {"kind": kind, "text": text, "author": author, "time": at.isoformat()}


def _overdue(decision: IncidentDecision) -> tuple[ConditionStatus, str]:
    found = find_condition(decision.status.conditions, ConditionType.CUSTOMER_COMMUNICATION_OVERDUE)
    assert found is not None
    return found.status, found.reason


def _keys(decision: IncidentDecision, channel: str | None = None) -> set[str]:
    return {r.key for r in decision.status.notifications if channel in (None, r.channel)}


# ------------------------------------------------------------------------ the clock


@pytest.mark.parametrize(
    ("case", "expected_kind", "expected_due", "due"),
    [
        # Nothing published: the runbook's first-message deadline from detection.
        (dict(first_within=15 * MIN), "Initial", T0 + 15 * MIN, CustomerDue.FIRST),
        # No deadline for the severity (P2 to P4): nothing is owed.
        (dict(first_within=None), "Initial", None, None),
        # Told: the update cadence from the last published message.
        (dict(last_at=T0 + 20 * MIN), "Progress", T0 + 50 * MIN, CustomerDue.PROGRESS),
        # Told, no cadence (P4's "as needed").
        (dict(last_at=T0 + 20 * MIN, update_every=None), "Progress", None, None),
        # Resolved after customers were told: a resolution message is owed at once.
        (
            dict(last_at=T0 + 20 * MIN, active=False, resolved_at=T0 + 40 * MIN),
            "Resolution",
            T0 + 40 * MIN,
            CustomerDue.RESOLUTION,
        ),
        # ... until one is published.
        (
            dict(last_at=T0 + 45 * MIN, resolution=True, active=False, resolved_at=T0 + 40 * MIN),
            "Resolution",
            None,
            None,
        ),
        # Resolved, never told: nothing to tell.
        (dict(active=False, resolved_at=T0 + 40 * MIN), "Initial", None, None),
        # Closed: the record no longer changes.
        (
            dict(last_at=T0 + 20 * MIN, active=False, resolved_at=T0 + 40 * MIN, closed=True),
            "Resolution",
            None,
            None,
        ),
    ],
)
def test_the_customer_clock(
    case: dict[str, Any],
    expected_kind: str,
    expected_due: datetime | None,
    due: CustomerDue | None,
) -> None:
    clock = customer_clock(
        detected_at=T0,
        first_within=case.get("first_within", 30 * MIN),
        update_every=case.get("update_every", 30 * MIN),
        published=Published(case.get("last_at"), case.get("resolution", False)),
        active=case.get("active", True),
        resolved_at=case.get("resolved_at"),
        closed=case.get("closed", False),
    )
    assert (clock.kind, clock.due_at, clock.due) == (
        CustomerMessageKind(expected_kind),
        expected_due,
        due,
    )


@pytest.mark.parametrize(
    ("severity", "override", "due"),
    [
        ("P0", None, T0 + 15 * MIN),
        ("P1", None, T0 + 30 * MIN),
        ("P2", None, None),
        ("P1", "2m", T0 + 2 * MIN),
        ("P2", "45m", T0 + 45 * MIN),
    ],
)
def test_first_message_deadline_by_severity_and_policy(
    severity: str, override: str | None, due: datetime | None
) -> None:
    severities = {severity: {"customerCommunicationWithin": override}} if override else {}
    decision = _decide(_new(severity), T0, _policy(severities=severities))
    communication = decision.status.communication
    assert communication is not None
    assert communication.customer_due_at == due
    if due is not None:
        # The pipeline wakes by the due time, so the reminder is on time.
        assert decision.wake_at is not None
        assert decision.wake_at <= due
        assert _overdue(decision) == (ConditionStatus.FALSE, Reason.WITHIN_DEADLINE)
    else:
        assert _overdue(decision) == (ConditionStatus.FALSE, Reason.NOT_APPLICABLE)


# --------------------------------------------------------------- nothing automatic


def test_nothing_reaches_customers_until_someone_publishes() -> None:
    """Declaration, internal updates and the resolution are internal only."""
    first = _decide(_new(), T0)
    update = {"message": "internal: db-7 OOM", "author": "bob", "time": (T0 + MIN).isoformat()}
    updated = _written(_new(), first, updates=[update])
    second = _decide(updated, T0 + MIN)
    resolved = _written(updated, second, state="Resolved")
    third = _decide(resolved, T0 + 2 * MIN)
    assert third.status.resolved_at is not None
    assert _keys(third, "status-page") == set()
    assert not any(r.kind.for_customers for r in third.status.notifications)
    # Never told: no resolution draft and no reminder to tell customers it is over.
    assert third.status.communication is not None
    assert third.status.communication.draft is None
    assert third.status.communication.customer_due_at is None


# ------------------------------------------------------------------------- drafts


def test_the_initial_draft_is_the_runbook_template_filled_in() -> None:
    decision = _decide(_new(), T0)
    communication = decision.status.communication
    assert communication is not None
    assert communication.draft is not None
    draft = communication.draft
    assert draft.kind is CustomerMessageKind.INITIAL
    assert draft.subject == "[Service Disruption] AgentOS Platform"
    assert "We are currently investigating an issue affecting checkout." in draft.text
    assert "Issue started at approximately 10:00 UTC" in draft.text
    assert "We will provide updates every 30 minutes" in draft.text
    assert draft.prepared_at == T0
    # Unchanged, the draft keeps its time: no status write for nothing.
    again = _decide(_written(_new(), decision), T0 + MIN)
    assert again.status.communication is not None
    assert again.status.communication.draft == draft


def test_a_policy_template_override_makes_the_draft() -> None:
    policy = _policy(
        communication={"templates": {"customerInitial": "Subject: Heads up\n{{ incident.impact }}"}}
    )
    decision = _decide(_new(), T0, policy)
    draft = decision.status.communication.draft if decision.status.communication else None
    assert draft is not None
    assert (draft.subject, draft.text) == ("Heads up", "Payments fail for a third of customers.")


def test_drafts_follow_the_incident_and_never_quote_internal_updates() -> None:
    first = _decide(_new(), T0)
    initial = _message("Initial", "We are looking into checkout errors.", T0 + 5 * MIN)
    update = {"message": "internal: db-7 OOM", "author": "bob", "time": (T0 + 6 * MIN).isoformat()}
    told = _written(_new(), first, customerMessages=[initial], updates=[update])
    second = _decide(told, T0 + 6 * MIN)
    draft = second.status.communication.draft if second.status.communication else None
    assert draft is not None
    assert draft.kind is CustomerMessageKind.PROGRESS
    assert "db-7" not in draft.text
    resolved = _written(told, second, state="Resolved")
    third = _decide(resolved, T0 + 7 * MIN)
    draft = third.status.communication.draft if third.status.communication else None
    assert draft is not None
    assert draft.kind is CustomerMessageKind.RESOLUTION
    assert "Issue Resolved: 2026-11-25 10:07 UTC" in draft.text
    assert "db-7" not in draft.text
    assert "Our engineers applied a fix" in draft.text


# ---------------------------------------------------------------------- publishing


def test_a_published_message_goes_once_to_the_customer_channels_word_for_word() -> None:
    first = _decide(_new(), T0)
    initial = _message("Initial", "Subject: Checkout trouble\n\nWe are on it.", T0 + 5 * MIN)
    published = _written(_new(), first, customerMessages=[initial])
    second = _decide(published, T0 + 5 * MIN)
    new = _keys(second) - _keys(first)
    assert new == {"customer-message-1/status-page"}
    record = next(r for r in second.status.notifications if r.key in new)
    assert record.kind is NotificationKind.CUSTOMER_INITIAL
    assert record in second.claimed
    entry = next(e for e in second.entries if e.type == EntryType.CUSTOMER_MESSAGE_PUBLISHED)
    assert entry.actor == "carol"
    assert "Initial customer message 1 published: to status-page" in entry.message
    message, problem = outgoing_message(_written(published, second), POLICY, record, T0 + 5 * MIN)
    assert (message.subject, message.text, problem) == ("Checkout trouble", "We are on it.", None)
    # Recorded once: later passes (and restarts, reading the status) add nothing.
    third = _decide(_written(published, second), T0 + 6 * MIN)
    assert _keys(third) == _keys(second)
    assert third.status.communication is not None
    assert third.status.communication.messages_recorded == 1
    assert third.status.communication.first_published_at == T0 + 5 * MIN


@pytest.mark.parametrize(
    ("kind", "subject", "text", "expected"),
    [
        ("Initial", None, "Hello.", ("[Service Disruption] AgentOS Platform", "Hello.")),
        (
            "Progress",
            None,
            "Still on it.",
            ("[Update] AgentOS Platform - Issue Under Investigation", "Still on it."),
        ),
        ("Resolution", "Fixed", "Subject: ignored\n\nAll good.", ("Fixed", "All good.")),
        ("Resolution", None, "Subject: All clear\nAll good.", ("All clear", "All good.")),
    ],
)
def test_a_published_message_subject(
    kind: str, subject: str | None, text: str, expected: tuple[str, str]
) -> None:
    entry = {"kind": kind, "text": text, "author": "carol", "time": T0.isoformat()}
    if subject:
        entry["subject"] = subject
    incident = _new(customerMessages=[entry])
    rendered = published_message(incident, "1")
    assert rendered is not None
    assert (rendered.subject, rendered.text) == expected
    assert published_message(incident, "2") is None


# --------------------------------------------------------------- overdue, reminders


def test_a_p1_unpublished_after_30_minutes_is_overdue_and_reminded_once() -> None:
    first = _decide(_new(), T0)
    assert first.status.communication is not None
    assert first.status.communication.customer_due_at == T0 + 30 * MIN
    late = _decide(_written(_new(), first), T0 + 30 * MIN)
    assert _overdue(late)[0] is ConditionStatus.TRUE
    reminders = {k for k in _keys(late) - _keys(first) if k.startswith("customer-")}
    # To the internal channels (chat and webhook), never to customers.
    assert reminders == {
        "customer-reminder-20261125T103000Z/high",
        "customer-reminder-20261125T103000Z/ops-hook",
    }
    record = next(r for r in late.status.notifications if r.key in reminders)
    assert record.kind is NotificationKind.CUSTOMER_REMINDER
    assert any(e.type == EntryType.CUSTOMER_COMMUNICATION_OVERDUE for e in late.entries)
    text = outgoing_message(_written(_new(), late), POLICY, record, T0 + 30 * MIN)[0].text
    assert "@carol: the first customer message was due at 10:30 UTC." in text
    assert "kubectl incident publish INC-0007" in text
    # Once per due time.
    later = _decide(_written(_new(), late), T0 + 40 * MIN)
    assert _keys(later) == _keys(late)
    assert not any(e.type == EntryType.CUSTOMER_COMMUNICATION_OVERDUE for e in later.entries)
    # Publishing ends it; the cadence then runs from the message.
    initial = _message("Initial", "We are on it.", T0 + 41 * MIN)
    told = _decide(_written(_new(), later, customerMessages=[initial]), T0 + 41 * MIN)
    assert _overdue(told) == (ConditionStatus.FALSE, Reason.WITHIN_DEADLINE)
    assert told.status.communication is not None
    assert told.status.communication.customer_due_at == T0 + 71 * MIN


def test_a_resolution_after_customers_were_told_is_owed_and_reminded() -> None:
    first = _decide(_new(), T0)
    initial = _message("Initial", "We are on it.", T0 + 5 * MIN)
    told = _written(_new(), first, customerMessages=[initial])
    second = _decide(told, T0 + 5 * MIN)
    resolved = _written(told, second, state="Resolved")
    third = _decide(resolved, T0 + 10 * MIN)
    assert third.status.resolved_at is not None
    assert _overdue(third)[0] is ConditionStatus.TRUE
    assert "customer-reminder-20261125T101000Z/high" in _keys(third)
    resolution = _message("Resolution", "Fixed.", T0 + 12 * MIN)
    done = _decide(_written(resolved, third, customerMessages=[initial, resolution]), T0 + 12 * MIN)
    assert _overdue(done) == (ConditionStatus.FALSE, Reason.NOT_APPLICABLE)
    assert "customer-message-2/status-page" in _keys(done)
    assert (
        next(r for r in done.status.notifications if r.key == "customer-message-2/status-page").kind
        is NotificationKind.CUSTOMER_RESOLUTION
    )


def test_without_a_policy_nothing_is_sent_but_the_clock_runs() -> None:
    first = _decide(_new("P0"), T0, None)
    late = _decide(_written(_new("P0"), first), T0 + 15 * MIN, None)
    assert _overdue(late)[0] is ConditionStatus.TRUE
    assert late.status.notifications == []


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ reminder.to }} owes the {{ reminder.what }} ({{ reminder.kind }})", None),
        ("{{ reminder.nope }}", "customerReminder"),
    ],
)
def test_a_customer_reminder_override_is_checked_with_the_policy(
    source: str, problem: str | None
) -> None:
    found = template_problems(Templates.model_validate({"customerReminder": source}))
    assert [p.template.value for p in found] == ([problem] if problem else [])
