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

Unknown pauses a hold: missing data neither confirms nor ends a breach, and the time
without data does not count towards ``for``. The hold notes when the pause began and,
when a known level comes, its clocks move on by the length of the pause::

    level:    warn  unk   unk   warn  warn      (for: 2 cycles)
    since:     t0    t0    t0   t0+2  t0+2
    paused:     -    t1    t1     -     -
    held:      ok    ok    ok    ok   warn

A pause is not persisted in ``status.breaches``: after a restart during one, the time
without data counts.
"""

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final, NamedTuple

from incident_operator.domain.reasons import Reason
from incident_operator.domain.signals import (
    RUNBOOK_THRESHOLDS,
    TIMES_NORMAL,
    Direction,
    Level,
    Signal,
)

# Labels a rule's result names its workload by.
WORKLOAD_LABEL: Final = "workload"
WORKLOAD_KIND_LABEL: Final = "workload_kind"
NAMESPACE_LABEL: Final = "namespace"


# Most serious first: the condition's reason is the first of these any rule has.
PROBLEM_ORDER: Final = (
    Reason.PROMETHEUS_UNREACHABLE,
    Reason.QUERY_FAILED,
    Reason.INVALID_RULE,
    Reason.DETECTION_FAILED,
    Reason.NO_DATA,
    Reason.NOT_A_NUMBER,
    Reason.STALE_DATA,
    Reason.WINDOW_OVERLAPS_GAP,
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


class Observation(NamedTuple):
    """What one cycle saw for one workload."""

    # A tuple, not a dataclass: a cycle makes one per rule and workload.
    level: Level
    value: float | None
    # Set when the level is Unknown: a MetricsAvailable=False reason (domain.reasons).
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
        return Observation(Level.UNKNOWN, None, Reason.NO_DATA)
    if len(present) == 1:  # the usual case, kept cheap: a rule evaluates every workload
        only = present[0]
        if now - only.timestamp > stale_after:
            return Observation(Level.UNKNOWN, None, Reason.STALE_DATA)
        if not math.isfinite(only.value):
            return Observation(Level.UNKNOWN, None, Reason.NOT_A_NUMBER)
        return Observation(level_of(only.value, thresholds), only.value)
    fresh = [s for s in present if now - s.timestamp <= stale_after]
    if not fresh:
        return Observation(Level.UNKNOWN, None, Reason.STALE_DATA)
    finite = [s.value for s in fresh if math.isfinite(s.value)]
    if not finite:
        return Observation(Level.UNKNOWN, None, Reason.NOT_A_NUMBER)
    worst = max(finite) if thresholds.direction is Direction.ABOVE else min(finite)
    return Observation(level_of(worst, thresholds), worst)


# ------------------------------------------------------------------ a whole result at once

# A series' place: (workload kind, or None when the query does not say; workload name).
SeriesKey = tuple[str | None, str]


@dataclass(frozen=True)
class InstantVector:
    """A rule's result as detection reads it: the values of the series that name a workload.

    Grouped once when decoded, so a rule over 1,000 workloads makes no object per sample:
    ``values[namespace label or None][(kind or None, name)]`` are the values of the series
    with those labels. Prometheus stamps every sample of an instant query with the
    evaluation time, so ``evaluated_at`` serves them all and ``times`` (each series' own
    times, in the order of ``values``) is set only when they differ.
    """

    values: Mapping[str | None, Mapping[SeriesKey, tuple[float, ...]]]
    # Epoch seconds: the samples' time, the oldest one's when ``times`` is set; None if empty.
    evaluated_at: float | None
    times: Mapping[str | None, Mapping[SeriesKey, tuple[float, ...]]] | None = None
    # Set by the adapter that decoded the answer: a digest of it without its evaluation
    # time, so the next identical answer is recognised without decoding it again.
    digest: bytes | None = None


def vector_of(samples: Iterable[Sample]) -> InstantVector:
    """Samples (from a test, or any client) as an InstantVector."""
    values: dict[str | None, dict[SeriesKey, tuple[float, ...]]] = {}
    times: dict[str | None, dict[SeriesKey, tuple[float, ...]]] = {}
    stamps: set[float] = set()
    for sample in samples:
        labels = sample.labels
        name = labels.get(WORKLOAD_LABEL)
        if not name:
            continue
        namespace, key = labels.get(NAMESPACE_LABEL), (labels.get(WORKLOAD_KIND_LABEL), name)
        at = sample.timestamp.timestamp()
        stamps.add(at)
        group, group_times = values.setdefault(namespace, {}), times.setdefault(namespace, {})
        group[key] = (*group.get(key, ()), sample.value)
        group_times[key] = (*group_times.get(key, ()), at)
    return InstantVector(values, min(stamps, default=None), times if len(stamps) > 1 else None)


@dataclass(frozen=True)
class Evaluation:
    """One rule's observations of its workloads, and what they were judged from.

    Kept between cycles: when the next result has the same values (the adapter hands back
    the same mapping for an unchanged answer), the same workloads and thresholds, and every
    sample is still fresh, the observations are the same and nothing is judged again.
    """

    values: Mapping[str | None, Mapping[SeriesKey, tuple[float, ...]]]
    workloads: Sequence[WorkloadKey]
    thresholds: RuleThresholds
    observations: Mapping[WorkloadKey, Observation]
    # The workloads whose level is not Ok, in the order of ``workloads``.
    not_ok: tuple[WorkloadKey, ...]
    # True when any sample was stale: then the next cycle judges again.
    had_stale: bool

    def still_holds(
        self,
        vector: InstantVector,
        workloads: Sequence[WorkloadKey],
        thresholds: RuleThresholds,
        fresh: bool,
    ) -> bool:
        return (
            fresh
            and not self.had_stale
            and vector.values is self.values
            and thresholds == self.thresholds
            and (workloads is self.workloads or workloads == self.workloads)
        )


def _is_fresh(vector: InstantVector, now: datetime, stale_after: timedelta) -> bool:
    """Every sample is within ``stale_after`` of ``now``."""
    return vector.evaluated_at is None or (
        now.timestamp() - vector.evaluated_at <= stale_after.total_seconds()
    )


def _judge(thresholds: RuleThresholds) -> Callable[[tuple[float, ...]], Observation]:
    """The level of a workload's fresh values, as ``observe`` decides it, as one function
    made once per rule (the thresholds are looked up once, not per workload)."""
    above = thresholds.direction is Direction.ABOVE
    warning, critical = thresholds.warning, thresholds.critical
    no_data = Observation(Level.UNKNOWN, None, Reason.NO_DATA)
    not_a_number = Observation(Level.UNKNOWN, None, Reason.NOT_A_NUMBER)
    isfinite = math.isfinite
    # tuple.__new__ skips the named tuple's keyword handling: half the cost, per workload.
    make = tuple.__new__

    def judge(values: tuple[float, ...]) -> Observation:
        if len(values) == 1:
            worst = values[0]
            if not isfinite(worst):
                return not_a_number
        elif not values:
            return no_data
        else:
            finite = [value for value in values if isfinite(value)]
            if not finite:
                return not_a_number
            worst = max(finite) if above else min(finite)
        if above:
            if critical is not None and worst > critical:
                return make(Observation, (Level.CRITICAL, worst, None))
            if warning is not None and worst > warning:
                return make(Observation, (Level.WARNING, worst, None))
        else:
            if critical is not None and worst < critical:
                return make(Observation, (Level.CRITICAL, worst, None))
            if warning is not None and worst < warning:
                return make(Observation, (Level.WARNING, worst, None))
        return make(Observation, (Level.OK, worst, None))

    return judge


def evaluate(
    vector: InstantVector,
    namespace: str,
    workloads: Sequence[WorkloadKey],
    thresholds: RuleThresholds,
    now: datetime,
    stale_after: timedelta,
    previous: Evaluation | None = None,
) -> Evaluation:
    """``observe`` for every workload at once, from one result; ``previous`` when it still
    holds (see ``Evaluation``).

    Series of another namespace are dropped, and a series without a kind counts for every
    kind of that name, as ``samples_by_workload`` and ``samples_for`` do.
    """
    fresh = vector.times is None and _is_fresh(vector, now, stale_after)
    if previous is not None and previous.still_holds(vector, workloads, thresholds, fresh):
        return previous
    groups = [g for g in (vector.values.get(namespace), vector.values.get(None)) if g]
    if vector.times is not None or not fresh:
        observations = _observe_each(vector, namespace, workloads, thresholds, now, stale_after)
    else:
        judge = _judge(thresholds)
        observations = {}
        kinds = {kind is None for group in groups for kind, _ in group}
        # The usual cases, kept to one lookup per workload: one namespace, and every
        # series names its workload's kind, or none does.
        if len(groups) == 1 and kinds == {False}:
            get = groups[0].get
            for workload in workloads:
                observations[workload] = judge(get(workload, ()))
        elif len(groups) == 1 and kinds == {True}:
            get = groups[0].get
            for workload in workloads:
                observations[workload] = judge(get((None, workload.name), ()))
        else:
            any_kind = True in kinds
            for workload in workloads:
                found: tuple[float, ...] = ()
                for group in groups:
                    found += group.get(workload, ())
                    if any_kind:
                        found += group.get((None, workload.name), ())
                observations[workload] = judge(found)
    return Evaluation(
        vector.values,
        workloads,
        thresholds,
        observations,
        tuple(w for w, o in observations.items() if o.level is not Level.OK),
        had_stale=not fresh,
    )


def _observe_each(
    vector: InstantVector,
    namespace: str,
    workloads: Sequence[WorkloadKey],
    thresholds: RuleThresholds,
    now: datetime,
    stale_after: timedelta,
) -> dict[WorkloadKey, Observation]:
    """The general case, sample by sample: samples of different times, or stale ones."""
    samples: list[Sample] = []
    for label_namespace, group in vector.values.items():
        times = vector.times.get(label_namespace, {}) if vector.times is not None else {}
        for (kind, name), values in group.items():
            labels = {WORKLOAD_LABEL: name}
            if kind is not None:
                labels[WORKLOAD_KIND_LABEL] = kind
            if label_namespace is not None:
                labels[NAMESPACE_LABEL] = label_namespace
            stamps = times.get((kind, name)) or (vector.evaluated_at or 0.0,) * len(values)
            samples += [
                Sample(labels, value, datetime.fromtimestamp(at, UTC))
                for value, at in zip(values, stamps, strict=True)
            ]
    grouped = samples_by_workload(samples, namespace)
    return {
        workload: observe(samples_for(grouped, workload), thresholds, now, stale_after)
        for workload in workloads
    }


@dataclass(frozen=True)
class Hold:
    """A breach in progress (see "Holding a breach" above)."""

    since: datetime
    critical_since: datetime | None = None
    # Set while the level is Unknown: when the pause began.
    paused_at: datetime | None = None


def _resumed(hold: Hold, now: datetime) -> Hold:
    """The hold with its clocks moved on by the pause that ends at ``now``."""
    if hold.paused_at is None:
        return hold
    pause = max(now - hold.paused_at, timedelta(0))
    critical = hold.critical_since + pause if hold.critical_since is not None else None
    return Hold(since=hold.since + pause, critical_since=critical)


def advance_hold(hold: Hold | None, level: Level, now: datetime) -> Hold | None:
    """The hold after one more evaluation at ``level``."""
    if level is Level.UNKNOWN:
        if hold is None or hold.paused_at is not None:
            return hold
        return replace(hold, paused_at=now)
    if level is Level.OK:
        return None
    current = _resumed(hold, now) if hold is not None else Hold(since=now)
    if level is Level.CRITICAL:
        return current if current.critical_since else replace(current, critical_since=now)
    return replace(current, critical_since=None)


def held_level(hold: Hold | None, hold_for: timedelta, now: datetime) -> Level:
    """The level a breach has held for ``hold_for``: Critical, Warning, or Ok (not yet).

    A paused hold has held what it had when the pause began."""
    if hold is None:
        return Level.OK
    if hold.paused_at is not None:
        now = min(now, hold.paused_at)
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
    TIMES = "times"
    PLAIN = "plain"


def _unit_kind(unit: str) -> Unit:
    if unit.startswith("ratio"):
        return Unit.RATIO
    if unit == "seconds":
        return Unit.SECONDS
    if unit == TIMES_NORMAL:
        return Unit.TIMES
    return Unit.PLAIN


def format_value(value: float | None, unit: str) -> str:
    """``93.4%``, ``2.31s``, ``12x normal``, ``12``, for titles and summaries."""
    if value is None or not math.isfinite(value):
        return "unknown"
    kind = _unit_kind(unit)
    if kind is Unit.RATIO:
        return f"{value * 100:.3g}%"
    if kind is Unit.SECONDS:
        return f"{value:.3g}s"
    if kind is Unit.TIMES:
        return f"{value:.3g}x normal"
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
