"""What one detection cycle should do, decided from the policy, the result and the incidents.

A cycle of one policy, per rule::

    compile_rule ──> query (runtime/detection sends it) ──> plan_rule ──> RulePlan
                                                                   ├─ opens    new Incidents
                                                                   ├─ raises   spec.severity up
                                                                   ├─ updates  status.detection
                                                                   └─ holds, readings, problem

and once per policy: ``metrics_available`` (the policy's MetricsAvailable condition),
``plan_gap`` (the monitoring-gap incident), ``breach_records`` (the holds to persist).

Detection writes the facts (``status.detection``: breaching, recoveredAt, ...) and the
lifecycle derives phases from them. So that the lifecycle never resolves on missing
data, ``recoveredAt`` marks the start of the current run of healthy evaluations: unknown
data, or a breach still waiting out its ``for``, clears it, and the monitoring window
starts again when healthy values return.

After a gap in the data, a rule's readings stay Unknown until the range its query reads
no longer overlaps the gap (``domain.detection_gaps``); those cycles are not blind (they
neither count towards nor start a monitoring-gap incident) but keep an open one open.

A policy whose detection raises (an interval that cannot be scheduled, a bug) gets
``failure_condition``: MetricsAvailable=False, DetectionFailed, with what was raised.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import TypeAdapter

from incident_operator.api.base import LocalObjectReference
from incident_operator.api.escalation_policy import (
    BreachRecord,
    DetectionRule,
    EscalationPolicy,
)
from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentSource,
    IncidentSpec,
    MetricReading,
    WorkloadKind,
    WorkloadReference,
)
from incident_operator.domain.conditions import (
    Condition,
    ConditionStatus,
    find_condition,
    set_condition,
)
from incident_operator.domain.detection import (
    PROBLEM_ORDER,
    Evaluation,
    Hold,
    InstantVector,
    Observation,
    RuleError,
    RuleThresholds,
    Sample,
    WorkloadKey,
    advance_hold,
    describe_breach,
    evaluate,
    format_value,
    gap_fingerprint,
    held_level,
    incident_name,
    is_breach,
    label_value,
    resolve_thresholds,
    rule_fingerprint,
    vector_of,
)
from incident_operator.domain.detection_gaps import (
    DataGaps,
    Outcome,
    Overlap,
    QueryWindow,
    overlapping,
    track_gaps,
)
from incident_operator.domain.detection_queries import query_window, signal_query
from incident_operator.domain.durations import format_duration, parse_duration
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level
from incident_operator.reconcile.governing_policy import selector_matches
from incident_operator.reconcile.signals import signal_detection, signals_of

FINGERPRINT_LABEL: Final = "sre.agentos.io/fingerprint"
POLICY_LABEL: Final = "sre.agentos.io/policy"
RULE_LABEL: Final = "sre.agentos.io/rule"
GAP_RULE: Final = "monitoring-gap"
# The runbook lists "Logging/monitoring gaps" among its P2 examples.
GAP_SEVERITY: Final = Severity.P2
# A value that only drifts is written at most this often; level changes at once.
VALUE_REFRESH: Final = timedelta(seconds=30)
# Samples older than this many intervals (and at least a minute) are stale.
STALE_INTERVALS: Final = 3
_MESSAGE_LIMIT = 1024
# An interval the scheduler takes at all (the schema's bound is far lower): beyond this,
# the staleness bound and the next due time leave what a clock can hold.
_LONGEST_INTERVAL: Final = timedelta(days=3650)
_LISTED_WORKLOADS = 3
_CONDITIONS = TypeAdapter(list[Condition])


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class QueryFailure:
    """The query did not give a result: Prometheus unreachable, or it answered an error."""

    # Reason.PROMETHEUS_UNREACHABLE or Reason.QUERY_FAILED.
    reason: str
    message: str


# What a rule's query gave: an InstantVector from the Prometheus adapter, or samples.
RuleResult = InstantVector | Sequence[Sample] | QueryFailure


@dataclass(frozen=True)
class CompiledRule:
    """A rule made ready to evaluate; ``error`` set when it cannot be."""

    rule: DetectionRule
    query: str | None
    thresholds: RuleThresholds | None
    hold_for: timedelta
    error: str | None = None
    # The stretches of the past the query reads, for telling when a gap is behind it.
    window: QueryWindow = field(default_factory=QueryWindow)

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def signal_text(self) -> str:
        return self.rule.signal.value if self.rule.signal else "query"


def compile_rule(namespace: str, rule: DetectionRule) -> CompiledRule:
    hold_for = parse_duration(rule.for_)
    try:
        thresholds = resolve_thresholds(rule.signal, rule.warning, rule.critical, rule.direction)
        if rule.signal is None:
            query = rule.query
        else:
            query = signal_query(
                rule.signal,
                namespace,
                rule.metrics,
                parse_duration(rule.window) if rule.window else None,
                parse_duration(rule.offset) if rule.offset else None,
            )
    except RuleError as error:
        return CompiledRule(rule, None, None, hold_for, str(error))
    window = query_window(query) if query is not None else QueryWindow()
    return CompiledRule(rule, query, thresholds, hold_for, window=window)


def interval_of(policy: EscalationPolicy) -> timedelta:
    return parse_duration(policy.spec.detection.interval)


def interval_seconds(policy: EscalationPolicy) -> float:
    """The policy's interval in seconds; RuleError when it cannot be scheduled (a value the
    schema should have refused: unparseable, zero, or too large for a clock)."""
    text = policy.spec.detection.interval
    try:
        seconds = interval_of(policy).total_seconds()
        stale_after(timedelta(seconds=seconds))  # the staleness bound must fit a clock too
    except (ValueError, OverflowError, TypeError) as error:
        raise RuleError(f"spec.detection.interval {text!r} cannot be scheduled: {error}") from None
    if not 0 < seconds < _LONGEST_INTERVAL.total_seconds():
        raise RuleError(
            f"spec.detection.interval {text!r} cannot be scheduled: it must be more than 0 "
            f"and less than {format_duration(_LONGEST_INTERVAL)}"
        )
    return seconds


def stale_after(interval: timedelta) -> timedelta:
    return max(STALE_INTERVALS * interval, timedelta(minutes=1))


def policy_workloads(
    policy: EscalationPolicy, workloads: Iterable[tuple[WorkloadKey, Mapping[str, str]]]
) -> list[tuple[WorkloadKey, Mapping[str, str]]]:
    """The workloads the policy's selector matches, in a stable order."""
    return sorted(
        (
            (key, labels)
            for key, labels in workloads
            if selector_matches(policy.spec.selector, dict(labels))
        ),
        key=lambda item: item[0],
    )


