"""Deciding a rule's cycle: open, dedup, raise, recover, regress, unknown, gaps, readings."""

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.detection import (
    Hold,
    Sample,
    WorkloadKey,
    gap_fingerprint,
    rule_fingerprint,
)
from incident_operator.domain.detection_gaps import DataGaps
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import Reason
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level
from incident_operator.reconcile.detection import (
    FINGERPRINT_LABEL,
    POLICY_LABEL,
    RULE_LABEL,
    CompiledRule,
    NewIncident,
    QueryFailure,
    RulePlan,
    RuleReadings,
    breach_records,
    compile_rule,
    holds_from_status,
    metric_readings,
    metrics_available,
    plan_gap,
    plan_rule,
    policy_workloads,
    rule_workloads,
)

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
API = WorkloadKey("Deployment", "api")
WEB = WorkloadKey("Deployment", "web")


def _policy(*rules: dict[str, Any], **detection: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "runbook", "namespace": "shop", "generation": 3},
            "spec": {
                "selector": {"matchLabels": {"tier": "api"}},
                "detection": {"interval": "15s", "rules": list(rules), **detection},
            },
        }
    )


CPU = {"name": "cpu", "signal": "cpuUsage", "warning": 0.7, "critical": 0.9}


def _sample(value: float, workload: str = "api", at: datetime = T0) -> Sample:
    labels = {"namespace": "shop", "workload": workload, "workload_kind": "Deployment"}
    return Sample.of(labels, value, at)


def _compiled(policy: EscalationPolicy, index: int = 0) -> CompiledRule:
    return compile_rule("shop", policy.spec.detection.rules[index])


class Cycles:
    """Runs one rule cycle after cycle, keeping holds and the incident as the operator does
    (and, with ``gaps``, the rule's gaps in the data too)."""

    def __init__(
        self,
        policy: EscalationPolicy,
        workloads: list[WorkloadKey] | None = None,
        gaps: bool = False,
    ):
        self.policy = policy
        self.rule = _compiled(policy)
        self.workloads = workloads if workloads is not None else [API]
        self.holds: dict[WorkloadKey, Hold] = {}
        self.incidents: dict[str, Incident] = {}
        self.gaps: DataGaps | None = DataGaps() if gaps else None

    def run(
        self, values: Mapping[str, float] | QueryFailure, at: datetime, phase: Phase | None = None
    ) -> RulePlan:
        if isinstance(values, QueryFailure):
            result: Any = values
        else:
            result = [_sample(value, workload, at) for workload, value in values.items()]
        plan = plan_rule(
            self.policy,
            self.rule,
            self.workloads,
            result,
            self.incidents,
            self.holds,
            at,
            gaps=self.gaps,
        )
        self.holds = plan.holds
        if self.gaps is not None:
            self.gaps = plan.gaps
        for new in plan.opens:
            self.incidents[new.detection.fingerprint] = _created(new, phase or Phase.DETECTED)
        for update in plan.updates:
            fingerprint = update.detection.fingerprint
            current = self.incidents[fingerprint]
            self.incidents[fingerprint] = current.model_copy(
                update={"status": current.status.model_copy(update={"detection": update.detection})}
            )
        for up in plan.raises:
            for fingerprint, incident in self.incidents.items():
                if incident.metadata.name == up.name:
                    spec = incident.spec.model_copy(update={"severity": up.severity})
                    self.incidents[fingerprint] = incident.model_copy(update={"spec": spec})
        return plan

    def incident(self, workload: WorkloadKey = API) -> Incident:
        return self.incidents[rule_fingerprint("shop", "runbook", self.rule.name, workload)]


