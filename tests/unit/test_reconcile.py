"""The incident decision with an injected clock: the lifecycle, SLA clocks, conditions."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus, find_condition
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.governing_policy import (
    GoverningPolicy,
    auto_resolve_allowed,
    effective_level,
    governing_policy,
)
from incident_operator.reconcile.incident import Outcome, reconcile_incident
from incident_operator.reconcile.invalid import not_ready_conditions
from incident_operator.reconcile.policy import reconcile_policy
from incident_operator.reconcile.status_patch import status_difference

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
NO_POLICY = GoverningPolicy(None, Reason.NO_POLICY, "none")
# The runbook's pre-resolution verification, ticked by people (nothing monitors these
# incidents): without it a Resolved state word is held (test_resolution_gate.py).
VERIFIED = {
    key: True
    for key in (
        "rootCauseDocumented",
        "fixInProduction",
        "normalMetrics",
        "errorRatesAtBaseline",
        "noNewAlerts",
        "manualVerification",
        "customerImpactResolved",
    )
}


def _incident(
    generation: int = 1, annotations: dict[str, str] | None = None, **spec: Any
) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "n",
                "generation": generation,
                "annotations": annotations or {},
            },
            "spec": {"title": "API down", "severity": "P0", **spec},
        }
    )


def _run(incident: Incident, at: datetime, policy: GoverningPolicy = NO_POLICY) -> Outcome:
    return reconcile_incident(
        incident, policy, at, "INC-0007" if incident.status.id is None else None
    )


def _then(
    previous: Outcome,
    at: datetime,
    generation: int = 2,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Outcome:
    """Reconcile again after people changed the spec (or only the clock moved)."""
    incident = _incident(generation, annotations, **spec).model_copy(
        update={"status": previous.status}
    )
    return _run(incident, at)


def _condition(outcome: Outcome, type_: str) -> tuple[str, str]:
    found = find_condition(outcome.status.conditions, type_)
    assert found is not None, type_
    return found.status.value, found.reason


def test_a_new_incident_is_detected_with_deadlines_and_a_timeline() -> None:
    incident = _incident()
    outcome = _run(incident, T0)
    status = outcome.status
    assert status.id == "INC-0007"
    assert status.phase is Phase.DETECTED
    assert status.detected_at == T0
    assert status.response_due_at == T0 + timedelta(minutes=5)
    assert status.resolution_due_at == T0 + timedelta(hours=1)
    assert status.next_update_due_at == T0 + timedelta(minutes=15)
    assert status.observed_generation == 1
    assert [entry.type for entry in outcome.new_entries] == ["Declared"]
    assert _condition(outcome, ConditionType.READY) == ("True", Reason.RECONCILED)
    assert _condition(outcome, ConditionType.COMMANDER_ASSIGNED) == ("False", Reason.NOT_ASSIGNED)
    assert _condition(outcome, ConditionType.ACKNOWLEDGED) == ("False", Reason.NOT_ACKNOWLEDGED)
    assert _condition(outcome, ConditionType.RESPONSE_OVERDUE) == ("False", Reason.WITHIN_DEADLINE)
    assert _condition(outcome, ConditionType.POLICY_RESOLVED) == ("False", Reason.NO_POLICY)
    # Next: the response deadline, 5 minutes (the P0 commander deadline is the same).
    assert outcome.wake_at == T0 + timedelta(minutes=5)
    assert incident.status.phase is None, "the input is not modified"


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("Investigating", Phase.DETECTED),
        ("Identified", Phase.IDENTIFIED),
        ("Resolved", Phase.POST_INCIDENT),
    ],
)
def test_initial_phase_follows_a_declared_state(state: str, phase: Phase) -> None:
    assert _run(_incident(state=state, checklist=VERIFIED), T0).status.phase is phase


def test_reconciling_again_changes_nothing() -> None:
    first = _run(_incident(), T0)
    second = _then(first, T0 + timedelta(minutes=1), generation=1)
    assert status_difference(first.status.to_wire(), second.status.to_wire()) == {}
    assert second.new_entries == []


def test_the_p0_story_from_detection_to_close() -> None:
    ack = {"sre.agentos.io/acknowledged-by": "alice", "sre.agentos.io/changed-by": "alice"}
    outcome = _run(_incident(), T0)
    # Acknowledged at 2 minutes, commander named: Triaged.
    outcome = _then(
        outcome, T0 + timedelta(minutes=2), annotations=ack, roles={"commander": "alice"}
    )
    assert outcome.status.phase is Phase.TRIAGED
    assert outcome.status.acknowledged_at == T0 + timedelta(minutes=2)
    assert [e.type for e in outcome.new_entries] == ["RoleAssigned", "Acknowledged", "PhaseChanged"]
    assert outcome.new_entries[0].actor == "alice"
    # A tech lead and an update: Investigating; the update restarts the cadence.
    roles = {"commander": "alice", "techLead": "bob"}
    update = {
        "message": "looking at the deploy",
        "author": "bob",
        "time": (T0 + timedelta(minutes=4)).isoformat(),
    }
    outcome = _then(
        outcome, T0 + timedelta(minutes=4), annotations=ack, roles=roles, updates=[update]
    )
    assert outcome.status.phase is Phase.INVESTIGATING
    assert outcome.status.next_update_due_at == T0 + timedelta(minutes=19)
    assert "UpdatePosted" in [e.type for e in outcome.new_entries]
    # Identified, then Monitoring, then Resolved: post-mortem pending.
    for state, phase in [("Identified", Phase.IDENTIFIED), ("Monitoring", Phase.MONITORING)]:
        outcome = _then(
            outcome,
            T0 + timedelta(minutes=20),
            annotations=ack,
            roles=roles,
            updates=[update],
            state=state,
        )
        assert outcome.status.phase is phase
    assert outcome.status.mitigated_at == T0 + timedelta(minutes=20)
    resolved_at = T0 + timedelta(minutes=50)
    outcome = _then(
        outcome,
        resolved_at,
        annotations=ack,
        roles=roles,
        updates=[update],
        state="Resolved",
        checklist=VERIFIED,
    )
    assert outcome.status.phase is Phase.POST_INCIDENT
    assert outcome.status.resolved_at == resolved_at
    assert outcome.status.next_update_due_at is None
    assert outcome.status.post_mortem is not None
    assert outcome.status.post_mortem.schedule_due_at == resolved_at + timedelta(hours=24)
    assert outcome.status.post_mortem.complete_due_at == resolved_at + timedelta(hours=72)
    assert outcome.postmortem_draft is not None
    assert "# Post-Mortem: API down" in outcome.postmortem_draft
    assert _condition(outcome, ConditionType.READY_TO_CLOSE)[0] == "False"
    ready = find_condition(outcome.status.conditions, ConditionType.READY_TO_CLOSE)
    assert ready is not None
    assert "post-mortem is not Final" in ready.message
    assert "no post-mortem owner (spec.postMortem.owner)" in ready.message
    assert "rootCauseIdentified" in ready.message
    # Everything done: Closed.
    done = {
        **VERIFIED,
        "rootCauseIdentified": True,
        "fixVerified": True,
        "systemsRecovered": True,
        "metricsNormal": True,
        "customerCommunicationSent": True,
        "lessonsLearned": True,
    }
    final = {
        "status": "Final",
        "owner": "carol",
        "scheduledAt": resolved_at.isoformat(),
        "rootCause": "bad deploy",
    }
    items = [{"id": "AI-1", "action": "canary", "owner": "bob", "priority": "P1", "done": True}]
    outcome = _then(
        outcome,
        resolved_at + timedelta(hours=5),
        annotations=ack,
        roles=roles,
        updates=[update],
        state="Resolved",
        checklist=done,
        postMortem=final,
        actionItems=items,
    )
    assert outcome.status.phase is Phase.CLOSED
    assert outcome.status.closed_at == resolved_at + timedelta(hours=5)
    assert outcome.wake_at is None


def test_closed_refuses_to_reopen_with_a_condition() -> None:
    outcome = _run(_incident(severity="P4", state="Resolved", checklist=VERIFIED), T0)
    ready = find_condition(outcome.status.conditions, ConditionType.READY_TO_CLOSE)
    assert ready is not None
    # Nothing monitors the incident and no customer message was sent: people tick both.
    assert ready.message == (
        "cannot close yet: alertAcknowledged; rootCauseIdentified; fixVerified; systemsRecovered; "
        "metricsNormal; customerCommunicationSent"
    )
    outcome = _then(
        outcome,
        T0,
        annotations={"sre.agentos.io/acknowledged-by": "alice"},
        severity="P4",
        state="Resolved",
        checklist={
            **VERIFIED,
            "rootCauseIdentified": True,
            "fixVerified": True,
            "systemsRecovered": True,
            "metricsNormal": True,
            "customerCommunicationSent": True,
        },
    )
    assert outcome.status.phase is Phase.CLOSED
    outcome = _then(outcome, T0 + timedelta(hours=1), severity="P4", state="Investigating")
    assert outcome.status.phase is Phase.CLOSED
    assert _condition(outcome, ConditionType.TRANSITION_REFUSED) == (
        "True",
        Reason.ILLEGAL_TRANSITION,
    )
    refused = find_condition(outcome.status.conditions, ConditionType.TRANSITION_REFUSED)
    assert refused is not None
    assert "from Closed to Investigating" in refused.message
    assert [e.type for e in outcome.new_entries] == ["TransitionRefused"]


@pytest.mark.parametrize(
    ("severity", "after", "condition"),
    [
        ("P0", timedelta(minutes=6), ConditionType.RESPONSE_OVERDUE),
        ("P1", timedelta(minutes=16), ConditionType.RESPONSE_OVERDUE),
        ("P2", timedelta(minutes=31), ConditionType.RESPONSE_OVERDUE),
        ("P3", timedelta(hours=2, minutes=1), ConditionType.RESPONSE_OVERDUE),
        ("P0", timedelta(minutes=16), ConditionType.UPDATE_OVERDUE),
        ("P1", timedelta(minutes=31), ConditionType.UPDATE_OVERDUE),
        ("P2", timedelta(minutes=61), ConditionType.UPDATE_OVERDUE),
        ("P3", timedelta(hours=24, minutes=1), ConditionType.UPDATE_OVERDUE),
        ("P0", timedelta(minutes=61), ConditionType.RESOLUTION_OVERDUE),
        ("P1", timedelta(hours=4, minutes=1), ConditionType.RESOLUTION_OVERDUE),
        ("P2", timedelta(hours=8, minutes=1), ConditionType.RESOLUTION_OVERDUE),
        ("P3", timedelta(hours=24, minutes=1), ConditionType.RESOLUTION_OVERDUE),
        ("P4", timedelta(weeks=1, minutes=1), ConditionType.RESOLUTION_OVERDUE),
    ],
)
def test_every_deadline_in_the_runbook_fires(
    severity: str, after: timedelta, condition: str
) -> None:
    outcome = _run(_incident(severity=severity), T0)
    just_before = _then(outcome, T0 + after - timedelta(minutes=2), generation=1, severity=severity)
    assert _condition(just_before, condition)[0] == "False"
    late = _then(just_before, T0 + after, generation=1, severity=severity)
    assert _condition(late, condition) == ("True", Reason.DEADLINE_PASSED)
    assert condition in [e.type for e in late.new_entries]
    again = _then(late, T0 + after + timedelta(minutes=1), generation=1, severity=severity)
    assert condition not in [e.type for e in again.new_entries], "told once"


def test_p0_commander_overdue_after_five_minutes() -> None:
    outcome = _run(_incident(), T0)
    late = _then(outcome, T0 + timedelta(minutes=5, seconds=1), generation=1)
    assert _condition(late, ConditionType.COMMANDER_ASSIGNED) == ("False", Reason.COMMANDER_OVERDUE)
    assert "CommanderOverdue" in [e.type for e in late.new_entries]


def test_detection_moves_the_phase_and_auto_resolves_a_p2() -> None:
    detection = {
        "fingerprint": "f",
        "policy": "p",
        "rule": "errors",
        "level": "critical",
        "value": 0.3,
        "threshold": 0.05,
        "breaching": True,
        "lastEvaluatedAt": T0.isoformat(),
    }
    incident = _incident(severity="P2").model_copy(deep=True)
    incident.status.detection = incident.status.__class__.model_validate(
        {"detection": detection}
    ).detection
    outcome = _run(incident, T0)
    assert outcome.status.phase is Phase.DETECTED
    assert _condition(outcome, ConditionType.METRICS_RECOVERED) == ("False", Reason.BREACHING)
    recovered_at = T0 + timedelta(minutes=3)
    status = outcome.status.model_copy(deep=True)
    assert status.detection is not None
    status.detection.breaching = False
    status.detection.recovered_at = recovered_at
    outcome = _run(_incident(severity="P2").model_copy(update={"status": status}), recovered_at)
    assert outcome.status.phase is Phase.MONITORING
    assert _condition(outcome, ConditionType.METRICS_RECOVERED) == ("True", Reason.RECOVERED)
    assert outcome.wake_at == recovered_at + timedelta(minutes=15)
    resolved = _then(outcome, recovered_at + timedelta(minutes=15), generation=1, severity="P2")
    assert resolved.status.phase is Phase.POST_INCIDENT
    assert [e.message.split(":")[0] for e in resolved.new_entries if e.type == "PhaseChanged"] == [
        "Monitoring -> Resolved",
        "Resolved -> PostIncident",
    ]


def test_p0_never_auto_resolves() -> None:
    assert not auto_resolve_allowed(_incident().spec.severity, None)


def test_severity_change_and_update_move_deadlines_from_detection() -> None:
    first = _run(_incident(), T0)
    posted = T0 + timedelta(minutes=20)
    updates = [{"message": "rolled back", "author": "alice", "time": posted.isoformat()}]
    outcome = _then(first, T0 + timedelta(minutes=21), severity="P2", updates=updates)
    status = outcome.status
    assert status.response_due_at == T0 + timedelta(minutes=30)
    assert status.resolution_due_at == T0 + timedelta(hours=8)
    assert status.next_update_due_at == posted + timedelta(hours=1)
    assert status.observed_generation == 2
    assert status.detected_at == T0
    assert "severity lowered from P0 to P2" in [e.message for e in outcome.new_entries]


def test_action_items_get_due_dates_from_their_priority() -> None:
    items = [
        {"id": "a", "action": "x", "owner": "o", "priority": "P1"},
        {"id": "b", "action": "x", "owner": "o", "priority": "P4"},
    ]
    outcome = _run(_incident(actionItems=items), T0)
    assert [(i.id, i.due_at) for i in outcome.status.action_items] == [
        ("a", T0 + timedelta(weeks=1)),
        ("b", None),
    ]
    late = _then(outcome, T0 + timedelta(weeks=1, seconds=1), generation=1, actionItems=items)
    assert _condition(late, ConditionType.ACTION_ITEMS_OVERDUE) == ("True", Reason.DEADLINE_PASSED)
    assert late.status.action_items[0].due_at == T0 + timedelta(weeks=1), "due date is stable"


def _policy(**spec: Any) -> EscalationPolicy:
    name = spec.pop("name", "team")
    return EscalationPolicy.model_validate(
        {"metadata": {"name": name, "namespace": "n"}, "spec": spec}
    )


def test_governing_policy_order() -> None:
    default = _policy(name="default", default=True)
    selected = _policy(name="payments", selector={"matchLabels": {"team": "payments"}})
    plain = _incident()
    labelled = plain.model_copy(deep=True)
    labelled.metadata.labels = {"team": "payments"}
    referenced = _incident(policyRef={"name": "payments"})
    missing = _incident(policyRef={"name": "nope"})
    assert governing_policy(plain, [default, selected]).reason == Reason.BY_DEFAULT
    assert governing_policy(labelled, [default, selected]).reason == Reason.BY_SELECTOR
    assert governing_policy(referenced, [default, selected]).policy == selected
    assert governing_policy(missing, [default]).reason == Reason.POLICY_NOT_FOUND
    assert governing_policy(plain, [selected]).reason == Reason.NO_POLICY


def test_policy_overrides_apply() -> None:
    policy = _policy(
        severities={"P1": {"responseTime": "1m", "updateEvery": "10m", "autoResolve": True}}
    )
    level = effective_level(_incident(severity="P1").spec.severity, policy)
    assert level.response_time == timedelta(minutes=1)
    assert level.update_every == timedelta(minutes=10)
    assert level.resolution_target == timedelta(hours=4)
    assert auto_resolve_allowed(_incident(severity="P1").spec.severity, policy)


def test_policy_ready() -> None:
    policy = EscalationPolicy.model_validate({"metadata": {"generation": 4}, "spec": {}})
    status = reconcile_policy(policy, T0)
    ready = find_condition(status.conditions, ConditionType.READY)
    assert ready is not None
    assert ready.status is ConditionStatus.TRUE
    assert "runbook's escalation matrix" in ready.message
    assert status.observed_generation == 4


@pytest.mark.parametrize(
    ("current", "desired", "patch"),
    [
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1, "b": 2}, {"a": 1}, {"b": None}),
        ({"l": [1]}, {"l": [1, 2]}, {"l": [1, 2]}),
        # Inside objects, only the changed keys; a key that disappears is deleted.
        ({"o": {"a": 1, "b": 2}}, {"o": {"a": 1, "b": 3}}, {"o": {"b": 3}}),
        ({"o": {"a": 1, "b": 2}}, {"o": {"a": 1}}, {"o": {"b": None}}),
        ({"o": {"a": {"x": 1}}}, {"o": {"a": {"x": 1}}}, {}),
        ({"o": 1}, {"o": {"a": 1}}, {"o": {"a": 1}}),
    ],
)
def test_status_difference(
    current: dict[str, Any], desired: dict[str, Any], patch: dict[str, Any]
) -> None:
    assert status_difference(current, desired) == patch


def test_not_ready_keeps_other_conditions_and_survives_garbage() -> None:
    raw = {
        "conditions": [
            {
                "type": "CommanderAssigned",
                "status": "True",
                "reason": "Assigned",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }
    result = not_ready_conditions(raw, Reason.INVALID_SPEC, "spec.severity: bad", T0, 3)
    assert [c["type"] for c in result] == ["CommanderAssigned", "Ready"]
    assert result[1]["status"] == "False"
    assert result[1]["observedGeneration"] == 3
    garbage = not_ready_conditions({"conditions": "nonsense"}, Reason.INVALID_STATUS, "m", T0, None)
    assert [c["type"] for c in garbage] == ["Ready"]