def rule_workloads(
    rule: DetectionRule, selected: Sequence[tuple[WorkloadKey, Mapping[str, str]]]
) -> list[WorkloadKey]:
    """The policy's workloads, narrowed by the rule's own selector."""
    if rule.workloads is None:
        return [key for key, _ in selected]
    return [key for key, labels in selected if selector_matches(rule.workloads, dict(labels))]


def is_open(incident: Incident) -> bool:
    """Open until Resolved: a new breach of a resolved incident's fingerprint opens another."""
    phase = incident.status.phase
    # A merged incident lives on in the one it was merged into.
    return (phase is None or phase.is_active) and incident.status.merged_into is None


# -------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class NewIncident:
    """An Incident to create, and the detection status to write on it once it exists.

    It is also a signal: before it is created, maintenance windows may suppress it and
    grouping may add it to an open incident instead (runtime/signal_router.py).
    """

    namespace: str
    name: str
    labels: dict[str, str]
    spec: IncidentSpec
    detection: DetectionStatus
    # What maintenance windows and grouping keys match: the workload's labels (polling)
    # or the alert's labels, with ``namespace`` always set.
    signal_labels: Mapping[str, str] = field(default_factory=dict)
    # The policy whose grouping applies: the rule's own, or the alert's governing one.
    policy: str | None = None

    @property
    def fingerprint(self) -> str:
        return self.detection.fingerprint

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            # Only what detection says; the API server and people fill in the rest.
            "spec": self.spec.model_dump(mode="json", by_alias=True, exclude_unset=True),
        }


@dataclass(frozen=True)
class SeverityRaise:
    namespace: str
    name: str
    severity: Severity


