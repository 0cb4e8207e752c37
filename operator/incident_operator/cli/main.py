"""``kubectl incident``: run an incident from the command line.

kubectl finds this as the plugin ``kubectl-incident`` on PATH. It uses the current
kubeconfig context and namespace; every change is made as the caller, whose user name
(from a SelfSubjectReview) goes into ``sre.agentos.io/changed-by`` so the timeline says
who did what, and the admission policy checks it is really them.

Failures
--------
Every failure ends the plugin with one line on stderr, ``error: ...``, and exit code 1
(2 for a usage error, 130 when interrupted); ``failures.describe`` says what failed and
where. ``--debug`` prints the traceback before that line. Whatever is printed that came
from the cluster is escaped first (``escape``): it may hold terminal control characters.

Start-up
--------
The plugin starts for every command typed, so this module imports nothing heavy: the
Kubernetes client, the pydantic models and Jinja2 are imported by the command that is
run, and a command defined in another module is registered by importing that module
only when it is the one run (``_REGISTRARS``). ``tests/unit/test_cli_startup.py``
keeps it so.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, cast

from incident_operator.cli.common import DEFAULT_TIMEOUT, PluginError, utcnow
from incident_operator.cli.escape import escape, escape_block
from incident_operator.cli.output import add_output_options
from incident_operator.domain.checklists import RESPONDER_ITEMS

# The words are the Slack actions' too, and so are the writes (adapters/incident_actions.py,
# imported by the commands that write: it brings the Kubernetes client).
from incident_operator.domain.responder_words import ROLES, SEVERITIES, STATES

if TYPE_CHECKING:
    from incident_operator.cli.cluster import Cluster
    from incident_operator.domain.links import RelatedLinks

POSTMORTEM_KEY = "postmortem.md"

Command = Callable[["Cluster", argparse.Namespace], int]


def _label(incident: dict[str, Any]) -> str:
    """``render.label``, imported when a command prints (render imports the models)."""
    from incident_operator.cli.render import label

    return label(incident)


def cmd_resolve(cluster: Cluster, args: argparse.Namespace) -> int:
    from incident_operator.cli.response_commands import cmd_resolve as resolve

    return resolve(cluster, args)


def _status_spelled(word: str) -> str:
    """A post-mortem status as the runbook spells it ("In Review")."""
    from incident_operator.api.incident import PostMortemStatusWord

    return PostMortemStatusWord(word).spelled


def _actions() -> ModuleType:
    """adapters/incident_actions.py, imported by the commands that write."""
    return importlib.import_module("incident_operator.adapters.incident_actions")


def _as_me(cluster: Cluster, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return cast(dict[str, Any], _actions().as_caller(cluster.whoami(), extra))


def cmd_declare(cluster: Cluster, args: argparse.Namespace) -> int:
    me = cluster.whoami()
    spec: dict[str, Any] = {"title": args.title, "severity": args.severity}
    for key in ("summary", "impact"):
        if getattr(args, key):
            spec[key] = getattr(args, key)
    if args.affected:
        spec["affected"] = []
        for reference in args.affected:
            kind, _, name = reference.partition("/")
            if not name:
                raise PluginError(
                    f"--affected {reference!r}: use KIND/NAME, e.g. Deployment/checkout"
                )
            spec["affected"].append({"kind": kind, "name": name})
    if args.commander:
        spec["roles"] = {"commander": me if args.commander == "me" else args.commander}
    created = _actions().declare(
        cluster, args.name or _actions().incident_name(args.title), spec, me
    )
    name = created["metadata"]["name"]
    incident_id = cluster.wait_for_id(name, timeout=args.wait)
    if incident_id is None:
        print(f"incident {escape(name)} declared; no ID yet (is the operator running?)")
    else:
        print(f"{escape(incident_id)} declared ({escape(name)})")
    return 0


def cmd_list(cluster: Cluster, args: argparse.Namespace) -> int:
    from incident_operator.cli.listing import cmd_list as list_incidents

    return list_incidents(cluster, args)


def _print_object(incident: dict[str, Any], body: Any, output: str) -> None:
    """-o json|yaml: ``body``; -o name: the incident's resource/name."""
    from incident_operator.cli import output as formats

    if output == "name":
        print(formats.name_line(incident))
    else:
        print(formats.object_text(body, output))


