"""``kubectl incident oncall``: who is on call, per policy and rotation, and who is next.

Reads the EscalationPolicies of the namespace (or the one named with ``--policy``) and
works out each rotation in ``spec.rotations`` with ``domain.rotations``, at the time
asked about (``--at``, default now): who is on call, since and until when, and the next
``--next`` hand-offs. ``-o json`` prints the same for scripts. Nothing is written.

A rotation that cannot be worked out (a time zone the zone database does not have: the
one test the API server cannot make) is an error naming the policy and the field, in
the words of the policy's RotationsValid condition; nothing is guessed.
"""

import argparse
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from kubernetes import client
from pydantic import TypeAdapter, ValidationError

from incident_operator.api import GROUP, VERSION
from incident_operator.api.rotations import Rotation
from incident_operator.cli.cluster import Cluster, PluginError, api_message, utcnow
from incident_operator.cli.render import table
from incident_operator.domain.rotations import Shift, next_handoffs
from incident_operator.reconcile.invalid import describe_validation_error
from incident_operator.reconcile.rotations import rotation_problems

POLICIES = "escalationpolicies"
DEFAULT_NEXT = 3
MAX_NEXT = 100
_ROTATIONS = TypeAdapter(list[Rotation])


@dataclass(frozen=True)
class RotationView:
    """One rotation of one policy, worked out at one instant."""

    policy: str
    rotation: Rotation
    shifts: list[Shift]  # the shift at the instant, then the next hand-offs


def _policies(cluster: Cluster, name: str | None) -> list[dict[str, Any]]:
    api = cluster.custom
    try:
        if name is not None:
            found = api.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, POLICIES, name, _request_timeout=cluster.timeout
            )
            return [cast(dict[str, Any], found)]
        listed: Any = api.list_namespaced_custom_object(
            GROUP, VERSION, cluster.namespace, POLICIES, _request_timeout=cluster.timeout
        )
    except client.ApiException as error:
        if error.status == 404 and name is not None:
            raise PluginError(
                f"no EscalationPolicy {name!r} in namespace {cluster.namespace}"
            ) from error
        raise PluginError(api_message(error)) from error
    return sorted(listed["items"], key=lambda item: str(item["metadata"]["name"]))


def _rotations(policy: dict[str, Any]) -> list[Rotation]:
    name = policy["metadata"]["name"]
    raw = (policy.get("spec") or {}).get("rotations") or []
    try:
        parsed = _ROTATIONS.validate_python(raw)
    except ValidationError as error:
        problem = describe_validation_error(error, "spec.rotations")
        raise PluginError(f"EscalationPolicy {name}: {problem}") from error
    problems = rotation_problems(parsed)
    if problems:
        raise PluginError(f"EscalationPolicy {name}: {'; '.join(problems)}")
    return parsed


def views(policies: list[dict[str, Any]], at: datetime, count: int) -> list[RotationView]:
    """Every rotation of ``policies``, in order, with its shift at ``at`` and the next."""
    return [
        RotationView(
            policy["metadata"]["name"], rotation, next_handoffs(rotation.schedule(), at, count)
        )
        for policy in policies
        for rotation in _rotations(policy)
    ]


def _moment(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M") + "Z"


def text(found: list[RotationView], at: datetime) -> str:
    """A table: per rotation, who is on call at ``at`` (marked now), then who is next."""
    rows = [
        [
            view.policy,
            view.rotation.name,
            "now" if index == 0 else "next",
            shift.person + (" (override)" if shift.override else ""),
            _moment(shift.start),
            _moment(shift.end),
        ]
        for view in found
        for index, shift in enumerate(view.shifts)
    ]
    header = ["POLICY", "ROTATION", "WHEN", "ON CALL", "FROM", "UNTIL"]
    return f"on call at {_moment(at)}\n" + table(header, rows)


def _shift_json(shift: Shift) -> dict[str, Any]:
    return {
        "person": shift.person,
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "override": shift.override,
    }


def as_json(found: list[RotationView], namespace: str, at: datetime) -> str:
    return json.dumps(
        {
            "namespace": namespace,
            "at": at.isoformat(),
            "rotations": [
                {
                    "policy": view.policy,
                    "rotation": view.rotation.name,
                    "timeZone": view.rotation.time_zone,
                    "onCall": _shift_json(view.shifts[0]),
                    "next": [_shift_json(shift) for shift in view.shifts[1:]],
                }
                for view in found
            ],
        },
        indent=2,
    )


def cmd_oncall(cluster: Cluster, args: argparse.Namespace) -> int:
    at: datetime = args.at or utcnow()
    policies = _policies(cluster, args.policy)
    found = views(policies, at, args.next)
    if args.output == "json":
        print(as_json(found, cluster.namespace, at))
    elif found:
        print(text(found, at))
    else:
        where = f"EscalationPolicy {args.policy}" if args.policy else "any EscalationPolicy"
        print(f"no rotations in {where} in namespace {cluster.namespace} (spec.rotations)")
    return 0


def _time(value: str) -> datetime:
    """An --at: RFC 3339 with a zone (2026-12-01T09:00:00Z)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an RFC 3339 time with a zone, e.g. 2026-12-01T09:00:00Z"
        )
    return parsed


def _count(value: str) -> int:
    """A --next: a whole number of hand-offs, 0 to MAX_NEXT."""
    if not value.isdigit() or int(value) > MAX_NEXT:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number from 0 to {MAX_NEXT}")
    return int(value)


def add_oncall(commands: Any) -> argparse.ArgumentParser:
    """Registers the subcommand on ``kubectl incident``'s subparsers."""
    help_ = "who is on call now (or --at TIME) per policy and rotation, and the next hand-offs"
    sub: argparse.ArgumentParser = commands.add_parser("oncall", help=help_, description=help_)
    sub.set_defaults(handler=cmd_oncall)
    # Also after the command; SUPPRESS keeps the one given before it.
    sub.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="namespace (default: the context's)"
    )
    sub.add_argument("--policy", metavar="NAME", help="only this EscalationPolicy")
    sub.add_argument(
        "--at", type=_time, metavar="TIME", help="the time asked about (RFC 3339; default: now)"
    )
    sub.add_argument(
        "--next",
        type=_count,
        default=DEFAULT_NEXT,
        metavar="N",
        help=f"how many hand-offs after the current shift to list (default: {DEFAULT_NEXT})",
    )
    sub.add_argument("-o", "--output", choices=["text", "json"], default="text")
    return sub
