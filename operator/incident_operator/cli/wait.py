"""``kubectl incident wait INCIDENT --for=...``: block until it holds, as ``kubectl wait``.

``--for=phase=Resolved`` (status.phase), ``--for=state=Mitigating`` (spec.state),
``--for=condition=Acknowledged`` (a status condition, ``=False`` to wait for another
value), ``--for=delete``. It watches the one incident (no polling); exit code 0 when
met, 1 with ``error: timed out ...`` after ``--timeout``, as kubectl wait. Parsing
--for and --timeout imports nothing heavy (the plugin's start-up time).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from incident_operator.cli.common import PluginError
from incident_operator.cli.escape import escape

if TYPE_CHECKING:
    from incident_operator.cli.cluster import Cluster

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def duration(text: str) -> float:
    """Seconds from a Go-style duration (30m, 1h30m, 90s) or a bare number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m)")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


@dataclass(frozen=True)
class Wanted:
    """What --for asks for, and how to tell it from an incident (None: it is gone)."""

    text: str
    met: Callable[[dict[str, Any] | None], bool]


def _condition(name: str, value: str) -> Callable[[dict[str, Any] | None], bool]:
    def met(incident: dict[str, Any] | None) -> bool:
        conditions = ((incident or {}).get("status") or {}).get("conditions") or []
        return any(
            c.get("type", "").lower() == name.lower() and str(c.get("status")).lower() == value
            for c in conditions
        )

    return met


def wanted(text: str) -> Wanted:
    """Parses --for: delete, phase=P, state=S, condition=C or condition=C=VALUE."""
    if text == "delete":
        return Wanted(text, lambda incident: incident is None)
    key, _, value = text.partition("=")
    if key == "condition" and value:
        name, _, status = value.partition("=")
        return Wanted(text, _condition(name, (status or "true").lower()))
    if key in ("phase", "state") and value:
        section = "status" if key == "phase" else "spec"
        return Wanted(
            text, lambda incident: ((incident or {}).get(section) or {}).get(key) == value
        )
    raise argparse.ArgumentTypeError(
        f"--for={text!r}: use delete, phase=PHASE, state=STATE or condition=TYPE[=VALUE]"
    )


def cmd_wait(cluster: Cluster, args: argparse.Namespace) -> int:
    from incident_operator.cli import raw_api  # the client, once --for has parsed

    incident: dict[str, Any] | None = cluster.find(args.incident)
    assert incident is not None
    name = incident["metadata"]["name"]
    label = (incident.get("status") or {}).get("id") or name
    condition: Wanted = args.wait_for
    deadline = time.monotonic() + args.timeout
    path = raw_api.incidents_path(cluster.namespace)
    version = incident["metadata"]["resourceVersion"]
    while not condition.met(incident):
        left = deadline - time.monotonic()
        if left <= 0:
            raise PluginError(
                f"timed out waiting for the condition {condition.text} on {escape(label)}"
            )
        query = {
            "fieldSelector": f"metadata.name={name}",
            "resourceVersion": version,
            "timeoutSeconds": str(max(1, int(left + 0.999))),
        }
        for event in raw_api.watch(cluster, path, query):
            kind, body = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                # The resourceVersion is too old: start again from the incident as it is.
                incident = cluster.find(name)
                version = incident["metadata"]["resourceVersion"]
                break
            version = (body.get("metadata") or {}).get("resourceVersion") or version
            if kind == "DELETED":
                incident = None
            elif kind in ("ADDED", "MODIFIED"):
                incident = body
            if condition.met(incident) or time.monotonic() >= deadline:
                break
    print(f"{escape(label)} condition met: {escape(condition.text)}")
    return 0
