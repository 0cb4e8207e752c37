"""The composed decision: (incident, policies, workloads, time) -> (status difference, actions).

Each pass is ``decide_incident`` as the runtime calls it; ``_written`` is the incident
after the runtime wrote the decision, so a story runs pass by pass without a cluster.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    Incident,
    IncidentState,
    ResponderChecklist,
    RollbackPhase,
)
from incident_operator.domain.checklists import PRE_RESOLUTION_ITEMS
from incident_operator.domain.conditions import ConditionStatus, find_condition
from incident_operator.domain.notifications import DeliveryState
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, EntryType, EventType, Reason, event_type
from incident_operator.domain.rollback_plan import Workload
from incident_operator.domain.triggers import TriggerName
from incident_operator.reconcile.escalation import DeliveryOutcome
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.pipeline import IncidentDecision, IncidentInputs, decide_incident
from incident_operator.reconcile.rollback import APPROVE_ROLLBACK, APPROVE_ROLLBACK_PROPOSAL
from incident_operator.reconcile.status_patch import status_difference
from tests.unit.test_rollback_reconcile import DONE, KEY, MIN, RECENT, ROLLED_BACK, T0, _detected

STARTED = T0 - timedelta(hours=1)
LEASE = timedelta(seconds=15)
CHANNELS = [
    {"name": "pd", "type": "pagerduty", "secretRef": {"name": "s", "key": "pd"}},
    {
        "name": "high",
        "type": "slack",
        "chatChannel": "#incident-high",
        "secretRef": {"name": "s", "key": "slack"},
    },
]


def _policy(name: str, group: str, **spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": name, "namespace": "shop", "generation": 1},
            "spec": {
                "channels": CHANNELS,
                "rollback": {"approverGroup": group},
                "detection": {"monitoringWindow": "5m"},
                **spec,
            },
        }
    )


DEFAULT = _policy("shop-default", "sre", default=True)
PAYMENTS = _policy("payments", "payments-oncall", selector={"matchLabels": {"team": "payments"}})


def _new(severity: str = "P1", affected: bool = True, **status: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "shop",
                "uid": "inc-uid",
                "generation": 1,
                "resourceVersion": "7",
            },
            "spec": {
                "title": "Checkout errors",
                "severity": severity,
                "affected": [{"kind": "Deployment", "name": "web"}] if affected else [],
            },
            "status": status,
        }
    )


def _decide(
    incident: Incident,
    now: datetime,
    policies: Sequence[EscalationPolicy] = (DEFAULT,),
    labels: Sequence[Mapping[str, str]] = (),
    workloads: Mapping[tuple[str, str], Workload | None] | None = None,
    **extra: Any,
) -> IncidentDecision:
    return decide_incident(
        IncidentInputs(
            incident=incident,
            governing=governing_policy(incident, list(policies), labels),
            now=now,
            started_at=STARTED,
            lease=LEASE,
            workloads={} if workloads is None else workloads,
            **extra,
        )
    )


def _written(incident: Incident, decision: IncidentDecision, **annotations: str) -> Incident:
    """The incident once the runtime wrote ``decision`` (and people set ``annotations``)."""
    kept = dict(incident.metadata.annotations)
    if decision.remove_approval is not None:
        kept.pop(APPROVE_ROLLBACK, None)
        kept.pop(APPROVE_ROLLBACK_PROPOSAL, None)
    metadata = incident.metadata.model_copy(update={"annotations": kept | annotations})
    return incident.model_copy(update={"metadata": metadata, "status": decision.status})


def _difference(incident: Incident, decision: IncidentDecision) -> dict[str, Any]:
    return status_difference(incident.status.to_wire(), decision.status.to_wire())


# ------------------------------------------------------------------ one pass, one write


@pytest.mark.parametrize(
    ("severity", "keys"),
    [
        ("P0", {"declaration/high", "escalation-P0-0/pd", "escalation-P0-0/high"}),
        ("P1", {"declaration/high", "escalation-P1-0/pd", "escalation-P1-0/high"}),
        ("P2", {"declaration/high", "escalation-P2-0/high"}),
        # P3: declared too (issue 14), in the only Slack channel there is; no step at 0s.
        ("P3", {"declaration/high"}),
    ],
)
def test_a_new_incident_is_initialised_announced_and_claimed_in_one_pass(
    severity: str, keys: set[str]
) -> None:
    decision = _decide(_new(severity, affected=False), T0, incident_id="INC-0007")
    status = decision.status
    assert (status.id, status.phase, status.detected_at) == ("INC-0007", Phase.DETECTED, T0)
    assert decision.entries[0].type == EntryType.DECLARED
    # The matrix's first step (at 0 minutes) is reached and announced in the same pass,
    # and every record is claimed in the write that records it, sent only after it lands.
    assert {r.key for r in status.notifications} == keys
    assert all(r.state is DeliveryState.SENDING and r.attempts == 1 for r in status.notifications)
    assert {r.key for r in decision.claimed} == keys
    # The wake-up is the claims' lease or a later deadline, never now: no spin.
    assert decision.wake_at is not None
    assert decision.wake_at > T0
    escalated = find_condition(status.conditions, ConditionType.ESCALATED)
    assert escalated is not None
    level = status.escalation.level if status.escalation else 0
    assert (escalated.status is ConditionStatus.TRUE) == (level > 0)


@pytest.mark.parametrize(
    "story",
    ["new", "acknowledged", "resolved"],
)
def test_deciding_again_from_the_written_status_changes_nothing(story: str) -> None:
    incident = _new("P1", affected=False)
    incident = _written(incident, _decide(incident, T0, incident_id="INC-0001"))
    if story == "acknowledged":
        incident = _written(
            incident, _decide(incident, T0), **{"sre.agentos.io/acknowledged-by": "alice"}
        )
    if story == "resolved":
        spec = incident.spec.model_copy(update={"state": IncidentState.RESOLVED})
        incident = incident.model_copy(update={"spec": spec})
    incident = _written(incident, _decide(incident, T0 + MIN))
    again = _decide(incident, T0 + MIN)
    assert _difference(incident, again) == {}
    assert (again.entries, again.claimed, again.patch) == ([], [], None)


def test_delivery_outcomes_are_written_with_the_rest_of_the_decision() -> None:
    incident = _new("P1", affected=False)
    first = _decide(incident, T0, incident_id="INC-0001")
    incident = _written(incident, first)
    sent, failed = first.claimed[0], first.claimed[1]
    outcomes = [
        DeliveryOutcome(sent.key, sent.attempts, T0 + MIN),
        DeliveryOutcome(failed.key, failed.attempts, T0 + MIN, "HTTP 503", True),
        # A stale outcome (an earlier attempt of the same record) changes nothing.
        DeliveryOutcome(sent.key, sent.attempts - 1, T0 + MIN, "HTTP 500", True),
    ]
    decision = _decide(incident, T0 + MIN, outcomes=outcomes)
    records = {r.key: r for r in decision.status.notifications}
    assert records[sent.key].state is DeliveryState.SENT
    assert records[failed.key].state is DeliveryState.PENDING
    assert [e.type for e in decision.entries] == [EntryType.NOTIFICATION_SENT]
    assert [e.type for e in decision.events_only] == [EntryType.NOTIFICATION_RETRYING]
    failing = find_condition(decision.status.conditions, ConditionType.NOTIFICATIONS_FAILING)
    assert failing is not None
    assert (failing.status, failing.reason) == (ConditionStatus.TRUE, Reason.DELIVERY_RETRYING)
    # The failed one waits for its backoff: not claimed again at once.
    assert failed.key not in {r.key for r in decision.claimed}


# ------------------------------------------------------------------ governing, rollback


def _detected_incident() -> Incident:
    incident = _new("P1")
    incident = _written(incident, _decide(incident, T0, incident_id="INC-0042"))
    return _detected(incident, breaching=True, at=T0)


@pytest.mark.parametrize(
    ("labels", "group", "reason"),
    [
        ([{"team": "payments"}], "payments-oncall", Reason.BY_SELECTOR),
        ([{"team": "search"}], "sre", Reason.BY_DEFAULT),
        ([], "sre", Reason.BY_DEFAULT),
    ],
    ids=["workload-selects-payments", "other-team", "no-labels"],
)
def test_the_rollback_is_governed_by_the_policy_its_workloads_select(
    labels: list[dict[str, str]], group: str, reason: Reason
) -> None:
    # A hand-declared incident (no labels of its own): only its workload's labels can
    # select the payments policy, and the rollback's approvers follow that policy.
    decision = _decide(
        _detected_incident(),
        T0 + MIN,
        policies=(DEFAULT, PAYMENTS),
        labels=labels,
        workloads={KEY: RECENT},
    )
    rollback = decision.status.rollback
    assert rollback is not None
    assert rollback.phase is RollbackPhase.PROPOSED
    assert rollback.approver_group == group
    resolved = find_condition(decision.status.conditions, ConditionType.POLICY_RESOLVED)
    assert resolved is not None
    assert resolved.reason == reason


def _rolled_out() -> tuple[Incident, datetime]:
    """Approved, patched and rolled out, each pass as the runtime runs it."""
    now = T0 + MIN
    incident = _detected_incident()
    proposal = _decide(incident, now, workloads={KEY: RECENT})
    proposed = proposal.status.rollback
    assert proposed is not None
    assert proposed.proposal is not None
    approval = {APPROVE_ROLLBACK: "alice", APPROVE_ROLLBACK_PROPOSAL: proposed.proposal}
    incident = _written(incident, proposal, **approval)
    now += MIN
    started = _decide(incident, now, workloads={KEY: RECENT}, attempt_id="a1")
    assert started.patch is not None
    incident = _written(incident, started)
    patched = _decide(
        incident,
        now,
        workloads={KEY: ROLLED_BACK},
        own_attempts=frozenset({"a1"}),
        patched_now=True,
    )
    incident = _written(incident, patched)
    now += MIN
    incident = _written(incident, _decide(incident, now, workloads={KEY: DONE}))
    assert incident.status.rollback is not None
    assert incident.status.rollback.phase is RollbackPhase.VERIFYING
    return incident, now


def test_a_rollback_that_did_not_help_escalates_in_the_same_pass() -> None:
    incident, now = _rolled_out()
    # Detection still sees the breach when the monitoring window (5m) ends.
    incident = _detected(incident, breaching=True, at=now + 5 * MIN)
    decision = _decide(incident, now + 6 * MIN)
    rollback = decision.status.rollback
    assert rollback is not None
    assert (rollback.phase, rollback.reason) == (RollbackPhase.FAILED, Reason.VERIFICATION_FAILED)
    escalation = decision.status.escalation
    assert escalation is not None
    fired = [t for t in escalation.triggers if t.name == TriggerName.ROLLBACK_FAILED]
    assert len(fired) == 1
    assert "fix does not resolve the original problem" in fired[0].message
    kinds = [e.type for e in decision.entries]
    assert kinds.index(EntryType.ROLLBACK_FAILED) < kinds.index(EntryType.ESCALATED)
    step = next(s for s in escalation.steps if s.key == fired[0].step)
    assert "fix does not resolve the original problem" in step.reason
    # The escalation notice is claimed in the same write as the failure it tells of.
    assert any(r.key == f"escalation-{step.key}/pd" for r in decision.claimed)
    # Fired once: the next pass does not fire it again.
    again = _decide(_written(incident, decision), now + 7 * MIN)
    assert again.status.escalation is not None
    assert len(again.status.escalation.triggers) == len(escalation.triggers)


def test_a_phase_change_and_its_announcement_share_one_pass() -> None:
    incident = _new("P1", affected=False)
    incident = _written(incident, _decide(incident, T0, incident_id="INC-0001"))
    # The pre-resolution verification is done (by people: nothing monitors it).
    verified = ResponderChecklist.model_validate({item.key: True for item in PRE_RESOLUTION_ITEMS})
    spec = incident.spec.model_copy(update={"state": IncidentState.RESOLVED, "checklist": verified})
    decision = _decide(incident.model_copy(update={"spec": spec}), T0 + MIN)
    assert decision.status.resolved_at == T0 + MIN
    resolution = [r for r in decision.status.notifications if r.key.startswith("resolution-")]
    assert resolution
    assert all(r.state is DeliveryState.SENDING for r in resolution)


# ------------------------------------------------------------------ Events


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (EntryType.DECLARED, EventType.NORMAL),
        (EntryType.RESPONSE_OVERDUE, EventType.WARNING),
        (EntryType.RESOLUTION_OVERDUE, EventType.WARNING),
        (EntryType.NOTIFICATION_FAILED, EventType.WARNING),
        (EntryType.NOTIFICATION_SENT, EventType.NORMAL),
        (EntryType.TRANSITION_REFUSED, EventType.WARNING),
        (EntryType.ROLLBACK_FAILED, EventType.WARNING),
        (EntryType.ROLLBACK_SUCCEEDED, EventType.NORMAL),
        ("SomethingUnknown", EventType.NORMAL),
    ],
)
def test_warnings_are_decided_in_one_place(entry: str, expected: EventType) -> None:
    assert event_type(entry) is expected
