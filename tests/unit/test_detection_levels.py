"""Judging samples: thresholds to levels, NaN, empty, stale and multi-series results, holds."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from incident_operator.domain.detection import (
    Hold,
    RuleError,
    RuleThresholds,
    Sample,
    WorkloadKey,
    advance_hold,
    alert_fingerprint,
    format_value,
    gap_fingerprint,
    held_level,
    incident_name,
    label_value,
    level_of,
    observe,
    resolve_thresholds,
    rule_fingerprint,
    samples_by_workload,
    samples_for,
)
from incident_operator.domain.reasons import Reason
from incident_operator.domain.signals import RUNBOOK_THRESHOLDS, Direction, Level, Signal

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STALE = timedelta(minutes=1)
ABOVE = RuleThresholds(warning=0.7, critical=0.9, direction=Direction.ABOVE, unit="ratio")
BELOW = RuleThresholds(warning=0.95, critical=0.8, direction=Direction.BELOW, unit="ratio")
API = WorkloadKey("Deployment", "api")


def _sample(value: float, workload: str = "api", age: float = 0.0, **labels: str) -> Sample:
    return Sample.of(
        {"namespace": "shop", "workload": workload, "workload_kind": "Deployment", **labels},
        value,
        T0 - timedelta(seconds=age),
    )


@pytest.mark.parametrize(
    ("value", "thresholds", "level"),
    [
        (0.5, ABOVE, Level.OK),
        (0.7, ABOVE, Level.OK),  # the runbook's thresholds are strict: "> 70%"
        (0.71, ABOVE, Level.WARNING),
        (0.9, ABOVE, Level.WARNING),
        (0.91, ABOVE, Level.CRITICAL),
        (0.99, BELOW, Level.OK),
        (0.95, BELOW, Level.OK),
        (0.94, BELOW, Level.WARNING),
        (0.79, BELOW, Level.CRITICAL),
        (math.nan, ABOVE, Level.UNKNOWN),
        (math.inf, ABOVE, Level.UNKNOWN),
        (-math.inf, BELOW, Level.UNKNOWN),
    ],
)
def test_level_of_a_value(value: float, thresholds: RuleThresholds, level: Level) -> None:
    assert level_of(value, thresholds) is level


def test_a_rule_with_only_a_critical_threshold_is_never_warning() -> None:
    only_critical = RuleThresholds(None, 100.0, Direction.ABOVE)
    assert level_of(99, only_critical) is Level.OK
    assert level_of(101, only_critical) is Level.CRITICAL
    assert only_critical.first() == 100.0


@pytest.mark.parametrize("signal", list(Signal))
def test_a_signal_rule_without_thresholds_uses_the_runbooks(signal: Signal) -> None:
    resolved = resolve_thresholds(signal, None, None, None)
    runbook = RUNBOOK_THRESHOLDS[signal]
    assert (resolved.warning, resolved.critical) == (runbook.warning, runbook.critical)
    assert resolved.direction is runbook.direction


def test_rule_thresholds_override_the_runbooks() -> None:
    resolved = resolve_thresholds(Signal.CPU_USAGE, 0.5, None, None)
    assert (resolved.warning, resolved.critical) == (0.5, 0.9)


def test_a_custom_query_needs_a_threshold() -> None:
    with pytest.raises(RuleError, match="needs a warning or a critical threshold"):
        resolve_thresholds(None, None, None, None)
    assert resolve_thresholds(None, 5, None, None).direction is Direction.ABOVE


@pytest.mark.parametrize(
    ("samples", "level", "value", "problem"),
    [
        ([], Level.UNKNOWN, None, Reason.NO_DATA),
        ([_sample(math.nan)], Level.UNKNOWN, None, Reason.NOT_A_NUMBER),
        ([_sample(math.inf), _sample(math.nan)], Level.UNKNOWN, None, Reason.NOT_A_NUMBER),
        ([_sample(0.95, age=120)], Level.UNKNOWN, None, Reason.STALE_DATA),
        ([_sample(0.95, age=30)], Level.CRITICAL, 0.95, None),
        # Several series for one workload: the worst one counts.
        ([_sample(0.2), _sample(0.8), _sample(0.75)], Level.WARNING, 0.8, None),
        # A NaN or stale series beside a good one does not hide it.
        ([_sample(math.nan), _sample(0.5)], Level.OK, 0.5, None),
        ([_sample(0.99, age=600), _sample(0.5)], Level.OK, 0.5, None),
    ],
)
def test_observe(
    samples: list[Sample], level: Level, value: float | None, problem: str | None
) -> None:
    observation = observe(samples, ABOVE, T0, STALE)
    assert (observation.level, observation.value, observation.problem) == (level, value, problem)


def test_the_worst_of_several_series_is_the_lowest_when_a_breach_is_below() -> None:
    observation = observe([_sample(0.99), _sample(0.85)], BELOW, T0, STALE)
    assert (observation.level, observation.value) == (Level.WARNING, 0.85)


def test_samples_are_matched_to_workloads_by_kind_and_name() -> None:
    samples = [
        _sample(1, "api"),
        _sample(2, "web"),
        Sample.of({"namespace": "shop", "workload": "api"}, 3, T0),  # no kind: any kind
        Sample.of({"namespace": "shop", "workload": "api", "workload_kind": "StatefulSet"}, 4, T0),
        Sample.of({"namespace": "other", "workload": "api"}, 5, T0),  # another namespace
        Sample.of({"namespace": "shop"}, 6, T0),  # no workload label
    ]
    grouped = samples_by_workload(samples, "shop")
    assert sorted(s.value for s in samples_for(grouped, API)) == [1, 3]
    assert [s.value for s in samples_for(grouped, WorkloadKey("StatefulSet", "api"))] == [4, 3]
    assert samples_for(grouped, WorkloadKey("Deployment", "missing")) == []


HOLD_FOR = timedelta(minutes=2)


def _walk(levels: list[Level]) -> list[tuple[Hold | None, Level]]:
    """Advances a hold one minute per level; returns (hold, held level) after each."""
    hold: Hold | None = None
    seen = []
    for minute, level in enumerate(levels):
        now = T0 + timedelta(minutes=minute)
        hold = advance_hold(hold, level, now)
        seen.append((hold, held_level(hold, HOLD_FOR, now)))
    return seen


def test_a_breach_counts_once_it_has_held_for_the_rules_for() -> None:
    ok, warn, crit = Level.OK, Level.WARNING, Level.CRITICAL
    steps = _walk([ok, warn, warn, warn, crit, crit, crit, warn, ok])
    assert [held for _, held in steps] == [ok, ok, ok, warn, warn, warn, crit, warn, ok]
    hold_at_critical, _ = steps[6]
    assert hold_at_critical is not None
    assert hold_at_critical.since == T0 + timedelta(minutes=1)
    assert hold_at_critical.critical_since == T0 + timedelta(minutes=4)
    assert steps[7][0] == Hold(since=T0 + timedelta(minutes=1))
    assert steps[8][0] is None


def _minutes(count: float) -> datetime:
    return T0 + timedelta(minutes=count)


def test_unknown_neither_ends_nor_confirms_a_breach_and_pauses_for() -> None:
    ok, warn, crit, unknown = Level.OK, Level.WARNING, Level.CRITICAL, Level.UNKNOWN
    steps = _walk([warn, unknown, unknown, warn, warn])
    # The hold survives the Unknown minutes, paused since the first of them...
    assert [hold for hold, _ in steps] == [
        Hold(since=T0),
        Hold(since=T0, paused_at=_minutes(1)),
        Hold(since=T0, paused_at=_minutes(1)),
        # ...and its clock moves on by the pause (2 minutes) when data returns.
        Hold(since=_minutes(2)),
        Hold(since=_minutes(2)),
    ]
    # So the two Unknown minutes do not count towards the 2 minutes of ``for``.
    assert [held for _, held in steps] == [ok, ok, ok, ok, warn]
    assert advance_hold(None, Level.UNKNOWN, T0) is None
    # Critical's own clock pauses too; a breach already held stays held while Unknown.
    held_crit = _walk([crit, crit, crit, unknown, unknown, crit])
    assert [held for _, held in held_crit] == [ok, ok, crit, crit, crit, crit]
    assert held_crit[-1][0] == Hold(since=_minutes(2), critical_since=_minutes(2))


@pytest.mark.parametrize(
    ("paused_at", "now", "held"),
    [
        (None, 3, Level.WARNING),  # not paused: held for 3 minutes
        (1, 3, Level.OK),  # paused after 1 minute: it has held for 1 minute
        (2, 30, Level.WARNING),  # paused after 2 minutes: held, however long the pause
    ],
)
def test_a_paused_hold_has_held_what_it_had_when_the_pause_began(
    paused_at: float | None, now: float, held: Level
) -> None:
    hold = Hold(since=T0, paused_at=None if paused_at is None else _minutes(paused_at))
    assert held_level(hold, HOLD_FOR, _minutes(now)) is held


def test_with_for_zero_a_breach_counts_at_once() -> None:
    hold = advance_hold(None, Level.CRITICAL, T0)
    assert held_level(hold, timedelta(0), T0) is Level.CRITICAL


def test_fingerprints_differ_per_policy_rule_and_workload() -> None:
    base = rule_fingerprint("shop", "runbook", "cpu", API)
    others = {
        rule_fingerprint("other", "runbook", "cpu", API),
        rule_fingerprint("shop", "team", "cpu", API),
        rule_fingerprint("shop", "runbook", "memory", API),
        rule_fingerprint("shop", "runbook", "cpu", WorkloadKey("StatefulSet", "api")),
        gap_fingerprint("shop", "runbook"),
        alert_fingerprint("shop", "a1b2c3"),
    }
    assert base == rule_fingerprint("shop", "runbook", "cpu", API)
    assert base not in others
    assert len(others) == 6
    assert len(base) == 32
    assert label_value(base) == base


def test_incident_names_are_deterministic_per_breach() -> None:
    name = incident_name(["api-errors", "Checkout_Service"], "fp", T0)
    assert name == incident_name(["api-errors", "Checkout_Service"], "fp", T0)
    assert name != incident_name(["api-errors", "Checkout_Service"], "fp", T0 + STALE)
    assert name.startswith("api-errors-checkout-service-")
    long = incident_name(["x" * 80, "y" * 80], "fp", T0)
    assert len(long) <= 63
    assert long.replace("-", "").isalnum()


@pytest.mark.parametrize(
    ("text", "valid_as_is"),
    [("runbook", True), ("a" * 63, True), ("a" * 64, False), ("team.payments-prod", True)],
)
def test_label_values_fit_kubernetes(text: str, valid_as_is: bool) -> None:
    value = label_value(text)
    assert (value == text) is valid_as_is
    assert len(value) <= 63


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.934, "ratio of limit", "93.4%"),
        (2.3127, "seconds", "2.31s"),
        (12.0, "restarts/hour", "12"),
        (None, "seconds", "unknown"),
        (math.nan, "", "unknown"),
    ],
)
def test_values_are_shown_in_their_unit(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text
