"""What the incident tells of the signals that joined it (status.signals beyond the first).

Grouping (spec.grouping of the policy) adds signals to an open incident; the pipeline
tells people of each once:

- the timeline gets one SignalJoined entry per signal, naming its source, rule or alert,
  workload and level; ``status.recorded.signals`` (the highest signal number told) makes
  a restart repeat nothing;
- the incident's channels get at most one SignalsJoined message per update interval of
  the severity (the policy's spec.severities, else the runbook's), listing the signals
  that joined since the last one; ``status.escalation.signalsAnnounced`` and
  ``signalsAnnouncedAt`` remember what was told and when. Joining never pages.

Signals moved here by a merge (``movedFrom`` set) are told by the merge's own entry, and
the first signal is the one that opened the incident: neither is told as joined.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from incident_operator.api.incident import IncidentStatus, SignalStatus
from incident_operator.domain.reasons import EntryType
from incident_operator.domain.timeline import Entry

OPERATOR_ACTOR = "incident-operator"


def signal_number(signal: SignalStatus) -> int:
    """s3 -> 3."""
    return int(signal.id[1:])


def describe_signal(signal: SignalStatus) -> str:
    """``s2 (alertmanager) HighErrorRate on Deployment/api: critical``."""
    workload = f" on {signal.workload.kind.value}/{signal.workload.name}" if signal.workload else ""
    return f"{signal.id} ({signal.source.value}) {signal.rule}{workload}: {signal.level.value}"


def joined_since(signals: Sequence[SignalStatus], told: int) -> list[SignalStatus]:
    """Signals that joined (not the first, not moved by a merge) numbered above ``told``."""
    return [s for s in signals if signal_number(s) > max(told, 1) and s.moved_from is None]


def record_joined(status: IncidentStatus, now: datetime) -> list[Entry]:
    """One SignalJoined entry per signal not told yet; ``status.recorded.signals`` moves on
    (``status`` is the lifecycle's working copy: changed in place)."""
    told = status.recorded.signals
    entries = [
        Entry(now, EntryType.SIGNAL_JOINED, OPERATOR_ACTOR, f"signal joined: {describe_signal(s)}")
        for s in joined_since(status.signals, told)
    ]
    highest = max((signal_number(s) for s in status.signals), default=0)
    status.recorded.signals = max(told, highest)
    return entries


def systems_of(signals: Sequence[SignalStatus]) -> int:
    """How many distinct systems the signals cover: workloads, and for a signal without a
    workload its rule or alert name."""
    systems = {
        f"{s.workload.kind.value}/{s.workload.name}" if s.workload else f"rule:{s.rule}"
        for s in signals
    }
    return len(systems)


def signals_message_due(
    signals: Sequence[SignalStatus],
    announced: int,
    announced_at: datetime | None,
    interval: timedelta | None,
    now: datetime,
) -> tuple[list[SignalStatus], datetime | None]:
    """The signals the next SignalsJoined message tells (empty: none now), and when one is
    next due for signals waiting (None: nothing waits, or no cadence for the severity)."""
    waiting = joined_since(signals, announced)
    if not waiting or interval is None:
        return [], None
    due = announced_at + interval if announced_at is not None else now
    if now >= due:
        return waiting, None
    return [], due


def signals_in(signals: Sequence[SignalStatus], ref: str | None) -> list[SignalStatus]:
    """The signals a message's ref (``2-5``: numbers from, to) names."""
    if not ref or "-" not in ref:
        return []
    low, _, high = ref.partition("-")
    if not (low.isdigit() and high.isdigit()):
        return []
    return [
        s for s in signals if int(low) <= signal_number(s) <= int(high) and s.moved_from is None
    ]