def _created(new: NewIncident, phase: Phase) -> Incident:
    manifest = new.manifest()
    manifest["status"] = {"phase": phase.value, "detection": new.detection.to_wire()}
    return Incident.model_validate(manifest)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_breach_opens_one_incident_with_value_threshold_and_labels() -> None:
    cycles = Cycles(_policy(CPU))
    plan = cycles.run({"api": 0.934}, T0)
    [new] = plan.opens
    assert new.namespace == "shop"
    assert new.labels == {
        FINGERPRINT_LABEL: rule_fingerprint("shop", "runbook", "cpu", API),
        POLICY_LABEL: "runbook",
        RULE_LABEL: "cpu",
    }
    spec = new.manifest()["spec"]
    assert spec["source"] == "prometheus"
    # Critical opens P0 (the runbook's alert mapping) unless the rule says otherwise.
    assert spec["severity"] == "P0"
    assert spec["affected"] == [{"kind": "Deployment", "name": "api"}]
    assert spec["policyRef"] == {"name": "runbook"}
    assert "93.4%" in spec["title"]
    assert "90%" in spec["title"]
    assert "93.4%" in spec["summary"]
    assert "critical threshold 90%" in spec["summary"]
    assert set(spec) == {
        "title",
        "severity",
        "summary",
        "impact",
        "source",
        "affected",
        "policyRef",
    }, "only what detection says, no defaults stamped in"
    detection = new.detection
    assert (detection.level, detection.value, detection.threshold) == (Level.CRITICAL, 0.934, 0.9)
    assert detection.breaching
    assert detection.breach_started_at == T0


def test_a_second_breach_of_an_open_incident_opens_nothing() -> None:
    cycles = Cycles(_policy(CPU))
    assert len(cycles.run({"api": 0.8}, T0).opens) == 1
    for seconds in (15, 30, 45):
        assert cycles.run({"api": 0.8}, _at(seconds)).opens == []
    assert len(cycles.incidents) == 1


def test_a_resolved_incident_does_not_stop_a_new_breach_from_opening_one() -> None:
    cycles = Cycles(_policy(CPU))
    cycles.run({"api": 0.8}, T0)
    resolved = cycles.incident().model_copy(deep=True)
    resolved.status.phase = Phase.RESOLVED
    cycles.incidents = {"x": resolved}
    assert len(cycles.run({"api": 0.8}, _at(15)).opens) == 1


def test_for_delays_opening_and_survives_in_the_holds() -> None:
    cycles = Cycles(_policy({**CPU, "for": "30s"}))
    assert cycles.run({"api": 0.8}, T0).opens == []
    assert cycles.run({"api": 0.8}, _at(15)).opens == []
    [new] = cycles.run({"api": 0.8}, _at(30)).opens
    assert new.detection.breach_started_at == T0
    assert new.manifest()["spec"]["severity"] == "P2"


def test_a_dip_under_the_threshold_restarts_for() -> None:
    cycles = Cycles(_policy({**CPU, "for": "30s"}))
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.5}, _at(15))
    assert cycles.run({"api": 0.8}, _at(30)).opens == []
    assert len(cycles.run({"api": 0.8}, _at(60)).opens) == 1


@pytest.mark.parametrize(
    "unknown",
    [
        {},
        {"api": math.nan},
        QueryFailure(Reason.PROMETHEUS_UNREACHABLE, "Prometheus at x refused the connection"),
    ],
    ids=["empty", "nan", "unreachable"],
)
def test_nothing_is_opened_on_missing_data(unknown: Mapping[str, float] | QueryFailure) -> None:
    cycles = Cycles(_policy(CPU))
    plan = cycles.run(unknown, T0)
    assert plan.opens == []
    assert plan.updates == []
    assert plan.raises == []
    assert plan.observations[API].level is Level.UNKNOWN
    assert plan.problem is not None
    assert plan.blind


def test_warning_turning_critical_raises_the_severity_once() -> None:
    cycles = Cycles(_policy({**CPU, "severity": {"critical": "P0", "warning": "P2"}}))
    cycles.run({"api": 0.8}, T0)
    assert cycles.incident().spec.severity is Severity.P2
    [up] = cycles.run({"api": 0.95}, _at(15)).raises
    assert up.severity is Severity.P0
    assert cycles.incident().status.detection is not None
    assert cycles.incident().status.detection.level is Level.CRITICAL
    assert cycles.run({"api": 0.95}, _at(30)).raises == []


def test_severity_is_never_lowered() -> None:
    # A rule whose critical level opens P1, so people can raise it further.
    cycles = Cycles(_policy({**CPU, "severity": {"critical": "P1"}}))
    cycles.run({"api": 0.95}, T0)
    assert cycles.incident().spec.severity is Severity.P1
    plan = cycles.run({"api": 0.8}, _at(15))
    assert plan.raises == []
    assert cycles.incident().spec.severity is Severity.P1
    # People raised it further: critical again does not bring it back to P1.
    raised = cycles.incident().model_copy(deep=True)
    raised.spec.severity = Severity.P0
    cycles.incidents = {raised.status.detection.fingerprint: raised}  # type: ignore[union-attr]
    assert cycles.run({"api": 0.95}, _at(30)).raises == []


