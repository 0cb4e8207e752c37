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

from incident_operator.adapters import incident_actions as actions
from incident_operator.api.annotations import APPROVE_ROLLBACK, APPROVE_ROLLBACK_PROPOSAL
from incident_operator.cli.cluster import Cluster
from incident_operator.cli.escape import escape
from incident_operator.cli.render import diff_lines
from incident_operator.cli.render import label as _label

# The guards and refusals are the Slack button's too (adapters/incident_actions.py).
_proposal = actions.rollback_proposal
_what = actions.rollback_what


def cmd_approve_rollback(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    shown = _proposal(incident)
    me = cluster.whoami()
    proposal = str(shown["proposal"])
    label = _label(incident)
    print(f"{label}: approving proposal {escape(proposal)}: roll back {escape(_what(shown))}")
    for line in diff_lines(shown.get("diff")):
        print(f"  {line}")
    actions.approve_rollback(cluster, incident, me, proposal)
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
