import pytest

from incident_operator.domain.phases import (
    ALLOWED_TRANSITIONS,
    Phase,
    TransitionError,
    can_transition,
    check_transition,
)

P = Phase

# The runbook's lifecycle, forward: every step it describes is allowed.
FORWARD = [
    (P.DETECTED, P.TRIAGED),
    (P.TRIAGED, P.INVESTIGATING),
    (P.INVESTIGATING, P.IDENTIFIED),
    (P.IDENTIFIED, P.MITIGATING),
    (P.MITIGATING, P.MONITORING),
    (P.MONITORING, P.RESOLVED),
    (P.RESOLVED, P.POST_INCIDENT),
    (P.POST_INCIDENT, P.CLOSED),
]
# Stepping back within the response, and reopening a resolved incident.
BACK = [
    (P.MONITORING, P.INVESTIGATING),
    (P.MITIGATING, P.INVESTIGATING),
    (P.IDENTIFIED, P.INVESTIGATING),
    (P.RESOLVED, P.INVESTIGATING),
    (P.POST_INCIDENT, P.INVESTIGATING),
]
# Shortcuts the runbook allows: declaring after the fact, resolving without a post-mortem.
SHORTCUTS = [
    (P.DETECTED, P.INVESTIGATING),
    (P.DETECTED, P.RESOLVED),
    (P.INVESTIGATING, P.RESOLVED),
    (P.RESOLVED, P.CLOSED),
]
FORBIDDEN = [
    (P.CLOSED, P.INVESTIGATING),
    (P.CLOSED, P.RESOLVED),
    (P.POST_INCIDENT, P.MONITORING),
    (P.POST_INCIDENT, P.RESOLVED),
    (P.TRIAGED, P.DETECTED),
    (P.INVESTIGATING, P.DETECTED),
    (P.INVESTIGATING, P.TRIAGED),
    (P.DETECTED, P.CLOSED),
    (P.MONITORING, P.CLOSED),
    (P.DETECTED, P.POST_INCIDENT),
    (P.MONITORING, P.POST_INCIDENT),
]


@pytest.mark.parametrize(("current", "target"), FORWARD + BACK + SHORTCUTS)
def test_allowed(current: Phase, target: Phase) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_with_a_message_that_names_both(current: Phase, target: Phase) -> None:
    assert not can_transition(current, target)
    with pytest.raises(TransitionError, match=f"from {current.value} to {target.value}"):
        check_transition(current, target)


def test_closed_is_terminal_and_says_so() -> None:
    assert not [b for a, b in ALLOWED_TRANSITIONS if a is P.CLOSED]
    with pytest.raises(TransitionError) as error:
        check_transition(P.CLOSED, P.INVESTIGATING)
    assert "may go to" not in str(error.value)


def test_message_lists_where_it_may_go() -> None:
    with pytest.raises(TransitionError, match="may go to Closed"):
        check_transition(P.POST_INCIDENT, P.MONITORING)


@pytest.mark.parametrize("phase", list(Phase))
def test_staying_is_always_allowed(phase: Phase) -> None:
    assert can_transition(phase, phase)


def test_nothing_returns_to_detected() -> None:
    assert not [a for a, b in ALLOWED_TRANSITIONS if b is P.DETECTED]


@pytest.mark.parametrize(
    ("phase", "active"),
    [(P.DETECTED, True), (P.MONITORING, True), (P.RESOLVED, False), (P.CLOSED, False)],
)
def test_active(phase: Phase, active: bool) -> None:
    assert phase.is_active is active
