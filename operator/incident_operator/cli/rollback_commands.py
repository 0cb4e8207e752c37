"""``kubectl incident approve-rollback``: approve the proposed rollback as yourself.

The approval is two annotations on the Incident: ``sre.agentos.io/approve-rollback`` with
the caller's user name (the admission policy refuses any other name, and callers
outside the approver group), and ``sre.agentos.io/approve-rollback-revision`` with the
target revision the caller was shown, so an approval never applies to a proposal that
changed in the meantime. The patch is guarded by the resourceVersion it was computed
from, and computed again (with the proposal checked again) when the operator wrote the
status in between.
"""

import argparse
from typing import Any

from incident_operator.api.annotations import CHANGED_BY
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.render import diff_lines
from incident_operator.cli.render import label as _label
from incident_operator.reconcile.rollback import APPROVE_ROLLBACK, APPROVE_ROLLBACK_REVISION


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
    return PluginError(f"{label}: the rollback is {phase}, not awaiting approval{detail}")


def _proposal(incident: dict[str, Any]) -> dict[str, Any]:
    rollback: dict[str, Any] = (incident.get("status") or {}).get("rollback") or {}
    if rollback.get("phase") != "Proposed":
        raise _no_proposal(incident, rollback)
    return rollback


def cmd_approve_rollback(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    shown = _proposal(incident)
    me = cluster.whoami()
    revision = str(shown.get("targetRevision"))

    def approval(current: dict[str, Any]) -> dict[str, Any]:
        # Computed again from a fresh read after a conflict: the approval must still be
        # for the proposal the caller is told about below.
        now = _proposal(current)
        if (now.get("currentDigest"), now.get("targetDigest")) != (
            shown.get("currentDigest"),
            shown.get("targetDigest"),
        ):
            raise PluginError(
                f"{_label(current)}: the proposal changed while you approved it; look at it "
                f"again (kubectl incident show {_label(current)}) and approve again"
            )
        annotations = {APPROVE_ROLLBACK: me, APPROVE_ROLLBACK_REVISION: revision, CHANGED_BY: me}
        return {"metadata": {"annotations": annotations}}

    cluster.patch_from(incident, approval)
    target = shown.get("target") or {}
    current = shown.get("currentRevision")
    start = f"revision {current}" if current is not None else "its current template"
    what = f"{target.get('kind')}/{target.get('name')} from {start} to revision {revision} as {me}"
    print(f"{_label(incident)}: approved rolling back {escape(what)}")
    for line in diff_lines(shown.get("diff")):
        print(f"  {line}")
    return 0


def add_approve_rollback(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = "approve the proposed rollback as yourself (members of the approver group)"
    sub: argparse.ArgumentParser = commands.add_parser(
        "approve-rollback", help=help_, description=help_
    )
    sub.set_defaults(handler=cmd_approve_rollback)
    sub.add_argument("incident", metavar="INCIDENT")
    return sub
