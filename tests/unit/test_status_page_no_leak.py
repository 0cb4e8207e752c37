"""The status page's promise, as a property: nothing internal ever reaches customers.

Random incidents carry a marker string in every field customers must not see (title,
summary, impact, internal updates and their authors, roles, the authors of published
messages, triage, mitigation, names, namespaces, labels, annotations, signals' rules and
policies, the policy's own name and labels, a maintenance window's name, reason and
owner, workload labels); no marker appears in any document the
page serves: the HTML, the Atom feed, every JSON.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.maintenance import MaintenanceWindow
from incident_operator.reconcile.status_page import build_page
from incident_operator.reconcile.status_page_render import render_documents

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Upper case, so no hexadecimal id can contain one by chance; digits make them unique.
MARKER = "SECRETQX"
PHASES = ["Detected", "Triaged", "Investigating", "Identified", "Mitigating", "Monitoring",
          "Resolved", "PostIncident", "Closed"]  # fmt: skip


def _marker(field: str, number: int) -> str:
    return f"{MARKER}{field.upper()}{number}"


def _name(field: str, number: int) -> str:
    """A marker that is also a DNS name (names, namespaces, label values)."""
    return f"secretqx-{field}-{number}"


def _policy(namespace: str) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {
                "name": _name("policy", 0),
                "namespace": namespace,
                "labels": {"team": _name("policylabel", 0)},
                "annotations": {"note": _marker("policyannotation", 0)},
            },
            "spec": {
                "default": True,
                "statusPage": {
                    "components": [
                        {"name": "API", "workloads": [{"kind": "Deployment", "name": "api"}]},
                        {"name": "Agents", "signals": [_marker("componentsignal", 0)]},
                    ]
                },
            },
        }
    )


def _window(namespace: str) -> MaintenanceWindow:
    """A window holding the API's workload now, with markers in what it says."""
    return MaintenanceWindow.model_validate(
        {
            "metadata": {"name": _name("window", 0), "namespace": namespace},
            "spec": {
                "selector": {"workloads": {"matchLabels": {"app": _name("workloadlabel", 0)}}},
                "start": (T0 - timedelta(hours=1)).isoformat(),
                "end": (T0 + timedelta(hours=1)).isoformat(),
                "reason": _marker("windowreason", 0),
                "owner": _name("windowowner", 0),
            },
        }
    )


@st.composite
def incidents(draw: st.DrawFn, namespace: str) -> Incident:
    number = draw(st.integers(0, 10_000))
    published = draw(st.lists(st.sampled_from(["Initial", "Progress", "Resolution"]), max_size=4))
    minutes = draw(st.integers(0, 200_000))
    at = (T0 - timedelta(minutes=minutes)).isoformat()
    author = _name("author", number)
    body: dict[str, Any] = {
        "metadata": {
            "name": _name("incident", number),
            "namespace": namespace,
            "uid": _marker("uid", number),
            "labels": {"owner": _name("label", number)},
            "annotations": {"sre.agentos.io/note": _marker("annotation", number)},
        },
        "spec": {
            "title": _marker("title", number),
            "severity": draw(st.sampled_from(["P0", "P1", "P2", "P3", "P4"])),
            "summary": _marker("summary", number),
            "impact": _marker("impact", number),
            "mitigation": _marker("mitigation", number),
            "affected": [{"kind": "Deployment", "name": draw(st.sampled_from(["api", "web"]))}],
            "roles": {"commander": author, "commsLead": _name("comms", number)},
            "updates": [{"message": _marker("update", number), "author": author, "time": at}],
            "customerMessages": [
                {
                    "kind": kind,
                    "text": f"Customer text {i}",
                    "author": _name("publisher", number),
                    "time": (T0 - timedelta(minutes=minutes - i)).isoformat(),
                }
                for i, kind in enumerate(published)
            ],
            "triage": {"usersImpacted": _marker("triage", number)},
        },
        "status": {
            "id": f"INC-{number:04d}",
            "phase": draw(st.sampled_from(PHASES)),
            "detectedAt": at,
            "signals": [
                {
                    "id": "s1",
                    "fingerprint": _marker("fingerprint", number),
                    "policy": _marker("signalpolicy", number),
                    "rule": draw(
                        st.sampled_from([_marker("rule", number), _marker("componentsignal", 0)])
                    ),
                    "level": "critical",
                    "breaching": True,
                    "lastEvaluatedAt": at,
                    "source": "alertmanager",
                    "severity": "P1",
                    "firstSeen": at,
                }
            ],
        },
    }
    return Incident.model_validate(body)


NAMESPACE = _name("namespace", 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(incidents(NAMESPACE), max_size=6))
def test_no_internal_field_reaches_any_document(held: list[Incident]) -> None:
    page = build_page(
        title="Status",
        policies=[_policy(NAMESPACE)],
        incidents=held,
        windows=[_window(NAMESPACE)],
        labels_of=lambda *_: {"app": _name("workloadlabel", 0)},
        now=T0,
    )
    for path, document in render_documents(page, "https://status.example.test").items():
        # Upper-cased: names, namespaces and user names are the marker in lower case.
        assert MARKER not in document.body.decode().upper(), path
    # Not vacuous: what was published does show.
    if page.incidents:
        html = render_documents(page, "http://x")["/"].body.decode()
        assert "Customer text 0" in html
