"""Merge and split decisions (reconcile/merge.py): what moves where, what is refused, and
that a decision taken again after a restart changes nothing twice."""

import argparse
from datetime import timedelta
from typing import Any

import pytest

from incident_operator.api.annotations import MERGE_BY, MERGE_INTO, SPLIT, SPLIT_BY
from incident_operator.api.incident import Incident, SignalStatus, WorkloadReference
from incident_operator.cli.merge_commands import add_merge_commands
from incident_operator.cli.signals_render import signals_section
from incident_operator.domain.conditions import ConditionStatus, find_condition
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, EntryType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.detection import FINGERPRINT_LABEL
from incident_operator.reconcile.merge import (
    already_split,
    merge_into_target,
    merge_refusal,
    merge_request,
    merged_source_status,
    split_child_status,
    split_from_source,
    split_manifest,
    split_name,
    split_refusal,
    split_request,
)
from tests.unit.test_pipeline import T0
from tests.unit.test_signals_pipeline import _signal

MIN = timedelta(minutes=1)


def _incident(
    name: str,
    signals: list[dict[str, Any]],
    severity: str = "P2",
    affected: tuple[str, ...] = ("web",),
    annotations: dict[str, str] | None = None,
    **status: Any,
) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "shop",
                "uid": f"{name}-uid",
                "generation": 1,
                "resourceVersion": "5",
                "labels": {"team": "payments"},
                "annotations": annotations or {},
            },
            "spec": {
                "title": f"{name} errors",
                "severity": severity,
                "source": "alertmanager",
                "affected": [{"kind": "Deployment", "name": w} for w in affected],
            },
            "status": {
                "id": f"INC-{len(name):04d}",
                "phase": "Investigating",
                "signals": signals,
                **status,
            },
        }
    )


def _into() -> Incident:
    return _incident("checkout", [_signal(1), _signal(2, "cart")], affected=("web", "cart"))


def _from() -> Incident:
    early = (T0 - 10 * MIN).isoformat()
    return _incident(
        "payments",
        [
            _signal(1, "pay", firstSeen=early) | {"fingerprint": "fpA"},
            _signal(2, "web") | {"fingerprint": "fpB"},
        ],
        severity="P1",
        affected=("pay", "web"),
        annotations={MERGE_INTO: "checkout", MERGE_BY: "alice"},
    )


def test_merge_moves_signals_workloads_and_severity_into_the_target() -> None:
    change = merge_into_target(_into(), _from(), "alice", T0)
    moved = [s for s in change.signals if s.moved_from == "payments"]
    assert [(s.id, s.fingerprint) for s in moved] == [("s3", "fpA"), ("s4", "fpB")]
    # Each keeps when it was first seen.
    assert moved[0].first_seen == T0 - 10 * MIN
    assert [w.name for w in change.affected] == ["web", "cart", "pay"]
    assert change.severity is Severity.P1
    assert change.merged_from == ["payments"]
    assert [(e.type, e.actor, e.message) for e in change.entries] == [
        (
            EntryType.MERGED,
            "alice",
            "INC-0008 (payments) merged into this incident; signals s1->s3, s2->s4",
        )
    ]
    assert (change.changed, change.spec_changed) == (True, True)


def test_merge_taken_again_after_a_restart_moves_nothing_twice() -> None:
    target, source = _into(), _from()
    first = merge_into_target(target, source, "alice", T0)
    written = target.model_copy(
        update={
            "spec": target.spec.model_copy(
                update={"affected": first.affected, "severity": first.severity}
            ),
            "status": target.status.model_copy(
                update={"signals": first.signals, "merged_from": first.merged_from}
            ),
        }
    )
    again = merge_into_target(written, source, "alice", T0 + MIN)
    assert (again.changed, again.spec_changed, again.entries) == (False, False, [])
    assert [s.id for s in again.signals] == ["s1", "s2", "s3", "s4"]


def test_a_lower_severity_merged_in_leaves_the_target_severity() -> None:
    source = _from().model_copy(
        update={"spec": _from().spec.model_copy(update={"severity": Severity.P3})}
    )
    assert merge_into_target(_into(), source, "alice", T0).severity is Severity.P2


def test_the_merged_source_is_closed_without_gate_or_postmortem_and_its_signals_gone() -> None:
    status, entry = merged_source_status(_from(), _into(), "alice", T0)
    assert (status.merged_into, status.phase, status.closed_at) == ("checkout", Phase.CLOSED, T0)
    assert (status.signals, status.detection, status.post_mortem) == ([], None, None)
    assert status.resolved_at is None
    condition = find_condition(status.conditions, ConditionType.MERGED)
    assert condition is not None
    assert (condition.status, condition.reason) == (ConditionStatus.TRUE, Reason.MERGED_INTO)
    assert entry.message == "merged into INC-0008 (checkout)"
    assert status.timeline[-1] == entry
    # Once merged, no request is left to carry out.
    merged = _from().model_copy(update={"status": status})
    assert merge_request(merged) is None


@pytest.mark.parametrize(
    ("into", "target", "why"),
    [
        ("payments", None, "cannot merge an incident into itself"),
        ("other/checkout", None, "cannot merge across namespaces"),
        ("gone", None, "no incident gone in namespace shop"),
        ("checkout", {"mergedInto": "search"}, "checkout was itself merged into search"),
        ("checkout", {"phase": "Closed"}, "checkout is Closed: merge only into an open incident"),
        ("checkout", {"phase": "Resolved"}, "checkout is Resolved"),
        ("checkout", {}, None),
    ],
)
def test_merge_refusals(into: str, target: dict[str, Any] | None, why: str | None) -> None:
    read = None
    if target is not None:
        base = _into()
        read = base.model_copy(update={"status": base.status.model_copy(update=_status(target))})
    refusal = merge_refusal(_from(), into, read)
    assert (refusal is None) == (why is None)
    if why is not None:
        assert refusal is not None
        assert refusal.startswith(why)


