"""The PromQL of each built-in signal: restricted to the namespace, one vector by workload."""

import re
from datetime import timedelta

import pytest

from incident_operator.domain.detection import RuleError
from incident_operator.domain.detection_queries import CATALOG, promql_duration, signal_query
from incident_operator.domain.signals import Signal


@pytest.mark.parametrize("signal", list(Signal))
def test_every_signal_is_aggregated_by_workload_within_the_namespace(signal: Signal) -> None:
    query = signal_query(signal, "shop")
    assert "by (namespace, workload, workload_kind" in query
    selectors = re.findall(r"[a-z_:]+\{([^}]*)\}", query)
    assert selectors, query
    assert all('namespace="shop"' in selector for selector in selectors), query
    assert query.count("(") == query.count(")")


@pytest.mark.parametrize("signal", list(Signal))
def test_metric_names_can_be_overridden_by_role(signal: Signal) -> None:
    roles = CATALOG[signal].metrics
    overrides = {role: f"custom_{role}_metric" for role in roles}
    query = signal_query(signal, "shop", overrides)
    for role, default in roles.items():
        assert f"custom_{role}_metric" in query
        assert default not in query


def test_an_unknown_metric_role_is_refused_naming_the_roles() -> None:
    with pytest.raises(RuleError, match=r"cpuUsage has no metric role bogus; its roles are"):
        signal_query(Signal.CPU_USAGE, "shop", {"bogus": "x"})


def test_a_metric_name_that_is_not_one_is_refused() -> None:
    with pytest.raises(RuleError, match="is not a Prometheus metric name"):
        signal_query(Signal.API_ERROR_RATE, "shop", {"requests": 'x"} or vector(1) #'})


def test_restarts_are_per_hour_over_any_window() -> None:
    assert "[3600s])" in signal_query(Signal.POD_RESTARTS, "shop")
    ten_minutes = signal_query(Signal.POD_RESTARTS, "shop", window=timedelta(minutes=10))
    assert "[600s])" in ten_minutes
    assert ten_minutes.endswith(" * 6")


def test_error_rates_read_no_error_series_as_zero() -> None:
    query = signal_query(Signal.API_ERROR_RATE, "shop", window=timedelta(seconds=10))
    assert 'code=~"5.."' in query
    assert "[10s]" in query
    assert " or " in query
    assert "* 0) /" in query


def test_request_rate_drop_compares_with_the_offset() -> None:
    query = signal_query(Signal.REQUEST_RATE_DROP, "shop", offset=timedelta(hours=2))
    assert query.startswith("1 - ")
    assert "offset 7200s" in query
    assert "offset 86400s" in signal_query(Signal.REQUEST_RATE_DROP, "shop")


def test_relative_latency_divides_the_p99_by_the_p99_a_week_before() -> None:
    query = signal_query(Signal.API_LATENCY_RELATIVE, "shop", window=timedelta(minutes=1))
    now, before = query.split(" / ")
    assert now.startswith("histogram_quantile(0.99, ")
    assert "offset" not in now
    assert before.startswith("histogram_quantile(0.99, ")
    assert "http_request_duration_seconds_bucket" in before
    assert "[60s] offset 604800s)" in before
    assert now.replace("[60s]", "[60s] offset 604800s") == before
    shifted = signal_query(Signal.API_LATENCY_RELATIVE, "shop", offset=timedelta(minutes=1))
    assert "offset 60s" in shifted


def test_latency_is_a_p99_over_buckets_kept_by_le() -> None:
    query = signal_query(Signal.API_LATENCY_P99, "shop")
    assert query.startswith("histogram_quantile(0.99, ")
    assert "http_request_duration_seconds_bucket" in query
    assert "workload_kind, le)" in query


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=5), "300s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(hours=1), "3600s"),
    ],
)
def test_promql_durations(value: timedelta, text: str) -> None:
    assert promql_duration(value) == text


def test_a_zero_window_is_refused() -> None:
    with pytest.raises(RuleError, match="must be positive"):
        signal_query(Signal.CPU_USAGE, "shop", window=timedelta(0))