def test_critical_must_hold_for_too_before_the_severity_is_raised() -> None:
    cycles = Cycles(_policy({**CPU, "for": "30s"}))
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.8}, _at(30))
    assert cycles.run({"api": 0.95}, _at(45)).raises == []
    assert cycles.run({"api": 0.95}, _at(60)).raises == []
    assert len(cycles.run({"api": 0.95}, _at(75)).raises) == 1


def test_recovery_then_regression() -> None:
    cycles = Cycles(_policy(CPU))
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.5}, _at(15))
    recovered = cycles.incident().status.detection
    assert recovered is not None
    assert (recovered.breaching, recovered.recovered_at, recovered.level) == (
        False,
        _at(15),
        Level.OK,
    )
    assert recovered.breach_started_at == T0
    cycles.run({"api": 0.5}, _at(30))
    assert cycles.incident().status.detection.recovered_at == _at(15)  # type: ignore[union-attr]
    cycles.run({"api": 0.85}, _at(45))
    regressed = cycles.incident().status.detection
    assert regressed is not None
    assert regressed.breaching
    assert regressed.recovered_at is None
    assert regressed.breach_started_at == _at(45)


def test_unknown_data_stops_the_monitoring_clock_and_healthy_data_restarts_it() -> None:
    cycles = Cycles(_policy(CPU))
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.5}, _at(15))
    cycles.run(QueryFailure(Reason.PROMETHEUS_UNREACHABLE, "down"), _at(30))
    gap = cycles.incident().status.detection
    assert gap is not None
    assert (gap.level, gap.value, gap.breaching, gap.recovered_at) == (
        Level.UNKNOWN,
        None,
        False,
        None,
    )
    cycles.run({"api": 0.5}, _at(45))
    assert cycles.incident().status.detection.recovered_at == _at(45)  # type: ignore[union-attr]


def test_a_breach_still_waiting_out_for_neither_regresses_nor_recovers() -> None:
    cycles = Cycles(_policy({**CPU, "for": "30s"}))
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.8}, _at(30))
    cycles.run({"api": 0.5}, _at(45))
    cycles.run({"api": 0.8}, _at(60))
    pending = cycles.incident().status.detection
    assert pending is not None
    assert not pending.breaching
    assert pending.recovered_at is None
    cycles.run({"api": 0.8}, _at(90))
    assert cycles.incident().status.detection.breaching  # type: ignore[union-attr]


def test_a_drifting_value_is_written_at_most_every_30s() -> None:
    cycles = Cycles(_policy(CPU))
    cycles.run({"api": 0.80}, T0)
    assert cycles.run({"api": 0.81}, _at(15)).updates == []
    assert len(cycles.run({"api": 0.82}, _at(30)).updates) == 1
    assert cycles.run({"api": 0.82}, _at(45)).updates == []


def test_one_result_serves_every_workload() -> None:
    workloads = [WorkloadKey("Deployment", f"svc-{n}") for n in range(1000)]
    cycles = Cycles(_policy(CPU), workloads)
    values = {w.name: (0.95 if n % 100 == 0 else 0.1) for n, w in enumerate(workloads)}
    plan = cycles.run(values, T0)
    assert len(plan.opens) == 10
    assert len(plan.observations) == 1000
    assert plan.problem is None


def test_missing_series_for_some_workloads_are_named() -> None:
    cycles = Cycles(_policy(CPU), [API, WEB, WorkloadKey("Deployment", "db")])
    plan = cycles.run({"api": 0.1}, T0)
    assert plan.problem == (
        Reason.NO_DATA,
        "rule cpu: no data for Deployment/db, Deployment/web",
    )
    assert not plan.blind


def test_an_invalid_rule_sends_no_query_and_keeps_its_holds() -> None:
    policy = _policy({"name": "bad", "signal": "cpuUsage", "metrics": {"nope": "x"}})
    compiled = _compiled(policy)
    assert compiled.query is None
    assert compiled.error is not None
    hold = {API: Hold(T0)}
    plan = plan_rule(policy, compiled, [API], None, {}, hold, T0)
    assert plan.holds == hold
    assert plan.problem is not None
    assert plan.problem[0] == Reason.INVALID_RULE
    assert "no metric role nope" in plan.problem[1]