def _status(fields: dict[str, Any]) -> dict[str, Any]:
    mapping = {"mergedInto": "merged_into", "phase": "phase"}
    return {mapping[k]: (Phase(v) if k == "phase" else v) for k, v in fields.items()}


# ------------------------------------------------------------------------------ split


def _splitting(signal_id: str = "s2") -> Incident:
    return _incident(
        "checkout",
        [_signal(1), _signal(2, "cart"), _signal(3, "web")],
        affected=("web", "cart"),
        annotations={SPLIT: signal_id, SPLIT_BY: "bob"},
    )


@pytest.mark.parametrize(
    ("incident", "signal_id", "why"),
    [
        (_splitting(), "s9", "no signal s9 in checkout (signals: s1, s2, s3)"),
        (_incident("checkout", [_signal(1)]), "s1", "s1 is the only signal of checkout"),
        (_splitting(), "s2", None),
    ],
)
def test_split_refusals(incident: Incident, signal_id: str, why: str | None) -> None:
    refusal = split_refusal(incident, signal_id)
    assert (refusal is None) == (why is None)
    if why is not None:
        assert refusal is not None
        assert refusal.startswith(why)


def test_the_split_out_incident_is_named_from_the_source_and_fingerprint() -> None:
    assert split_name("checkout", "fp2") == split_name("checkout", "fp2")
    assert split_name("checkout", "fp2") != split_name("checkout", "fp3")
    assert split_name("checkout", "fp2").startswith("checkout-split-")
    assert len(split_name("x" * 253, "fp2")) <= 253


def test_the_split_out_incident_comes_from_the_signal() -> None:
    source = _splitting()
    request = split_request(source)
    assert request is not None
    assert (request.signal_id, request.by) == ("s2", "bob")
    signal = source.status.signals[1]
    manifest = split_manifest(source, signal, "bob")
    assert manifest["metadata"]["labels"] == {"team": "payments", FINGERPRINT_LABEL: "fp2"}
    assert manifest["spec"] == {
        "title": "HighErrorRate on Deployment/cart (split from INC-0008 (checkout))",
        "severity": "P1",
        "source": "alertmanager",
        "affected": [{"kind": "Deployment", "name": "cart"}],
    }
    child = Incident.model_validate(manifest)
    decided = split_child_status(child, signal, source, "bob", T0)
    assert decided is not None
    fields, entry = decided
    assert fields["splitFrom"] == "checkout"
    assert [(s["id"], s["fingerprint"], s["movedFrom"]) for s in fields["signals"]] == [
        ("s1", "fp2", "checkout")
    ]
    assert fields["detection"]["fingerprint"] == "fp2"
    assert entry.message == "split out of INC-0008 (checkout): s2"
    # Found written after a restart: nothing to write again.
    written = child.model_copy(
        update={"status": child.status.model_copy(update={"signals": [signal]})}
    )
    assert split_child_status(written, signal, source, "bob", T0) is None


@pytest.mark.parametrize(
    ("signal_id", "affected"),
    [
        # cart is named by no other signal: it leaves spec.affected.
        ("s2", ["web"]),
        # web is still named by s1: it stays.
        ("s3", ["web", "cart"]),
    ],
)
def test_the_source_loses_the_signal_and_only_an_unnamed_workload(
    signal_id: str, affected: list[str]
) -> None:
    source = _splitting(signal_id)
    signal = next(s for s in source.status.signals if s.id == signal_id)
    change = split_from_source(source, signal, "child", "bob", T0)
    assert signal_id not in [s.id for s in change.signals]
    assert [w.name for w in change.affected] == affected
    assert change.entry.message.startswith(f"{signal_id} split out to child: ")
    done = source.model_copy(
        update={"status": source.status.model_copy(update={"timeline": [change.entry]})}
    )
    assert (already_split(done, signal_id), already_split(source, signal_id)) == (True, False)


def test_workload_reference_equality_is_by_kind_and_name() -> None:
    # split_from_source and merge_into_target compare references by value.
    assert WorkloadReference.model_validate({"kind": "Deployment", "name": "a"}) == (
        WorkloadReference.model_validate({"kind": "Deployment", "name": "a"})
    )
    assert SignalStatus.model_validate(_signal(1)).workload is not None


def test_show_lists_signals_and_links() -> None:
    status = {
        "signals": [
            _signal(1),
            _signal(2, None, "DiskFull")
            | {"movedFrom": "payments", "breaching": False}
            | {"recoveredAt": "2026-01-01T10:00:00Z"},
        ],
        "mergedFrom": ["payments"],
        "splitFrom": "search",
    }
    lines = signals_section(status)
    assert lines[1] == "Signals (2):"
    assert "s1" in lines[3]
    assert "Deployment/web" in lines[3]
    assert "DiskFull" in lines[4]
    assert "2026-01-01T10:00:00Z  (from payments)" in lines[4]
    assert "Merged from:     payments" in lines
    assert "Split from:      search" in lines
    assert signals_section({}) == []


def test_merge_help_says_which_way() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    merge = add_merge_commands(commands)[0]
    assert "Merge the second incident INTO the first" in (merge.description or "")
    args = parser.parse_args(["merge", "INC-7", "INC-9"])
    assert (args.into, args.source) == ("INC-7", "INC-9")
