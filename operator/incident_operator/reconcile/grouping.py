"""Which open incident a new signal joins instead of opening its own (docs/grouping.md).

Two rules, tried in this order:

- Cross-source dedup, always on: an Alertmanager alert and a polling rule that watch the
  same thing on the same workload are one signal seen twice. An alert matches a rule
  when its ``rule`` label is the rule's name, its ``signal`` label the rule's built-in
  signal, or its alertname the rule's name (case-insensitive); either may come first.
- Grouping, when the signal's policy has ``spec.grouping``: an open incident of the same
  policy with the same grouping key (the values of ``grouping.by`` in the signal's labels),
  opened within ``window``, holding fewer than ``maxSignals`` signals; with
  ``sameRollout`` also one whose workloads changed revision around the signal's. The
  oldest such incident wins.

The key is stored on the incident that opened the group as the label
``sre.agentos.io/group``: a short hash of the policy name and the key's values, so a
workload relabelled later does not move its incident to another group, and the policy
is part of the key (two policies never share a group).
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.grouping import Grouping
from incident_operator.api.incident import (
    Incident,
    IncidentSource,
    SignalStatus,
    WorkloadReference,
)
from incident_operator.domain.detection import label_value
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Signal
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, NewIncident
from incident_operator.reconcile.signals import signals_of

GROUP_LABEL: Final = "sre.agentos.io/group"
# The opening alert's ``rule`` and ``signal`` labels, so a polling breach coming later
# still recognises the alert's kind (status.signals keep only its alertname).
ALERT_RULE_LABEL: Final = "sre.agentos.io/alert-rule"
ALERT_SIGNAL_LABEL: Final = "sre.agentos.io/alert-signal"
# The label every signal has: its namespace.
NAMESPACE_KEY: Final = "namespace"
# spec.affected holds at most this many workloads (the schema's bound).
AFFECTED_LIMIT: Final = 50
TITLE_LIMIT: Final = 200

# A built-in signal of a policy's rule, by (policy, rule); None for a query rule.
RuleSignal = Callable[[str, str], Signal | None]


# ------------------------------------------------------------------------ keys


def grouping_key(by: Sequence[str], labels: Mapping[str, str]) -> tuple[str, ...] | None:
    """The values of ``by`` in ``labels``; None when one is missing (groups with nothing)."""
    values = [labels.get(name) for name in by]
    if any(not value for value in values):
        return None
    return tuple(value for value in values if value)


def group_label(policy: str, key: Sequence[str]) -> str:
    """The label value naming the group: a hash, as the key may not fit a label value."""
    digest = hashlib.sha256(json.dumps([policy, list(key)]).encode()).hexdigest()
    return digest[:16]


def signal_group(new: NewIncident, grouping: Grouping | None) -> str | None:
    """The group label ``new`` belongs to under its policy's grouping; None: no group."""
    if grouping is None or new.policy is None:
        return None
    key = grouping_key(grouping.by, new.signal_labels)
    return group_label(new.policy, key) if key is not None else None


def for_grouping(
    new: NewIncident, labels: Mapping[str, str], policy: EscalationPolicy | None
) -> NewIncident:
    """``new`` with what maintenance windows and grouping match: its labels (with its
    namespace), its policy, and the group label it opens its group with."""
    signal_labels = {**labels, NAMESPACE_KEY: new.namespace}
    name = policy.metadata.name if policy is not None else None
    marked = replace(new, signal_labels=signal_labels, policy=name)
    group = signal_group(marked, policy.spec.grouping if policy is not None else None)
    if group is None:
        return marked
    return replace(marked, labels={**new.labels, GROUP_LABEL: group})


# ---------------------------------------------------------------------- groups


def opened_at(incident: Incident) -> datetime | None:
    return incident.status.detected_at or incident.metadata.creation_timestamp


def group_candidates(
    new: NewIncident, grouping: Grouping, open_incidents: Iterable[Incident], now: datetime
) -> list[Incident]:
    """Open incidents ``new`` may join by labels, oldest first (``open_incidents`` is)."""
    group = signal_group(new, grouping)
    if group is None:
        return []
    window = parse_duration(grouping.window)
    found = []
    for incident in open_incidents:
        opened = opened_at(incident)
        if incident.metadata.labels.get(GROUP_LABEL) != group or opened is None:
            continue
        if not now - window <= opened <= now:
            continue
        if len(signals_of(incident)) >= grouping.max_signals:
            continue
        found.append(incident)
    return found


def workload_key(workload: WorkloadReference) -> str:
    return f"{workload.kind.value}/{workload.name}"


def changed_recently(changed: datetime | None, at: datetime, within: timedelta) -> bool:
    """A revision change within ``within`` before ``at`` (the signal's breach)."""
    return changed is not None and at - within <= changed <= at


def same_rollout(
    new: NewIncident,
    incident: Incident,
    changed: Mapping[str, datetime | None],
    within: timedelta,
    now: datetime,
) -> bool:
    """The signal's workload and one of the incident's changed revision within ``within``
    before the signal; ``changed`` holds revision-change times by "Kind/name"."""
    workload = new.detection.workload
    at = new.detection.breach_started_at or now
    if workload is None or not changed_recently(changed.get(workload_key(workload)), at, within):
        return False
    return any(
        changed_recently(changed.get(workload_key(affected)), at, within)
        for affected in incident.spec.affected
    )


