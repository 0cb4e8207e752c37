"""The public status page, derived and rendered: component states, public incidents and
their updates, the overall indicator, Statuspage's JSON shapes and the Atom feed."""

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.maintenance import MaintenanceWindow
from incident_operator.domain.status_page import ComponentState, Indicator
from incident_operator.reconcile.status_page import StatusPage, build_page, public_id
from incident_operator.reconcile.status_page_render import api_documents, render_documents

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
COMPONENTS = [
    {
        "name": "API",
        "group": "Platform",
        "description": "REST and gRPC",
        "workloads": [{"kind": "Deployment", "name": "api"}],
    },
    {"name": "Agents", "group": "Platform", "signals": ["AgentQueueStuck"]},
    {"name": "Website", "workloads": [{"kind": "Deployment", "name": "web"}]},
]


def _policy(
    components: list[dict[str, Any]] = COMPONENTS, namespace: str = "shop"
) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {
                "name": "team",
                "namespace": namespace,
                "generation": 1,
                "creationTimestamp": (T0 - timedelta(days=30)).isoformat(),
            },
            "spec": {"default": True, "statusPage": {"components": components}},
        }
    )


def _incident(
    name: str = "api-down",
    severity: str = "P0",
    phase: str | None = "Investigating",
    affected: tuple[str, ...] = ("api",),
    messages: list[dict[str, Any]] | None = None,
    signals: tuple[str, ...] = (),
    namespace: str = "shop",
    **status: Any,
) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {
                "title": f"{name} internal title",
                "severity": severity,
                "affected": [{"kind": "Deployment", "name": n} for n in affected],
                "customerMessages": messages or [],
            },
            "status": {
                "phase": phase,
                "detectedAt": (T0 - timedelta(minutes=30)).isoformat(),
                "signals": [_signal(rule, i) for i, rule in enumerate(signals, start=1)],
                **status,
            },
        }
    )


def _signal(rule: str, number: int) -> dict[str, Any]:
    at = (T0 - timedelta(minutes=30)).isoformat()
    return {
        "id": f"s{number}",
        "fingerprint": f"f{number}",
        "policy": "alertmanager",
        "rule": rule,
        "level": "critical",
        "breaching": True,
        "lastEvaluatedAt": at,
        "source": "alertmanager",
        "severity": "P1",
        "firstSeen": at,
    }


def _message(kind: str, text: str, minutes: int, subject: str | None = None) -> dict[str, Any]:
    message = {
        "kind": kind,
        "text": text,
        "author": "carol",
        "time": (T0 - timedelta(minutes=minutes)).isoformat(),
    }
    return message | ({"subject": subject} if subject else {})


def _window(labels: dict[str, str], start: datetime, end: datetime) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate(
        {
            "metadata": {"name": "upgrade", "namespace": "shop"},
            "spec": {
                "selector": {"workloads": {"matchLabels": labels}},
                "start": start.isoformat(),
                "end": end.isoformat(),
                "reason": "database upgrade",
                "owner": "alice",
            },
        }
    )


WORKLOAD_LABELS = {("shop", "Deployment", "api"): {"app": "api"}}


def _page(
    incidents: Sequence[Incident] = (),
    windows: Sequence[MaintenanceWindow] = (),
    policies: list[EscalationPolicy] | None = None,
    now: datetime = T0,
) -> StatusPage:
    return build_page(
        title="Acme Status",
        policies=[_policy()] if policies is None else policies,
        incidents=incidents,
        windows=windows,
        labels_of=lambda namespace, kind, name: WORKLOAD_LABELS.get((namespace, kind, name)),
        now=now,
    )


def _states(page: StatusPage) -> dict[str, str]:
    return {c.name: c.state.value for c in page.components}


