"""How an incident moves through its phases, decided from what is known now.

The inputs are what people said (the state word, roles, acknowledgement, post-mortem),
what detection observed (breaching, recovered since when), what a rollback is doing,
and the clock. The result is the next phase and why. A decision is made one step at a
time and repeated until nothing changes, so each step is a legal transition and gets
its own timeline entry.

People's state word is a command, heard when it changes; between changes the phase
follows the evidence (acknowledgement, metrics, time). That keeps a phase the metrics
moved to (Monitoring) from being pulled back by a state word nobody touched.
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from incident_operator.domain.phases import Phase, can_transition


@dataclass(frozen=True)
class LifecycleInputs:
    current: Phase
    # Phase named by people's state word, and whether they changed it since last seen.
    stated: Phase
    state_changed: bool
    acknowledged: bool
    commander_named: bool
    # A tech lead named or an update posted: the investigation has started.
    investigation_started: bool
    # Detection's view; None when nothing measures this incident.
    breaching: bool | None
    breaching_changed: bool
    recovered_at: datetime | None
    monitoring_window: timedelta
    auto_resolve: bool
    # What is being applied to mitigate ("rollback", "remediation r2 (kill-switch)"), or
    # None; then what detection saw recover after ("rolled back", "remediated by r2"), or None.
    action_in_progress: str | None
    action_recovered: str | None
    postmortem_required: bool
    # Nothing stands between a resolved incident and Closed (post-mortem Final,
    # required checklist items and P1 action items done).
    closable: bool


@dataclass(frozen=True)
class Step:
    phase: Phase
    cause: str


def _from_state_word(inputs: LifecycleInputs) -> Step | None:
    if not inputs.state_changed or inputs.stated is inputs.current:
        return None
    if inputs.stated is Phase.INVESTIGATING and inputs.current in (Phase.DETECTED, Phase.TRIAGED):
        return None
    return Step(inputs.stated, f"state set to {inputs.stated.value}")


def _from_metrics(inputs: LifecycleInputs) -> Step | None:
    if inputs.breaching is None or not inputs.breaching_changed or not inputs.current.is_active:
        return None
    if inputs.breaching and inputs.current is Phase.MONITORING:
        return Step(Phase.INVESTIGATING, "metrics regressed during monitoring")
    if not inputs.breaching and inputs.current is not Phase.MONITORING:
        return Step(Phase.MONITORING, "metrics recovered")
    return None


def _progression(inputs: LifecycleInputs, now: datetime) -> Step | None:
    current = inputs.current
    if current is Phase.DETECTED and inputs.acknowledged and inputs.commander_named:
        return Step(Phase.TRIAGED, "acknowledged and a commander named")
    if current is Phase.TRIAGED and inputs.investigation_started:
        return Step(Phase.INVESTIGATING, "investigation started")
    if current.is_active and current is not Phase.MITIGATING and inputs.action_in_progress:
        return Step(Phase.MITIGATING, f"{inputs.action_in_progress} in progress")
    if current is Phase.MITIGATING and not inputs.action_in_progress and inputs.action_recovered:
        # Recovery seen while the action still ran was not acted on; act on it now.
        return Step(Phase.MONITORING, f"{inputs.action_recovered}; metrics recovered")
    if (
        current is Phase.MONITORING
        and inputs.auto_resolve
        and inputs.breaching is False
        and inputs.recovered_at is not None
        and now >= inputs.recovered_at + inputs.monitoring_window
    ):
        return Step(Phase.RESOLVED, "no regression during the monitoring window")
    if current is Phase.RESOLVED and inputs.postmortem_required:
        return Step(Phase.POST_INCIDENT, "post-mortem pending")
    if current in (Phase.RESOLVED, Phase.POST_INCIDENT) and inputs.closable:
        return Step(Phase.CLOSED, "post-mortem final and required items done")
    return None


def next_step(inputs: LifecycleInputs, now: datetime) -> Step | None:
    """The one transition to make now, or None. Commands first, then evidence."""
    command = _from_state_word(inputs)
    if command is not None or inputs.current.is_terminal:
        # A terminal incident hears only commands, and only to refuse them.
        return command
    return _from_metrics(inputs) or _progression(inputs, now)


class RefusedTransition(Exception):
    def __init__(self, step: Step, current: Phase) -> None:
        super().__init__(f"{current.value} -> {step.phase.value}")
        self.step = step
        self.current = current


def plan_transitions(inputs: LifecycleInputs, now: datetime, limit: int = 6) -> list[Step]:
    """The steps from ``inputs.current`` until nothing changes.

    Raises RefusedTransition for a step the lifecycle does not allow (people asking a
    Closed incident to investigate, say); steps before it are not taken either.
    """
    steps: list[Step] = []
    state = inputs
    for _ in range(limit):
        step = next_step(state, now)
        if step is None:
            break
        if not can_transition(state.current, step.phase):
            raise RefusedTransition(step, state.current)
        steps.append(step)
        # A command or a change of evidence is heard once.
        state = _after(state, step.phase)
    return steps


def _after(inputs: LifecycleInputs, phase: Phase) -> LifecycleInputs:
    return replace(inputs, current=phase, state_changed=False, breaching_changed=False)