def find_group(
    new: NewIncident,
    policy: EscalationPolicy,
    open_incidents: Iterable[Incident],
    now: datetime,
    changed: Mapping[str, datetime | None] | None = None,
) -> Incident | None:
    """The incident ``new`` joins by its policy's grouping; None: it opens its own.

    With ``sameRollout``, ``changed`` holds the revision-change times of the signal's
    workload and the candidates' (read by the caller only then).
    """
    grouping = policy.spec.grouping
    if grouping is None:
        return None
    within = parse_duration(policy.spec.rollback.proposal_window)
    for incident in group_candidates(new, grouping, open_incidents, now):
        if grouping.same_rollout and not same_rollout(new, incident, changed or {}, within, now):
            continue
        return incident
    return None


# -------------------------------------------------------------- cross-source


def rule_kinds(rule: str, signal: Signal | None) -> frozenset[str]:
    """What a polling rule watches, in terms an alert can match."""
    kinds = {f"rule:{rule.lower()}"}
    if signal is not None:
        kinds.add(f"signal:{signal.value.lower()}")
    return frozenset(kinds)


def alert_kinds(alertname: str, labels: Mapping[str, str]) -> frozenset[str]:
    """What an alert watches: its alertname, and its ``rule`` and ``signal`` labels."""
    kinds = {f"rule:{alertname.lower()}"}
    if labels.get("rule"):
        kinds.add(f"rule:{labels['rule'].lower()}")
    if labels.get("signal"):
        kinds.add(f"signal:{labels['signal'].lower()}")
    return frozenset(kinds)


def alert_kind_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The incident labels recording an opening alert's ``rule`` and ``signal`` labels."""
    recorded = {ALERT_RULE_LABEL: labels.get("rule", ""), ALERT_SIGNAL_LABEL: labels.get("signal")}
    return {key: label_value(value) for key, value in recorded.items() if value}


def _signal_kinds(
    incident: Incident, signal: SignalStatus, rule_signal: RuleSignal
) -> frozenset[str]:
    if signal.source is IncidentSource.PROMETHEUS:
        return rule_kinds(signal.rule, rule_signal(signal.policy, signal.rule))
    labels = incident.metadata.labels
    alert_labels: dict[str, str] = {}
    if labels.get(FINGERPRINT_LABEL) == signal.fingerprint:
        # The opening alert: its labels were recorded on the incident.
        alert_labels = {
            "rule": labels.get(ALERT_RULE_LABEL, ""),
            "signal": labels.get(ALERT_SIGNAL_LABEL, ""),
        }
    return alert_kinds(signal.rule, alert_labels)


def _new_kinds(new: NewIncident, rule_signal: RuleSignal) -> frozenset[str]:
    detection = new.detection
    if new.spec.source is IncidentSource.PROMETHEUS:
        return rule_kinds(detection.rule, rule_signal(detection.policy, detection.rule))
    return alert_kinds(detection.rule, new.signal_labels)


_CROSS = {
    IncidentSource.PROMETHEUS: IncidentSource.ALERTMANAGER,
    IncidentSource.ALERTMANAGER: IncidentSource.PROMETHEUS,
}


def find_duplicate(
    new: NewIncident, open_incidents: Iterable[Incident], rule_signal: RuleSignal
) -> Incident | None:
    """The open incident already holding the other source's view of ``new`` (same
    workload, same kind); the oldest wins. Applies with or without grouping."""
    other = _CROSS.get(new.spec.source)
    workload = new.detection.workload
    if other is None or workload is None:
        return None
    kinds = _new_kinds(new, rule_signal)
    for incident in open_incidents:
        for signal in signals_of(incident):
            if signal.source is not other or signal.workload != workload:
                continue
            if kinds & _signal_kinds(incident, signal, rule_signal):
                return incident
    return None


# ------------------------------------------------------------------ the spec

_SUFFIX = re.compile(r" \(\+[0-9]+ more systems?\)$")


def grouped_title(title: str, systems: int, had_suffix_or_alone: bool) -> str:
    """The title once the incident spans ``systems`` workloads: the operator's suffix
    "(+N more systems)" is added or rewritten; a title a person stripped it from is kept."""
    base = _SUFFIX.sub("", title)
    if not had_suffix_or_alone or systems <= 1:
        return title
    more = systems - 1
    suffix = f" (+{more} more system{'s' if more > 1 else ''})"
    return base[: TITLE_LIMIT - len(suffix)] + suffix


def spec_growth(
    spec: Mapping[str, Any], workload: WorkloadReference | None, severity: Severity, signals: int
) -> dict[str, Any] | None:
    """The spec merge patch once a signal joined (None: nothing changes): the workload
    added to spec.affected (up to its limit), spec.severity raised to the signal's (never
    lowered), the title counting the systems. ``signals``: how many it held before."""
    patch: dict[str, Any] = {}
    affected: list[dict[str, Any]] = list(spec.get("affected") or [])
    wire = workload.model_dump(mode="json") if workload is not None else None
    if wire is not None and wire not in affected and len(affected) < AFFECTED_LIMIT:
        affected.append(wire)
        patch["affected"] = affected
    current = Severity(spec["severity"])
    if severity.is_more_severe_than(current):
        patch["severity"] = severity.value
    title = str(spec.get("title", ""))
    ours = signals <= 1 or _SUFFIX.search(title) is not None
    titled = grouped_title(title, max(len(affected), 1), ours)
    if titled != title:
        patch["title"] = titled
    return patch or None


def affected_full(spec: Mapping[str, Any], workload: WorkloadReference | None) -> bool:
    """spec.affected is at its limit and lacks ``workload``."""
    affected = list(spec.get("affected") or [])
    wire = workload.model_dump(mode="json") if workload is not None else None
    return wire is not None and wire not in affected and len(affected) >= AFFECTED_LIMIT
