from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus, find_condition
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.severity import Severity, level
from incident_operator.reconcile.incident import reconcile_incident
from incident_operator.reconcile.invalid import not_ready_conditions
from incident_operator.reconcile.policy import reconcile_policy
from incident_operator.reconcile.status_patch import status_difference

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _incident(generation: int = 1, **spec: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "i", "namespace": "n", "generation": generation},
            "spec": {"title": "API down", "severity": "P0", **spec},
        }
    )


def test_a_new_incident_is_detected_with_deadlines_and_a_timeline() -> None:
    incident = _incident()
    status = reconcile_incident(incident, level(Severity.P0), T0, "INC-0007")
    assert status.id == "INC-0007"
    assert status.phase is Phase.DETECTED
    assert status.detected_at == T0
    assert status.response_due_at == T0 + timedelta(minutes=5)
    assert status.resolution_due_at == T0 + timedelta(hours=1)
    assert status.next_update_due_at == T0 + timedelta(minutes=15)
    assert status.observed_generation == 1
    assert [entry.type for entry in status.timeline] == ["Declared"]
    ready = find_condition(status.conditions, ConditionType.READY)
    assert ready is not None
    assert ready.status is ConditionStatus.TRUE
    commander = find_condition(status.conditions, ConditionType.COMMANDER_ASSIGNED)
    assert commander is not None
    assert commander.reason == Reason.NOT_ASSIGNED
    assert incident.status.phase is None, "the input is not modified"


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("Investigating", Phase.DETECTED),
        ("Identified", Phase.IDENTIFIED),
        ("Resolved", Phase.RESOLVED),
    ],
)
def test_initial_phase_follows_a_declared_state(state: str, phase: Phase) -> None:
    status = reconcile_incident(_incident(state=state), level(Severity.P0), T0, "INC-0001")
    assert status.phase is phase


def test_reconciling_again_changes_nothing() -> None:
    incident = _incident()
    first = reconcile_incident(incident, level(Severity.P0), T0, "INC-0001")
    again = incident.model_copy(update={"status": first})
    second = reconcile_incident(again, level(Severity.P0), T0 + timedelta(minutes=1), None)
    assert status_difference(first.to_wire(), second.to_wire()) == {}


def test_severity_change_and_update_move_deadlines_from_detection() -> None:
    first = reconcile_incident(_incident(), level(Severity.P0), T0, "INC-0001")
    posted = T0 + timedelta(minutes=20)
    changed = _incident(
        generation=2,
        severity="P2",
        updates=[{"message": "rolled back", "author": "alice", "time": posted.isoformat()}],
    ).model_copy(update={"status": first})
    status = reconcile_incident(changed, level(Severity.P2), T0 + timedelta(minutes=21), None)
    assert status.response_due_at == T0 + timedelta(minutes=30)
    assert status.resolution_due_at == T0 + timedelta(hours=8)
    assert status.next_update_due_at == posted + timedelta(hours=1)
    assert status.observed_generation == 2
    assert status.detected_at == T0


def test_commander_condition() -> None:
    status = reconcile_incident(
        _incident(roles={"commander": "alice"}), level(Severity.P0), T0, "INC-0001"
    )
    commander = find_condition(status.conditions, ConditionType.COMMANDER_ASSIGNED)
    assert commander is not None
    assert (commander.status, commander.reason) == (ConditionStatus.TRUE, Reason.ASSIGNED)
    assert "alice" in commander.message


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
