"""``kubectl incident publish``: publish a customer message, as the communications lead.

Customer messages are people's words, never internal updates forwarded: the operator
keeps a draft of the next one in ``status.communication.draft`` (the runbook's customer
template for its kind, filled in with what is known), and this command appends what the
caller publishes (the draft as it is, a text of their own, a file, or the draft edited in
$EDITOR) to ``spec.customerMessages``. The operator sends each entry once to the
policy's customer channels. The incident-operator-customer-messages admission policy
refuses an entry from anyone but the incident's communications lead or commander, and
one whose author is not the requesting user.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from incident_operator.adapters import incident_actions as actions
from incident_operator.cli.cluster import Cluster, PluginError, utcnow
from incident_operator.cli.escape import escape, escape_block
from incident_operator.cli.render import label as _label

KINDS = {"initial": "Initial", "progress": "Progress", "resolution": "Resolution"}
_SUBJECT = "Subject:"


def _draft(incident: dict[str, Any]) -> dict[str, Any]:
    communication = (incident.get("status") or {}).get("communication") or {}
    draft: dict[str, Any] = communication.get("draft") or {}
    return draft


def _with_subject(subject: str | None, text: str) -> str:
    return f"{_SUBJECT} {subject}\n\n{text}" if subject else text


def _split_subject(text: str) -> tuple[str | None, str]:
    """A first line ``Subject: ...`` is the subject; the rest is the text."""
    first, _, rest = text.partition("\n")
    if first.startswith(_SUBJECT):
        return first.removeprefix(_SUBJECT).strip() or None, rest.lstrip("\n")
    return None, text


def _edit(text: str) -> str:
    """``text`` as the caller left it in $VISUAL or $EDITOR (vi when neither is set)."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "customer-message.txt"
        path.write_text(text)
        completed = subprocess.run([*shlex.split(editor), str(path)], check=False)
        if completed.returncode != 0:
            raise PluginError(f"the editor ({editor}) exited with {completed.returncode}")
        return path.read_text()


def _message(incident: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The entry to publish, from the options and the operator's draft."""
    draft = _draft(incident)
    kind = KINDS[args.kind] if args.kind else draft.get("kind")
    if kind is None:
        raise PluginError(
            f"{_label(incident)} has no customer draft yet (is the operator running?); "
            "give --kind and --message"
        )
    subject: str | None = args.subject
    if args.message is not None:
        text = args.message
    elif args.file is not None:
        found, text = _split_subject(
            sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        )
        subject = subject or found
    else:
        if draft.get("kind") != kind:
            raise PluginError(
                f"{_label(incident)}: the draft is the {draft.get('kind') or 'no'} message, "
                f"not {kind}; give the text with --message or --file"
            )
        text = _with_subject(subject or draft.get("subject"), draft.get("text") or "")
        if args.edit:
            text = _edit(text)
        found, text = _split_subject(text)
        subject = found or subject
    if not text.strip():
        raise PluginError("the message is empty; nothing was published")
    message: dict[str, Any] = {"kind": kind, "text": text}
    if subject:
        message["subject"] = subject
    return message


def cmd_publish(cluster: Cluster, args: argparse.Namespace) -> int:
    incident = cluster.find(args.incident)
    message = _message(incident, args)
    if args.dry_run:
        print(f"{_label(incident)}: {escape(message['kind'])} customer message (not published)")
        if message.get("subject"):
            print(f"Subject: {escape(message['subject'])}")
        print()
        print(escape_block(message["text"]), end="" if message["text"].endswith("\n") else "\n")
        return 0
    me = cluster.whoami()
    count = actions.publish(cluster, incident, me, message, utcnow())
    print(
        f"{_label(incident)}: {escape(message['kind'])} customer message published as "
        f"{escape(me)} ({count} in all); the operator sends it to the customer channels"
    )
    return 0


def add_publish(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = (
        "publish a customer message (communications lead or commander): the operator's "
        "draft as it is, or --edit it, or your own --message/--file; --dry-run shows it"
    )
    sub: argparse.ArgumentParser = commands.add_parser("publish", help=help_, description=help_)
    sub.set_defaults(handler=cmd_publish)
    sub.add_argument("incident", metavar="INCIDENT")
    sub.add_argument(
        "--kind",
        choices=sorted(KINDS),
        help="which customer message (default: the draft's: initial until one is published, "
        "then progress, and resolution once resolved)",
    )
    text = sub.add_mutually_exclusive_group()
    text.add_argument("-m", "--message", help="the text to publish instead of the draft")
    text.add_argument("--file", help="publish the text of this file ('-': standard input)")
    text.add_argument("--edit", action="store_true", help="edit the draft in $EDITOR first")
    sub.add_argument(
        "--subject", help="the e-mail subject (default: the draft's, or the runbook's)"
    )
    sub.add_argument(
        "--dry-run", action="store_true", help="print what would be published, publish nothing"
    )
    return sub
