"""The lifecycle's decisions, one table per kind of cause."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from incident_operator.domain.lifecycle import (
    LifecycleInputs,
    RefusedTransition,
    next_step,
    plan_transitions,
)
from incident_operator.domain.phases import Phase

P = Phase
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BASE = LifecycleInputs(
    current=P.DETECTED,
    stated=P.INVESTIGATING,
    state_changed=False,
    acknowledged=False,
    commander_named=False,
    investigation_started=False,
    breaching=None,
    breaching_changed=False,
    recovered_at=None,
    monitoring_window=timedelta(minutes=15),
    auto_resolve=False,
    action_in_progress=None,
    action_recovered=None,
    postmortem_required=True,
    closable=False,
)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Triage: acknowledgement and a commander, both needed.
        ({"acknowledged": True}, None),
        ({"commander_named": True}, None),
        ({"acknowledged": True, "commander_named": True}, P.TRIAGED),
        # The response starts with a tech lead or an update.
        ({"current": P.TRIAGED}, None),
        ({"current": P.TRIAGED, "investigation_started": True}, P.INVESTIGATING),
        # People's state word, heard when it changes.
        ({"current": P.INVESTIGATING, "stated": P.IDENTIFIED, "state_changed": True}, P.IDENTIFIED),
        ({"current": P.INVESTIGATING, "stated": P.IDENTIFIED, "state_changed": False}, None),
        ({"current": P.IDENTIFIED, "stated": P.MONITORING, "state_changed": True}, P.MONITORING),
        ({"current": P.MONITORING, "stated": P.RESOLVED, "state_changed": True}, P.RESOLVED),
        (
            {"current": P.MONITORING, "stated": P.INVESTIGATING, "state_changed": True},
            P.INVESTIGATING,
        ),
        (
            {"current": P.RESOLVED, "stated": P.INVESTIGATING, "state_changed": True},
            P.INVESTIGATING,
        ),
        # Investigating as a word does not skip triage.
        ({"current": P.DETECTED, "stated": P.INVESTIGATING, "state_changed": True}, None),
        # Metrics: recovery and regression, heard when they change.
        ({"current": P.INVESTIGATING, "breaching": False, "breaching_changed": True}, P.MONITORING),
        ({"current": P.MONITORING, "breaching": True, "breaching_changed": True}, P.INVESTIGATING),
        ({"current": P.MONITORING, "breaching": True, "breaching_changed": False}, None),
        (
            {
                "current": P.RESOLVED,
                "breaching": True,
                "breaching_changed": True,
                "postmortem_required": False,
            },
            None,
        ),
        # A rollback under way is mitigation.
        ({"current": P.IDENTIFIED, "action_in_progress": "rollback"}, P.MITIGATING),
        (
            {
                "current": P.MITIGATING,
                "action_in_progress": "rollback",
                "action_recovered": "rolled back",
            },
            None,
        ),
        ({"current": P.MITIGATING, "action_recovered": "rolled back"}, P.MONITORING),
        ({"current": P.MITIGATING}, None),
        # After resolution: the post-mortem, then closing.
        ({"current": P.RESOLVED}, P.POST_INCIDENT),
        ({"current": P.RESOLVED, "postmortem_required": False}, None),
        ({"current": P.RESOLVED, "postmortem_required": False, "closable": True}, P.CLOSED),
        ({"current": P.POST_INCIDENT}, None),
        ({"current": P.POST_INCIDENT, "closable": True}, P.CLOSED),
        ({"current": P.CLOSED, "closable": True}, None),
    ],
)
def test_next_step(changes: dict[str, object], expected: Phase | None) -> None:
    step = next_step(replace(BASE, **changes), T0)  # type: ignore[arg-type]
    assert (step.phase if step else None) is expected


@pytest.mark.parametrize(
    ("elapsed", "auto_resolve", "expected"),
    [
        (timedelta(minutes=14, seconds=59), True, None),
        (timedelta(minutes=15), True, P.RESOLVED),
        (timedelta(hours=2), False, None),
    ],
)
def test_auto_resolve_after_the_monitoring_window(
    elapsed: timedelta, auto_resolve: bool, expected: Phase | None
) -> None:
    inputs = replace(
        BASE, current=P.MONITORING, breaching=False, recovered_at=T0, auto_resolve=auto_resolve
    )
    step = next_step(inputs, T0 + elapsed)
    assert (step.phase if step else None) is expected


def test_plan_walks_every_step_once() -> None:
    inputs = replace(BASE, acknowledged=True, commander_named=True, investigation_started=True)
    steps = plan_transitions(inputs, T0)
    assert [s.phase for s in steps] == [P.TRIAGED, P.INVESTIGATING]


def test_plan_after_a_resolution_goes_to_post_incident_and_stops() -> None:
    inputs = replace(BASE, current=P.MONITORING, stated=P.RESOLVED, state_changed=True)
    assert [s.phase for s in plan_transitions(inputs, T0)] == [P.RESOLVED, P.POST_INCIDENT]


@pytest.mark.parametrize("current", [P.RESOLVED, P.POST_INCIDENT])
def test_a_resolved_incident_is_reopened_by_stating_investigating(current: Phase) -> None:
    # A P0-P3 incident is in PostIncident as soon as it is resolved: a regression while its
    # post-mortem is pending must reopen it too.
    inputs = replace(BASE, current=current, stated=P.INVESTIGATING, state_changed=True)
    assert [s.phase for s in plan_transitions(inputs, T0)] == [P.INVESTIGATING]


@pytest.mark.parametrize(
    ("current", "stated"),
    [(P.CLOSED, P.INVESTIGATING), (P.POST_INCIDENT, P.MONITORING), (P.CLOSED, P.MONITORING)],
)
def test_illegal_commands_are_refused(current: Phase, stated: Phase) -> None:
    inputs = replace(BASE, current=current, stated=stated, state_changed=True)
    with pytest.raises(RefusedTransition) as refused:
        plan_transitions(inputs, T0)
    assert refused.value.current is current
    assert refused.value.step.phase is stated