@dataclass(frozen=True)
class DetectionUpdate:
    namespace: str
    name: str
    detection: DetectionStatus


@dataclass
class RulePlan:
    opens: list[NewIncident] = field(default_factory=list)
    raises: list[SeverityRaise] = field(default_factory=list)
    updates: list[DetectionUpdate] = field(default_factory=list)
    holds: dict[WorkloadKey, Hold] = field(default_factory=dict)
    observations: Mapping[WorkloadKey, Observation] = field(default_factory=dict)
    # How the result was judged, for the next cycle to reuse while it still holds.
    evaluation: Evaluation | None = None
    # (a MetricsAvailable reason, message) when some of the rule's data was unusable.
    problem: tuple[str, str] | None = None
    # True when the rule produced nothing usable at all: a cycle of the monitoring gap.
    blind: bool = False
    # True when its readings are Unknown because its range still overlaps a gap in the data.
    settling: bool = False
    # The rule's gaps in the data after this cycle (``domain.detection_gaps``).
    gaps: DataGaps = field(default_factory=DataGaps)


def detection_wire(detection: DetectionStatus) -> dict[str, Any]:
    """The merge patch value: explicit nulls, so fields that were cleared are removed."""
    return detection.model_dump(mode="json", by_alias=True)


def needs_write(previous: DetectionStatus | None, desired: DetectionStatus, now: datetime) -> bool:
    """Every change but a drifting value is written at once; the value every VALUE_REFRESH."""
    if previous is None:
        return True
    ignored = {"value", "last_evaluated_at"}
    if desired.model_dump(exclude=ignored) != previous.model_dump(exclude=ignored):
        return True
    return desired.value != previous.value and now - previous.last_evaluated_at >= VALUE_REFRESH


# ------------------------------------------------------------------------ planning


def _workload_reference(key: WorkloadKey) -> WorkloadReference:
    return WorkloadReference(kind=WorkloadKind(key.kind), name=key.name)


def _severity_for(rule: DetectionRule, level: Level) -> Severity:
    return rule.severity.critical if level is Level.CRITICAL else rule.severity.warning


def _labels(fingerprint: str, policy: str, rule: str) -> dict[str, str]:
    return {
        FINGERPRINT_LABEL: fingerprint,
        POLICY_LABEL: label_value(policy),
        RULE_LABEL: label_value(rule),
    }


def _next_detection(
    previous: DetectionStatus | None,
    base: DetectionStatus,
    observation: Observation,
    held: Level,
    hold: Hold | None,
    thresholds: RuleThresholds,
    now: datetime,
) -> DetectionStatus:
    was_breaching = previous.breaching if previous else True
    started = previous.breach_started_at if previous else None
    recovered = previous.recovered_at if previous else None
    if observation.level is Level.UNKNOWN:
        return base.model_copy(
            update={
                "level": Level.UNKNOWN,
                "value": None,
                "breaching": was_breaching,
                "breach_started_at": started,
                "recovered_at": None,
                "threshold": previous.threshold if previous else thresholds.first(),
            }
        )
    if is_breach(held):
        return base.model_copy(
            update={
                "level": held,
                "value": observation.value,
                "threshold": thresholds.for_level(held),
                "breaching": True,
                "breach_started_at": (
                    started if was_breaching and started else (hold.since if hold else now)
                ),
                "recovered_at": None,
            }
        )
    healthy = observation.level is Level.OK
    return base.model_copy(
        update={
            "level": observation.level,
            "value": observation.value,
            "threshold": thresholds.for_level(observation.level)
            if not healthy
            else thresholds.first(),
            # A breach still waiting out its ``for`` neither regresses nor recovers.
            "breaching": False if healthy else was_breaching,
            "breach_started_at": started,
            "recovered_at": (recovered or now) if healthy else None,
        }
    )