def cmd_show(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    if args.output in ("json", "yaml", "name"):
        _print_object(incident, incident, args.output)
        return 0
    from incident_operator.cli import render

    print(render.show(incident, utcnow(), _related_links(cluster, incident)))
    return 0


def _related_links(cluster: Cluster, incident: dict[str, Any]) -> RelatedLinks:
    """The governing policy's runbooks and dashboards (status.escalation.policy names it),
    or the runbook appendix's when no policy governs the incident."""
    name = ((incident.get("status") or {}).get("escalation") or {}).get("policy")
    body = cluster.read_policy(name) if name else None
    if not ((body or {}).get("spec") or {}).get("links"):
        # No links of its own: the appendix's, valid policy or not, so no models to import.
        from incident_operator.domain.links import related_links

        return related_links((), ())
    from pydantic import ValidationError

    from incident_operator.api.escalation_policy import EscalationPolicy
    from incident_operator.reconcile.related_links import policy_links

    try:
        return policy_links(EscalationPolicy.model_validate(body))
    except ValidationError:
        # The operator marks an invalid policy itself; show the runbook's links meanwhile.
        return policy_links(None)


def cmd_timeline(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    status = incident.get("status") or {}
    if args.output in ("json", "yaml", "name"):
        _print_object(incident, status.get("timeline") or [], args.output)
        return 0
    from incident_operator.cli import render

    print(render.timeline(status))
    return 0


def cmd_ack(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    me = cluster.whoami()
    already = _actions().acknowledge(cluster, incident, me)
    if already:
        print(f"already acknowledged by {escape(already)}")
        return 0
    print(f"{_label(incident)} acknowledged by {escape(me)}")
    return 0


def _set_spec(cluster: Cluster, reference: str, spec: dict[str, Any], done: str) -> int:
    """Sets spec fields outright, as the caller, and says what was done."""
    incident = cluster.find(reference)
    _actions().set_spec(cluster, incident, cluster.whoami(), spec)
    print(f"{_label(incident)}: {escape(done)}")
    return 0


def cmd_assign(cluster: Cluster, args: argparse.Namespace) -> int:
    user = cluster.whoami() if args.user == "me" else args.user
    return _set_spec(
        cluster, args.incident, {"roles": {ROLES[args.role]: user}}, f"{args.role} is {user}"
    )


def cmd_update(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    count = _actions().post_update(cluster, incident, cluster.whoami(), args.message, utcnow())
    print(f"{_label(incident)}: update posted ({count} in all)")
    return 0


def cmd_state(cluster: Cluster, args: argparse.Namespace) -> int:
    if args.state == "Resolved":
        # Resolved goes through the pre-resolution gate; resolve reports what holds it.
        return cmd_resolve(cluster, args)
    return _set_spec(cluster, args.incident, {"state": args.state}, f"state {args.state}")


def cmd_severity(cluster: Cluster, args: argparse.Namespace) -> int:
    spec = {"severity": args.severity}
    return _set_spec(cluster, args.incident, spec, f"severity {args.severity}")


def cmd_check(cluster: Cluster, args: argparse.Namespace) -> int:
    spec = {"checklist": {item: not args.undo for item in args.items}}
    done = f"{'unticked' if args.undo else 'ticked'} {', '.join(args.items)}"
    return _set_spec(cluster, args.incident, spec, done)


# The post-mortem status as people may write it ("In Review", in-review, InReview, final).
_POSTMORTEM_STATUS = {"draft": "Draft", "inreview": "InReview", "final": "Final"}
# Options that set a spec.postMortem text field outright.
_POSTMORTEM_TEXTS = {
    "root_cause": "rootCause",
    "scheduled": "scheduledAt",
    "users_affected": "usersAffected",
    "revenue_impact": "revenueImpact",
    "data_loss": "dataLoss",
    "document_url": "documentUrl",
}
# Repeatable options that append to a spec.postMortem list, by the list's path.
_POSTMORTEM_LISTS = {
    "author": ("authors",),
    "factor": ("contributingFactors",),
    "went_well": ("lessonsLearned", "wentWell"),
    "could_improve": ("lessonsLearned", "couldBeImproved"),
}


def _postmortem_status(text: str) -> str:
    """The API's word for a post-mortem status people typed as the runbook spells it."""
    word = _POSTMORTEM_STATUS.get(re.sub(r"[\s_-]", "", text).lower())
    if word is None:
        raise argparse.ArgumentTypeError(f'{text!r}: use Draft, "In Review" or Final')
    return word


def _postmortem_changes(
    current: dict[str, Any], changes: dict[str, Any], additions: dict[str, list[str]]
) -> dict[str, Any]:
    """The spec.postMortem merge patch: ``changes`` set, ``additions`` appended to the
    lists as they are in ``current`` (a merge patch replaces a list whole)."""
    written = (current.get("spec") or {}).get("postMortem") or {}
    patch = dict(changes)
    for attribute, values in additions.items():
        *parents, key = _POSTMORTEM_LISTS[attribute]
        source, target = written, patch
        for parent in parents:
            source = source.get(parent) or {}
            target = target.setdefault(parent, {})
        target[key] = [*(source.get(key) or []), *values]
    return patch


def cmd_postmortem(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    changes: dict[str, Any] = {}
    if args.status:
        changes["status"] = args.status
    if args.owner:
        changes["owner"] = cluster.whoami() if args.owner == "me" else args.owner
    for attribute, key in _POSTMORTEM_TEXTS.items():
        if getattr(args, attribute):
            changes[key] = getattr(args, attribute)
    additions = {a: getattr(args, a) for a in _POSTMORTEM_LISTS if getattr(args, a)}
    if changes or additions:
        as_me = _as_me(cluster)
        cluster.patch_from(
            incident,
            lambda current: {
                **as_me,
                "spec": {"postMortem": _postmortem_changes(current, changes, additions)},
            },
        )
        done = [
            f"{key} {_status_spelled(value) if key == 'status' else value}"
            for key, value in changes.items()
        ]
        done += [
            f"{len(values)} added to {'.'.join(_POSTMORTEM_LISTS[attribute])}"
            for attribute, values in additions.items()
        ]
        print(f"{_label(incident)}: post-mortem {escape(', '.join(done))}")
        return 0
    name = ((incident.get("status") or {}).get("postMortem") or {}).get("configMap")
    data = cluster.read_configmap(name) if name else None
    if not data or POSTMORTEM_KEY not in data:
        raise PluginError(
            f"{_label(incident)} has no post-mortem draft yet: the operator writes it once "
            "the incident is resolved (P0 to P3, and severities a policy gives post-mortem "
            "deadlines)"
        )
    print(escape_block(data[POSTMORTEM_KEY]), end="")
    return 0


def cmd_whoami(cluster: Cluster, args: argparse.Namespace) -> int:
    print(escape(cluster.whoami()))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line too (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


DEBUG_HELP = "on a failure, print the traceback too"


def _seconds(text: str) -> float:
    """A --request-timeout: seconds, 0 or more."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more)")
    return seconds


# Commands defined in other modules: (module, function registering them, the commands it
# registers). Only the module of the command being run is imported; an unknown command,
# --help and completion import them all (test_cli_startup checks the names listed here).
_REGISTRARS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("incident_operator.cli.rollback_commands", "add_approve_rollback", ("approve-rollback",)),
    ("incident_operator.cli.customer_commands", "add_publish", ("publish",)),
    ("incident_operator.cli.oncall_command", "add_oncall", ("oncall",)),
    ("incident_operator.cli.config_history_command", "add_config_history", ("config-history",)),
    ("incident_operator.cli.dashboard.command", "add_dashboard", ("dashboard",)),
    (
        "incident_operator.cli.response_commands",
        "add_response_commands",
        ("triage", "mitigate", "resolve"),
    ),
    (
        "incident_operator.cli.remediation_commands",
        "add_remediation_commands",
        ("remediate", "approve"),
    ),
    ("incident_operator.cli.maintenance_commands", "add_maintenance_commands", ("maintenance",)),
    ("incident_operator.cli.merge_commands", "add_merge_commands", ("merge", "split", "signals")),
    (
        "incident_operator.cli.useful_commands",
        "add_useful_commands",
        ("health", "errors", "queue", "deploys", "summary"),
    ),
    ("incident_operator.cli.lint", "add_lint", ("lint",)),
    ("incident_operator.cli.completion", "add_completion", ("completion",)),
)
# Global options that take the next word as their value.
VALUED_GLOBALS = {
    "--kubeconfig",
    "--context",
    "-n",
    "--namespace",
    "--request-timeout",
    "--as",
    "--as-group",
}


def command_of(argv: Sequence[str]) -> str | None:
    """The command word in ``argv`` (the first word that is not a global option or its value)."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if not word.startswith("-"):
            return word
        index += 2 if word in VALUED_GLOBALS else 1
    return None


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="path to the kubeconfig (default: $KUBECONFIG)")
    parser.add_argument("--context", help="the kubeconfig context to use")
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument(
        "--request-timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the API server on each request; 0 waits forever "
        f"(default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="act as this user (impersonation, as kubectl --as; needs the impersonate verb)",
    )
    parser.add_argument(
        "--as-group",
        action="append",
        default=[],
        metavar="GROUP",
        help="act as a member of this group (repeatable; as kubectl --as-group)",
    )
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands, by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parser_for(words: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``words``, with only the module defining their command imported;
    all of them without a known command (--help, a usage error listing every command)."""
    command = command_of(words)
    parser = _parser(command or "")  # "": none of the other modules
    if command not in subcommands(parser):
        parser = _parser()
    return parser


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kubectl incident",
        description="Run incidents from kubectl. INCIDENT is a name or an ID such as INC-0042.",
    )
    _add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Command, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        # Also after the command; SUPPRESS keeps the one given before it.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
        return sub

    declare = add("declare", cmd_declare, "declare an incident; prints its ID")
    declare.add_argument("--title", required=True)
    declare.add_argument("--severity", required=True, choices=SEVERITIES)
    declare.add_argument("--summary")
    declare.add_argument("--impact")
    declare.add_argument(
        "--affected",
        action="append",
        metavar="KIND/NAME",
        help="an affected workload, e.g. Deployment/checkout (repeatable)",
    )
    declare.add_argument("--commander", help="a user name, or 'me'")
    declare.add_argument("--name", help="the object's name (default: from the title)")
    declare.add_argument(
        "--wait", type=float, default=10.0, help="seconds to wait for the operator to assign the ID"
    )
    listing = add(
        "list", cmd_list, "list open incidents, with the columns of `kubectl get incidents`"
    )
    listing.add_argument("-A", "--all-namespaces", action="store_true")
    listing.add_argument("--all", action="store_true", help="include closed incidents")
    listing.add_argument(
        "-w", "--watch", action="store_true", help="then print a row for each change, until ^C"
    )
    add_output_options(listing)
    for name, handler, help_ in (
        (
            "show",
            cmd_show,
            "summary, status, SLA clocks, post-mortem, conditions, related dashboards and "
            "runbooks, and recent timeline",
        ),
        ("timeline", cmd_timeline, "the whole timeline"),
        ("ack", cmd_ack, "acknowledge as yourself"),
    ):
        sub = add(name, handler, help_)
        sub.add_argument("incident", metavar="INCIDENT")
        if name != "ack":
            add_output_options(sub)
    wait = add(
        "wait",
        _cmd_wait,
        "wait until the incident reaches a phase or state, has a condition, or is deleted",
    )
    wait.add_argument("incident", metavar="INCIDENT")
    wait.add_argument(
        "--for",
        dest="wait_for",
        required=True,
        type=_wanted,
        metavar="CONDITION",
        help="phase=PHASE (e.g. Resolved), state=STATE, condition=TYPE[=VALUE] or delete",
    )
    wait.add_argument(
        "--timeout",
        type=_duration,
        default=30.0,
        metavar="DURATION",
        help="how long to wait: 30s, 5m, 1h30m (default 30s); then exit code 1",
    )
    version = add("version", _cmd_version, "the plugin's version, and the cluster's")
    version.add_argument("--client", action="store_true", help="the plugin's version only")
    version.add_argument("-o", "--output", choices=("json", "yaml"))
    version.set_defaults(offline=_version_offline)
    postmortem = add(
        "postmortem",
        cmd_postmortem,
        "print the generated post-mortem (Markdown), or record its progress with the options",
    )
    postmortem.add_argument("incident", metavar="INCIDENT")
    postmortem.add_argument(
        "--status",
        type=_postmortem_status,
        metavar="STATUS",
        help='Draft, "In Review" (or in-review) or Final',
    )
    postmortem.add_argument(
        "--owner", help="a user name, or 'me'; required before a post-mortem incident closes"
    )
    postmortem.add_argument("--root-cause", help="the root cause, for the draft")
    postmortem.add_argument(
        "--scheduled", metavar="TIME", help="when the review meeting is (RFC 3339, UTC)"
    )
    postmortem.add_argument("--users-affected", help="Users Affected (number/percentage)")
    postmortem.add_argument("--revenue-impact", help="Revenue Impact")
    postmortem.add_argument(
        "--data-loss", metavar="DETAILS", help="data loss details (whether: triggers.dataLoss)"
    )
    postmortem.add_argument("--document-url", metavar="URL", help="where the document lives")
    for option, what in (
        ("--author", "an author"),
        ("--factor", "a contributing factor"),
        ("--went-well", "a lesson: what went well"),
        ("--could-improve", "a lesson: what could be improved"),
    ):
        postmortem.add_argument(option, action="append", help=f"add {what} (repeatable)")
    assign = add("assign", cmd_assign, "assign a role: commander, tech-lead, comms-lead, scribe")
    assign.add_argument("incident", metavar="INCIDENT")
    assign.add_argument("role", choices=sorted(ROLES))
    assign.add_argument("user", help="a user name, or 'me'")
    update = add("update", cmd_update, "post a status update (resets the update clock)")
    update.add_argument("incident", metavar="INCIDENT")
    update.add_argument("message")
    state = add("state", cmd_state, "set the runbook status: " + ", ".join(STATES))
    state.add_argument("incident", metavar="INCIDENT")
    state.add_argument("state", choices=STATES)
    severity = add("severity", cmd_severity, "change the severity")
    severity.add_argument("incident", metavar="INCIDENT")
    severity.add_argument("severity", choices=SEVERITIES)
    check = add("check", cmd_check, "tick checklist items only people can verify")
    check.add_argument("incident", metavar="INCIDENT")
    check.add_argument(
        "items",
        nargs="+",
        choices=RESPONDER_ITEMS,
        metavar="ITEM",
        help="one or more of: " + ", ".join(RESPONDER_ITEMS),
    )
    check.add_argument("--undo", action="store_true", help="untick instead")
    add("whoami", cmd_whoami, "who the API server says you are")
    # Commands defined in their own modules take --debug after the command too.
    for module, function, names in _REGISTRARS:
        if command is not None and command not in names:
            continue
        registered = getattr(importlib.import_module(module), function)(commands)
        for sub in registered if isinstance(registered, list) else [registered]:
            sub.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
            )
    return parser


def _cmd_wait(cluster: Cluster, args: argparse.Namespace) -> int:
    from incident_operator.cli.wait import cmd_wait

    return cmd_wait(cluster, args)


def _wanted(text: str) -> Any:
    from incident_operator.cli.wait import wanted

    return wanted(text)


def _duration(text: str) -> float:
    from incident_operator.cli.wait import duration

    return duration(text)


def _cmd_version(cluster: Cluster, args: argparse.Namespace) -> int:
    from incident_operator.cli.version import cmd_version

    return cmd_version(cluster, args)


def _version_offline(args: argparse.Namespace) -> int | None:
    """``version --client`` needs no cluster; None: connect and ask it too."""
    if not args.client:
        return None
    from incident_operator.cli.version import print_version

    return print_version(args, server=None)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["__complete"]:
        # Cobra's protocol, which kubectl_complete-incident also answers (completion.py).
        from incident_operator.cli.completion import answer

        return answer(words[1:])
    args = parser_for(words).parse_args(words)
    cluster: Cluster | None = None
    try:
        offline = getattr(args, "offline", None)
        code: int | None = offline(args) if offline else None
        if code is None:
            from incident_operator.cli.cluster import Cluster

            cluster = Cluster.connect(
                args.kubeconfig,
                args.context,
                args.namespace,
                args.request_timeout,
                impersonate=args.as_user,
                groups=args.as_group,
            )
            code = args.handler(cluster, args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to say, and no one to say it to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (Exception, KeyboardInterrupt) as error:
        if args.debug:
            traceback.print_exc()
        from incident_operator.cli.failures import describe

        print(f"error: {describe(error, cluster.source if cluster else None)}", file=sys.stderr)
        return 130 if isinstance(error, KeyboardInterrupt) else 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
