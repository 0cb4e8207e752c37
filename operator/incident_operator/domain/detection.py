"""Detection's pure core: from samples to a level, breaches held for ``for``, fingerprints.

Judging a result
================
A rule's query returns one vector per cycle; each sample names its workload by the
labels ``workload`` (and, when known, ``workload_kind``). For one workload::

    no sample ............................ Unknown (NoData)
    only NaN or +-Inf .................... Unknown (NotANumber)
    only samples older than stale_after .. Unknown (StaleData)
    finite, fresh values ................. the worst of them against the thresholds

Unknown is never "fine": nothing is opened, recovered or resolved on it (Argo Rollouts
calls the same case Inconclusive). Several series for one workload happen when a custom
query is not aggregated, or for a moment while kube-state-metrics restarts; the worst
value counts, as an alert on any of them would fire.

Holding a breach
================
``for`` is how long a breach must hold before it counts. A hold records when the value
crossed the warning threshold and, separately, the critical one, so a warning incident
is raised to critical only once critical itself has held for ``for``::

    value:   ok  warn warn crit crit crit  warn  ok
    since:    -   t1   t1   t1   t1   t1    t1    -
    crit:     -    -    -   t3   t3   t3     -    -

Unknown leaves a hold as it is: missing data neither confirms nor ends a breach.
"""

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final, NamedTuple

from incident_operator.domain.signals import RUNBOOK_THRESHOLDS, Direction, Level, Signal

# Labels a rule's result names its workload by.
WORKLOAD_LABEL: Final = "workload"
WORKLOAD_KIND_LABEL: Final = "workload_kind"
NAMESPACE_LABEL: Final = "namespace"


class MetricsReason:
    """Reasons of an EscalationPolicy's MetricsAvailable condition, most serious first."""

    # Type of the condition detection owns on EscalationPolicies.
    CONDITION_TYPE: Final = "MetricsAvailable"
    # True: every rule returned a usable value for every workload it watches.
    RECEIVED: Final = "MetricsReceived"
    # True: the rules select no workload, so there is nothing to measure.
    NO_WORKLOADS: Final = "NoWorkloadsSelected"
    # False: Prometheus did not answer (refused, timed out).
    UNREACHABLE: Final = "PrometheusUnreachable"
    # False: Prometheus answered with an error (bad PromQL, overload).
    QUERY_FAILED: Final = "QueryFailed"
    # False: a rule cannot be turned into a query (an unknown metric role, say).
    INVALID_RULE: Final = "InvalidRule"
    # False: no series for some watched workloads.
    NO_DATA: Final = "NoData"
    # False: only NaN or infinite values for some watched workloads.
    NOT_A_NUMBER: Final = "NotANumber"
    # False: only samples older than the staleness bound.
    STALE: Final = "StaleData"


# Most serious first: the condition's reason is the first of these any rule has.
PROBLEM_ORDER: Final = (
    MetricsReason.UNREACHABLE,
    MetricsReason.QUERY_FAILED,
    MetricsReason.INVALID_RULE,
    MetricsReason.NO_DATA,
    MetricsReason.NOT_A_NUMBER,
    MetricsReason.STALE,
)


class RuleError(ValueError):
    """A rule that cannot be evaluated as written; the message names the problem."""


@dataclass(frozen=True)
class RuleThresholds:
    """A rule's thresholds after the runbook's defaults are filled in."""

    warning: float | None
    critical: float | None
    direction: Direction
    # What the value measures ("ratio of limit", "seconds"); empty for custom queries.
    unit: str = ""

    def for_level(self, level: Level) -> float | None:
        return self.critical if level is Level.CRITICAL else self.warning

    def first(self) -> float | None:
        """The threshold a value must stay on the good side of: warning, else critical."""
        return self.warning if self.warning is not None else self.critical