def _new_incident(
    policy: EscalationPolicy,
    compiled: CompiledRule,
    workload: WorkloadKey,
    fingerprint: str,
    observation: Observation,
    held: Level,
    hold: Hold,
    thresholds: RuleThresholds,
    now: datetime,
) -> NewIncident:
    namespace, policy_name = policy.metadata.namespace, policy.metadata.name
    breach = describe_breach(compiled.signal_text, observation.value, held, thresholds)
    limits = ", ".join(
        f"{name} {format_value(value, thresholds.unit)}"
        for name, value in (("warning", thresholds.warning), ("critical", thresholds.critical))
        if value is not None
    )
    spec = IncidentSpec(
        title=f"{compiled.name}: {workload} {breach}"[:200],
        severity=_severity_for(compiled.rule, held),
        summary=(
            f"Detection rule {compiled.name} of EscalationPolicy {policy_name} measured "
            f"{breach} for {workload.kind} {workload.name} (thresholds: {limits}). The "
            f"breach started at {hold.since.isoformat(timespec='seconds')} and held for "
            f"{compiled.rule.for_}."
        ),
        impact=f"{workload.kind} {workload.name} in namespace {namespace}: {breach}.",
        source=IncidentSource.PROMETHEUS,
        affected=[_workload_reference(workload)],
        policy_ref=LocalObjectReference(name=policy_name),
    )
    detection = DetectionStatus(
        fingerprint=fingerprint,
        policy=policy_name,
        rule=compiled.name,
        workload=_workload_reference(workload),
        level=held,
        value=observation.value,
        threshold=thresholds.for_level(held),
        breaching=True,
        breach_started_at=hold.since,
        last_evaluated_at=now,
    )
    return NewIncident(
        namespace=namespace,
        name=incident_name([compiled.name, workload.name], fingerprint, hold.since),
        labels=_labels(fingerprint, policy_name, compiled.name),
        spec=spec,
        detection=detection,
    )


def _listed(workloads: Sequence[WorkloadKey]) -> str:
    ordered = sorted(workloads, key=str)
    shown = ", ".join(str(w) for w in ordered[:_LISTED_WORKLOADS])
    more = len(workloads) - _LISTED_WORKLOADS
    return f"{shown} and {more} more" if more > 0 else shown


_PROBLEM_TEXT = {
    Reason.NO_DATA: "no data for",
    Reason.NOT_A_NUMBER: "NaN for",
    Reason.STALE_DATA: "stale data for",
}


def _unknown_problem(
    name: str, observations: Mapping[WorkloadKey, Observation]
) -> tuple[str, str] | None:
    by_problem: dict[str, list[WorkloadKey]] = {}
    for workload, observation in observations.items():
        if observation.problem is not None:
            by_problem.setdefault(observation.problem, []).append(workload)
    if not by_problem:
        return None
    reason = min(by_problem, key=PROBLEM_ORDER.index)
    parts = [
        f"{_PROBLEM_TEXT[Reason(problem)]} {_listed(by_problem[problem])}"
        for problem in sorted(by_problem, key=PROBLEM_ORDER.index)
    ]
    return reason, f"rule {name}: {'; '.join(parts)}"


# Observations that mean "nothing came for this workload", as opposed to NaN.
_MISSING: Final = frozenset({Reason.NO_DATA, Reason.STALE_DATA})


def _outcome(evaluation: Evaluation) -> Outcome:
    """DATA when some watched workload had a value (NaN counts: the data is there)."""
    observations = evaluation.observations
    missing = sum(1 for w in evaluation.not_ok if observations[w].problem in _MISSING)
    return Outcome.DATA if missing < len(observations) else Outcome.EMPTY


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _overlap_message(compiled: CompiledRule, overlap: Overlap) -> str:
    window = compiled.window
    stretch = format_duration(window.range)
    if overlap.offset:
        stretch += f" offset {format_duration(abs(overlap.offset))}"
    return (
        f"rule {compiled.name}: the {stretch} its query reads overlaps a gap in the data "
        f"({_when(overlap.gap.start)} to {_when(overlap.gap.end)}); Unknown until "
        f"{_when(overlap.until)}"
    )


def _open_workloads(
    open_incidents: Mapping[str, Incident], policy: str, rule: str
) -> set[WorkloadKey]:
    """Workloads with an open incident of this rule, by what detection wrote on them."""
    found: set[WorkloadKey] = set()
    for incident in open_incidents.values():
        signals = signals_of(incident)
        for signal in signals:
            if (signal.policy, signal.rule) == (policy, rule) and signal.workload is not None:
                found.add(WorkloadKey(signal.workload.kind.value, signal.workload.name))
        if not signals and incident.metadata.labels.get(RULE_LABEL) == label_value(rule):
            found.update(WorkloadKey(w.kind.value, w.name) for w in incident.spec.affected)
    return found


