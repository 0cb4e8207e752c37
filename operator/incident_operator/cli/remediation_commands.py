"""``kubectl incident remediate`` and ``kubectl incident approve``: request a remediation
from the governing policy's catalog, and approve one as yourself (docs/remediation.md).

A request is two annotations on the Incident: ``sre.agentos.io/remediate`` with
``{"remediation": NAME, "parameters": {...}}`` and ``sre.agentos.io/remediate-by`` with
the caller's name (the admission policy refuses any other). The plugin checks the
parameters against the catalog first and refuses a bad one with its allowed values, so
the operator's own check (it runs too: plain ``kubectl annotate`` bypasses the plugin)
rarely has to. The request is written in one patch guarded by the resourceVersion read,
and refused while an earlier request is not yet recorded. The plugin then waits for the
operator's record and prints it, or the refusal with a non-zero exit.

An approval is ``sre.agentos.io/approve-remediation`` = the caller and
``sre.agentos.io/approve-remediation-request`` = ``rN:<proposal>``: the record and the
proposal the caller was shown. Of two people approving at once, one wins; the other is
told who did, with a non-zero exit.
"""

import argparse
import json
from typing import Any

from pydantic import ValidationError

from incident_operator.adapters import incident_actions as actions
from incident_operator.api.annotations import (
    APPROVE_REMEDIATION,
    APPROVE_REMEDIATION_REQUEST,
    CHANGED_BY,
    REMEDIATE,
    REMEDIATE_BY,
)
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.render import diff_lines
from incident_operator.cli.render import label as _label
from incident_operator.reconcile.remediation_parameters import ParameterError, resolve_parameters
from incident_operator.reconcile.remediations import catalog_entry, catalog_names

# How long `remediate` waits for the operator to record the request, by default.
WAIT_SECONDS = 30.0
# The phases `remediate --wait` waits for (without it, any recorded phase will do).
_FINAL = ("Refused", "Succeeded", "Failed", "Withdrawn")


def _annotations(incident: dict[str, Any]) -> dict[str, str]:
    return dict((incident.get("metadata") or {}).get("annotations") or {})


def _records(incident: dict[str, Any]) -> list[dict[str, Any]]:
    return list((incident.get("status") or {}).get("remediations") or [])


def _policy(cluster: Cluster, incident: dict[str, Any]) -> EscalationPolicy:
    name = ((incident.get("status") or {}).get("escalation") or {}).get("policy")
    if not name:
        raise PluginError(
            f"{_label(incident)}: no EscalationPolicy governs it, so it has no remediation "
            "catalog (spec.remediations)"
        )
    body = cluster.read_policy(name)
    if body is None:
        raise PluginError(f"{_label(incident)}: its policy {escape(name)} is gone")
    try:
        return EscalationPolicy.model_validate(body)
    except ValidationError as error:
        raise PluginError(f"policy {escape(name)} is not valid: {error}") from error


