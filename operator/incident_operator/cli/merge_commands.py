"""``kubectl incident merge``, ``split`` and ``signals``: one outage, one incident
(docs/merge-split.md).

``merge INTO FROM`` sets ``sre.agentos.io/merge-into`` = INTO's name and
``sre.agentos.io/merge-by`` = the caller (the admission policy refuses any other) on
FROM; the operator moves FROM's signals and affected workloads into INTO and closes FROM.
``split INC SIGNAL`` sets ``sre.agentos.io/split`` = the signal's id and
``sre.agentos.io/split-by`` on INC; the operator opens a new incident for that signal.
Both wait for the operator and print what it did, or that it refused (non-zero exit).
"""

import argparse
from typing import Any

from incident_operator.api.annotations import (
    CHANGED_BY,
    MERGE_BY,
    MERGE_INTO,
    SPLIT,
    SPLIT_BY,
)
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.render import label as _label
from incident_operator.cli.signals_render import signal_lines

# How long the commands wait for the operator, by default.
WAIT_SECONDS = 30.0
_OPEN_PHASES = ("Detected", "Triaged", "Investigating", "Identified", "Mitigating", "Monitoring")


def _status(incident: dict[str, Any]) -> dict[str, Any]:
    return dict(incident.get("status") or {})


def _annotations(incident: dict[str, Any]) -> dict[str, str]:
    return dict((incident.get("metadata") or {}).get("annotations") or {})


def _name(incident: dict[str, Any]) -> str:
    return str(incident["metadata"]["name"])


def _events_hint(incident: dict[str, Any]) -> str:
    return f"see `kubectl get events --field-selector involvedObject.name={_name(incident)}`"


def cmd_merge(cluster: Cluster, args: argparse.Namespace) -> int:
    into = cluster.find(args.into)
    source = cluster.find(args.source)
    into_label, source_label = _label(into), _label(source)
    if _name(into) == _name(source):
        raise PluginError(f"{into_label}: cannot merge an incident into itself")
    for incident in (into, source):
        merged_into = _status(incident).get("mergedInto")
        if merged_into:
            raise PluginError(f"{_label(incident)} was merged into {escape(merged_into)} already")
    phase = _status(into).get("phase")
    if phase is not None and phase not in _OPEN_PHASES:
        raise PluginError(f"{into_label} is {escape(phase)}: merge only into an open incident")
    me = cluster.whoami()

    def annotate(current: dict[str, Any]) -> dict[str, Any]:
        pending = _annotations(current).get(MERGE_INTO)
        if pending and pending != _name(into):
            raise PluginError(f"{_label(current)}: a merge into {escape(pending)} is pending")
        return {
            "metadata": {"annotations": {MERGE_INTO: _name(into), MERGE_BY: me, CHANGED_BY: me}}
        }

    cluster.patch_from(source, annotate)
    print(f"{source_label}: merging into {into_label} as {escape(me)}")

    def done(current: dict[str, Any]) -> str | None:
        if _status(current).get("mergedInto") == _name(into):
            return "merged"
        if MERGE_INTO not in _annotations(current):
            return "refused"
        return None

    outcome = cluster.wait_for(_name(source), done, args.timeout)
    if outcome is None:
        raise PluginError(
            f"{source_label}: the operator did not merge it within {args.timeout:.0f} s"
        )
    if outcome == "refused":
        raise PluginError(f"{source_label}: the operator refused the merge; {_events_hint(source)}")
    print(f"{source_label} is merged into {into_label} and closed; its signals are in {into_label}")
    return 0


def cmd_split(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    label = _label(incident)
    signals = _status(incident).get("signals") or []
    ids = [str(s.get("id")) for s in signals]
    if args.signal not in ids:
        known = ", ".join(ids) or "none"
        raise PluginError(f"{label}: no signal {escape(args.signal)} (signals: {escape(known)})")
    if len(ids) == 1:
        raise PluginError(f"{label}: {escape(args.signal)} is its only signal; nothing to split")
    me = cluster.whoami()

    def annotate(current: dict[str, Any]) -> dict[str, Any]:
        pending = _annotations(current).get(SPLIT)
        if pending:
            raise PluginError(f"{_label(current)}: a split of {escape(pending)} is pending")
        return {"metadata": {"annotations": {SPLIT: args.signal, SPLIT_BY: me, CHANGED_BY: me}}}

    cluster.patch_from(incident, annotate)
    print(f"{label}: splitting {escape(args.signal)} out as {escape(me)}")
    prefix = f"{args.signal} split out to "

    def done(current: dict[str, Any]) -> str | None:
        if SPLIT in _annotations(current):
            return None
        for entry in reversed(_status(current).get("timeline") or []):
            message = str(entry.get("message") or "")
            if entry.get("type") == "SignalSplit" and message.startswith(prefix):
                return message.removeprefix(prefix).split(":", 1)[0]
        return ""

    child = cluster.wait_for(_name(incident), done, args.timeout)
    if child is None:
        raise PluginError(f"{label}: the operator did not split it within {args.timeout:.0f} s")
    if not child:
        raise PluginError(f"{label}: the operator refused the split; {_events_hint(incident)}")
    print(f"{label}: {escape(args.signal)} is now incident {escape(child)}")
    return 0


def cmd_signals(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    status = _status(incident)
    lines = signal_lines(status)
    print(f"{_label(incident)}: {len(status.get('signals') or [])} signal(s)")
    for line in lines or ["  (none recorded)"]:
        print(line)
    return 0


def add_merge_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Registers ``merge``, ``split`` and ``signals`` on ``kubectl incident``'s subparsers."""
    help_ = "merge FROM into INTO: one outage, one incident (FROM is closed)"
    merge: argparse.ArgumentParser = commands.add_parser(
        "merge",
        help=help_,
        description=(
            "Merge the second incident INTO the first: `kubectl incident merge INC-7 INC-9` "
            "moves INC-9's signals and affected workloads into INC-7 (raising INC-7's "
            "severity if INC-9's was higher) and closes INC-9 without the resolution gate "
            f"or a post-mortem; its escalation stops. Sets {MERGE_INTO} and {MERGE_BY}=<you> "
            "on FROM and waits for the operator."
        ),
    )
    merge.set_defaults(handler=cmd_merge)
    merge.add_argument("into", metavar="INTO", help="the incident that stays open")
    merge.add_argument("source", metavar="FROM", help="the incident merged into INTO and closed")
    merge.add_argument(
        "--timeout", type=float, default=WAIT_SECONDS, help="seconds to wait (default 30)"
    )
    help_ = "open a new incident for one signal of an incident"
    split: argparse.ArgumentParser = commands.add_parser(
        "split",
        help=help_,
        description=(
            f"{help_}: `kubectl incident split INC-7 s3` opens an incident for signal s3 "
            "(its title, severity, workload and source) and removes it from INC-7. Sets "
            f"{SPLIT} and {SPLIT_BY}=<you> and waits for the operator."
        ),
    )
    split.set_defaults(handler=cmd_split)
    split.add_argument("incident", metavar="INCIDENT")
    split.add_argument("signal", metavar="SIGNAL", help="the signal's id (s2, s3, ...)")
    split.add_argument(
        "--timeout", type=float, default=WAIT_SECONDS, help="seconds to wait (default 30)"
    )
    help_ = "list an incident's signals"
    signals: argparse.ArgumentParser = commands.add_parser("signals", help=help_, description=help_)
    signals.set_defaults(handler=cmd_signals)
    signals.add_argument("incident", metavar="INCIDENT")
    return [merge, split, signals]
