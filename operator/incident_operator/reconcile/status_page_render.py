"""The status page's documents: the HTML page, the Atom feed of incident updates, and
Atlassian Statuspage's v2 JSON shapes, each rendered from one ``StatusPage``. Pure.

The JSON keeps Statuspage's field names so widgets and aggregators that read a
Statuspage read this one (docs/status-page.md lists which fields are filled). The HTML
and the feed are Jinja2 templates (``templates/``) with autoescaping on: every text
comes from people (component names, published messages) and is escaped.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from incident_operator.domain.status_page import (
    ComponentState,
    Document,
    PublicIncidentStatus,
    worst_state,
)
from incident_operator.reconcile.status_page import (
    Component,
    PublicIncident,
    StatusPage,
    public_id,
)

# Statuspage's /api/v2/incidents.json lists at most this many.
INCIDENT_LIMIT: Final = 50
# The words and icons the HTML shows for each state: never the colour alone.
STATE_WORDS: Final = {
    ComponentState.OPERATIONAL: "Operational",
    ComponentState.UNDER_MAINTENANCE: "Under maintenance",
    ComponentState.DEGRADED_PERFORMANCE: "Degraded performance",
    ComponentState.PARTIAL_OUTAGE: "Partial outage",
    ComponentState.MAJOR_OUTAGE: "Major outage",
}
STATE_ICONS: Final = {
    ComponentState.OPERATIONAL: "\u2713",  # check mark
    ComponentState.UNDER_MAINTENANCE: "\u2699",  # gear
    ComponentState.DEGRADED_PERFORMANCE: "\u25b2",  # triangle
    ComponentState.PARTIAL_OUTAGE: "\u25c6",  # diamond
    ComponentState.MAJOR_OUTAGE: "\u2717",  # ballot x
}
UPDATE_WORDS: Final = {
    PublicIncidentStatus.INVESTIGATING: "Investigating",
    PublicIncidentStatus.IDENTIFIED: "Identified",
    PublicIncidentStatus.MONITORING: "Monitoring",
    PublicIncidentStatus.RESOLVED: "Resolved",
}


def timestamp(moment: datetime) -> str:
    """Statuspage's timestamps: UTC with milliseconds, e.g. 2026-11-27T01:02:03.000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _page_id(page: StatusPage) -> str:
    return public_id("page", page.title)


def page_json(page: StatusPage, url: str) -> dict[str, Any]:
    return {
        "id": _page_id(page),
        "name": page.title,
        "url": url,
        "time_zone": "Etc/UTC",
        "updated_at": timestamp(page.updated_at),
    }


