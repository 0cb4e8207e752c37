"""Levels of signals right now, for the plugin's ``health``, ``errors`` and ``queue``.

Detection decides per cycle and remembers; these commands only look once. They use
detection's own parts so that what they show is what detection would judge:
``compile_rule`` for a rule's PromQL and thresholds, ``evaluate`` for each workload's
level, ``policy_workloads`` and ``rule_workloads`` for the workloads a rule watches.

``errors`` and ``queue`` show one signal of the catalog (apiErrorRate, agentQueueDepth)
for every workload with a series, worst first. They read it as the namespace's
policies do: the first rule on that signal (the default policy's first, then by policy
name) gives its metric names and thresholds; without one, the catalog's metric names
and the runbook's thresholds apply.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from incident_operator.api.escalation_policy import DetectionRule, EscalationPolicy
from incident_operator.domain.detection import (
    InstantVector,
    RuleThresholds,
    WorkloadKey,
    evaluate,
    level_of,
    resolve_thresholds,
)
from incident_operator.domain.detection_queries import signal_query
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.signals import Direction, Level, Signal
from incident_operator.reconcile.detection import (
    CompiledRule,
    interval_of,
    policy_workloads,
    rule_workloads,
    stale_after,
)

# Worst first: the level a rule shows is the first of these any of its workloads has.
_SEVERITY_ORDER = (Level.CRITICAL, Level.WARNING, Level.OK, Level.UNKNOWN)


# --------------------------------------------------------------- one signal, every workload


@dataclass(frozen=True)
class SignalSource:
    """Where a signal's query and thresholds come from."""

    signal: Signal
    promql: str
    thresholds: RuleThresholds
    # "policy runbook, rule errors", or "the runbook" when no rule reads the signal.
    origin: str


def _rule_on(
    policies: Sequence[EscalationPolicy], signal: Signal
) -> tuple[str, DetectionRule] | None:
    ordered = sorted(policies, key=lambda p: (not p.spec.default, p.metadata.name or ""))
    for policy in ordered:
        for rule in policy.spec.detection.rules:
            if rule.signal == signal:
                return policy.metadata.name or "", rule
    return None


def signal_source(
    signal: Signal,
    namespace: str,
    policies: Sequence[EscalationPolicy],
    window: timedelta | None = None,
) -> SignalSource:
    """The query for ``signal`` over ``window`` (None: the rule's, else the catalog's) and
    its thresholds, as the namespace's policies read it (see the module docstring).

    Raises RuleError when the rule's metric overrides cannot make a query."""
    found = _rule_on(policies, signal)
    if found is None:
        promql = signal_query(signal, namespace, window=window)
        return SignalSource(
            signal, promql, resolve_thresholds(signal, None, None, None), "the runbook"
        )
    policy, rule = found
    rule_window = parse_duration(rule.window) if rule.window else None
    promql = signal_query(signal, namespace, rule.metrics, window or rule_window)
    thresholds = resolve_thresholds(signal, rule.warning, rule.critical, rule.direction)
    return SignalSource(signal, promql, thresholds, f"policy {policy}, rule {rule.name}")


@dataclass(frozen=True)
class Reading:
    """One workload's value of a signal and its level."""

    namespace: str
    kind: str | None
    name: str
    value: float
    level: Level


def readings(vector: InstantVector, thresholds: RuleThresholds) -> list[Reading]:
    """Every workload's value in ``vector``, worst first (NaN, no usable value, last); a
    workload with several series counts its worst, as detection does."""
    found = []
    above = thresholds.direction is Direction.ABOVE
    for namespace, group in vector.values.items():
        for (kind, name), values in group.items():
            finite = [v for v in values if math.isfinite(v)]
            value = (max(finite) if above else min(finite)) if finite else math.nan
            found.append(Reading(namespace or "", kind, name, value, level_of(value, thresholds)))

    def worst_first(reading: Reading) -> tuple[bool, float, str, str]:
        known = math.isfinite(reading.value)
        key = -reading.value if above else reading.value
        return (not known, key if known else 0.0, reading.namespace, reading.name)

    return sorted(found, key=worst_first)


# --------------------------------------------------------------------- a policy's rules


@dataclass(frozen=True)
class RuleLevel:
    """A rule's level now: the worst of its workloads', and how many are at each level."""

    namespace: str
    policy: str
    rule: str
    # The signal's name, or "query" for a custom query.
    signal: str
    level: Level
    # The workload the level is from, and its value (None: no workload has a value).
    workload: WorkloadKey | None
    value: float | None
    thresholds: RuleThresholds | None
    # How many of the rule's workloads are at each level.
    counts: Mapping[Level, int]
    # Why the level is Unknown: a reason (NoData, ...), the rule's error, or Prometheus'.
    problem: str | None = None


def rule_level(
    namespace: str,
    policy: EscalationPolicy,
    compiled: CompiledRule,
    result: InstantVector | str,
    workloads: Sequence[tuple[WorkloadKey, Mapping[str, str]]],
    now: datetime,
) -> RuleLevel:
    """The level of ``compiled`` from its query's ``result`` (a string: why there is none)
    over the policy's ``workloads`` (every workload of the namespace, with labels)."""
    watched = rule_workloads(compiled.rule, policy_workloads(policy, workloads))
    unknown = RuleLevel(
        namespace=namespace,
        policy=policy.metadata.name or "",
        rule=compiled.name,
        signal=compiled.signal_text,
        level=Level.UNKNOWN,
        workload=None,
        value=None,
        thresholds=compiled.thresholds,
        counts={Level.UNKNOWN: len(watched)} if watched else {},
    )
    if compiled.error is not None or compiled.thresholds is None:
        return replace(unknown, problem=compiled.error or "the rule cannot be evaluated")
    if isinstance(result, str):
        return replace(unknown, problem=result)
    if not watched:
        return replace(unknown, problem="the policy's selector matches no workload")
    evaluation = evaluate(
        result, namespace, watched, compiled.thresholds, now, stale_after(interval_of(policy))
    )
    observations = evaluation.observations.values()
    counts: dict[Level, int] = {}
    for observation in observations:
        counts[observation.level] = counts.get(observation.level, 0) + 1
    level = next(level for level in _SEVERITY_ORDER if counts.get(level))
    if level is Level.UNKNOWN:
        problems = sorted({o.problem for o in observations if o.problem})
        return replace(unknown, counts=counts, problem=", ".join(problems) or None)
    above = compiled.thresholds.direction is Direction.ABOVE
    at_level = [
        (workload, observation.value)
        for workload, observation in evaluation.observations.items()
        if observation.level is level and observation.value is not None
    ]
    workload, value = (max if above else min)(at_level, key=lambda item: item[1] or 0.0)
    return replace(unknown, level=level, workload=workload, value=value, counts=counts)
