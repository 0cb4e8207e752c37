"""The escalation decision with an injected clock: the matrix, triggers, announcements."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import StepCause
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import Condition, ConditionStatus
from incident_operator.domain.notifications import DeliveryState, NotificationKind
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.escalation import (
    EscalationPlan,
    escalation_condition,
    plan_escalation,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STARTED = T0 - timedelta(hours=1)
MINUTE = timedelta(minutes=1)

CHANNELS = [
    {"name": "pd", "type": "pagerduty", "secretRef": {"name": "s", "key": "pd"}},
    {
        "name": "crit",
        "type": "slack",
        "chatChannel": "#incident-critical",
        "secretRef": {"name": "s", "key": "slack"},
    },
    {
        "name": "high",
        "type": "slack",
        "chatChannel": "#incident-high",
        "secretRef": {"name": "s", "key": "slack"},
    },
    {
        "name": "warn",
        "type": "slack",
        "chatChannel": "#incident-warning",
        "secretRef": {"name": "s", "key": "slack"},
    },
]


def _policy(**spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {"metadata": {"name": "team", "namespace": "n"}, "spec": {"channels": CHANNELS, **spec}}
    )


def _incident(severity: str = "P0", status: dict[str, Any] | None = None, **spec: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "api", "namespace": "n", "uid": "u-1"},
            "spec": {"title": "API down", "severity": severity, **spec},
            "status": {
                "id": "INC-0001",
                "phase": "Investigating",
                "detectedAt": T0.isoformat(),
                **(status or {}),
            },
        }
    )


def _then(previous: Incident, plan: EscalationPlan, **changes: Any) -> Incident:
    """The incident after the plan was written (and people changed ``changes``)."""
    status = previous.status.model_copy(
        update={"escalation": plan.escalation, "notifications": plan.notifications}
    )
    incident = previous.model_copy(update={"status": status})
    if changes:
        spec = incident.spec.model_copy(update=changes)
        incident = incident.model_copy(update={"spec": spec})
    return incident


def _run_until(
    incident: Incident, end: timedelta, policy: EscalationPolicy | None = None
) -> tuple[Incident, list[tuple[timedelta, str]]]:
    """Reconciles at each wake-up until ``end`` after detection; (when, step) reached."""
    reached: list[tuple[timedelta, str]] = []
    now = T0
    while now <= T0 + end:
        plan = plan_escalation(incident, policy, now, STARTED)
        known = (
            {s.key for s in incident.status.escalation.steps}
            if incident.status.escalation
            else set()
        )
        reached += [(now - T0, s.key) for s in plan.escalation.steps if s.key not in known]
        incident = _then(incident, plan)
        if plan.wake_at is None:
            break
        now = max(plan.wake_at, now + timedelta(seconds=1))
    return incident, reached


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (
            "P0",
            [
                # The P0 actions' "Notify executive leadership" goes with the first page.
                (
                    0,
                    "All on-call (pager), Executive leadership (chat), "
                    "Executive leadership (email)",
                ),
                (15, "VP Engineering (phone)"),
                (30, "CTO (phone)"),
                (60, "CEO (phone)"),
            ],
        ),
        (
            "P1",
            [
                (0, "Primary on-call (pager)"),
                (30, "Secondary on-call (pager)"),
                (60, "Engineering Manager (chat), Engineering Manager (phone)"),
                (120, "VP Engineering (chat), VP Engineering (phone)"),
            ],
        ),
        (
            "P2",
            [
                (0, "Primary on-call (chat)"),
                (120, "Team Lead (chat)"),
                (240, "Engineering Manager (chat)"),
            ],
        ),
        ("P3", [(240, "Team Lead (chat)")]),
        ("P4", []),
    ],
)
def test_the_runbook_matrix_is_followed_minute_by_minute(
    severity: str, expected: list[tuple[int, str]]
) -> None:
    incident, reached = _run_until(_incident(severity), timedelta(hours=5))
    assert [(int(when / MINUTE), key) for when, key in reached] == [
        (minutes, f"{severity}-{i}") for i, (minutes, _) in enumerate(expected)
    ]
    escalation = incident.status.escalation
    assert escalation is not None
    assert [", ".join(s.targets) for s in escalation.steps] == [t for _, t in expected]
    assert escalation.level == len(expected) == escalation.steps_total
    assert all(s.cause is StepCause.SCHEDULE and not s.late for s in escalation.steps)
    assert escalation.next_step_due_at is None


def test_nothing_happens_before_the_lifecycle_initialised_the_incident() -> None:
    incident = _incident(status={"id": None, "phase": None, "detectedAt": None})
    plan = plan_escalation(incident, _policy(), T0, STARTED)
    assert plan.escalation.steps == []
    assert plan.notifications == []
    assert plan.wake_at is None


def test_the_first_step_and_the_declaration_are_recorded_pending_and_routed() -> None:
    plan = plan_escalation(_incident("P0"), _policy(), T0, STARTED)
    keys = {(r.key, r.kind) for r in plan.notifications}
    assert keys == {
        ("declaration/crit", NotificationKind.DECLARATION),
        ("escalation-P0-0/pd", NotificationKind.ESCALATION),
        ("escalation-P0-0/crit", NotificationKind.ESCALATION),
    }
    assert all(r.state is DeliveryState.PENDING and r.attempts == 0 for r in plan.notifications)
    assert plan.wake_at == T0  # pending records are due now
    assert [e.type for e in plan.entries] == ["Escalated"]
    assert plan.escalation.next_step_due_at == T0 + 15 * MINUTE


def test_a_second_pass_records_nothing_new() -> None:
    incident = _incident("P0")
    plan = plan_escalation(incident, _policy(), T0, STARTED)
    again = plan_escalation(_then(incident, plan), _policy(), T0 + MINUTE, STARTED)
    assert again.notifications == plan.notifications
    assert again.entries == []
    assert again.escalation.steps == plan.escalation.steps


def test_steps_due_while_the_operator_was_down_go_out_in_order_marked_late() -> None:
    started = T0 + 40 * MINUTE  # down from before detection until 40 minutes after
    plan = plan_escalation(_incident("P0"), _policy(), started + MINUTE, started)
    steps = plan.escalation.steps
    assert [s.key for s in steps] == ["P0-0", "P0-1", "P0-2"]
    assert all(s.late for s in steps)
    escalations = [r for r in plan.notifications if r.kind is NotificationKind.ESCALATION]
    assert escalations
    assert all(r.late for r in escalations)
    assert all("[late" in e.message for e in plan.entries if e.type == "Escalated")


def test_policy_steps_replace_the_matrix_and_name_their_channel() -> None:
    policy = _policy(
        escalation={
            "steps": [
                {
                    "severities": ["P1", "P2"],
                    "after": "0s",
                    "targets": [{"name": "a", "method": "chat"}],
                    "channel": "high",
                },
                {
                    "severities": ["P1"],
                    "after": "2s",
                    "targets": [{"name": "b", "method": "pager"}],
                    "channel": "pd",
                },
                {
                    "severities": ["P1"],
                    "after": "4s",
                    "targets": [{"name": "c", "method": "phone"}],
                },
            ]
        }
    )
    incident, reached = _run_until(_incident("P1"), timedelta(seconds=10), policy)
    assert [(w.total_seconds(), k) for w, k in reached] == [(0, "P1-0"), (2, "P1-1"), (4, "P1-2")]
    escalation = incident.status.escalation
    assert escalation is not None
    assert [s.channels for s in escalation.steps] == [["high"], ["pd"], ["pd", "high"]]


@pytest.mark.parametrize(
    ("spec", "trigger", "message"),
    [
        ({"triggers": {"dataLoss": True}}, "dataLoss", "data loss confirmed"),
        ({"triggers": {"securityBreach": True}}, "securityBreach", "security breach suspected"),
        ({"triggers": {"slaAtRisk": True}}, "slaAtRisk", "customer SLA at risk"),
        ({"triggers": {"multipleSystems": True}}, "multipleSystems", "multiple systems affected"),
        (
            {
                "affected": [
                    {"kind": "Deployment", "name": "a"},
                    {"kind": "Deployment", "name": "b"},
                ]
            },
            "multipleSystems",
            "multiple systems affected (2 workloads)",
        ),
        (
            {"triggers": {"externalDependency": True}},
            "externalDependency",
            "external dependency required",
        ),
    ],
)
def test_each_trigger_escalates_at_once_to_the_next_step(
    spec: dict[str, Any], trigger: str, message: str
) -> None:
    incident = _incident("P1")
    first = plan_escalation(incident, _policy(), T0, STARTED)
    assert [s.key for s in first.escalation.steps] == ["P1-0"]
    incident = _then(incident, first)
    incident = incident.model_copy(update={"spec": incident.spec.model_copy(update={})})
    triggered = _incident("P1", **spec).model_copy(update={"status": incident.status})
    plan = plan_escalation(triggered, _policy(), T0 + 2 * MINUTE, STARTED)
    step = plan.escalation.steps[-1]
    assert (step.key, step.cause) == ("P1-1", StepCause.TRIGGER)
    assert message in step.reason
    (fired,) = plan.escalation.triggers
    assert (fired.name.value, fired.step, fired.message) == (trigger, "P1-1", message)
    assert escalation_condition(_then(triggered, plan).status)[1] == Reason.TRIGGERED
    # Fired once: the next pass does not escalate again for the same trigger.
    again = plan_escalation(_then(triggered, plan), _policy(), T0 + 3 * MINUTE, STARTED)
    assert len(again.escalation.steps) == 2


def _condition(type_: str, status: ConditionStatus, reason: str, at: datetime) -> Condition:
    return Condition(type_, status, reason, "m", at)


@pytest.mark.parametrize(
    ("condition", "escalate_updates", "fires"),
    [
        (
            _condition(
                ConditionType.RESOLUTION_OVERDUE, ConditionStatus.TRUE, Reason.DEADLINE_PASSED, T0
            ),
            False,
            True,
        ),
        (
            _condition(
                ConditionType.COMMANDER_ASSIGNED,
                ConditionStatus.FALSE,
                Reason.COMMANDER_OVERDUE,
                T0,
            ),
            False,
            True,
        ),
        (
            _condition(
                ConditionType.COMMANDER_ASSIGNED, ConditionStatus.FALSE, Reason.NOT_ASSIGNED, T0
            ),
            False,
            False,
        ),
        (
            _condition(
                ConditionType.UPDATE_OVERDUE, ConditionStatus.TRUE, Reason.DEADLINE_PASSED, T0
            ),
            True,
            True,
        ),
        (
            _condition(
                ConditionType.UPDATE_OVERDUE, ConditionStatus.TRUE, Reason.DEADLINE_PASSED, T0
            ),
            False,
            False,
        ),
        (
            _condition(
                ConditionType.RESOLUTION_OVERDUE, ConditionStatus.FALSE, Reason.WITHIN_DEADLINE, T0
            ),
            False,
            False,
        ),
    ],
)
def test_no_progress_is_read_from_the_lifecycle_conditions(
    condition: Condition, escalate_updates: bool, fires: bool
) -> None:
    policy = _policy(communication={"escalateOverdueUpdates": escalate_updates})
    incident = _incident("P0")
    incident = _then(incident, plan_escalation(incident, policy, T0, STARTED))
    incident.status.conditions = [condition]
    plan = plan_escalation(incident, policy, T0 + MINUTE, STARTED)
    assert [t.name.value for t in plan.escalation.triggers] == (["noProgress"] if fires else [])
    assert len(plan.escalation.steps) == (2 if fires else 1)


def test_an_overdue_update_escalates_again_each_time_it_turns_true() -> None:
    policy = _policy(communication={"escalateOverdueUpdates": True})
    incident = _incident("P0")
    incident = _then(incident, plan_escalation(incident, policy, T0, STARTED))
    for n, at in enumerate((T0 + MINUTE, T0 + 3 * MINUTE), start=2):
        incident.status.conditions = [
            _condition(
                ConditionType.UPDATE_OVERDUE, ConditionStatus.TRUE, Reason.DEADLINE_PASSED, at
            )
        ]
        plan = plan_escalation(incident, policy, at, STARTED)
        assert len(plan.escalation.steps) == n
        incident = _then(incident, plan)


def test_a_trigger_with_no_further_step_is_recorded_with_its_reason() -> None:
    incident, _ = _run_until(_incident("P2"), timedelta(hours=5))
    triggered = _incident("P2", triggers={"dataLoss": True}).model_copy(
        update={"status": incident.status}
    )
    plan = plan_escalation(triggered, None, T0 + 5 * timedelta(hours=1), STARTED)
    assert plan.escalation.triggers[0].step is None
    assert any("no further step in the P2 matrix" in e.message for e in plan.entries)


def test_raising_the_severity_starts_the_new_matrix_at_once_not_late() -> None:
    incident = _incident("P1")
    incident = _then(incident, plan_escalation(incident, _policy(), T0, STARTED))
    raised = _incident("P0").model_copy(update={"status": incident.status})
    plan = plan_escalation(raised, _policy(), T0 + 20 * MINUTE, STARTED)
    keys = [s.key for s in plan.escalation.steps]
    assert keys == ["P1-0", "P0-0", "P0-1"]
    assert not any(s.late for s in plan.escalation.steps)
    assert plan.escalation.level == 2
    assert plan.escalation.next_step_due_at == T0 + 30 * MINUTE


def test_lowering_the_severity_pages_nobody_for_steps_already_past() -> None:
    incident = _incident("P0")
    incident = _then(incident, plan_escalation(incident, _policy(), T0, STARTED))
    lowered = _incident("P2").model_copy(update={"status": incident.status})
    plan = plan_escalation(lowered, _policy(), T0 + 10 * MINUTE, STARTED)
    new = plan.escalation.steps[1:]
    assert [(s.key, s.cause) for s in new] == [("P2-0", StepCause.SUPERSEDED)]
    assert not [r for r in plan.notifications if r.key.startswith("escalation-P2")]
    assert plan.escalation.next_step_due_at == T0 + 120 * MINUTE


def test_updates_reminders_acknowledgement_and_resolution_are_announced_once() -> None:
    incident = _incident("P1")
    incident = _then(incident, plan_escalation(incident, _policy(), T0, STARTED))
    update = {"message": "Rolled back", "author": "bob", "time": (T0 + MINUTE).isoformat()}
    changed = _incident(
        "P1",
        updates=[update],
        status={
            "acknowledgedAt": (T0 + MINUTE).isoformat(),
            "nextUpdateDueAt": (T0 + 31 * MINUTE).isoformat(),
        },
    )
    changed = changed.model_copy(
        update={
            "status": changed.status.model_copy(
                update={
                    "escalation": incident.status.escalation,
                    "notifications": incident.status.notifications,
                }
            )
        }
    )
    plan = plan_escalation(changed, _policy(), T0 + 2 * MINUTE, STARTED)
    new = {r.key for r in plan.notifications} - {r.key for r in incident.status.notifications}
    assert new == {"update-1/high", "acknowledgement/pd"}
    assert plan.wake_at is not None
    assert plan.wake_at <= T0 + 2 * MINUTE
    changed = _then(changed, plan)
    reminder = plan_escalation(changed, _policy(), T0 + 31 * MINUTE, STARTED)
    # 31 minutes: the P1 matrix's second step is due too.
    assert {r.key for r in reminder.notifications} - {r.key for r in plan.notifications} == {
        "reminder-20261125T103100Z/high",
        "escalation-P1-1/high",
        "escalation-P1-1/pd",
    }
    changed = _then(changed, reminder)
    changed.status.phase = changed.status.phase.__class__("Resolved")
    changed.status.resolved_at = T0 + 40 * MINUTE
    resolved = plan_escalation(changed, _policy(), T0 + 40 * MINUTE, STARTED)
    new = {r.key for r in resolved.notifications} - {r.key for r in reminder.notifications}
    assert new == {"resolution-20261125T104000Z/high", "resolution-20261125T104000Z/pd"}
    final = plan_escalation(_then(changed, resolved), _policy(), T0 + 41 * MINUTE, STARTED)
    assert final.notifications == resolved.notifications


def test_escalation_sends_nothing_to_customers() -> None:
    """Declaration, internal updates and resolution stay internal: customer messages are
    published by people (tests/unit/test_customer_messages.py)."""
    customers = {
        "name": "status-page",
        "type": "webhook",
        "url": "http://127.0.0.1:1/x",
        "audience": "customer",
    }
    policy = EscalationPolicy.model_validate(
        {"metadata": {"name": "t", "namespace": "n"}, "spec": {"channels": [*CHANNELS, customers]}}
    )
    declared = plan_escalation(_incident("P1"), policy, T0, STARTED)
    assert any(r.kind is NotificationKind.DECLARATION for r in declared.notifications)
    update = {"message": "Rolled back.", "author": "bob", "time": (T0 + MINUTE).isoformat()}
    updated = _then(_incident("P1"), declared, updates=[update])
    after_update = plan_escalation(updated, policy, T0 + MINUTE, STARTED)
    assert any(r.kind is NotificationKind.STATUS_UPDATE for r in after_update.notifications)
    resolved = _then(updated, after_update)
    resolved.status.phase = resolved.status.phase.__class__("Resolved")
    resolved.status.resolved_at = T0 + 2 * MINUTE
    final = plan_escalation(resolved, policy, T0 + 2 * MINUTE, STARTED)
    assert any(r.kind is NotificationKind.RESOLUTION for r in final.notifications)
    assert [r.key for r in final.notifications if r.channel == "status-page"] == []
    assert not any(r.kind.for_customers for r in final.notifications)


def test_without_channels_steps_are_recorded_and_nothing_is_sent() -> None:
    plan = plan_escalation(_incident("P0"), None, T0, STARTED)
    assert plan.escalation.level == 1
    assert plan.notifications == []
    assert "no channel routes it" in plan.entries[0].message
    assert escalation_condition(_then(_incident("P0"), plan).status)[0] is ConditionStatus.TRUE


def test_escalation_condition_before_any_step() -> None:
    status, reason, message = escalation_condition(_incident("P3").status)
    assert (status, reason) == (ConditionStatus.FALSE, Reason.NOT_ESCALATED)
    assert "no escalation step" in message


_CHAT_ONLY = {
    "escalation": {
        "steps": [
            {"severities": ["P1"], "after": "0s", "targets": [{"name": "P", "method": "chat"}]}
        ]
    }
}


@pytest.mark.parametrize(
    ("severity", "spec", "expected"),
    [
        # Paged at 0s: chat hears of the reopening and PagerDuty is triggered again.
        ("P0", {}, {"crit", "pd"}),
        ("P1", {}, {"high", "pd"}),
        # Never paged: no PagerDuty.
        ("P1", _CHAT_ONLY, {"high"}),
        ("P2", {}, {"warn"}),
        # Info: never paged; announced like the declaration (issue 14), and as this policy
        # has no #monitoring channel, in every Slack channel rather than nowhere.
        ("P3", {}, {"crit", "high", "warn"}),
        ("P4", {}, {"crit", "high", "warn"}),
    ],
)
def test_a_reopened_incident_is_announced_once_per_reopening(
    severity: str, spec: dict[str, Any], expected: set[str]
) -> None:
    policy = _policy(**spec)
    incident = _incident(severity)
    incident = _then(incident, plan_escalation(incident, policy, T0, STARTED))
    first = T0 + 40 * MINUTE
    incident.status.phase = incident.status.phase.__class__("Resolved")
    incident.status.resolved_at = first
    incident = _then(incident, plan_escalation(incident, policy, first, STARTED))
    resolved = {r.key for r in incident.status.notifications}
    # Reopened: Investigating again, the resolution undone.
    incident.status.phase = incident.status.phase.__class__("Investigating")
    incident.status.resolved_at = None
    reopened = plan_escalation(incident, policy, T0 + 50 * MINUTE, STARTED)
    # (Matrix steps that fell due meanwhile go out too; they are not the matter here.)
    new = [r for r in reopened.notifications if r.key.startswith("reopened-")]
    assert {r.key for r in new} == {f"reopened-20261125T104000Z/{c}" for c in expected}
    assert all(r.kind is NotificationKind.REOPENED and not r.late for r in new)
    assert not [r for r in new if r.key in resolved]
    assert reopened.escalation.reopened_for == first
    # Planned again (a restart, the next wake-up): nothing more.
    incident = _then(incident, reopened)
    again = plan_escalation(incident, policy, T0 + 51 * MINUTE, STARTED)
    assert [r.key for r in again.notifications] == [r.key for r in reopened.notifications]
    assert again.escalation.reopened_for == first
    # Resolved again: a new resolution (a new PagerDuty resolve where it was paged).
    second = T0 + 60 * MINUTE
    incident.status.phase = incident.status.phase.__class__("Resolved")
    incident.status.resolved_at = second
    final = plan_escalation(incident, policy, second, STARTED)
    keys = {r.key for r in final.notifications} - {r.key for r in again.notifications}
    assert all(k.startswith("resolution-20261125T110000Z/") for k in keys)
    assert ("resolution-20261125T110000Z/pd" in keys) == ("pd" in expected)


def test_a_resolution_never_announced_is_not_reopened() -> None:
    # The operator never saw the incident resolved (resolvedFor unset): nothing to undo.
    incident = _incident("P1")
    plan = plan_escalation(incident, _policy(), T0, STARTED)
    again = plan_escalation(_then(incident, plan), _policy(), T0 + MINUTE, STARTED)
    assert not [r for r in again.notifications if r.kind is NotificationKind.REOPENED]
    assert again.escalation.reopened_for is None


def test_resolved_reopened_and_resolved_again_within_a_second_keeps_every_notice() -> None:
    policy = _policy()
    incident = _incident("P1")
    incident = _then(incident, plan_escalation(incident, policy, T0, STARTED))
    phase = incident.status.phase.__class__
    first, second = T0 + timedelta(microseconds=100), T0 + timedelta(microseconds=900)
    for resolved_at, phase_name in ((first, "Resolved"), (None, "Investigating")):
        incident.status.phase, incident.status.resolved_at = phase(phase_name), resolved_at
        incident = _then(incident, plan_escalation(incident, policy, T0, STARTED))
    incident.status.phase, incident.status.resolved_at = phase("Resolved"), second
    plan = plan_escalation(incident, policy, T0, STARTED)
    keys = [r.key for r in plan.notifications if r.channel == "pd"]
    assert keys == [
        "escalation-P1-0/pd",
        "resolution-20261125T100000.000100Z/pd",
        "reopened-20261125T100000.000100Z/pd",
        "resolution-20261125T100000.000900Z/pd",
    ]
