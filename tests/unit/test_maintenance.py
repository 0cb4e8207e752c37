"""Maintenance windows, decided: when they hold (absolute, cron in a time zone across DST),
what they match, what they record, and the limits the model shares with admission."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from incident_operator.api.incident import (
    DetectionStatus,
    IncidentSource,
    IncidentSpec,
    WorkloadReference,
)
from incident_operator.api.maintenance import (
    SUPPRESSED_LIMIT,
    MaintenanceWindow,
    MaintenanceWindowSpec,
    SuppressedSignal,
)
from incident_operator.domain.maintenance import next_start, occurrence
from incident_operator.domain.signals import Level
from incident_operator.reconcile.detection import NewIncident
from incident_operator.reconcile.maintenance import (
    current_span,
    matches,
    pending_incident,
    recorded,
    resolved,
    to_open,
    too_long,
    window_status,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _spec(**fields: Any) -> MaintenanceWindowSpec:
    body = {
        "selector": {"workloads": {"matchLabels": {"app": "checkout"}}},
        "reason": "database upgrade",
        "owner": "alice",
        **fields,
    }
    return MaintenanceWindowSpec.model_validate(body)


def _absolute(start: datetime, end: datetime, **fields: Any) -> MaintenanceWindowSpec:
    return _spec(start=start.isoformat(), end=end.isoformat(), **fields)


def _window(spec: MaintenanceWindowSpec, **status: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate(
        {
            "metadata": {"name": "upgrade", "namespace": "shop", "generation": 1},
            "spec": spec.model_dump(mode="json", by_alias=True, exclude_none=True),
            "status": status,
        }
    )


def _signal(
    source: IncidentSource = IncidentSource.PROMETHEUS, fingerprint: str = "f1"
) -> NewIncident:
    return NewIncident(
        namespace="shop",
        name="errors-checkout-abc",
        labels={"sre.agentos.io/fingerprint": fingerprint},
        spec=IncidentSpec(
            title="errors on checkout",
            severity="P2",
            source=source,
            affected=[WorkloadReference(kind="Deployment", name="checkout")],
        ),
        detection=DetectionStatus(
            fingerprint=fingerprint,
            policy="runbook",
            rule="errors",
            level=Level.CRITICAL,
            breaching=True,
            last_evaluated_at=T0,
        ),
        signal_labels={"app": "checkout", "namespace": "shop"},
    )


# ------------------------------------------------------------------ absolute windows


@pytest.mark.parametrize(
    ("now", "holds"),
    [
        (T0 - timedelta(seconds=1), False),
        (T0, True),
        (T0 + timedelta(minutes=59), True),
        (T0 + timedelta(hours=1), False),
        (T0 + timedelta(days=1), False),
    ],
)
def test_an_absolute_window_holds_from_start_until_end(now: datetime, holds: bool) -> None:
    spec = _absolute(T0, T0 + timedelta(hours=1))
    assert (current_span(spec, now) is not None) is holds


# -------------------------------------------------------------------- cron schedules


BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("now", "start"),
    [
        # 02:30 local is 01:30 UTC in winter (CET)...
        (datetime(2026, 3, 28, 1, 45, tzinfo=UTC), datetime(2026, 3, 28, 1, 30, tzinfo=UTC)),
        # ...does not exist on the spring-forward night: cron moves it to 03:00 CEST...
        (datetime(2026, 3, 29, 1, 5, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # ...is 00:30 UTC in summer (CEST)...
        (datetime(2026, 3, 30, 0, 45, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
        # ...exists twice on the fall-back night: the first one (CEST) is taken...
        (datetime(2026, 10, 25, 0, 45, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # ...and 01:30 UTC again in winter.
        (datetime(2026, 10, 26, 1, 45, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)
def test_a_cron_occurrence_follows_its_time_zone_across_dst(now: datetime, start: datetime) -> None:
    span = occurrence("30 2 * * *", BERLIN, timedelta(hours=1), now)
    assert span is not None
    assert span.start == start
    assert span.end == start + timedelta(hours=1)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 3, 28, 1, 29, tzinfo=UTC),
        datetime(2026, 3, 28, 2, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 1, 30, tzinfo=UTC),
    ],
)
def test_between_occurrences_a_schedule_holds_nothing(now: datetime) -> None:
    assert occurrence("30 2 * * *", BERLIN, timedelta(hours=1), now) is None


def test_the_next_start_is_in_utc_from_the_local_cron() -> None:
    before_spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_start("30 2 * * *", BERLIN, before_spring) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_every_minute_for_20_seconds() -> None:
    spec = _spec(schedule={"cron": "* * * * *", "duration": "20s"})
    assert current_span(spec, T0 + timedelta(seconds=10)) is not None
    assert current_span(spec, T0 + timedelta(seconds=20)) is None
    assert current_span(spec, T0 + timedelta(seconds=59)) is None


# ------------------------------------------------------------------------ selectors


@pytest.mark.parametrize(
    ("selector", "source", "labels", "held"),
    [
        (
            {"workloads": {"matchLabels": {"app": "checkout"}}},
            "prometheus",
            {"app": "checkout"},
            True,
        ),
        ({"workloads": {"matchLabels": {"app": "checkout"}}}, "prometheus", {"app": "cart"}, False),
        # The workload selector is for polling signals; alerts have their own.
        (
            {"workloads": {"matchLabels": {"app": "checkout"}}},
            "alertmanager",
            {"app": "checkout"},
            False,
        ),
        (
            {"alerts": {"matchLabels": {"team": "storage"}}},
            "alertmanager",
            {"team": "storage"},
            True,
        ),
        ({"alerts": {"matchLabels": {"team": "storage"}}}, "webhook", {"team": "storage"}, True),
        (
            {"alerts": {"matchLabels": {"team": "storage"}}},
            "prometheus",
            {"team": "storage"},
            False,
        ),
        (
            {
                "alerts": {
                    "matchExpressions": [
                        {"key": "severity", "operator": "In", "values": ["warning"]}
                    ]
                }
            },
            "alertmanager",
            {"severity": "critical"},
            False,
        ),
        (
            {"workloads": {"matchExpressions": [{"key": "app", "operator": "Exists"}]}},
            "prometheus",
            {"app": "anything"},
            True,
        ),
    ],
)
def test_selectors_match_workload_labels_or_alert_labels(
    selector: dict[str, Any], source: str, labels: dict[str, str], held: bool
) -> None:
    spec = _absolute(T0, T0 + timedelta(hours=1), selector=selector)
    assert matches(spec, IncidentSource(source), labels) is held


# --------------------------------------------------------------- the model's limits


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"selector": {}}, "spec.selector: set workloads or alerts"),
        ({"selector": {"workloads": {}, "alerts": {"matchLabels": {}}}}, "set workloads or alerts"),
        ({"start": T0.isoformat()}, "set either start and end, or schedule"),
        ({}, "set either start and end, or schedule"),
        (
            {
                "start": T0.isoformat(),
                "end": (T0 + timedelta(hours=1)).isoformat(),
                "schedule": {"cron": "0 2 * * *", "duration": "1h"},
            },
            "set either start and end, or schedule",
        ),
        (
            {"start": T0.isoformat(), "end": T0.isoformat()},
            "spec.end must be after spec.start",
        ),
        (
            {"start": T0.isoformat(), "end": (T0 + timedelta(hours=721)).isoformat()},
            "spec.end: a window lasts at most 720h",
        ),
        ({"schedule": {"cron": "0 2 * *", "duration": "1h"}}, "5 fields"),
        ({"schedule": {"cron": "0 25 * * *", "duration": "1h"}}, "spec.schedule.cron"),
        (
            {"schedule": {"cron": "0 2 * * *", "timeZone": "Mars/Base", "duration": "1h"}},
            "unknown time zone",
        ),
        ({"schedule": {"cron": "0 2 * * *", "duration": "721h"}}, "between 1s and 720h"),
        ({"owner": ""}, "at least 1 character"),
        ({"reason": ""}, "at least 1 character"),
    ],
)
def test_the_model_refuses_what_the_schema_refuses(fields: dict[str, Any], message: str) -> None:
    body: dict[str, Any] = {
        "selector": {"workloads": {"matchLabels": {"app": "checkout"}}},
        "reason": "database upgrade",
        "owner": "alice",
        **fields,
    }
    with pytest.raises(ValidationError, match=message):
        MaintenanceWindowSpec.model_validate(body)


def test_a_window_without_owner_is_refused() -> None:
    with pytest.raises(ValidationError, match="owner"):
        MaintenanceWindowSpec.model_validate(
            {
                "selector": {"alerts": {"matchLabels": {"team": "storage"}}},
                "reason": "r",
                "start": T0.isoformat(),
                "end": (T0 + timedelta(hours=1)).isoformat(),
            }
        )


@pytest.mark.parametrize(
    ("spec", "maximum", "refused"),
    [
        (_absolute(T0, T0 + timedelta(hours=24)), timedelta(hours=24), None),
        (
            _absolute(T0, T0 + timedelta(hours=25)),
            timedelta(hours=24),
            "spec.end: the window lasts 25h",
        ),
        (_absolute(T0, T0 + timedelta(hours=25)), timedelta(hours=48), None),
        (
            _spec(schedule={"cron": "0 2 * * 6", "duration": "25h"}),
            timedelta(hours=24),
            "spec.schedule.duration",
        ),
    ],
)
def test_the_policy_maximum_as_the_operator_checks_it(
    spec: MaintenanceWindowSpec, maximum: timedelta, refused: str | None
) -> None:
    found = too_long(spec, maximum)
    if refused is None:
        assert found is None
    else:
        assert found is not None
        assert refused in found


# ------------------------------------------------------------------------- recording


def test_a_signal_is_recorded_once_then_last_seen_at_most_every_minute() -> None:
    first = recorded([], _signal(), T0)
    assert first is not None
    [entry] = first
    assert (entry.source, entry.rule, entry.first_seen) == (IncidentSource.PROMETHEUS, "errors", T0)
    assert entry.workload == WorkloadReference(kind="Deployment", name="checkout")
    assert entry.pending is None
    assert recorded(first, _signal(), T0 + timedelta(seconds=59)) is None
    later = recorded(first, _signal(), T0 + timedelta(minutes=1))
    assert later is not None
    assert later[0].last_seen == T0 + timedelta(minutes=1)
    assert later[0].first_seen == T0


def test_the_list_is_bounded() -> None:
    full = [
        SuppressedSignal(
            fingerprint=f"f{i}",
            source=IncidentSource.PROMETHEUS,
            first_seen=T0,
            last_seen=T0,
        )
        for i in range(SUPPRESSED_LIMIT)
    ]
    assert recorded(full, _signal(fingerprint="new"), T0) is None


def test_an_alert_keeps_what_opens_it_and_resolving_drops_it_from_the_end() -> None:
    alert = _signal(IncidentSource.ALERTMANAGER)
    entries = recorded([], alert, T0)
    assert entries is not None
    assert entries[0].pending is not None
    window = _window(_absolute(T0, T0 + timedelta(hours=1)))
    held = window.model_copy(
        update={"status": window.status.model_copy(update={"suppressed": entries})}
    )
    [reopened] = to_open(held)
    assert reopened == pending_incident("shop", entries[0].pending)
    assert reopened.name == alert.name
    assert reopened.spec == alert.spec
    assert reopened.detection == alert.detection
    assert dict(reopened.signal_labels) == dict(alert.signal_labels)

    gone = resolved(entries, alert.fingerprint, T0 + timedelta(minutes=5))
    assert gone is not None
    assert gone[0].still_breaching is False
    assert resolved(gone, alert.fingerprint, T0) is None
    quiet = held.model_copy(update={"status": held.status.model_copy(update={"suppressed": gone})})
    assert to_open(quiet) == []
    # Firing again during the window holds it again.
    again = recorded(gone, alert, T0 + timedelta(minutes=6))
    assert again is not None
    assert again[0].still_breaching is True


# ---------------------------------------------------------------------------- status


def test_status_of_an_absolute_window_before_during_and_after() -> None:
    window = _window(_absolute(T0, T0 + timedelta(hours=1)))
    before = window_status(window, T0 - timedelta(minutes=1))
    assert (before.active, before.next_start) == (False, T0)
    during = window_status(window, T0 + timedelta(minutes=1))
    assert during.active is True
    assert (during.current_start, during.current_end) == (T0, T0 + timedelta(hours=1))
    after = window_status(window, T0 + timedelta(hours=2))
    assert (after.active, after.next_start) == (False, None)
    [ready] = after.conditions
    assert (ready.status, ready.reason) == ("True", "Inactive")


def test_a_recurring_window_starts_every_occurrence_with_an_empty_list() -> None:
    spec = _spec(schedule={"cron": "* * * * *", "duration": "20s"})
    held = recorded([], _signal(), T0 + timedelta(seconds=5))
    first = _window(
        spec,
        active=True,
        currentStart=T0.isoformat(),
        currentEnd=(T0 + timedelta(seconds=20)).isoformat(),
        suppressed=[s.model_dump(mode="json", by_alias=True) for s in held or []],
    )
    same = window_status(first, T0 + timedelta(seconds=10))
    assert len(same.suppressed) == 1
    ended = window_status(first, T0 + timedelta(seconds=30))
    assert ended.active is False
    assert len(ended.suppressed) == 1
    nxt = window_status(first, T0 + timedelta(seconds=65))
    assert nxt.active is True
    assert nxt.suppressed == []
    assert nxt.current_start == T0 + timedelta(minutes=1)


def test_a_window_over_the_maximum_holds_nothing_and_says_why() -> None:
    window = _window(_absolute(T0, T0 + timedelta(hours=30)))
    status = window_status(window, T0 + timedelta(hours=1), refused="spec.end: too long")
    assert status.active is False
    [ready] = status.conditions
    assert (ready.status, ready.reason, ready.message) == (
        "False",
        "WindowTooLong",
        "spec.end: too long",
    )
