"""The pipeline's side of signals (reconcile/joined_signals.py): a timeline entry per
joined signal, at most one SignalsJoined message per update interval (never a page), and
the multiple-systems trigger from signals; a merged incident decides nothing more."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.incident import Incident, SignalStatus
from incident_operator.domain.notifications import NotificationKind
from incident_operator.domain.reasons import EntryType
from incident_operator.domain.triggers import TriggerInputs, TriggerName, fired_triggers
from incident_operator.reconcile.joined_signals import signals_message_due, systems_of
from incident_operator.reconcile.messages import message_context, render_message
from tests.unit.test_pipeline import T0, _decide, _new, _written

MIN = timedelta(minutes=1)


def _signal(
    number: int, workload: str | None = "web", rule: str = "HighErrorRate", **extra: Any
) -> dict[str, Any]:
    return {
        "id": f"s{number}",
        "source": "alertmanager",
        "severity": "P1",
        "firstSeen": T0.isoformat(),
        "fingerprint": f"fp{number}",
        "policy": "am",
        "rule": rule,
        **({"workload": {"kind": "Deployment", "name": workload}} if workload else {}),
        "level": "critical",
        "breaching": True,
        "lastEvaluatedAt": T0.isoformat(),
        **extra,
    }


def _with_signals(incident: Incident, *signals: dict[str, Any]) -> Incident:
    status = incident.status.model_copy(
        update={"signals": [SignalStatus.model_validate(s) for s in signals]}
    )
    return incident.model_copy(update={"status": status})


def _started() -> Incident:
    """A P1 incident after its first pass, with its one signal."""
    first = _with_signals(_new("P1"), _signal(1))
    return _written(first, _decide(first, T0, incident_id="INC-0007"))


def _keys(incident: Incident, kind: NotificationKind) -> set[str]:
    return {r.key for r in incident.status.notifications if r.kind is kind}


def test_each_joined_signal_gets_one_timeline_entry_and_a_restart_repeats_none() -> None:
    incident = _started()
    joined = _with_signals(incident, _signal(1), _signal(2, "cart", "HighLatency"))
    decision = _decide(joined, T0 + MIN)
    told = [e for e in decision.entries if e.type == EntryType.SIGNAL_JOINED]
    assert [e.message for e in told] == [
        "signal joined: s2 (alertmanager) HighLatency on Deployment/cart: critical"
    ]
    assert decision.status.recorded.signals == 2
    again = _decide(_written(joined, decision), T0 + 2 * MIN)
    assert [e for e in again.entries if e.type == EntryType.SIGNAL_JOINED] == []


def test_the_opening_signal_and_signals_moved_by_a_merge_are_not_told_as_joined() -> None:
    incident = _with_signals(_new("P1"), _signal(1), _signal(2, movedFrom="other"))
    decision = _decide(incident, T0, incident_id="INC-0007")
    assert [e for e in decision.entries if e.type == EntryType.SIGNAL_JOINED] == []
    assert decision.status.recorded.signals == 2


def test_joined_signals_are_told_at_most_once_per_update_interval_and_never_page() -> None:
    incident = _started()
    second = _with_signals(incident, _signal(1), _signal(2, "cart"))
    decision = _decide(second, T0 + MIN)
    incident = _written(second, decision)
    assert _keys(incident, NotificationKind.SIGNALS_JOINED) == {"signals-joined-2/high"}
    # Another joins five minutes later: P1's update interval (30 minutes) has not passed.
    third = _with_signals(incident, _signal(1), _signal(2, "cart"), _signal(3, "search"))
    decision = _decide(third, T0 + 6 * MIN)
    incident = _written(third, decision)
    assert _keys(incident, NotificationKind.SIGNALS_JOINED) == {"signals-joined-2/high"}
    assert decision.wake_at is not None
    assert decision.wake_at <= T0 + 31 * MIN
    # Once it has, one message tells of s3.
    decision = _decide(incident, T0 + 31 * MIN)
    incident = _written(incident, decision)
    assert _keys(incident, NotificationKind.SIGNALS_JOINED) == {
        "signals-joined-2/high",
        "signals-joined-3/high",
    }
    assert all(
        r.channel != "pd"
        for r in incident.status.notifications
        if r.kind is NotificationKind.SIGNALS_JOINED
    )
    record = next(r for r in incident.status.notifications if r.key == "signals-joined-3/high")
    context = message_context(incident, record.kind, record.ref, T0 + 31 * MIN, None)
    text = render_message(record.kind, context).text
    assert "s3 (alertmanager) HighErrorRate on Deployment/search" in text
    assert "s2 " not in text


@pytest.mark.parametrize(
    ("announced", "announced_at", "interval", "now", "told", "due"),
    [
        (0, None, timedelta(minutes=30), T0, ["s2", "s3"], None),
        (2, T0, timedelta(minutes=30), T0 + MIN, [], T0 + 30 * MIN),
        (2, T0, timedelta(minutes=30), T0 + 30 * MIN, ["s3"], None),
        (3, T0, timedelta(minutes=30), T0 + MIN, [], None),
        # No update cadence for the severity (P4): timeline entries only.
        (0, None, None, T0, [], None),
    ],
)
def test_the_message_cadence(
    announced: int,
    announced_at: datetime | None,
    interval: timedelta | None,
    now: datetime,
    told: list[str],
    due: datetime | None,
) -> None:
    signals = [SignalStatus.model_validate(_signal(n)) for n in (1, 2, 3)]
    waiting, next_due = signals_message_due(signals, announced, announced_at, interval, now)
    assert ([s.id for s in waiting], next_due) == (told, due)


@pytest.mark.parametrize(
    ("signals", "systems"),
    [
        ([_signal(1), _signal(2)], 1),
        ([_signal(1), _signal(2, "cart")], 2),
        # Without a workload a signal counts by its rule or alert name.
        ([_signal(1, None, "DiskFull"), _signal(2, None, "DiskFull")], 1),
        ([_signal(1, None, "DiskFull"), _signal(2, None, "QueueBacklog")], 2),
        ([_signal(1), _signal(2, None, "QueueBacklog")], 2),
    ],
)
def test_systems_the_signals_cover(signals: list[dict[str, Any]], systems: int) -> None:
    assert systems_of([SignalStatus.model_validate(s) for s in signals]) == systems


def test_signals_from_two_systems_fire_multiple_systems_once() -> None:
    inputs = TriggerInputs(
        data_loss=False,
        security_breach=False,
        sla_at_risk=False,
        multiple_systems=False,
        external_dependency=False,
        affected_workloads=1,
        conditions=(),
        escalate_overdue_updates=False,
        signal_systems=2,
    )
    fired = fired_triggers(inputs)
    assert [(f.name, f.instance) for f in fired] == [
        (TriggerName.MULTIPLE_SYSTEMS, "multipleSystems")
    ]
    incident = _started()
    joined = _with_signals(incident, _signal(1), _signal(2, "cart"))
    decision = _decide(joined, T0 + MIN)
    triggers = decision.status.escalation.triggers if decision.status.escalation else []
    assert [t.name for t in triggers] == [TriggerName.MULTIPLE_SYSTEMS]
    again = _decide(_written(joined, decision), T0 + 2 * MIN)
    assert again.status.escalation is not None
    assert [t.name for t in again.status.escalation.triggers] == [TriggerName.MULTIPLE_SYSTEMS]


def test_a_merged_incident_decides_nothing_and_sends_nothing() -> None:
    incident = _started()
    merged = incident.model_copy(
        update={"status": incident.status.model_copy(update={"merged_into": "other"})}
    )
    decision = _decide(merged, T0 + 2 * timedelta(hours=1))
    assert decision.status == merged.status
    assert (decision.claimed, decision.entries, decision.wake_at) == ([], [], None)
