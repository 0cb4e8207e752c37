"""The dashboard's buttons and forms, each one the plugin's own command.

Acknowledge is ``kubectl incident ack``, Approve is ``approve-rollback`` (or
``approve`` for a remediation), and so on: the same function runs with the same
arguments the command line would give it, on the same ``Cluster`` (the caller's
kubeconfig, so the API server and its admission policies see the person). What the
command prints is the success message; a failure is its ``error:`` line, which for a
refusal is the API server's own message, shown on the page as it is.

The commands print to stdout, so each runs alone in a worker thread with stdout
captured (``redirect_stdout`` swaps a process-wide object: hence the lock).
"""

import argparse
import dataclasses
import io
import threading
from collections.abc import Callable, Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass

from incident_operator.cli import main
from incident_operator.cli.cluster import Cluster
from incident_operator.cli.customer_commands import KINDS, cmd_publish
from incident_operator.cli.failures import describe
from incident_operator.cli.remediation_commands import cmd_approve
from incident_operator.cli.rollback_commands import cmd_approve_rollback
from incident_operator.domain.responder_words import STATES

_ONE_AT_A_TIME = threading.Lock()
# Seconds `state Resolved` waits for the operator's decision before it answers.
RESOLVE_WAIT = 5.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


class FormError(ValueError):
    """A form field is missing or not one of its choices."""


def _field(form: Mapping[str, str], name: str, choices: list[str] | None = None) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise FormError(f"{name} is empty")
    if choices is not None and value not in choices:
        raise FormError(f"{name} {value!r} is not one of {', '.join(choices)}")
    return value


def _optional(form: Mapping[str, str], name: str) -> str | None:
    return (form.get(name) or "").strip() or None


# Each action: the command's function and its arguments from the form.
Arguments = Callable[[Mapping[str, str]], dict[str, object]]
ACTIONS: dict[str, tuple[main.Command, Arguments]] = {
    "ack": (main.cmd_ack, lambda form: {}),
    "update": (main.cmd_update, lambda form: {"message": _field(form, "message")}),
    "state": (
        main.cmd_state,
        lambda form: {"state": _field(form, "state", STATES), "wait": RESOLVE_WAIT},
    ),
    "publish": (
        cmd_publish,
        lambda form: {
            "kind": _field(form, "kind", list(KINDS)),
            "message": _field(form, "message"),
            "subject": _optional(form, "subject"),
            "file": None,
            "edit": False,
            "dry_run": False,
        },
    ),
    "approve-rollback": (cmd_approve_rollback, lambda form: {}),
    "approve-remediation": (cmd_approve, lambda form: {"request": _field(form, "request")}),
}


def run(
    cluster: Cluster, namespace: str, name: str, action: str, form: Mapping[str, str]
) -> Outcome:
    """Runs ``action`` on the incident ``namespace/name`` as the plugin would; blocking."""
    if action not in ACTIONS:
        return Outcome(False, f"no action {action!r}")
    command, arguments = ACTIONS[action]
    try:
        args = argparse.Namespace(incident=name, **arguments(form))
    except FormError as error:
        return Outcome(False, f"nothing was done: {error}")
    there = dataclasses.replace(cluster, namespace=namespace)
    printed = io.StringIO()
    with _ONE_AT_A_TIME:
        try:
            with redirect_stdout(printed):
                command(there, args)
        except Exception as error:  # every failure is shown, as the plugin's error: line
            return Outcome(False, describe(error, cluster.source))
    return Outcome(True, printed.getvalue().strip())