def _component_json(component: Component, page_id: str, position: int) -> dict[str, Any]:
    return {
        "id": component.id,
        "name": component.name,
        "status": component.state.value,
        "created_at": timestamp(component.created_at),
        "updated_at": timestamp(component.updated_at),
        "position": position,
        "description": component.description or None,
        "showcase": True,
        "start_date": component.created_at.astimezone(UTC).date().isoformat(),
        "group_id": public_id("group", component.group) if component.group else None,
        "page_id": page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def components_json(page: StatusPage) -> list[dict[str, Any]]:
    """Every component, each group as a component of its own before its first member
    (``group`` true, ``components`` its members' ids), as Statuspage lists them."""
    page_id = _page_id(page)
    listed: list[dict[str, Any]] = []
    for group, members in grouped_components(page):
        if group is not None:
            listed.append(
                {
                    "id": public_id("group", group),
                    "name": group,
                    "status": worst_state(m.state for m in members).value,
                    "created_at": timestamp(min(m.created_at for m in members)),
                    "updated_at": timestamp(max(m.updated_at for m in members)),
                    "position": len(listed) + 1,
                    "description": None,
                    "showcase": False,
                    "start_date": None,
                    "group_id": None,
                    "page_id": page_id,
                    "group": True,
                    "only_show_if_degraded": False,
                    "components": [m.id for m in members],
                }
            )
        for member in members:
            listed.append(_component_json(member, page_id, len(listed) + 1))
    return listed


def _incident_json(
    incident: PublicIncident, page: StatusPage, url: str, listed: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """``listed``: the components as components_json lists them, by id."""
    page_id = _page_id(page)
    return {
        "id": incident.id,
        "name": incident.name,
        "status": incident.status.value,
        "created_at": timestamp(incident.created_at),
        "updated_at": timestamp(incident.updated_at),
        "monitoring_at": timestamp(incident.monitoring_at) if incident.monitoring_at else None,
        "resolved_at": timestamp(incident.resolved_at) if incident.resolved_at else None,
        "impact": incident.impact.value,
        "shortlink": f"{url}/#incident-{incident.id}",
        "started_at": timestamp(incident.started_at),
        "page_id": page_id,
        "incident_updates": [
            {
                "id": update.id,
                "status": update.status.value,
                "body": update.body,
                "incident_id": incident.id,
                "created_at": timestamp(update.at),
                "updated_at": timestamp(update.at),
                "display_at": timestamp(update.at),
                "affected_components": None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
            for update in incident.updates
        ],
        "components": [listed[i] for i in incident.component_ids if i in listed],
    }


def status_json(page: StatusPage) -> dict[str, str]:
    return {"indicator": page.indicator.value, "description": page.description}


def api_documents(page: StatusPage, url: str) -> dict[str, dict[str, Any]]:
    """Statuspage's v2 documents by path."""
    head = page_json(page, url)
    components = components_json(page)
    listed = {c["id"]: c for c in components}
    unresolved = [_incident_json(i, page, url, listed) for i in page.unresolved]
    return {
        "/api/v2/summary.json": {
            "page": head,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": [],
            "status": status_json(page),
        },
        "/api/v2/status.json": {"page": head, "status": status_json(page)},
        "/api/v2/components.json": {"page": head, "components": components},
        "/api/v2/incidents.json": {
            "page": head,
            "incidents": [
                _incident_json(i, page, url, listed) for i in page.incidents[:INCIDENT_LIMIT]
            ],
        },
        "/api/v2/incidents/unresolved.json": {"page": head, "incidents": unresolved},
    }


def grouped_components(page: StatusPage) -> list[tuple[str | None, list[Component]]]:
    """Components in page order, a group's members together where its first one is."""
    groups: dict[str | None, list[Component]] = {}
    order: list[str | None] = []
    for component in page.components:
        # Each component without a group stands alone, in its own place.
        key = component.group if component.group is not None else f"\0{component.id}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(component)
    return [
        (key if key is not None and not key.startswith("\0") else None, groups[key])
        for key in order
    ]


def html_groups(page: StatusPage) -> list[tuple[str | None, list[Component]]]:
    """The HTML's lists: the components without a group first, then each group's."""
    grouped = grouped_components(page)
    alone = [member for group, members in grouped if group is None for member in members]
    return ([(None, alone)] if alone else []) + [(g, m) for g, m in grouped if g is not None]


def _past_by_day(page: StatusPage) -> list[tuple[str, list[PublicIncident]]]:
    days: dict[str, list[PublicIncident]] = {}
    for incident in page.past:
        days.setdefault(incident.created_at.astimezone(UTC).date().isoformat(), []).append(incident)
    return sorted(days.items(), reverse=True)


@lru_cache(maxsize=1)
def _templates() -> Environment:
    environment = Environment(
        loader=PackageLoader("incident_operator.reconcile", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["timestamp"] = timestamp
    environment.filters["clock"] = lambda t: t.astimezone(UTC).strftime("%b %d, %H:%M UTC")
    environment.filters["day"] = lambda d: datetime.fromisoformat(d).strftime("%B %d, %Y")
    return environment


def _context(page: StatusPage, url: str) -> dict[str, Any]:
    return {
        "page": page,
        "url": url,
        "groups": html_groups(page),
        "by_id": {c.id: c for c in page.components},
        "past_days": _past_by_day(page),
        "state_words": STATE_WORDS,
        "state_icons": STATE_ICONS,
        "update_words": UPDATE_WORDS,
    }


def render_documents(page: StatusPage, url: str) -> Mapping[str, Document]:
    """Every document the page serves, by path; ``url`` is the page's public base URL
    (no trailing slash), for the feed's and the JSON's links."""
    modified = page.updated_at
    documents = {
        "/": Document(
            _templates().get_template("status_page.html").render(_context(page, url)).encode(),
            "text/html; charset=utf-8",
            modified,
        ),
        "/history.atom": Document(
            _templates().get_template("history.atom.xml").render(_context(page, url)).encode(),
            "application/atom+xml; charset=utf-8",
            modified,
        ),
    }
    for path, body in api_documents(page, url).items():
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        documents[path] = Document(text.encode(), "application/json; charset=utf-8", modified)
    return documents
