"""``kubectl incident triage``, ``mitigate`` and ``resolve``: the runbook's response words.

- ``triage INC`` answers the runbook's five triage questions (spec.triage): asked one by
  one when stdin is a terminal, or given as flags in scripts.
- ``mitigate INC "what was done"`` sets the state Mitigating with what was done
  (spec.mitigation), which the timeline records.
- ``resolve INC [--override REASON]`` sets the state Resolved, then waits for the
  operator's decision: the pre-resolution gate holds a Resolved while its items are open,
  and the command then fails with one line naming them. ``--override`` resolves anyway,
  as the incident commander (the admission policy checks it is you), with the reason in
  the timeline. ``state INC Resolved`` does the same as ``resolve`` without override.
"""

import argparse
import sys
from collections.abc import Callable
from typing import Any

from incident_operator.adapters import incident_actions as actions
from incident_operator.api.annotations import CHANGED_BY
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.escape import escape
from incident_operator.cli.render import label as _label

# Phases in which a Resolved state word has taken effect.
# How long resolve waits for the operator's decision by default, in seconds.
DEFAULT_WAIT = 15.0


def yes_no(text: str) -> bool:
    """A yes/no flag's value (yes, no, y, n, true, false)."""
    lowered = text.strip().lower()
    if lowered in ("yes", "y", "true"):
        return True
    if lowered in ("no", "n", "false"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, not {text!r}")


# (spec.triage key, flag, question, parse): the runbook's questions in its order; question
# 2 ("How many users/agents are impacted?") is asked for users and for agents.
_QUESTIONS: tuple[tuple[str, str, str, Callable[[str], Any]], ...] = (
    ("affectsProduction", "production", "1. Is this affecting production? [yes/no]", yes_no),
    ("usersImpacted", "users", "2. How many users are impacted?", str),
    ("agentsImpacted", "agents", "2. How many agents are impacted?", str),
    ("dataAtRisk", "data_at_risk", "3. Is data at risk? [yes/no]", yes_no),
    ("securityComponent", "security", "4. Is there a security component? [yes/no]", yes_no),
    ("businessImpact", "business_impact", "5. What is the business impact?", str),
)


def _ask(question: str, parse: Callable[[str], Any], current: Any) -> Any:
    """One question on the terminal; Enter keeps the current answer (None: unanswered)."""
    shown = (
        ""
        if current is None
        else f" (now: {'yes' if current is True else 'no' if current is False else current})"
    )
    while True:
        answer = input(f"{question}{shown}: ").strip()
        if not answer:
            return current
        try:
            return parse(answer)
        except argparse.ArgumentTypeError as error:
            print(f"  {error}", file=sys.stderr)


def cmd_triage(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    current = (incident.get("spec") or {}).get("triage") or {}
    answers = {
        key: getattr(args, flag)
        for key, flag, _, _ in _QUESTIONS
        if getattr(args, flag) is not None
    }
    if not answers:
        if not sys.stdin.isatty():
            raise PluginError(
                "no answers given: pass them as flags (--production, --users, --agents, "
                "--data-at-risk, --security, --business-impact) or run in a terminal"
            )
        answers = {
            key: answer
            for key, _, question, parse in _QUESTIONS
            if (answer := _ask(question, parse, current.get(key))) is not None
        }
    body = {
        "metadata": {"annotations": {CHANGED_BY: cluster.whoami()}},
        "spec": {"triage": answers},
    }
    cluster.patch(incident, body)
    done = ", ".join(f"{key} {_word(value)}" for key, value in answers.items())
    print(f"{_label(incident)}: triage {escape(done)}")
    return 0


def _word(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def cmd_mitigate(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    spec = {"state": "Mitigating", "mitigation": args.mitigation}
    cluster.patch(
        incident, {"metadata": {"annotations": {CHANGED_BY: cluster.whoami()}}, "spec": spec}
    )
    print(f"{_label(incident)}: state Mitigating: {escape(args.mitigation)}")
    return 0


def _how_to_tick(label: str) -> str:
    return (
        f"(kubectl incident check {label} ITEM...) or, as the commander, resolve with "
        "--override REASON"
    )


def _decision(generation: int) -> Callable[[dict[str, Any]], str | None]:
    """Reads the operator's decision on a Resolved: its phase, or raises when it is held."""
    return actions.resolution_decision(generation, _how_to_tick)


def cmd_resolve(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    me = cluster.whoami()
    override = getattr(args, "override", None)
    patched = actions.resolve(cluster, incident, me, override)
    name = incident["metadata"]["name"]
    wait = getattr(args, "wait", DEFAULT_WAIT)
    phase = cluster.wait_for(name, _decision(patched["metadata"]["generation"]), wait)
    if phase is None:
        print(f"{_label(incident)}: state Resolved set; the operator has not decided yet")
    else:
        how = f" (override by {me})" if override else ""
        print(f"{_label(incident)}: resolved{escape(how)}; phase {escape(phase)}")
    return 0


def add_response_commands(commands: Any) -> list[argparse.ArgumentParser]:
    """Registers triage, mitigate and resolve on ``kubectl incident``'s subparsers."""
    subs = []
    help_ = "answer the runbook's five triage questions (asked in a terminal, or as flags)"
    triage = commands.add_parser("triage", help=help_, description=help_)
    triage.set_defaults(handler=cmd_triage)
    triage.add_argument("incident", metavar="INCIDENT")
    triage.add_argument("--production", type=yes_no, metavar="yes|no", help="affects production?")
    triage.add_argument("--users", metavar="TEXT", help="users impacted (a count or words)")
    triage.add_argument("--agents", metavar="TEXT", help="agents impacted (a count or words)")
    triage.add_argument("--data-at-risk", type=yes_no, metavar="yes|no", help="is data at risk?")
    triage.add_argument("--security", type=yes_no, metavar="yes|no", help="a security component?")
    triage.add_argument("--business-impact", metavar="TEXT", help="the business impact")
    subs.append(triage)
    help_ = "set the state Mitigating, saying what was done (the workaround in place)"
    mitigate = commands.add_parser("mitigate", help=help_, description=help_)
    mitigate.set_defaults(handler=cmd_mitigate)
    mitigate.add_argument("incident", metavar="INCIDENT")
    mitigate.add_argument("mitigation", metavar="WHAT_WAS_DONE")
    subs.append(mitigate)
    help_ = (
        "set the state Resolved; refused while the pre-resolution verification is open, "
        "unless the commander overrides"
    )
    resolve = commands.add_parser("resolve", help=help_, description=help_)
    resolve.set_defaults(handler=cmd_resolve)
    resolve.add_argument("incident", metavar="INCIDENT")
    resolve.add_argument(
        "--override", metavar="REASON", help="as the commander: resolve with open items, and why"
    )
    resolve.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the operator's decision (default: {DEFAULT_WAIT:g})",
    )
    subs.append(resolve)
    return subs
