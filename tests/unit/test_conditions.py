from datetime import UTC, datetime, timedelta

from incident_operator.domain.conditions import (
    Condition,
    ConditionStatus,
    find_condition,
    is_true,
    set_condition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def test_adds_a_new_condition_with_the_time() -> None:
    result = set_condition([], "Ready", TRUE, "Reconciled", "ok", T0, 3)
    assert result == [Condition("Ready", TRUE, "Reconciled", "ok", T0, 3)]


def test_same_status_keeps_transition_time_but_takes_new_reason_and_message() -> None:
    first = set_condition([], "Ready", TRUE, "Reconciled", "ok", T0, 1)
    second = set_condition(first, "Ready", TRUE, "StillFine", "better", T1, 2)
    assert second == [Condition("Ready", TRUE, "StillFine", "better", T0, 2)]


def test_status_change_moves_transition_time() -> None:
    first = set_condition([], "Ready", TRUE, "Reconciled", "ok", T0)
    second = set_condition(first, "Ready", FALSE, "InvalidSpec", "bad", T1)
    assert find_condition(second, "Ready") == Condition("Ready", FALSE, "InvalidSpec", "bad", T1)


def test_other_types_keep_their_place_and_value() -> None:
    conditions = set_condition([], "A", TRUE, "R", "m", T0)
    conditions = set_condition(conditions, "B", FALSE, "R", "m", T0)
    conditions = set_condition(conditions, "A", FALSE, "R2", "m2", T1)
    assert [c.type for c in conditions] == ["A", "B"]
    assert conditions[1] == Condition("B", FALSE, "R", "m", T0)
    assert not is_true(conditions, "A")
    assert not is_true(conditions, "missing")
