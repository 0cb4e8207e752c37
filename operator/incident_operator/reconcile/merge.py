"""Merge and split, decided purely (docs/merge-split.md); runtime/merge.py does the I/O.

Merge (``kubectl incident merge INTO FROM``: the annotations sre.agentos.io/merge-into and
-by on FROM). INTO gets FROM's signals (each keeps firstSeen, gets the next id of INTO
and ``movedFrom: FROM``), FROM's affected workloads, FROM's severity if it was higher,
FROM in status.mergedFrom and a Merged timeline entry; then FROM gets status.mergedInto,
phase Closed (without the resolution gate or a post-mortem), the Merged condition, a
Merged entry, and no signals left. INTO is written first: a restart between the two
writes finds the signals already there (by fingerprint) and FROM in mergedFrom, so it
only finishes FROM. A merged incident's pipeline decides nothing more (no escalation,
no notifications): ``is_merged``.

Split (``kubectl incident split INC SIGNAL``: sre.agentos.io/split and -by on INC). A new
incident is opened for the signal under a name made from INC's name and the signal's
fingerprint (a restart finds it), with the signal as its s1 (``movedFrom: INC``) and
status.splitFrom; then INC loses the signal (its workload leaves spec.affected unless
another signal names it) and both timelines say so.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incident_operator.api.annotations import (
    CHANGED_BY,
    MERGE_BY,
    MERGE_INTO,
    SPLIT,
    SPLIT_BY,
)
from incident_operator.api.incident import (
    Incident,
    IncidentStatus,
    SignalStatus,
    WorkloadReference,
)
from incident_operator.domain.conditions import ConditionStatus, set_condition
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.domain.timeline import Entry
from incident_operator.reconcile.detection import FINGERPRINT_LABEL
from incident_operator.reconcile.joined_signals import describe_signal
from incident_operator.reconcile.signals import aggregate, next_signal_id, signals_of

OPERATOR_ACTOR = "incident-operator"
# A split-out incident's name: the source's (cut to fit) and a hash of the fingerprint.
_NAME_LIMIT = 253
_HASH_CHARS = 10


def is_merged(incident: Incident) -> bool:
    return incident.status.merged_into is not None


def label_of(incident: Incident) -> str:
    """``INC-0009 (api-errors)``: the ID people use and the object's name."""
    name = incident.metadata.name
    return f"{incident.status.id} ({name})" if incident.status.id else name


# ------------------------------------------------------------------------------ merge


@dataclass(frozen=True)
class MergeRequest:
    into: str
    by: str


def merge_request(incident: Incident) -> MergeRequest | None:
    """The merge asked of ``incident`` (merged away into another), when not done yet."""
    annotations = incident.metadata.annotations
    into = annotations.get(MERGE_INTO)
    if not into or is_merged(incident):
        return None
    return MergeRequest(into.strip(), annotations.get(MERGE_BY) or "unknown")


def merge_refusal(source: Incident, into: str, target: Incident | None) -> str | None:
    """Why merging ``source`` into ``into`` (read as ``target``) is refused; None when not."""
    if "/" in into:
        return (
            f"cannot merge across namespaces ({into}); both must be in {source.metadata.namespace}"
        )
    if into == source.metadata.name:
        return "cannot merge an incident into itself"
    if target is None:
        return f"no incident {into} in namespace {source.metadata.namespace}"
    if is_merged(target):
        return f"{into} was itself merged into {target.status.merged_into}; merge into that one"
    phase = target.status.phase
    if phase is not None and not phase.is_active:
        return f"{into} is {phase.value}: merge only into an open incident"
    return None


@dataclass(frozen=True)
class TargetMerge:
    """INTO after taking FROM in; ``changed`` False when a restart finds it done."""

    signals: list[SignalStatus]
    affected: list[WorkloadReference]
    severity: Severity
    merged_from: list[str]
    entries: list[Entry]
    changed: bool
    spec_changed: bool


def merge_into_target(target: Incident, source: Incident, by: str, now: datetime) -> TargetMerge:
    """What INTO becomes once ``source`` is merged into it (by fingerprint: idempotent)."""
    signals = signals_of(target)
    known = {s.fingerprint for s in signals}
    moved: list[str] = []
    for signal in signals_of(source):
        if signal.fingerprint in known:
            continue
        new_id = next_signal_id(signals)
        signals.append(signal.model_copy(update={"id": new_id, "moved_from": source.metadata.name}))
        known.add(signal.fingerprint)
        moved.append(f"{signal.id}->{new_id}")
    affected = list(target.spec.affected)
    for workload in source.spec.affected:
        if workload not in affected:
            affected.append(workload)
    severity = target.spec.severity
    if source.spec.severity.is_more_severe_than(severity):
        severity = source.spec.severity
    name = source.metadata.name
    already = name in target.status.merged_from
    merged_from = target.status.merged_from if already else [*target.status.merged_from, name]
    entries = []
    if not already:
        signals_moved = f"; signals {', '.join(moved)}" if moved else ""
        entries.append(
            Entry(
                now,
                EntryType.MERGED,
                by,
                f"{label_of(source)} merged into this incident{signals_moved}",
            )
        )
    spec_changed = affected != target.spec.affected or severity is not target.spec.severity
    return TargetMerge(
        signals=signals,
        affected=affected,
        severity=severity,
        merged_from=merged_from,
        entries=entries,
        changed=bool(moved) or not already,
        spec_changed=spec_changed,
    )