def test_metrics_available_names_the_most_serious_problem() -> None:
    policy = _policy(CPU)
    plans = {
        "a": RulePlan(problem=(Reason.NO_DATA, "rule a: no data for Deployment/x")),
        "b": RulePlan(problem=(Reason.PROMETHEUS_UNREACHABLE, "rule b: refused")),
        "c": RulePlan(),
    }
    condition = metrics_available([], plans, 3, 3, T0)
    assert condition.status is ConditionStatus.FALSE
    assert condition.reason == Reason.PROMETHEUS_UNREACHABLE
    assert condition.message == "rule a: no data for Deployment/x; rule b: refused"
    assert condition.observed_generation == 3
    healthy = metrics_available([condition], {"c": RulePlan()}, 3, 3, _at(15))
    assert (healthy.status, healthy.reason) == (ConditionStatus.TRUE, Reason.METRICS_RECEIVED)
    assert healthy.last_transition_time == _at(15)
    again = metrics_available([healthy], {"c": RulePlan()}, 3, 3, _at(30))
    assert again.last_transition_time == _at(15)
    nothing = metrics_available([], {"c": RulePlan()}, 0, 3, T0)
    assert nothing.reason == Reason.NO_WORKLOADS_SELECTED
    assert policy.status.conditions == []


def test_holds_round_trip_through_the_policy_status() -> None:
    holds = {("cpu", API): Hold(T0, _at(30)), ("cpu", WEB): Hold(_at(15))}
    policy = _policy(CPU)
    restored = EscalationPolicy.model_validate(
        {**policy.model_dump(by_alias=True), "status": {"breaches": breach_records(holds)}}
    )
    assert holds_from_status(restored) == holds
    assert [r["workload"]["name"] for r in breach_records(holds, limit=1)] == ["api"]


def test_the_policy_selector_and_the_rule_narrow_the_workloads() -> None:
    policy = _policy(
        CPU,
        {"name": "web-only", "signal": "cpuUsage", "workloads": {"matchLabels": {"app": "web"}}},
    )
    workloads = [
        (API, {"tier": "api", "app": "api"}),
        (WEB, {"tier": "api", "app": "web"}),
        (WorkloadKey("StatefulSet", "db"), {"tier": "data"}),
    ]
    governed = policy_workloads(policy, workloads)
    assert rule_workloads(policy.spec.detection.rules[0], governed) == [API, WEB]
    assert rule_workloads(policy.spec.detection.rules[1], governed) == [WEB]


def test_the_monitoring_gap_opens_after_n_blind_cycles_and_recovers() -> None:
    policy = _policy(CPU, maxUnknownCycles=3)
    assert plan_gap(policy, 2, T0, "refused", None, _at(30)).open is None
    gap = plan_gap(policy, 3, T0, "rule cpu: refused", None, _at(45))
    assert gap.open is not None
    assert gap.open.labels[FINGERPRINT_LABEL] == gap_fingerprint("shop", "runbook")
    spec = gap.open.manifest()["spec"]
    assert spec["severity"] == "P2"
    assert "refused" in spec["summary"]
    incident = _created(gap.open, Phase.DETECTED)
    assert plan_gap(policy, 4, T0, "refused", incident, _at(60)).update is None
    back = plan_gap(policy, 0, None, "", incident, _at(75)).update
    assert back is not None
    assert not back.detection.breaching
    assert back.detection.recovered_at == _at(75)
    assert plan_gap(_policy(CPU), 100, T0, "refused", None, T0).open is None


def test_hand_declared_incidents_get_the_readings_of_rules_covering_their_workloads() -> None:
    incident = Incident.model_validate(
        {
            "metadata": {"name": "outage", "namespace": "shop"},
            "spec": {
                "title": "checkout slow",
                "severity": "P1",
                "affected": [{"kind": "Deployment", "name": "api"}],
            },
        }
    )
    policy = _policy(CPU)
    thresholds = _compiled(policy).thresholds
    assert thresholds is not None
    plan = Cycles(policy, [API, WEB]).run({"api": 0.75, "web": 0.1}, T0)
    readings = [RuleReadings("runbook", "cpu", thresholds, plan.observations, T0)]
    [reading] = metric_readings(incident, readings)
    assert reading.rule == "runbook/cpu"
    assert (reading.workload.name, reading.level, reading.value) == ("api", Level.WARNING, 0.75)
    assert (reading.warning, reading.critical, reading.at) == (0.7, 0.9, T0)
