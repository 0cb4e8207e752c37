"""``kubectl incident approve-rollback``: approve the proposed rollback as yourself.

The approval is two annotations on the Incident: ``sre.agentos.io/approve-rollback`` with
the caller's user name (the admission policy refuses any other name, and callers
outside the approver group), and ``sre.agentos.io/approve-rollback-proposal`` with the
identifier of the proposal the caller was shown (``status.rollback.proposal``), so an
approval never applies to a proposal that changed in the meantime.

The command prints what it approves before it approves it, and writes both annotations
in one patch guarded by the resourceVersion it read. After a conflict it reads the
incident again and writes only if the proposal is still the one shown and nobody has
approved it meanwhile: of two people approving at once, one is told "approved" and the
other who approved first, with a non-zero exit.
"""

import argparse
from typing import Any

from incident_operator.api.annotations import (
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_PROPOSAL,
    CHANGED_BY,
)
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.render import diff_lines
from incident_operator.cli.render import label as _label


def _no_proposal(incident: dict[str, Any], rollback: dict[str, Any]) -> PluginError:
    label, name = _label(incident), escape(incident["metadata"]["name"])
    if not rollback:
        return PluginError(
            f"{label} has no rollback proposal: the operator proposes one when an affected "
            "workload had a new revision shortly before detection. Ask for one with "
            f"`kubectl patch incident {name} --type=merge -p "
            """'{"spec":{"rollback":{"target":{"kind":"Deployment","name":"NAME"}}}}'`"""
        )
    phase = rollback.get("phase")
    detail = f": {rollback['message']}" if rollback.get("message") else ""
    if phase == "Refused":
        return PluginError(f"{label}: the rollback is refused ({rollback.get('reason')}){detail}")
    if rollback.get("approvedBy"):
        return PluginError(
            f"{label}: the rollback was already approved by {escape(rollback['approvedBy'])} "
            f"(it is {phase}){detail}"
        )
    return PluginError(f"{label}: the rollback is {phase}, not awaiting approval{detail}")


def _proposal(incident: dict[str, Any]) -> dict[str, Any]:
    rollback: dict[str, Any] = (incident.get("status") or {}).get("rollback") or {}
    if rollback.get("phase") != "Proposed":
        raise _no_proposal(incident, rollback)
    pending = ((incident.get("metadata") or {}).get("annotations") or {}).get(APPROVE_ROLLBACK)
    if pending:
        # Written, not yet recorded by the operator: someone else won the race.
        raise PluginError(
            f"{_label(incident)}: the rollback was already approved by {escape(pending)} "
            "(the operator is recording it)"
        )
    if not rollback.get("proposal"):
        raise PluginError(
            f"{_label(incident)}: the proposal has no identifier yet (an operator older "
            "than this plugin, or one that has not re-planned it); try again in a few seconds"
        )
    return rollback


def _what(rollback: dict[str, Any]) -> str:
    target = rollback.get("target") or {}
    current = rollback.get("currentRevision")
    start = f"revision {current}" if current is not None else "its current template"
    return (
        f"{target.get('kind')}/{target.get('name')} from {start} to revision "
        f"{rollback.get('targetRevision')}"
    )


def cmd_approve_rollback(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    shown = _proposal(incident)
    me = cluster.whoami()
    proposal = str(shown["proposal"])
    label = _label(incident)
    print(f"{label}: approving proposal {escape(proposal)}: roll back {escape(_what(shown))}")
    for line in diff_lines(shown.get("diff")):
        print(f"  {line}")

    def approval(current: dict[str, Any]) -> dict[str, Any]:
        # Computed again from a fresh read after a conflict: the approval must still be
        # for the proposal shown above, and nobody may have approved it in between.
        now = _proposal(current)
        if now.get("proposal") != proposal:
            raise PluginError(
                f"{_label(current)}: the proposal changed while you approved it (it is now "
                f"{escape(str(now.get('proposal')))}: roll back {escape(_what(now))}); "
                f"nothing was approved. Look at it again (kubectl incident show "
                f"{_label(current)}) and approve again"
            )
        annotations = {APPROVE_ROLLBACK: me, APPROVE_ROLLBACK_PROPOSAL: proposal, CHANGED_BY: me}
        return {"metadata": {"annotations": annotations}}

    cluster.patch_from(incident, approval)
    print(f"{label}: approved rolling back {escape(_what(shown))} as {escape(me)}")
    return 0


def add_approve_rollback(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = "approve the proposed rollback as yourself (members of the approver group)"
    description = (
        f"{help_}. Prints the proposal (its identifier, revisions and changes), then sets "
        f"{APPROVE_ROLLBACK}=<you> and {APPROVE_ROLLBACK_PROPOSAL}=<status.rollback.proposal> "
        "in one guarded patch. Fails, approving nothing, if the proposal changes meanwhile "
        "or someone else approves first. Without the plugin: kubectl annotate incident NAME "
        f"{APPROVE_ROLLBACK}=$(kubectl auth whoami -o jsonpath='{{.status.userInfo.username}}') "
        f"{APPROVE_ROLLBACK_PROPOSAL}=<status.rollback.proposal>"
    )
    sub: argparse.ArgumentParser = commands.add_parser(
        "approve-rollback", help=help_, description=description
    )
    sub.set_defaults(handler=cmd_approve_rollback)
    sub.add_argument("incident", metavar="INCIDENT")
    return sub