def merged_source_status(
    source: Incident, target: Incident, by: str, now: datetime
) -> tuple[IncidentStatus, Entry]:
    """FROM once merged: closed without the resolution gate or a post-mortem, its
    escalation stopped (its pipeline decides nothing more), its signals gone to INTO."""
    status = source.status.model_copy(deep=True)
    entry = Entry(now, EntryType.MERGED, by, f"merged into {label_of(target)}")
    status.merged_into = target.metadata.name
    status.phase = Phase.CLOSED
    status.closed_at = status.closed_at or now
    status.signals = []
    status.detection = None
    status.next_update_due_at = None
    if status.escalation is not None:
        status.escalation.next_step_due_at = None
    status.timeline = [*status.timeline, entry]
    status.conditions = set_condition(
        status.conditions,
        ConditionType.MERGED,
        ConditionStatus.TRUE,
        Reason.MERGED_INTO,
        f"merged into {label_of(target)} by {by}; closed, its escalation stopped",
        now,
        source.metadata.generation or None,
    )
    return status, entry


# ------------------------------------------------------------------------------ split


@dataclass(frozen=True)
class SplitRequest:
    signal_id: str
    by: str


def split_request(incident: Incident) -> SplitRequest | None:
    annotations = incident.metadata.annotations
    signal_id = annotations.get(SPLIT)
    if not signal_id:
        return None
    return SplitRequest(signal_id.strip(), annotations.get(SPLIT_BY) or "unknown")


def already_split(incident: Incident, signal_id: str) -> bool:
    """The timeline says ``signal_id`` was split out (a restart after the last write)."""
    prefix = f"{signal_id} split out to "
    return any(
        e.type == EntryType.SIGNAL_SPLIT and e.message.startswith(prefix)
        for e in incident.status.timeline
    )


def split_refusal(incident: Incident, signal_id: str) -> str | None:
    signals = signals_of(incident)
    if is_merged(incident):
        return f"{incident.metadata.name} was merged into {incident.status.merged_into}"
    if not any(s.id == signal_id for s in signals):
        known = ", ".join(s.id for s in signals) or "none"
        return f"no signal {signal_id} in {incident.metadata.name} (signals: {known})"
    if len(signals) == 1:
        return f"{signal_id} is the only signal of {incident.metadata.name}: nothing to split"
    return None


def split_name(source_name: str, fingerprint: str) -> str:
    """Deterministic: the same signal split out of the same incident has the same name."""
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:_HASH_CHARS]
    suffix = f"-split-{digest}"
    return f"{source_name[: _NAME_LIMIT - len(suffix)].rstrip('-.')}{suffix}"


def split_manifest(source: Incident, signal: SignalStatus, by: str) -> dict[str, Any]:
    """The new incident for ``signal``: its title, severity, workload and source."""
    workload = signal.workload
    where = f" on {workload.kind.value}/{workload.name}" if workload else ""
    title = f"{signal.rule}{where} (split from {label_of(source)})"[:200]
    spec: dict[str, Any] = {
        "title": title,
        "severity": signal.severity.value,
        "source": signal.source.value,
        "affected": [workload.model_dump(mode="json", by_alias=True)] if workload else [],
    }
    if source.spec.policy_ref is not None:
        spec["policyRef"] = source.spec.policy_ref.model_dump(mode="json", by_alias=True)
    labels = {**source.metadata.labels, FINGERPRINT_LABEL: signal.fingerprint}
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {
            "name": split_name(source.metadata.name, signal.fingerprint),
            "namespace": source.metadata.namespace,
            "labels": labels,
            "annotations": {CHANGED_BY: by},
        },
        "spec": spec,
    }


def split_child_status(
    child: Incident, signal: SignalStatus, source: Incident, by: str, now: datetime
) -> tuple[dict[str, Any], Entry] | None:
    """The child's status fields to write (signals, detection, splitFrom, the timeline)
    and its entry; None when a restart finds them written."""
    if any(s.fingerprint == signal.fingerprint for s in child.status.signals):
        return None
    moved = signal.model_copy(update={"id": "s1", "moved_from": source.metadata.name})
    entry = Entry(now, EntryType.SIGNAL_SPLIT, by, f"split out of {label_of(source)}: {signal.id}")
    status = child.status.model_copy(deep=True)
    status.signals = [moved]
    status.detection = aggregate([moved])
    status.split_from = source.metadata.name
    status.timeline = [*status.timeline, entry]
    wire = status.to_wire()
    fields = {key: wire.get(key) for key in ("signals", "detection", "splitFrom", "timeline")}
    return fields, entry


@dataclass(frozen=True)
class SourceSplit:
    signals: list[SignalStatus]
    affected: list[WorkloadReference]
    entry: Entry


def split_from_source(
    source: Incident, signal: SignalStatus, child_name: str, by: str, now: datetime
) -> SourceSplit:
    """INC without the signal; its workload stays affected if another signal names it."""
    signals = [s for s in signals_of(source) if s.fingerprint != signal.fingerprint]
    named = [s.workload for s in signals if s.workload is not None]
    affected = [w for w in source.spec.affected if w != signal.workload or w in named]
    entry = Entry(
        now,
        EntryType.SIGNAL_SPLIT,
        by,
        f"{signal.id} split out to {child_name}: {describe_signal(signal)}",
    )
    return SourceSplit(signals, affected, entry)
