"""Grafana dashboard JSON, built from plain values: the pieces every dashboard shares.

Dashboards are written as Grafana's own JSON model (schemaVersion 39), the form Grafana's
sidecar (kube-prometheus-stack) and "Import dashboard" read. Every panel queries the
data source chosen in the ``datasource`` variable, so one file serves any Prometheus.

Thresholds become Grafana threshold steps. A step colours values *at or past* it, while
detection's thresholds are strict ("> 500ms"): a value exactly on a threshold is coloured
one step further than detection rates it, which no real measurement will notice.
"""

from collections.abc import Sequence
from typing import Any, Final

from incident_operator.domain.signals import Direction

Json = dict[str, Any]

SCHEMA_VERSION: Final = 39
DATASOURCE: Final[Json] = {"type": "prometheus", "uid": "${datasource}"}
# Panels per row and their height, on Grafana's 24-column grid.
GRID_COLUMNS: Final = 24

OK_COLOR, WARNING_COLOR, CRITICAL_COLOR = "green", "orange", "red"


def threshold_steps(warning: float, critical: float, direction: Direction) -> list[Json]:
    """Grafana's steps for a warning and a critical threshold, in either direction."""
    if direction is Direction.ABOVE:
        return [
            {"color": OK_COLOR, "value": None},
            {"color": WARNING_COLOR, "value": warning},
            {"color": CRITICAL_COLOR, "value": critical},
        ]
    return [
        {"color": CRITICAL_COLOR, "value": None},
        {"color": WARNING_COLOR, "value": critical},
        {"color": OK_COLOR, "value": warning},
    ]


def target(expr: str, legend: str = "__auto", ref: str = "A") -> Json:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def panel(
    kind: str,
    title: str,
    targets: Sequence[Json],
    unit: str = "short",
    description: str = "",
    steps: list[Json] | None = None,
    stacked: bool = False,
) -> Json:
    """One panel (``timeseries``, ``stat``, ``bargauge``, ``table``), placed later by
    ``layout``. With ``steps`` a time series draws them as lines and shaded areas."""
    defaults: Json = {"unit": unit}
    if steps is not None:
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        defaults["color"] = {"mode": "thresholds"}
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 30 if stacked else 10,
            "stacking": {"mode": "normal" if stacked else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line+area" if steps is not None else "off"},
        }
        if steps is not None:
            defaults["color"] = {"mode": "palette-classic"}
    body: Json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if kind == "stat":
        body["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "area",
            "textMode": "value_and_name",
        }
    return body


def row(title: str) -> Json:
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(panels: Sequence[Json], per_row: int = 2, height: int = 8) -> list[Json]:
    """Panels with ids and grid positions, ``per_row`` abreast; a row header starts a new
    line across the whole width."""
    placed: list[Json] = []
    x = y = 0
    width = GRID_COLUMNS // per_row
    for number, item in enumerate(panels, start=1):
        if item["type"] == "row":
            if x:
                x, y = 0, y + height
            placed.append({**item, "id": number, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}})
            y += 1
            continue
        placed.append({**item, "id": number, "gridPos": {"x": x, "y": y, "w": width, "h": height}})
        x += width
        if x >= GRID_COLUMNS:
            x, y = 0, y + height
    return placed


def datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
    }


def query_variable(name: str, label: str, query: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "current": {},
        "hide": 0,
        "refresh": 2,
        "sort": 1,
        "multi": False,
        "includeAll": False,
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[Json],
    variables: Sequence[Json],
    tags: Sequence[str],
    links: Sequence[Json] = (),
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": list(tags),
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "browser",
        "templating": {"list": list(variables)},
        "annotations": {"list": []},
        "links": list(links),
        "panels": panels,
    }
