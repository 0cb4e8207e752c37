"""Gaps in the data: a reading whose range overlaps one is Unknown until the range is whole
again; Unknown opens, recovers and raises nothing, and ``for`` clocks pause."""

from datetime import timedelta

import pytest

from incident_operator.domain.detection_gaps import (
    DataGaps,
    Gap,
    Outcome,
    QueryWindow,
    overlapping,
    track_gaps,
)
from incident_operator.domain.detection_queries import LONGEST_REACH, query_window, signal_query
from incident_operator.domain.reasons import Reason
from incident_operator.domain.signals import Level, Signal
from incident_operator.reconcile.detection import QueryFailure, metrics_available
from tests.unit.test_detection_plans import API, CPU, T0, Cycles, _at, _policy

S = timedelta(seconds=1)
DOWN = QueryFailure(Reason.PROMETHEUS_UNREACHABLE, "Prometheus at x refused the connection")


# ----------------------------------------------------------------- what a query reads


@pytest.mark.parametrize(
    ("signal", "window", "offsets"),
    [
        (Signal.CPU_USAGE, 300 * S, (0 * S,)),
        (Signal.POD_RESTARTS, 3600 * S, (0 * S,)),
        (Signal.API_ERROR_RATE, 300 * S, (0 * S,)),
        (Signal.REQUEST_RATE_DROP, 300 * S, (0 * S, timedelta(days=1))),
        (Signal.MEMORY_USAGE, 0 * S, (0 * S,)),  # a gauge: the latest sample
        (Signal.AGENT_QUEUE_DEPTH, 0 * S, (0 * S,)),
    ],
)
def test_each_signal_query_reads_its_window_and_offset(
    signal: Signal, window: timedelta, offsets: tuple[timedelta, ...]
) -> None:
    assert query_window(signal_query(signal, "shop")) == QueryWindow(window, offsets)


def test_a_rules_own_window_and_offset_are_what_its_query_reads() -> None:
    drop = signal_query(Signal.REQUEST_RATE_DROP, "shop", None, 10 * S, 90 * S)
    assert query_window(drop) == QueryWindow(10 * S, (0 * S, 90 * S))
    assert query_window(drop).reach == 100 * S


@pytest.mark.parametrize(
    ("promql", "window", "offsets"),
    [
        ("up", 0 * S, (0 * S,)),
        ("rate(x[1h30m])", 5400 * S, (0 * S,)),
        ("max_over_time(rate(x[1m])[2h:1m])", 7200 * S, (0 * S,)),  # a subquery
        ("x offset 1w - x", 0 * S, (0 * S, timedelta(weeks=1))),
        ("rate(x[5m] OFFSET -90s)", 300 * S, (-90 * S, 0 * S)),
        ("rate(x[1500ms])", 1.5 * S, (0 * S,)),
        ("rate(x[2d]) / rate(x[90])", timedelta(days=2), (0 * S,)),
        ("rate(x[99999999999y])", LONGEST_REACH, (0 * S,)),  # bounded, never an overflow
    ],
)
def test_a_custom_query_is_read_for_its_ranges_and_offsets(
    promql: str, window: timedelta, offsets: tuple[timedelta, ...]
) -> None:
    assert query_window(promql) == QueryWindow(window, offsets)


# ---------------------------------------------------------------- gaps, cycle by cycle


def _track(outcomes: str, reach: timedelta = 60 * S) -> DataGaps:
    """Cycles 15 s apart from T0: D data, E empty, F failed."""
    gaps = DataGaps()
    codes = {"D": Outcome.DATA, "E": Outcome.EMPTY, "F": Outcome.FAILED}
    for index, code in enumerate(outcomes):
        gaps = track_gaps(gaps, codes[code], _at(15 * index), reach)
    return gaps


@pytest.mark.parametrize(
    ("outcomes", "open_since", "closed"),
    [
        ("DDD", None, ()),
        # From the last cycle with data to the first with data again.
        ("DDFFED", None, (Gap(_at(15), _at(75)),)),
        ("DDFF", _at(15), ()),
        # Empty answers with nothing before are a new rule or workload, not a gap...
        ("EEDD", None, ()),
        # ...but a failure is one from the first cycle on (the operator started blind).
        ("FFDD", None, (Gap(_at(0), _at(30)),)),
        ("DEDFD", None, (Gap(_at(0), _at(30)), Gap(_at(30), _at(60)))),
        # Gaps that can no longer matter (ended more than ``reach`` ago) are forgotten.
        ("DFD" + "D" * 5, None, ()),
    ],
)
def test_a_gap_runs_from_the_last_data_to_the_first_data_again(
    outcomes: str, open_since: object, closed: tuple[Gap, ...]
) -> None:
    gaps = _track(outcomes)
    assert gaps.open_since == open_since
    assert gaps.closed == closed


GAP = DataGaps(closed=(Gap(_at(15), _at(75)),))