def plan_rule(
    policy: EscalationPolicy,
    compiled: CompiledRule,
    workloads: Sequence[WorkloadKey],
    result: RuleResult | None,
    open_incidents: Mapping[str, Incident],
    holds: Mapping[WorkloadKey, Hold],
    now: datetime,
    previous: Evaluation | None = None,
    gaps: DataGaps | None = None,
) -> RulePlan:
    """Decides one rule's cycle; ``open_incidents`` maps fingerprints to open incidents.

    ``result`` is None only for a rule that failed to compile (nothing was sent).
    ``previous`` is the evaluation of the rule's last cycle: the result is judged again
    only if something it depends on changed (see ``domain.detection.Evaluation``).
    ``gaps`` are the rule's gaps in the data so far; the plan carries them on.
    """
    plan = RulePlan(gaps=gaps or DataGaps())
    if compiled.error is not None or compiled.thresholds is None or result is None:
        plan.holds = dict(holds)
        plan.problem = (
            Reason.INVALID_RULE,
            f"rule {compiled.name}: {compiled.error or 'not evaluated'}",
        )
        return plan
    namespace, policy_name = policy.metadata.namespace, policy.metadata.name
    thresholds = compiled.thresholds
    watched = _open_workloads(open_incidents, policy_name, compiled.name)
    overlap: Overlap | None = None
    # Workloads that are healthy, hold nothing and have no open incident need nothing
    # but their observation (the usual case): only the others are looked at one by one.
    candidates: Sequence[WorkloadKey]
    if isinstance(result, QueryFailure):
        plan.observations = dict.fromkeys(workloads, Observation(Level.UNKNOWN, None))
        candidates = workloads
        plan.gaps = track_gaps(plan.gaps, Outcome.FAILED, now, compiled.window.reach)
    else:
        vector = result if isinstance(result, InstantVector) else vector_of(result)
        bound = stale_after(interval_of(policy))
        evaluation = evaluate(vector, namespace, workloads, thresholds, now, bound, previous)
        plan.evaluation, plan.observations = evaluation, evaluation.observations
        interesting = {*evaluation.not_ok, *holds, *watched}
        candidates = [w for w in workloads if w in interesting] if interesting else []
        if workloads:
            outcome = _outcome(evaluation)
            plan.gaps = track_gaps(plan.gaps, outcome, now, compiled.window.reach)
            overlap = overlapping(plan.gaps, compiled.window, now)
            if outcome is Outcome.DATA and overlap is not None:
                # Values read over a stretch that holds a gap: Unknown, all of them.
                overlapped = Observation(Level.UNKNOWN, None, Reason.WINDOW_OVERLAPS_GAP)
                plan.observations = dict.fromkeys(workloads, overlapped)
                plan.settling = True
                candidates = workloads
    for workload in candidates:
        observation = plan.observations[workload]
        previous_hold = holds.get(workload)
        if observation.level is Level.OK and previous_hold is None and workload not in watched:
            continue
        hold = advance_hold(previous_hold, observation.level, now)
        if hold is not None:
            plan.holds[workload] = hold
        held = held_level(hold, compiled.hold_for, now)
        fingerprint = rule_fingerprint(namespace, policy_name, compiled.name, workload)
        incident = open_incidents.get(fingerprint)
        if incident is None:
            if observation.level is not Level.UNKNOWN and is_breach(held) and hold is not None:
                plan.opens.append(
                    _new_incident(
                        policy,
                        compiled,
                        workload,
                        fingerprint,
                        observation,
                        held,
                        hold,
                        thresholds,
                        now,
                    )
                )
            continue
        # A grouped incident holds other signals too: this rule and workload's own.
        previous_detection = signal_detection(incident, fingerprint)
        base = DetectionStatus(
            fingerprint=fingerprint,
            policy=policy_name,
            rule=compiled.name,
            workload=_workload_reference(workload),
            level=observation.level,
            breaching=True,
            last_evaluated_at=now,
        )
        desired = _next_detection(
            previous_detection, base, observation, held, hold, thresholds, now
        )
        if needs_write(previous_detection, desired, now):
            plan.updates.append(DetectionUpdate(namespace, incident.metadata.name, desired))
        critical = _severity_for(compiled.rule, Level.CRITICAL)
        already_critical = (
            previous_detection is not None
            and previous_detection.breaching
            and (previous_detection.level is Level.CRITICAL)
        )
        if (
            held is Level.CRITICAL
            and observation.level is not Level.UNKNOWN
            and not already_critical
            and critical.is_more_severe_than(incident.spec.severity)
        ):
            plan.raises.append(SeverityRaise(namespace, incident.metadata.name, critical))
    if isinstance(result, QueryFailure):
        plan.problem = (result.reason, f"rule {compiled.name}: {result.message}")
        plan.blind = True
    elif plan.settling and overlap is not None:
        plan.problem = (Reason.WINDOW_OVERLAPS_GAP, _overlap_message(compiled, overlap))
    else:
        unknown = {
            w: o
            for w in (plan.evaluation.not_ok if plan.evaluation else ())
            if (o := plan.observations[w]).level is Level.UNKNOWN
        }
        plan.problem = _unknown_problem(compiled.name, unknown)
        plan.blind = bool(workloads) and len(unknown) == len(workloads)
    return plan


