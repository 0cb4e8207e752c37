"""The pure decisions never raise on anything the models accept.

Every policy and incident here is one the API server would store (the model accepts it;
tests/property/test_schema_agreement.py shows the two agree). Whatever a team writes,
the operator's decisions must go on: a raise here stops a reconcile, a detection cycle
or an Alertmanager delivery.
"""

import math
from datetime import datetime, timedelta
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.detection import Hold, Sample, WorkloadKey
from incident_operator.domain.phases import Phase
from incident_operator.reconcile.alerts import PayloadError, check_alerts, parse_payload, plan_alert
from incident_operator.reconcile.detection import (
    QueryFailure,
    compile_rule,
    interval_seconds,
    plan_rule,
    stale_after,
)
from incident_operator.reconcile.escalation import plan_escalation
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.messages import outgoing_message, template_problems
from incident_operator.reconcile.pipeline import IncidentInputs, decide_incident
from incident_operator.reconcile.rollback import RollbackInputs, decide_rollback
from tests.property.strategies import (
    DELAYS,
    NOW,
    payload_bodies,
    valid_incident_specs,
    valid_policy_specs,
)

NAMESPACE = "shop"


def _policy(spec: dict[str, Any]) -> EscalationPolicy:
    try:
        return EscalationPolicy.model_validate(
            {"metadata": {"name": "runbook", "namespace": NAMESPACE, "generation": 1}, "spec": spec}
        )
    except ValidationError:
        assume(False)
        raise


def _incident(spec: dict[str, Any], policy: bool) -> Incident:
    metadata = {"name": "checkout", "namespace": NAMESPACE, "uid": "inc-uid", "generation": 1}
    if policy:
        spec = {**spec, "policyRef": {"name": "runbook"}}
    try:
        return Incident.model_validate({"metadata": metadata, "spec": spec})
    except ValidationError:
        assume(False)
        raise


POLICIES = valid_policy_specs().map(_policy)
PASSES = st.lists(DELAYS, min_size=1, max_size=4)


@given(
    policy=POLICIES,
    incident_spec=valid_incident_specs(),
    governed=st.booleans(),
    start=NOW,
    passes=PASSES,
)
def test_incident_passes_never_raise(
    policy: EscalationPolicy,
    incident_spec: dict[str, Any],
    governed: bool,
    start: datetime,
    passes: list[timedelta],
) -> None:
    """decide_incident pass after pass, each written back as the runtime writes it."""
    incident = _incident(incident_spec, governed)
    now = start
    for number, delay in enumerate(passes):
        now += delay
        decision = decide_incident(
            IncidentInputs(
                incident=incident,
                governing=governing_policy(incident, [policy], ()),
                now=now,
                started_at=start,
                lease=timedelta(seconds=15),
                incident_id="INC-0001",
                attempt_id=f"attempt-{number}",
            )
        )
        assert decision.wake_at is None or decision.wake_at >= now - timedelta(seconds=1)
        # What the operator writes, it can read back.
        status = type(decision.status).model_validate(decision.status.to_wire())
        incident = incident.model_copy(update={"status": status})
        policy_used = governing_policy(incident, [policy], ()).policy
        for record in decision.claimed:
            message, _ = outgoing_message(incident, policy_used, record, now)
            assert message.subject
    assert incident.status.phase is not None


@given(policy=POLICIES, incident_spec=valid_incident_specs(), start=NOW, delay=DELAYS)
def test_escalation_rollback_and_messages_never_raise(
    policy: EscalationPolicy,
    incident_spec: dict[str, Any],
    start: datetime,
    delay: timedelta,
) -> None:
    incident = _incident(incident_spec, True)
    first = decide_incident(
        IncidentInputs(
            incident=incident,
            governing=governing_policy(incident, [policy], ()),
            now=start,
            started_at=start,
            lease=timedelta(seconds=15),
            incident_id="INC-0001",
        )
    )
    incident = incident.model_copy(update={"status": first.status})
    now = start + delay
    plan = plan_escalation(incident, policy, now, start)
    assert 0 <= plan.escalation.level <= plan.escalation.steps_total
    for workloads in ({}, {(w.kind.value, w.name): None for w in incident.spec.affected}):
        decide_rollback(RollbackInputs(incident, policy, workloads, now, attempt_id="a"))
    template_problems(policy.spec.communication.templates)


def _value() -> st.SearchStrategy[float]:
    # Prometheus answers NaN and infinities too.
    return st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1.0, -1.0])


@given(
    policy=POLICIES,
    start=NOW,
    cycles=st.lists(
        st.tuples(
            st.timedeltas(timedelta(0), timedelta(hours=2)),
            st.dictionaries(st.sampled_from(["api", "web"]), _value(), max_size=2)
            | st.just(QueryFailure("unreachable", "connection refused")),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_detection_cycles_never_raise(
    policy: EscalationPolicy,
    start: datetime,
    cycles: list[tuple[timedelta, dict[str, float] | QueryFailure]],
) -> None:
    interval = interval_seconds(policy)
    assert 1 <= interval <= 3600
    stale_after(timedelta(seconds=interval))
    workloads = [WorkloadKey("Deployment", "api"), WorkloadKey("Deployment", "web")]
    for rule in policy.spec.detection.rules:
        compiled = compile_rule(NAMESPACE, rule)
        holds: dict[WorkloadKey, Hold] = {}
        incidents: dict[str, Incident] = {}
        now = start
        for delay, values in cycles:
            now += delay
            result: Any = values
            if isinstance(values, dict):
                result = [
                    Sample.of(
                        {"namespace": NAMESPACE, "workload": name, "workload_kind": "Deployment"},
                        value,
                        now,
                    )
                    for name, value in values.items()
                ]
            plan = plan_rule(policy, compiled, workloads, result, incidents, holds, now)
            holds = plan.holds
            for new in plan.opens:
                manifest = new.manifest()
                # What detection would create, the operator (and the schema) accept.
                manifest["status"] = {
                    "phase": Phase.DETECTED.value,
                    "detection": new.detection.to_wire(),
                }
                incidents[new.detection.fingerprint] = Incident.model_validate(manifest)
                assert new.detection.value is None or not math.isnan(new.detection.value)


@given(body=payload_bodies(), now=NOW, default=st.sampled_from(["alerts", "Bad_NS", ""]))
def test_alert_decisions_refuse_with_payload_error_only(
    body: bytes, now: datetime, default: str
) -> None:
    try:
        items, _ = check_alerts(parse_payload(body), default)
    except PayloadError:
        return
    opened: dict[str, Incident] = {}
    for item in items:
        decision = plan_alert(item, opened.get(item.fingerprint), now)
        manifest = getattr(decision, "manifest", None)
        if manifest is not None:
            # The incident the intake would create is one the models accept.
            created = manifest()
            created["metadata"]["uid"] = "uid"
            incident = Incident.model_validate(created)
            opened[item.fingerprint] = incident.model_copy(
                update={
                    "status": incident.status.model_copy(
                        update={"phase": Phase.DETECTED, "detection": decision.detection}
                    )
                }
            )
