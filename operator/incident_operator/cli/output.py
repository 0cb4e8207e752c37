"""Printing incidents as kubectl prints objects: ``-o json|yaml|wide|name``, ``--no-headers``.

``list`` prints the API server's own Table (the CRD's additionalPrinterColumns), so
its columns are exactly those of ``kubectl get incidents``: the default output hides
the columns with a priority above 0, ``-o wide`` shows them, as kubectl does. Cells
are formatted as kubectl formats them (nothing for a missing value, an age for a
date) and laid out as kubectl's tabwriter lays them out; every cell is escaped.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from incident_operator.api import GROUP
from incident_operator.cli.escape import escape

# The -o values of list, show and timeline; none means the plugin's own text.
FORMATS = ("json", "yaml", "wide", "name")
# What `-o name` prints before the object's name, as kubectl does.
RESOURCE = f"incident.{GROUP}"
# kubectl's tabwriter: a cell is at least 6 wide, padded by 3 spaces.
_MIN_WIDTH, _PADDING = 6, 3


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """-o and --no-headers, for list, show and timeline."""
    parser.add_argument(
        "-o",
        "--output",
        choices=FORMATS,
        help="json or yaml: the objects as kubectl prints them; wide: more columns; "
        "name: incident.sre.agentos.io/NAME",
    )
    parser.add_argument(
        "--no-headers", action="store_true", help="print no header line (tables only)"
    )


def json_text(body: Any) -> str:
    """JSON as ``kubectl -o json`` prints it: four-space indent, keys sorted."""
    return json.dumps(body, indent=4, sort_keys=True, ensure_ascii=False)


def yaml_text(body: Any) -> str:
    """YAML as ``kubectl -o yaml`` prints it: block style, keys sorted."""
    import yaml

    text: str = yaml.safe_dump(body, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text.rstrip("\n")


def as_list(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several objects as ``kubectl get -o json|yaml`` wraps them."""
    return {
        "apiVersion": "v1",
        "items": list(items),
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    }


def object_text(body: Any, output: str) -> str:
    """``body`` as -o json or yaml prints it."""
    return json_text(body) if output == "json" else yaml_text(body)


def name_line(incident: dict[str, Any]) -> str:
    return f"{RESOURCE}/{escape(incident['metadata']['name'])}"


def human_duration(seconds: float) -> str:
    """An age as kubectl prints it (k8s.io/apimachinery duration.HumanDuration)."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _cell(value: Any, type_: str, now: datetime) -> str:
    if value is None:
        return ""  # kubectl prints nothing for a field an object does not set
    if type_ == "date" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return escape(value)
        return human_duration((now - moment).total_seconds())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return escape(json.dumps(value, separators=(",", ":")))
    return escape(value)


def table_lines(
    table: dict[str, Any],
    now: datetime,
    *,
    wide: bool,
    headers: bool,
    namespaces: bool,
    rows: Sequence[dict[str, Any]] | None = None,
) -> list[str]:
    """A meta.k8s.io Table as kubectl prints it; ``rows`` instead of the table's own."""
    definitions = table.get("columnDefinitions") or []
    shown = [i for i, d in enumerate(definitions) if wide or not d.get("priority")]
    lines: list[list[str]] = []
    if headers:
        header = [str(definitions[i]["name"]).upper() for i in shown]
        lines.append(["NAMESPACE", *header] if namespaces else header)
    for row in table.get("rows") or [] if rows is None else rows:
        cells = row.get("cells") or []
        line = [
            _cell(cells[i] if i < len(cells) else None, definitions[i].get("type", ""), now)
            for i in shown
        ]
        if namespaces:
            namespace = ((row.get("object") or {}).get("metadata") or {}).get("namespace")
            line.insert(0, escape(namespace or ""))
        lines.append(line)
    return _aligned(lines)


def _aligned(lines: list[list[str]]) -> list[str]:
    """Go's tabwriter as kubectl configures it: every column but the last padded."""
    if not lines:
        return []
    columns = max(len(line) for line in lines)
    widths = [
        max([_MIN_WIDTH, *(len(line[i]) + _PADDING for line in lines if i < len(line) - 1)])
        for i in range(columns)
    ]
    return [
        "".join(cell.ljust(widths[i]) if i < len(line) - 1 else cell for i, cell in enumerate(line))
        for line in lines
    ]