# ------------------------------------------------------------------ per policy


def metrics_available(
    conditions: Sequence[Condition],
    plans: Mapping[str, RulePlan],
    workload_count: int,
    generation: int | None,
    now: datetime,
) -> Condition:
    """The policy's MetricsAvailable condition after this cycle; ``conditions`` are the
    current ones, so the transition time moves only when the status does."""
    problems = [plan.problem for plan in plans.values() if plan.problem is not None]
    if problems:
        reason = Reason(min((reason for reason, _ in problems), key=PROBLEM_ORDER.index))
        status = ConditionStatus.FALSE
        message = "; ".join(message for _, message in problems)
    elif workload_count == 0:
        status, reason = ConditionStatus.TRUE, Reason.NO_WORKLOADS_SELECTED
        message = "no workload matches the policy's selector"
    else:
        status, reason = ConditionStatus.TRUE, Reason.METRICS_RECEIVED
        message = f"{len(plans)} rules evaluated over {workload_count} workloads"
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    updated = set_condition(
        conditions, ConditionType.METRICS_AVAILABLE, status, reason, message, now, generation
    )
    found = find_condition(updated, ConditionType.METRICS_AVAILABLE)
    assert found is not None
    return found


def failure_condition(
    conditions: Sequence[Condition], message: str, generation: int | None, now: datetime
) -> Condition:
    """MetricsAvailable when the policy's detection raised: False, DetectionFailed, with
    ``message`` (what was raised); the policy is skipped, the others go on."""
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    updated = set_condition(
        conditions,
        ConditionType.METRICS_AVAILABLE,
        ConditionStatus.FALSE,
        Reason.DETECTION_FAILED,
        message,
        now,
        generation,
    )
    found = find_condition(updated, ConditionType.METRICS_AVAILABLE)
    assert found is not None
    return found


