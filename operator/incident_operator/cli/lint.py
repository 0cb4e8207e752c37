"""``kubectl incident lint -f FILE``: check manifests before applying them, offline.

Each YAML document of kind EscalationPolicy, Incident or MaintenanceWindow
(apiVersion sre.agentos.io/...) is validated with the operator's own models (the
checks the API server's schema and CEL rules make, and those only the operator makes),
and a policy's message templates and webhook body templates are rendered against the
same sample incidents the operator renders them against (its TemplatesValid
condition). Other documents are skipped. Every problem is one line naming the file,
the document (its number from 1, and kind/name) and the field; exit code 1 if any.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from incident_operator.api import GROUP
from incident_operator.cli.escape import escape

KINDS = ("EscalationPolicy", "Incident", "MaintenanceWindow")


@dataclass(frozen=True)
class Problem:
    file: str
    document: int  # from 1
    what: str  # kind/name, or "" when unknown
    message: str

    def line(self) -> str:
        where = f"{self.file}: document {self.document}"
        if self.what:
            where += f" ({self.what})"
        return escape(f"{where}: {self.message}")


def add_lint(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    lint = commands.add_parser(
        "lint",
        help="check EscalationPolicy, Incident and MaintenanceWindow manifests, offline",
        description="Validate manifests with the operator's models and render a policy's "
        "templates, without a cluster. Exit code 1 on any problem.",
    )
    lint.add_argument(
        "-f",
        "--filename",
        action="append",
        required=True,
        metavar="FILE",
        help="a YAML file, or - for standard input (repeatable)",
    )
    lint.set_defaults(handler=None, offline=cmd_lint)
    return lint


def cmd_lint(args: argparse.Namespace) -> int:
    problems: list[Problem] = []
    checked = 0
    for name in args.filename:
        text = sys.stdin.read() if name == "-" else _read(name, problems)
        if text is None:
            continue
        for document, body in _documents(name, text, problems):
            checked += _check(name, document, body, problems)
    for problem in problems:
        print(problem.line(), file=sys.stderr)
    if problems:
        return 1
    print(f"{checked} object{'s' if checked != 1 else ''} checked: no problems")
    return 0


def _read(name: str, problems: list[Problem]) -> str | None:
    try:
        with open(name, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        problems.append(Problem(name, 0, "", f"cannot read: {error.strerror}"))
        return None


def _documents(name: str, text: str, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    import yaml

    try:
        for number, body in enumerate(yaml.safe_load_all(text), start=1):
            if body is not None:
                yield number, body
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        problems.append(Problem(name, 0, "", f"not YAML{where}: {problem}"))


def _check(name: str, document: int, body: Any, problems: list[Problem]) -> int:
    """Adds the document's problems; 1 if it is one of ours (0 if skipped)."""
    if not isinstance(body, dict):
        problems.append(Problem(name, document, "", "not a mapping (an object)"))
        return 0
    kind, api_version = body.get("kind"), str(body.get("apiVersion") or "")
    if api_version.split("/")[0] != GROUP or kind not in KINDS:
        return 0
    what = f"{kind}/{(body.get('metadata') or {}).get('name') or '?'}"
    found = [Problem(name, document, what, message) for message in messages(kind, body)]
    problems.extend(found)
    return 1


def messages(kind: str, body: dict[str, Any]) -> list[str]:
    """What is wrong with ``body`` of ``kind``, each naming the field."""
    from pydantic import ValidationError

    model = _model(kind)
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        return [_field_error(e) for e in error.errors()]
    if kind != "EscalationPolicy":
        return []
    from incident_operator.reconcile.messages import template_problems
    from incident_operator.reconcile.webhook_bodies import body_template_problems

    spec = parsed.spec
    found = [p.describe() for p in template_problems(spec.communication.templates)]
    found += [p.describe() for p in body_template_problems(spec.channels)]
    return found


def _model(kind: str) -> Any:
    if kind == "EscalationPolicy":
        from incident_operator.api.escalation_policy import EscalationPolicy

        return EscalationPolicy
    if kind == "Incident":
        from incident_operator.api.incident import Incident

        return Incident
    from incident_operator.api.maintenance import MaintenanceWindow

    return MaintenanceWindow


def _field_error(error: Any) -> str:
    """``spec.channels[0].url: Input should be a valid URL``: the field as written."""
    path = ""
    for part in error.get("loc") or ():
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = str(error.get("msg") or "invalid")
    return f"{path}: {message}" if path else message