def resolve_thresholds(
    signal: Signal | None,
    warning: float | None,
    critical: float | None,
    direction: Direction | None,
) -> RuleThresholds:
    """The rule's own thresholds, else the runbook's for its signal."""
    if signal is None:
        if warning is None and critical is None:
            raise RuleError("a rule with a custom query needs a warning or a critical threshold")
        return RuleThresholds(warning, critical, direction or Direction.ABOVE)
    runbook = RUNBOOK_THRESHOLDS[signal]
    return RuleThresholds(
        warning=runbook.warning if warning is None else warning,
        critical=runbook.critical if critical is None else critical,
        direction=direction or runbook.direction,
        unit=runbook.unit,
    )


def _beyond(value: float, threshold: float | None, direction: Direction) -> bool:
    if threshold is None:
        return False
    # The runbook's thresholds are strict: "> 3/hour", "< 95%".
    return value > threshold if direction is Direction.ABOVE else value < threshold


def level_of(value: float, thresholds: RuleThresholds) -> Level:
    """The level of one finite value; non-finite values are Unknown."""
    if not math.isfinite(value):
        return Level.UNKNOWN
    if _beyond(value, thresholds.critical, thresholds.direction):
        return Level.CRITICAL
    if _beyond(value, thresholds.warning, thresholds.direction):
        return Level.WARNING
    return Level.OK


def is_breach(level: Level) -> bool:
    return level in (Level.WARNING, Level.CRITICAL)


class WorkloadKey(NamedTuple):
    # A tuple, not a dataclass: it keys every per-workload lookup of every cycle.
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result."""

    labels: Mapping[str, str]
    value: float
    timestamp: datetime

    @classmethod
    def of(cls, labels: Mapping[str, str], value: float, timestamp: datetime) -> "Sample":
        return cls(labels, value, timestamp)

    def label(self, name: str) -> str | None:
        return self.labels.get(name)


@dataclass(frozen=True)
class Observation:
    """What one cycle saw for one workload."""

    level: Level
    value: float | None
    # Set when the level is Unknown: one of MetricsReason's False reasons.
    problem: str | None = None


def samples_by_workload(
    samples: Iterable[Sample], namespace: str
) -> dict[tuple[str | None, str], list[Sample]]:
    """Samples keyed by (workload kind or None when the query does not say, name).

    Samples of another namespace (a custom query that forgot to filter) are dropped.
    """
    grouped: dict[tuple[str | None, str], list[Sample]] = {}
    for sample in samples:
        labels = sample.labels
        name = labels.get(WORKLOAD_LABEL)
        sample_namespace = labels.get(NAMESPACE_LABEL)
        if not name or (sample_namespace is not None and sample_namespace != namespace):
            continue
        grouped.setdefault((labels.get(WORKLOAD_KIND_LABEL), name), []).append(sample)
    return grouped


def samples_for(
    grouped: Mapping[tuple[str | None, str], list[Sample]], workload: WorkloadKey
) -> list[Sample]:
    by_kind = grouped.get((workload.kind, workload.name), [])
    any_kind = grouped.get((None, workload.name))
    return [*by_kind, *any_kind] if any_kind else by_kind


def observe(
    samples: Iterable[Sample], thresholds: RuleThresholds, now: datetime, stale_after: timedelta
) -> Observation:
    """Judges one workload's samples (see the module docstring for the cases)."""
    present = list(samples)
    if not present:
        return Observation(Level.UNKNOWN, None, MetricsReason.NO_DATA)
    if len(present) == 1:  # the usual case, kept cheap: a rule evaluates every workload
        only = present[0]
        if now - only.timestamp > stale_after:
            return Observation(Level.UNKNOWN, None, MetricsReason.STALE)
        if not math.isfinite(only.value):
            return Observation(Level.UNKNOWN, None, MetricsReason.NOT_A_NUMBER)
        return Observation(level_of(only.value, thresholds), only.value)
    fresh = [s for s in present if now - s.timestamp <= stale_after]
    if not fresh:
        return Observation(Level.UNKNOWN, None, MetricsReason.STALE)
    finite = [s.value for s in fresh if math.isfinite(s.value)]
    if not finite:
        return Observation(Level.UNKNOWN, None, MetricsReason.NOT_A_NUMBER)
    worst = max(finite) if thresholds.direction is Direction.ABOVE else min(finite)
    return Observation(level_of(worst, thresholds), worst)