def conditions_wire(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = _CONDITIONS.dump_python(
        list(conditions), mode="json", by_alias=True, exclude_none=True
    )
    return wire


HoldKey = tuple[str, WorkloadKey]


def holds_from_status(policy: EscalationPolicy) -> dict[HoldKey, Hold]:
    """The holds a previous operator persisted, to resume ``for`` clocks after a restart."""
    return {
        (record.rule, WorkloadKey(record.workload.kind.value, record.workload.name)): Hold(
            record.since, record.critical_since
        )
        for record in policy.status.breaches
    }


def breach_records(holds: Mapping[HoldKey, Hold], limit: int = 4096) -> list[dict[str, Any]]:
    """The holds as status.breaches, oldest first (the ones nearest to opening kept)."""
    ordered = sorted(holds.items(), key=lambda item: (item[1].since, item[0][0], str(item[0][1])))
    return [
        BreachRecord(
            rule=rule,
            workload=_workload_reference(workload),
            since=hold.since,
            critical_since=hold.critical_since,
        ).to_wire()
        for (rule, workload), hold in ordered[:limit]
    ]


@dataclass(frozen=True)
class GapPlan:
    open: NewIncident | None = None
    update: DetectionUpdate | None = None


def plan_gap(
    policy: EscalationPolicy,
    blind_cycles: int,
    gap_since: datetime | None,
    problem: str,
    open_incident: Incident | None,
    now: datetime,
) -> GapPlan:
    """The monitoring-gap incident: opened after ``maxUnknownCycles`` blind cycles in a row,
    recovered (then resolved by the lifecycle, it being P2) when metrics return."""
    limit = policy.spec.detection.max_unknown_cycles
    namespace, policy_name = policy.metadata.namespace, policy.metadata.name
    fingerprint = gap_fingerprint(namespace, policy_name)
    blind = blind_cycles > 0
    if open_incident is None:
        if limit is None or blind_cycles < limit or gap_since is None:
            return GapPlan()
        detection = DetectionStatus(
            fingerprint=fingerprint,
            policy=policy_name,
            rule=GAP_RULE,
            level=Level.UNKNOWN,
            breaching=True,
            breach_started_at=gap_since,
            last_evaluated_at=now,
        )
        spec = IncidentSpec(
            title=f"Monitoring gap: EscalationPolicy {policy_name} has no usable metrics"[:200],
            severity=GAP_SEVERITY,
            summary=(
                f"Detection of EscalationPolicy {policy_name} has had no usable metrics for "
                f"{blind_cycles} cycles in a row since {gap_since.isoformat(timespec='seconds')}; "
                "its rules cannot open incidents until this is fixed. "
                f"Last problem: {problem}"
            )[:8192],
            impact=f"Threshold detection for namespace {namespace} is blind.",
            source=IncidentSource.PROMETHEUS,
            policy_ref=LocalObjectReference(name=policy_name),
        )
        return GapPlan(
            open=NewIncident(
                namespace=namespace,
                name=incident_name([GAP_RULE, policy_name], fingerprint, gap_since),
                labels=_labels(fingerprint, policy_name, GAP_RULE),
                spec=spec,
                detection=detection,
            )
        )
    previous = open_incident.status.detection
    recovered = previous.recovered_at if previous and not previous.breaching else None
    desired = DetectionStatus(
        fingerprint=fingerprint,
        policy=policy_name,
        rule=GAP_RULE,
        level=Level.UNKNOWN if blind else Level.OK,
        breaching=blind,
        breach_started_at=previous.breach_started_at if previous else gap_since,
        recovered_at=None if blind else (recovered or now),
        last_evaluated_at=now,
    )
    if not needs_write(previous, desired, now):
        return GapPlan()
    return GapPlan(update=DetectionUpdate(namespace, open_incident.metadata.name, desired))


# ------------------------------------------------------- hand-declared incidents


@dataclass(frozen=True)
class RuleReadings:
    """One rule's observations this cycle, for incidents people declared."""

    policy: str
    rule: str
    thresholds: RuleThresholds
    observations: Mapping[WorkloadKey, Observation]
    at: datetime


def metric_readings(incident: Incident, readings: Iterable[RuleReadings]) -> list[MetricReading]:
    """The current value of every rule that watches one of the incident's affected workloads.

    ``rule`` is ``<policy>/<rule>``: two policies of a namespace may name rules alike.
    """
    affected = [WorkloadKey(w.kind.value, w.name) for w in incident.spec.affected]
    found: list[MetricReading] = []
    for reading in readings:
        for workload in affected:
            observation = reading.observations.get(workload)
            if observation is None:
                continue
            found.append(
                MetricReading(
                    rule=f"{reading.policy}/{reading.rule}",
                    workload=_workload_reference(workload),
                    level=observation.level,
                    value=observation.value,
                    warning=reading.thresholds.warning,
                    critical=reading.thresholds.critical,
                    at=reading.at,
                )
            )
    return sorted(found, key=lambda r: (r.rule, r.workload.kind.value, r.workload.name))[:200]


def wants_readings(incident: Incident) -> bool:
    """People declared it, it names workloads, and it is still open."""
    return (
        incident.spec.source is IncidentSource.MANUAL
        and bool(incident.spec.affected)
        and (is_open(incident))
    )