def _parameters(pairs: list[str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise PluginError(f"--param {escape(pair)}: expected NAME=VALUE")
        given[name] = value
    return given


def describe_record(incident: dict[str, Any], record: dict[str, Any]) -> str:
    """One line for a record: its id, phase and what it does or why not."""
    label = _label(incident)
    phase = record.get("phase")
    what = record.get("summary") or record.get("remediation")
    line = f"{record.get('id')} {phase}: {what}"
    if phase == "Proposed":
        line += f" (approve with: kubectl incident approve {label} {record.get('id')})"
    elif record.get("message"):
        line += f" ({record['message']})"
    return escape(line)


def cmd_remediate(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    label = _label(incident)
    policy = _policy(cluster, incident)
    entry = catalog_entry(policy, args.remediation)
    if entry is None:
        names = ", ".join(catalog_names(policy)) or "none"
        raise PluginError(
            f"policy {escape(policy.metadata.name)} has no remediation "
            f"{escape(args.remediation)}; its catalog: {escape(names)}"
        )
    given = _parameters(args.param or [])
    try:
        resolve_parameters(entry, given)
    except ParameterError as error:
        raise PluginError(f"{escape(str(error))}; nothing was requested") from error
    me = cluster.whoami()
    request = json.dumps({"remediation": entry.name, "parameters": given}, sort_keys=True)
    before = {str(r.get("id")) for r in _records(incident)}

    def annotate(current: dict[str, Any]) -> dict[str, Any]:
        pending = _annotations(current).get(REMEDIATE)
        if pending is not None:
            by = _annotations(current).get(REMEDIATE_BY, "?")
            raise PluginError(
                f"{_label(current)}: an earlier request by {escape(by)} is not recorded yet "
                f"({escape(pending)}); try again in a few seconds"
            )
        return {"metadata": {"annotations": {REMEDIATE: request, REMEDIATE_BY: me, CHANGED_BY: me}}}

    written = cluster.patch_from(incident, annotate)
    print(f"{label}: requested {escape(entry.name)} as {escape(me)}")

    def recorded(current: dict[str, Any]) -> dict[str, Any] | None:
        for record in _records(current):
            if str(record.get("id")) in before or record.get("requestedBy") != me:
                continue
            if not args.wait or record.get("phase") in _FINAL:
                return record
        return None

    record = cluster.wait_for(written["metadata"]["name"], recorded, args.timeout)
    if record is None:
        raise PluginError(
            f"{label}: the operator did not record the request within {args.timeout:.0f} s; "
            f"see `kubectl incident show {label}`"
        )
    print(describe_record(incident, record))
    for line in diff_lines(record.get("diff")):
        print(f"  {line}")
    return 1 if record.get("phase") in ("Refused", "Failed", "Withdrawn") else 0


# The guards and refusals are the Slack button's too (adapters/incident_actions.py).
_proposed = actions.remediation_proposed


def cmd_approve(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    label = _label(incident)
    shown = _proposed(incident, args.request)
    proposal = str(shown["proposal"])
    me = cluster.whoami()
    print(
        f"{label}: approving {escape(args.request)} proposal {escape(proposal)}: "
        f"{escape(str(shown.get('summary')))}"
    )
    for line in diff_lines(shown.get("diff")):
        print(f"  {line}")

    actions.approve_remediation(cluster, incident, me, args.request, proposal)
    print(f"{label}: approved {escape(args.request)} as {escape(me)}")
    return 0


def add_remediation_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Registers ``remediate`` and ``approve`` on ``kubectl incident``'s subparsers."""
    help_ = "request a remediation from the governing policy's catalog"
    remediate: argparse.ArgumentParser = commands.add_parser(
        "remediate",
        help=help_,
        description=(
            f"{help_} (spec.remediations). Checks the parameters against the catalog, sets "
            f"{REMEDIATE}={{json}} and {REMEDIATE_BY}=<you>, and waits until the operator "
            "records it: prints the record (rN Proposed: what it does, and how to approve) "
            "or the refusal (non-zero exit)."
        ),
    )
    remediate.set_defaults(handler=cmd_remediate)
    remediate.add_argument("incident", metavar="INCIDENT")
    remediate.add_argument("remediation", metavar="NAME", help="a catalog entry's name")
    remediate.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="a parameter (repeatable)"
    )
    remediate.add_argument(
        "--wait",
        action="store_true",
        help="wait until it is Succeeded, Failed, Refused or Withdrawn (not just recorded)",
    )
    remediate.add_argument(
        "--timeout", type=float, default=WAIT_SECONDS, help="seconds to wait (default 30)"
    )
    help_ = "approve a proposed remediation as yourself (members of its approver group)"
    approve: argparse.ArgumentParser = commands.add_parser(
        "approve",
        help=help_,
        description=(
            f"{help_}. Prints the proposal, then sets {APPROVE_REMEDIATION}=<you> and "
            f"{APPROVE_REMEDIATION_REQUEST}=<id>:<proposal> in one guarded patch. Fails, "
            "approving nothing, if the proposal changes meanwhile or someone else approves "
            "first."
        ),
    )
    approve.set_defaults(handler=cmd_approve)
    approve.add_argument("incident", metavar="INCIDENT")
    approve.add_argument("request", metavar="ID", help="the remediation's id (r1, r2, ...)")
    return [remediate, approve]
