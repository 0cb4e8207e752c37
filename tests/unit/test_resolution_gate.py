"""The pre-resolution gate, who ticks which item, triage and Mitigating, with a fixed clock."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentSpec,
    IncidentStatus,
    MetricReading,
    RollbackPhase,
    RollbackStatus,
    WorkloadReference,
)
from incident_operator.domain.checklists import PRE_RESOLUTION_ITEMS, TickedBy
from incident_operator.domain.conditions import find_condition
from incident_operator.domain.notifications import DeliveryState, NotificationKind
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level
from incident_operator.domain.triggers import TriggerName, fired_triggers
from incident_operator.reconcile.escalation import _trigger_inputs
from incident_operator.reconcile.incident import Outcome, _checklist_done
from incident_operator.reconcile.messages import message_context, render_message
from incident_operator.reconcile.resolution_gate import held_message, resolution_gate
from incident_operator.reconcile.triage import triage_due, triage_summary
from tests.unit.test_reconcile import T0, VERIFIED, _condition, _incident, _run, _then

ACK = {"sre.agentos.io/acknowledged-by": "alice", "sre.agentos.io/changed-by": "alice"}
ROLES = {"commander": "alice", "techLead": "bob"}
UPDATE = {"message": "rolled back", "author": "bob", "time": T0.isoformat()}


def _monitoring(**spec: Any) -> Outcome:
    """A P1 in Monitoring, moved there by people; nothing monitors it."""
    outcome = _run(_incident(severity="P1", annotations=ACK, roles=ROLES, updates=[UPDATE]), T0)
    at = T0 + timedelta(minutes=5)
    outcome = _then(
        outcome,
        at,
        annotations=ACK,
        severity="P1",
        roles=ROLES,
        updates=[UPDATE],
        state="Monitoring",
        **spec,
    )
    assert outcome.status.phase is Phase.MONITORING
    return outcome


def _resolve(previous: Outcome, minutes: int, **spec: Any) -> Outcome:
    at = T0 + timedelta(minutes=minutes)
    spec = {"severity": "P1", "roles": ROLES, "updates": [UPDATE], "state": "Resolved", **spec}
    return _then(previous, at, annotations=ACK, **spec)


def _refused(outcome: Outcome) -> str:
    found = find_condition(outcome.status.conditions, ConditionType.TRANSITION_REFUSED)
    assert found is not None
    assert found.reason == Reason.PRE_RESOLUTION_OPEN
    return found.message


# ------------------------------------------------------------------ the gate


@pytest.mark.parametrize(
    "open_keys",
    [
        [item.key for item in PRE_RESOLUTION_ITEMS],
        ["manualVerification"],
        ["rootCauseDocumented", "customerImpactResolved"],
        ["normalMetrics", "errorRatesAtBaseline", "noNewAlerts"],
    ],
)
def test_resolved_is_held_naming_each_open_item_then_taken_once_they_are_done(
    open_keys: list[str],
) -> None:
    ticks = {key: key not in open_keys for key in VERIFIED}
    held = _resolve(_monitoring(), 10, checklist=ticks)
    assert held.status.phase is Phase.MONITORING
    assert held.status.resolved_at is None
    message = _refused(held)
    for item in PRE_RESOLUTION_ITEMS:
        assert (f"spec.checklist.{item.key} ({item.text})" in message) is (item.key in open_keys)
    assert held.status.resolution is not None
    assert held.status.resolution.open_items == open_keys
    assert [e.type for e in held.new_entries] == [EntryType.TRANSITION_REFUSED]
    # Another pass (and another tick that still leaves items open): no new entry.
    again = _resolve(held, 11, checklist=ticks)
    assert again.new_entries == []
    assert again.status.phase is Phase.MONITORING
    # All done: the Resolved people set earlier takes effect without being set again.
    done = _resolve(again, 12, checklist=VERIFIED)
    assert done.status.phase is Phase.POST_INCIDENT
    assert done.status.resolved_at == T0 + timedelta(minutes=12)
    assert _condition(done, ConditionType.TRANSITION_REFUSED) == ("False", Reason.NONE_REFUSED)
    assert done.status.resolution is None


def test_an_incident_declared_resolved_with_items_open_starts_held() -> None:
    outcome = _run(_incident(severity="P3", state="Resolved"), T0)
    assert outcome.status.phase is Phase.DETECTED
    assert "spec.checklist.manualVerification" in _refused(outcome)
    # Evidence moves it on while the Resolved stays held, with no second entry.
    triaged = _then(
        outcome,
        T0 + timedelta(minutes=1),
        annotations=ACK,
        severity="P3",
        roles=ROLES,
        state="Resolved",
    )
    assert triaged.status.phase is Phase.INVESTIGATING
    assert EntryType.TRANSITION_REFUSED not in [e.type for e in triaged.new_entries]
    assert _condition(triaged, ConditionType.TRANSITION_REFUSED) == (
        "True",
        Reason.PRE_RESOLUTION_OPEN,
    )
    resolved = _then(
        triaged,
        T0 + timedelta(minutes=2),
        annotations=ACK,
        severity="P3",
        roles=ROLES,
        state="Resolved",
        checklist=VERIFIED,
    )
    assert resolved.status.phase is Phase.POST_INCIDENT


def test_the_commanders_override_resolves_with_the_reason_in_the_timeline() -> None:
    held = _resolve(_monitoring(), 10, checklist={"manualVerification": True})
    override = {"override": {"by": "alice", "reason": "verified on the bridge"}}
    resolved = _resolve(held, 11, checklist={"manualVerification": True}, resolution=override)
    assert resolved.status.phase is Phase.POST_INCIDENT
    entry = next(e for e in resolved.new_entries if e.type == EntryType.RESOLUTION_OVERRIDDEN)
    assert entry.actor == "alice"
    assert entry.message.startswith(
        "resolved with open items rootCauseDocumented, fixInProduction, normalMetrics, "
    )
    assert entry.message.endswith("overridden by alice: verified on the bridge")
    assert resolved.status.resolution is not None
    assert resolved.status.resolution.overridden_by == "alice"
    # The override stands at closing too: the open pre-resolution items do not block it.
    ready = find_condition(resolved.status.conditions, ConditionType.READY_TO_CLOSE)
    assert ready is not None
    assert "noNewAlerts" not in ready.message


def test_an_override_by_someone_not_the_commander_does_not_count() -> None:
    override = {"override": {"by": "mallory", "reason": "trust me"}}
    held = _resolve(_monitoring(), 10, resolution=override)
    assert held.status.phase is Phase.MONITORING
    assert "resolution.override.by (mallory) is not the incident commander (alice)" in _refused(
        held
    )


def test_resolution_by_detection_is_not_gated() -> None:
    incident = _incident(severity="P3", annotations=ACK, roles=ROLES)
    recovered = T0 + timedelta(minutes=1)
    detection = DetectionStatus(
        fingerprint="f",
        policy="p",
        rule="errors",
        level=Level.OK,
        breaching=False,
        recovered_at=recovered,
        last_evaluated_at=recovered,
    )
    status = IncidentStatus(phase=Phase.MONITORING, detected_at=T0, detection=detection)
    status.recorded.breaching = False
    status.recorded.state = incident.spec.state
    outcome = _run(incident.model_copy(update={"status": status}), T0 + timedelta(hours=1))
    assert outcome.status.phase in (Phase.RESOLVED, Phase.POST_INCIDENT)


# ------------------------------------------------------------------ who ticks what


def _done(**status: Any) -> tuple[dict[str, bool], Incident]:
    incident = _incident(severity="P1")
    incident = incident.model_copy(update={"status": IncidentStatus(**status)})
    return _checklist_done(incident, incident.status), incident


def _record(kind: NotificationKind, state: DeliveryState) -> NotificationRecord:
    return NotificationRecord(
        key=f"{kind.value.lower()}-x", kind=kind, channel="c", state=state, due_at=T0, created_at=T0
    )


@pytest.mark.parametrize(
    ("records", "on_call", "customers"),
    [
        ([], False, False),
        ([_record(NotificationKind.ESCALATION, DeliveryState.PENDING)], False, False),
        ([_record(NotificationKind.ESCALATION, DeliveryState.FAILED)], False, False),
        ([_record(NotificationKind.ESCALATION, DeliveryState.SENT)], True, False),
        ([_record(NotificationKind.DECLARATION, DeliveryState.SENT)], True, False),
        ([_record(NotificationKind.STATUS_UPDATE, DeliveryState.SENT)], False, False),
        ([_record(NotificationKind.CUSTOMER_INITIAL, DeliveryState.SENDING)], False, False),
        ([_record(NotificationKind.CUSTOMER_PROGRESS, DeliveryState.SENT)], False, True),
        ([_record(NotificationKind.CUSTOMER_RESOLUTION, DeliveryState.SENT)], False, True),
    ],
)
def test_on_call_and_customer_items_are_ticked_only_on_a_delivered_message(
    records: list[NotificationRecord], on_call: bool, customers: bool
) -> None:
    done, _ = _done(notifications=records)
    assert done["onCallNotified"] is on_call
    assert done["customerCommunicationSent"] is customers


@pytest.mark.parametrize("breaching", [None, False, True])
def test_metric_items_need_monitoring(breaching: bool | None) -> None:
    detection = (
        None
        if breaching is None
        else DetectionStatus(
            fingerprint="f",
            policy="p",
            rule="errors",
            level=Level.CRITICAL if breaching else Level.OK,
            breaching=breaching,
            last_evaluated_at=T0,
        )
    )
    done, _ = _done(phase=Phase.MONITORING, detection=detection)
    normal = breaching is False
    for key in ("metricsNormal", "normalMetrics", "errorRatesAtBaseline", "noNewAlerts"):
        assert done[key] is normal, key
    outcome = _run(
        _incident(severity="P1").model_copy(update={"status": IncidentStatus(detection=detection)}),
        T0,
    )
    who = {item.key: item.ticked_by for item in outcome.status.checklist}
    expected = TickedBy.RESPONDER if breaching is None else TickedBy.OPERATOR
    assert who["metricsNormal"] is who["noNewAlerts"] is expected


def test_people_tick_metric_items_only_when_nothing_monitors() -> None:
    ticks = {"metricsNormal": True, "normalMetrics": True}
    incident = _incident(severity="P1", checklist=ticks)
    assert _checklist_done(incident, IncidentStatus(phase=Phase.MONITORING))["normalMetrics"]
    detection = DetectionStatus(
        fingerprint="f",
        policy="p",
        rule="r",
        level=Level.CRITICAL,
        breaching=True,
        last_evaluated_at=T0,
    )
    watched = IncidentStatus(phase=Phase.MONITORING, detection=detection)
    assert not _checklist_done(incident, watched)["normalMetrics"]
    assert not _checklist_done(incident, watched)["metricsNormal"]


def test_fix_in_production_and_root_cause_documented_from_the_cluster() -> None:
    rollback = RollbackStatus(
        phase=RollbackPhase.SUCCEEDED, target=WorkloadReference(kind="Deployment", name="api")
    )
    done, _ = _done(rollback=rollback)
    assert done["fixInProduction"]
    assert not done["rootCauseDocumented"]
    # Rolled back and recovered, still inside its monitoring window: RolledBack is True
    # already, and so is the fix in production (found by `make demo`); rolled out without
    # a recovery yet, or only proposed, it is not.
    target = WorkloadReference(kind="Deployment", name="api")
    recovered = RollbackStatus(phase=RollbackPhase.VERIFYING, target=target, recovered_at=T0)
    assert _done(rollback=recovered)[0]["fixInProduction"]
    for phase in (RollbackPhase.VERIFYING, RollbackPhase.PROPOSED, RollbackPhase.FAILED):
        assert not _done(rollback=RollbackStatus(phase=phase, target=target))[0]["fixInProduction"]
    incident = _incident(severity="P1", postMortem={"rootCause": "a bad flag"})
    assert _checklist_done(incident, IncidentStatus())["rootCauseDocumented"]


# ------------------------------------------------------------------ triage


@pytest.mark.parametrize(
    ("severity", "due"),
    [("P0", timedelta(minutes=15)), ("P1", timedelta(minutes=15)), ("P2", None), ("P4", None)],
)
def test_the_triage_deadline_follows_the_runbook(severity: str, due: timedelta | None) -> None:
    outcome = _run(_incident(severity=severity), T0)
    assert outcome.status.triage_due_at == (T0 + due if due else None)
    assert triage_due(Severity(severity), T0) == outcome.status.triage_due_at


ANSWERS = {
    "affectsProduction": True,
    "usersImpacted": "about 30%",
    "dataAtRisk": False,
    "securityComponent": False,
    "businessImpact": "checkout revenue",
}


def test_triage_overdue_for_a_p1_until_every_question_is_answered() -> None:
    outcome = _run(_incident(severity="P1"), T0)
    assert _condition(outcome, ConditionType.TRIAGE_OVERDUE) == ("False", Reason.WITHIN_DEADLINE)
    assert outcome.wake_at is not None
    assert outcome.wake_at <= T0 + timedelta(minutes=15)
    partial = {"affectsProduction": True}
    late = _then(outcome, T0 + timedelta(minutes=16), severity="P1", triage=partial)
    assert _condition(late, ConditionType.TRIAGE_OVERDUE) == ("True", Reason.DEADLINE_PASSED)
    overdue = find_condition(late.status.conditions, ConditionType.TRIAGE_OVERDUE)
    assert overdue is not None
    assert "usersImpacted, dataAtRisk, securityComponent, businessImpact" in overdue.message
    types = [e.type for e in late.new_entries]
    assert types.count(EntryType.TRIAGE_OVERDUE) == 1
    assert types.index(EntryType.TRIAGE_ANSWERED) < types.index(EntryType.TRIAGE_OVERDUE)
    again = _then(late, T0 + timedelta(minutes=17), severity="P1", triage=partial)
    assert again.new_entries == []
    answered = _then(again, T0 + timedelta(minutes=18), severity="P1", triage=ANSWERS)
    assert _condition(answered, ConditionType.TRIAGE_OVERDUE) == ("False", Reason.NOT_APPLICABLE)
    assert answered.status.triaged_at == T0 + timedelta(minutes=18)
    entry = answered.new_entries[0]
    assert entry.type == EntryType.TRIAGE_ANSWERED
    assert entry.message == (
        "triage: production: yes; users impacted: about 30%; data at risk: no; "
        "security component: no; business impact: checkout revenue"
    )


@pytest.mark.parametrize(
    ("triage", "fired"),
    [
        (None, []),
        ({"securityComponent": False, "dataAtRisk": False}, []),
        ({"securityComponent": True}, [TriggerName.SECURITY_BREACH]),
        ({"dataAtRisk": True}, [TriggerName.DATA_AT_RISK]),
        (
            {"dataAtRisk": True, "securityComponent": True},
            [TriggerName.DATA_AT_RISK, TriggerName.SECURITY_BREACH],
        ),
    ],
)
def test_triage_answers_feed_the_escalation_triggers(
    triage: dict[str, Any] | None, fired: list[TriggerName]
) -> None:
    incident = _incident(severity="P1", **({"triage": triage} if triage else {}))
    assert [f.name for f in fired_triggers(_trigger_inputs(incident, None))] == fired


def test_triage_answers_appear_in_the_messages_impact() -> None:
    incident = _incident(severity="P1", triage=ANSWERS)
    incident.status.id = "INC-0001"
    for kind, line in (
        (NotificationKind.DECLARATION, "Triage: "),
        (NotificationKind.STATUS_UPDATE, "Impact (triage): "),
    ):
        context = message_context(incident, kind, None, T0, timedelta(minutes=30))
        text = render_message(kind, context).text
        assert f"{line}{triage_summary(incident.spec.triage)}" in text, kind


# ------------------------------------------------------------------ Mitigating


def test_mitigating_needs_what_was_done() -> None:
    with pytest.raises(ValidationError, match="mitigation is required when state is Mitigating"):
        IncidentSpec.model_validate({"title": "t", "severity": "P1", "state": "Mitigating"})


def test_mitigating_is_a_state_word_recorded_with_what_was_done() -> None:
    outcome = _monitoring()
    mitigated = _then(
        outcome,
        T0 + timedelta(minutes=8),
        annotations=ACK,
        roles=ROLES,
        updates=[UPDATE],
        severity="P1",
        state="Mitigating",
        mitigation="feature flag checkout-v2 off",
    )
    assert mitigated.status.phase is Phase.MITIGATING
    entries = [(e.type, e.message) for e in mitigated.new_entries]
    assert (EntryType.MITIGATION_RECORDED, "mitigation: feature flag checkout-v2 off") in entries
    assert (EntryType.PHASE_CHANGED, "Monitoring -> Mitigating: state set to Mitigating") in entries


@pytest.mark.parametrize(
    ("severity", "within", "due"),
    [
        ("P1", "2m", timedelta(minutes=2)),
        ("P3", "1h", timedelta(hours=1)),
        ("P0", None, timedelta(minutes=15)),
        ("P2", None, None),
    ],
)
def test_a_policy_may_set_the_triage_deadline(
    severity: str, within: str | None, due: timedelta | None
) -> None:
    severities = {severity: {"triageWithin": within}} if within else {}
    policy = EscalationPolicy.model_validate(
        {"metadata": {"name": "p", "namespace": "n"}, "spec": {"severities": severities}}
    )
    assert triage_due(Severity(severity), T0, policy) == (T0 + due if due else None)


def test_unknown_readings_confirm_nothing() -> None:
    reading = MetricReading(
        rule="errors",
        workload=WorkloadReference(kind="Deployment", name="api"),
        level=Level.UNKNOWN,
        at=T0,
    )
    done, _ = _done(phase=Phase.MONITORING, metrics=[reading])
    assert not done["normalMetrics"]
    assert not done["metricsNormal"]
    ok = reading.model_copy(update={"level": Level.OK})
    done, _ = _done(phase=Phase.MONITORING, metrics=[ok])
    assert done["normalMetrics"]
    assert done["metricsNormal"]


def test_taking_a_held_resolved_back_clears_the_hold() -> None:
    held = _resolve(_monitoring(), 10)
    assert held.status.resolution is not None
    back = _then(
        held,
        T0 + timedelta(minutes=11),
        annotations=ACK,
        severity="P1",
        roles=ROLES,
        updates=[UPDATE],
        state="Identified",
    )
    assert back.status.phase is Phase.IDENTIFIED
    assert back.status.resolution is None
    assert _condition(back, ConditionType.TRANSITION_REFUSED) == ("False", Reason.NONE_REFUSED)


def test_a_held_message_names_what_ticks_each_item() -> None:
    detection = DetectionStatus(
        fingerprint="f",
        policy="p",
        rule="errors",
        level=Level.CRITICAL,
        breaching=True,
        last_evaluated_at=T0,
    )
    incident = _incident(severity="P1")
    watched = IncidentStatus(phase=Phase.MONITORING, detection=detection)
    message = held_message(resolution_gate(incident, _checklist_done(incident, watched), True))
    assert "noNewAlerts (No new related alerts triggered; the operator ticks it once" in message
    assert "spec.checklist.noNewAlerts" not in message
    assert "spec.checklist.manualVerification (Manual verification completed)" in message
    unwatched = IncidentStatus(phase=Phase.MONITORING)
    message = held_message(resolution_gate(incident, _checklist_done(incident, unwatched), False))
    assert "spec.checklist.noNewAlerts (No new related alerts triggered)" in message