@pytest.mark.parametrize(
    ("window", "at", "until"),
    [
        # The docstring's example: rate(x[30s]), the gap (15, 75).
        (QueryWindow(30 * S), 75, 105),
        (QueryWindow(30 * S), 90, 105),
        (QueryWindow(30 * S), 105, None),
        # A gauge reads the latest sample: usable as soon as data returns.
        (QueryWindow(0 * S), 75, None),
        # With an offset of an hour, the gap comes back into the shifted range.
        (QueryWindow(30 * S, (0 * S, 3600 * S)), 3600 + 10, None),
        (QueryWindow(30 * S, (0 * S, 3600 * S)), 3600 + 20, 3600 + 105),
        (QueryWindow(30 * S, (0 * S, 3600 * S)), 3600 + 104, 3600 + 105),
        (QueryWindow(30 * S, (0 * S, 3600 * S)), 3600 + 105, None),
    ],
)
def test_a_reading_is_unknown_while_its_range_overlaps_a_gap(
    window: QueryWindow, at: int, until: int | None
) -> None:
    found = overlapping(GAP, window, _at(at))
    assert (found.until if found else None) == (_at(until) if until is not None else None)


# ------------------------------------------------------------- a rule across a gap

CPU_30S = {**CPU, "window": "30s"}


def test_a_workload_breaching_throughout_an_outage_is_not_recorded_as_recovered() -> None:
    cycles = Cycles(_policy(CPU_30S), gaps=True)
    cycles.run({"api": 0.95}, T0)
    cycles.run({"api": 0.95}, _at(15))
    for at in (30, 45, 60):
        cycles.run(DOWN, _at(at))
    # Back, but the 30 s range still holds the outage: it reads low, and counts for nothing.
    for at in (75, 90):
        plan = cycles.run({"api": 0.2}, _at(at))
        assert plan.observations[API].level is Level.UNKNOWN
        assert plan.observations[API].problem == Reason.WINDOW_OVERLAPS_GAP
        assert (plan.opens, plan.raises) == ([], [])
        detection = cycles.incident().status.detection
        assert detection is not None
        assert detection.breaching
        assert detection.recovered_at is None
        assert plan.settling
        assert not plan.blind
        assert plan.problem is not None
        assert plan.problem[0] == Reason.WINDOW_OVERLAPS_GAP
        assert "the 30s its query reads overlaps a gap in the data" in plan.problem[1]
        assert plan.problem[1].endswith(f"Unknown until {_at(105).isoformat()}")
    condition = metrics_available([], {"cpu": plan}, 1, 3, _at(90))
    assert (condition.status.value, condition.reason) == ("False", "WindowOverlapsGap")
    # Whole again: the value is believed.
    plan = cycles.run({"api": 0.95}, _at(105))
    assert plan.observations[API].level is Level.CRITICAL
    assert not plan.settling
    assert cycles.incident().status.detection.breaching  # type: ignore[union-attr]


def test_a_steady_rate_is_not_read_as_a_drop_through_an_outage_or_its_offset() -> None:
    rule = {"name": "drop", "signal": "requestRateDrop", "window": "30s", "offset": "1h"}
    cycles = Cycles(_policy(rule), gaps=True)
    cycles.run({"api": 0.0}, T0)
    cycles.run(DOWN, _at(15))
    # Right after the outage, and again an hour later when the offset range crosses it.
    for at in (30, 45, 3600 + 15, 3600 + 45):
        plan = cycles.run({"api": 0.9}, _at(at))  # "a 90% drop", from the gap
        assert plan.observations[API].level is Level.UNKNOWN, at
        assert plan.opens == []
    assert "offset 1h" in (plan.problem or ("", ""))[1]
    # In between and after, the rule works: a real drop opens an incident.
    assert cycles.run({"api": 0.0}, _at(60)).observations[API].level is Level.OK
    assert len(cycles.run({"api": 0.9}, _at(3600 + 60)).opens) == 1


def test_for_does_not_count_the_time_without_usable_data() -> None:
    cycles = Cycles(_policy({**CPU_30S, "for": "60s"}), gaps=True)
    cycles.run({"api": 0.8}, T0)
    cycles.run({"api": 0.8}, _at(15))
    cycles.run(DOWN, _at(30))  # the pause begins: 30 s of the 60 s held
    for at in (45, 60, 75):
        cycles.run(DOWN if at < 60 else {"api": 0.8}, _at(at))
    assert cycles.incidents == {}
    # Usable again at 90 (60 + 30 s): the clock goes on from 30 s held, not from 90.
    assert cycles.run({"api": 0.8}, _at(90)).opens == []
    assert cycles.run({"api": 0.8}, _at(105)).opens == []
    [new] = cycles.run({"api": 0.8}, _at(120)).opens
    assert new.detection.breach_started_at == _at(60)


def test_empty_answers_after_data_are_a_gap_too() -> None:
    cycles = Cycles(_policy(CPU_30S), gaps=True)
    cycles.run({"api": 0.5}, T0)
    plan = cycles.run({}, _at(15))
    assert plan.blind
    # The gap runs from 0 (the last data) to 30: the 30 s range is whole again at 60.
    assert cycles.run({"api": 0.5}, _at(30)).settling
    assert cycles.run({"api": 0.5}, _at(45)).settling
    assert not cycles.run({"api": 0.5}, _at(60)).settling


def test_a_new_workload_is_read_as_soon_as_its_data_comes() -> None:
    cycles = Cycles(_policy(CPU_30S), gaps=True)
    cycles.run({}, T0)
    cycles.run({}, _at(15))
    [new] = cycles.run({"api": 0.95}, _at(30)).opens
    assert new.detection.level is Level.CRITICAL