@pytest.mark.parametrize(
    ("incidents", "windows", "expected"),
    [
        ([], [], {"API": "operational", "Agents": "operational", "Website": "operational"}),
        ([_incident(severity="P0")], [], {"API": "major_outage"}),
        ([_incident(severity="P1")], [], {"API": "partial_outage"}),
        ([_incident(severity="P2")], [], {"API": "degraded_performance"}),
        ([_incident(severity="P3")], [], {"API": "operational"}),
        ([_incident(severity="P4")], [], {"API": "operational"}),
        # The worst open incident wins.
        (
            [_incident("a", "P2"), _incident("b", "P0"), _incident("c", "P1")],
            [],
            {"API": "major_outage", "Website": "operational"},
        ),
        # A new incident without a phase yet counts as open.
        ([_incident(phase=None)], [], {"API": "major_outage"}),
        # Monitoring is still active; Resolved, PostIncident and Closed are not.
        ([_incident(phase="Monitoring")], [], {"API": "major_outage"}),
        ([_incident(phase="Resolved")], [], {"API": "operational"}),
        ([_incident(phase="PostIncident")], [], {"API": "operational"}),
        ([_incident(phase="Closed")], [], {"API": "operational"}),
        # A merged incident lives on in the one it was merged into.
        ([_incident(mergedInto="other")], [], {"API": "operational"}),
        # By a signal's rule name or alertname, without any affected workload.
        (
            [_incident(severity="P1", affected=(), signals=("AgentQueueStuck",))],
            [],
            {"Agents": "partial_outage", "API": "operational"},
        ),
        ([_incident(affected=(), signals=("Other",))], [], {"Agents": "operational"}),
        # Another namespace's incident does not cover this policy's components.
        ([_incident(namespace="elsewhere")], [], {"API": "operational"}),
        # An active window selecting the workload by its labels.
        (
            [],
            [_window({"app": "api"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))],
            {"API": "under_maintenance", "Website": "operational"},
        ),
        # Over, or not matching: no maintenance.
        (
            [],
            [_window({"app": "api"}, T0 - timedelta(hours=2), T0 - timedelta(hours=1))],
            {"API": "operational"},
        ),
        (
            [],
            [_window({"app": "other"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))],
            {"API": "operational"},
        ),
        # An open incident is worse than maintenance; a P3 is not.
        (
            [_incident(severity="P2")],
            [_window({"app": "api"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))],
            {"API": "degraded_performance"},
        ),
        (
            [_incident(severity="P3")],
            [_window({"app": "api"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))],
            {"API": "under_maintenance"},
        ),
    ],
)
def test_component_states(
    incidents: list[Incident], windows: list[MaintenanceWindow], expected: dict[str, str]
) -> None:
    states = _states(_page(incidents, windows))
    assert {name: states[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("incidents", "windows", "indicator", "description"),
    [
        ([], [], Indicator.NONE, "All Systems Operational"),
        ([_incident(severity="P2")], [], Indicator.MINOR, "Minor Service Outage"),
        ([_incident(severity="P1")], [], Indicator.MAJOR, "Partial System Outage"),
        ([_incident(severity="P0")], [], Indicator.CRITICAL, "Major Service Outage"),
        (
            [],
            [_window({"app": "api"}, T0 - timedelta(hours=1), T0 + timedelta(hours=1))],
            Indicator.MAINTENANCE,
            "Service Under Maintenance",
        ),
        # An unresolved public incident covering no component still counts, by its impact.
        (
            [_incident(severity="P1", affected=("queue",), messages=[_message("Initial", "x", 5)])],
            [],
            Indicator.MAJOR,
            "Partial System Outage",
        ),
    ],
)
def test_overall_indicator(
    incidents: list[Incident],
    windows: list[MaintenanceWindow],
    indicator: Indicator,
    description: str,
) -> None:
    page = _page(incidents, windows)
    assert (page.indicator, page.description) == (indicator, description)


def test_only_incidents_with_a_published_message_are_public() -> None:
    told = _incident("told", messages=[_message("Initial", "We are investigating.", 20)])
    page = _page([told, _incident("untold")])
    assert [i.name for i in page.incidents] == ["[Service Disruption] AgentOS Platform"]
    incident = page.incidents[0]
    assert incident.id == public_id("shop", "told", "uid-told")
    assert (incident.status.value, incident.impact.value) == ("investigating", "critical")
    assert incident.component_ids == (public_id("shop", "team", "API"),)


@pytest.mark.parametrize(
    ("kinds", "phase", "statuses", "incident_status"),
    [
        (["Initial"], "Investigating", ["investigating"], "investigating"),
        (["Initial", "Progress"], "Identified", ["investigating", "identified"], "identified"),
        (["Initial", "Progress"], "Monitoring", ["investigating", "monitoring"], "monitoring"),
        # Only the latest Progress is "monitoring": the earlier one was said before.
        (
            ["Initial", "Progress", "Progress"],
            "Monitoring",
            ["investigating", "identified", "monitoring"],
            "monitoring",
        ),
        (
            ["Initial", "Progress", "Resolution"],
            "PostIncident",
            ["investigating", "identified", "resolved"],
            "resolved",
        ),
        # Over without a Resolution message: resolved all the same.
        (["Initial"], "Resolved", ["investigating"], "resolved"),
        # Told it was resolved, but still active (reopened): not resolved.
        (["Initial", "Resolution"], "Investigating", ["investigating", "resolved"], "identified"),
    ],
)
def test_updates_follow_the_published_messages(
    kinds: list[str], phase: str, statuses: list[str], incident_status: str
) -> None:
    messages = [_message(kind, f"message {n}", 30 - n) for n, kind in enumerate(kinds)]
    resolved_at = {"resolvedAt": T0.isoformat()} if phase in ("Resolved", "PostIncident") else {}
    page = _page([_incident(phase=phase, messages=messages, **resolved_at)])
    (incident,) = page.incidents
    # Newest first, as Statuspage lists them.
    assert [u.status.value for u in reversed(incident.updates)] == statuses
    assert [u.body for u in reversed(incident.updates)] == [
        f"message {n}" for n in range(len(kinds))
    ]
    assert incident.status.value == incident_status
    assert (incident.resolved_at is not None) == (incident_status == "resolved")


def test_the_name_is_the_first_messages_subject() -> None:
    messages = [
        _message("Initial", "Subject: API errors\n\nWe are investigating.", 20),
        _message("Progress", "Fixed soon.", 10, subject="Later subject"),
    ]
    (incident,) = _page([_incident(messages=messages)]).incidents
    assert incident.name == "API errors"
    # The subject line is not repeated in the body.
    assert incident.updates[-1].body == "We are investigating."


@pytest.mark.parametrize(
    ("days", "phase", "listed"),
    [
        (89, "PostIncident", True),
        (91, "PostIncident", False),
        (91, "Closed", False),
        # An open incident is listed however old its last message.
        (91, "Investigating", True),
    ],
)
def test_past_incidents_stay_90_days(days: int, phase: str, listed: bool) -> None:
    message = _message("Initial", "x", days * 24 * 60)
    page = _page([_incident(phase=phase, messages=[message])])
    assert bool(page.incidents) is listed


def test_ids_are_stable_and_hide_names() -> None:
    first, second = _page(), _page()
    assert [c.id for c in first.components] == [c.id for c in second.components]
    assert len({c.id for c in first.components}) == 3
    for component in first.components:
        assert "shop" not in component.id
        assert "team" not in component.id


def _documents(page: StatusPage) -> dict[str, Any]:
    return api_documents(page, "https://status.example.test")


def test_statuspage_json_shapes() -> None:
    messages = [_message("Initial", "We are investigating.", 20)]
    page = _page([_incident(messages=messages)])
    documents = _documents(page)
    summary = documents["/api/v2/summary.json"]
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    assert set(summary["page"]) == {"id", "name", "url", "time_zone", "updated_at"}
    assert summary["page"]["name"] == "Acme Status"
    assert summary["page"]["url"] == "https://status.example.test"
    assert summary["status"] == {"indicator": "critical", "description": "Major Service Outage"}
    assert summary["scheduled_maintenances"] == []
    component_fields = {
        "id", "name", "status", "created_at", "updated_at", "position", "description",
        "showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded",
    }  # fmt: skip
    components = summary["components"]
    assert [(c["name"], c["group"]) for c in components] == [
        ("Platform", True),
        ("API", False),
        ("Agents", False),
        ("Website", False),
    ]
    assert [c["position"] for c in components] == [1, 2, 3, 4]
    for component in components:
        assert component_fields <= set(component)
    group, api = components[0], components[1]
    assert group["components"] == [api["id"], components[2]["id"]]
    assert group["status"] == "major_outage"
    assert api["group_id"] == group["id"]
    assert api["status"] == "major_outage"
    assert api["description"] == "REST and gRPC"
    assert api["page_id"] == summary["page"]["id"]
    (incident,) = summary["incidents"]
    assert set(incident) == {
        "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
        "impact", "shortlink", "started_at", "page_id", "incident_updates", "components",
    }  # fmt: skip
    assert incident["impact"] == "critical"
    assert incident["shortlink"] == f"https://status.example.test/#incident-{incident['id']}"
    assert incident["created_at"] == "2026-11-26T11:40:00.000Z"
    assert incident["started_at"] == "2026-11-26T11:30:00.000Z"
    (update,) = incident["incident_updates"]
    assert update["status"] == "investigating"
    assert update["body"] == "We are investigating."
    assert update["incident_id"] == incident["id"]
    # The same component as the components list says it.
    assert incident["components"] == [api]
    assert documents["/api/v2/incidents/unresolved.json"]["incidents"] == [incident]
    assert documents["/api/v2/incidents.json"]["incidents"] == [incident]
    assert documents["/api/v2/status.json"] == {
        "page": summary["page"],
        "status": summary["status"],
    }
    assert documents["/api/v2/components.json"]["components"] == components


def test_a_resolved_incident_is_listed_but_not_unresolved() -> None:
    messages = [_message("Initial", "x", 20), _message("Resolution", "Fixed.", 5)]
    page = _page([_incident(phase="PostIncident", messages=messages, resolvedAt=T0.isoformat())])
    documents = _documents(page)
    assert documents["/api/v2/incidents/unresolved.json"]["incidents"] == []
    (incident,) = documents["/api/v2/incidents.json"]["incidents"]
    assert (incident["status"], incident["resolved_at"]) == ("resolved", "2026-11-26T12:00:00.000Z")
    assert documents["/api/v2/status.json"]["status"]["indicator"] == "none"


def test_the_atom_feed_is_valid_atom() -> None:
    messages = [
        _message("Initial", "We are <investigating>.", 20),
        _message("Progress", "Found it & fixing.", 10),
    ]
    page = _page([_incident(messages=messages)])
    feed = ET.fromstring(
        render_documents(page, "https://status.example.test")["/history.atom"].body
    )
    assert feed.tag == f"{ATOM}feed"
    for required in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{required}") is not None, required
    assert feed.findtext(f"{ATOM}updated") == "2026-11-26T11:50:00.000Z"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in entries] == [
        "Found it & fixing.",
        "We are <investigating>.",
    ]
    for entry in entries:
        for required in ("id", "title", "updated", "link"):
            assert entry.find(f"{ATOM}{required}") is not None, required
    assert (
        entries[0].findtext(f"{ATOM}title") == "[Service Disruption] AgentOS Platform: Identified"
    )
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == 2


def test_the_html_page() -> None:
    messages = [_message("Initial", "We are <b>investigating</b>.", 20)]
    body = render_documents(_page([_incident(messages=messages)]), "http://x")["/"].body.decode()
    assert '<html lang="en">' in body
    assert body.count("<h1") == 1
    assert "<script" not in body
    for landmark in ("<header>", "<main>", "<footer>", "<nav"):
        assert landmark in body
    assert "Major outage" in body
    assert "Major Service Outage" in body
    # Text people wrote is escaped.
    assert "We are &lt;b&gt;investigating&lt;/b&gt;." in body
    assert '<time datetime="2026-11-26T11:40:00.000Z">' in body
    # Components without a group come first, so none looks like a member of a group.
    assert body.index(">Website<") < body.index("<h3>Platform</h3>") < body.index(">API<")


def test_every_json_document_is_json() -> None:
    documents = render_documents(_page(), "http://x")
    for path, document in documents.items():
        if path.endswith(".json"):
            assert document.content_type.startswith("application/json")
            json.loads(document.body)
    assert ComponentState.OPERATIONAL.value in documents["/api/v2/components.json"].body.decode()