@dataclass(frozen=True)
class Hold:
    """A breach in progress (see "Holding a breach" above)."""

    since: datetime
    critical_since: datetime | None = None


def advance_hold(hold: Hold | None, level: Level, now: datetime) -> Hold | None:
    """The hold after one more evaluation at ``level``."""
    if level is Level.UNKNOWN:
        return hold
    if level is Level.OK:
        return None
    current = hold or Hold(since=now)
    if level is Level.CRITICAL:
        return current if current.critical_since else replace(current, critical_since=now)
    return replace(current, critical_since=None)


def held_level(hold: Hold | None, hold_for: timedelta, now: datetime) -> Level:
    """The level a breach has held for ``hold_for``: Critical, Warning, or Ok (not yet)."""
    if hold is None:
        return Level.OK
    if hold.critical_since is not None and now - hold.critical_since >= hold_for:
        return Level.CRITICAL
    if now - hold.since >= hold_for:
        return Level.WARNING
    return Level.OK


# ------------------------------------------------------------------ naming and fingerprints

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_NAME_PREFIX_LIMIT = 40


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@lru_cache(maxsize=65536)
def rule_fingerprint(namespace: str, policy: str, rule: str, workload: WorkloadKey) -> str:
    """Identifies one (policy, rule, workload): at most one open incident has it."""
    return _digest("prometheus", namespace, policy, rule, workload.kind, workload.name)[:32]


def gap_fingerprint(namespace: str, policy: str) -> str:
    """Identifies a policy's monitoring gap."""
    return _digest("monitoring-gap", namespace, policy)[:32]


def alert_fingerprint(namespace: str, alertmanager_fingerprint: str) -> str:
    """Alertmanager's fingerprint of the alert's labels, kept apart from rule fingerprints."""
    return _digest("alertmanager", namespace, alertmanager_fingerprint)[:32]


def label_value(text: str) -> str:
    """``text`` as a valid label value (63 characters), hashed when it does not fit."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", text).strip("-_.")[:54].strip("-_.")
    return f"{cleaned}-{_digest(text)[:8]}" if cleaned else _digest(text)[:16]


def incident_name(parts: Iterable[str], fingerprint: str, breach_started_at: datetime) -> str:
    """A readable, deterministic name: the same breach always gets the same name.

    So an operator that restarts between creating an incident and seeing it in its
    watch gets a conflict instead of opening the incident twice.
    """
    readable = _NOT_NAME.sub("-", "-".join(parts).lower()).strip("-")
    prefix = readable[:_NAME_PREFIX_LIMIT].rstrip("-") or "incident"
    suffix = _digest(fingerprint, breach_started_at.isoformat())[:8]
    return f"{prefix}-{suffix}"


# ------------------------------------------------------------------------------ messages


class Unit(StrEnum):
    """How a value is shown; chosen from the catalog's unit text."""

    RATIO = "ratio"
    SECONDS = "seconds"
    PLAIN = "plain"


def _unit_kind(unit: str) -> Unit:
    if unit.startswith("ratio"):
        return Unit.RATIO
    if unit == "seconds":
        return Unit.SECONDS
    return Unit.PLAIN


def format_value(value: float | None, unit: str) -> str:
    """``93.4%``, ``2.31s``, ``12``, for titles and summaries."""
    if value is None or not math.isfinite(value):
        return "unknown"
    kind = _unit_kind(unit)
    if kind is Unit.RATIO:
        return f"{value * 100:.3g}%"
    if kind is Unit.SECONDS:
        return f"{value:.3g}s"
    return f"{value:.4g}"


def describe_breach(
    signal_text: str,
    value: float | None,
    level: Level,
    thresholds: RuleThresholds,
) -> str:
    """``cpuUsage 93.4% above the critical threshold 90%``."""
    threshold = thresholds.for_level(level)
    side = "above" if thresholds.direction is Direction.ABOVE else "below"
    return (
        f"{signal_text} {format_value(value, thresholds.unit)} {side} the {level.value} "
        f"threshold {format_value(threshold, thresholds.unit)}"
    )
