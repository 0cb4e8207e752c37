"""PagerDuty v3 webhook deliveries as PagerDuty documents them, signed as it signs them
(``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>``)."""

import hashlib
import hmac
import json
from typing import Any


def incident_event(
    event_type: str,
    incident_id: str = "Q2K9SHJ3WJ1KPL",
    *,
    title: str = "Checkout is down",
    priority: str | None = "P1",
    urgency: str = "high",
    incident_key: str | None = "4b6cd1a2f0e34a1e9b4d0c7f2a6d8e11",
    agent_id: str = "PLH1HKV",
    agent_name: str = "Tenex Engineer",
) -> dict[str, Any]:
    """One delivery of an incident event (the v3 "event" envelope)."""
    status = event_type.removeprefix("incident.")
    return {
        "event": {
            "id": "01DEN2RBEYKGSXAY8T1KK0J8AZ",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-25T10:06:00.000Z",
            "agent": {
                "html_url": f"https://acme.pagerduty.com/users/{agent_id}",
                "id": agent_id,
                "self": f"https://api.pagerduty.com/users/{agent_id}",
                "summary": agent_name,
                "type": "user_reference",
            },
            "client": None,
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "number": 2,
                "status": status,
                "incident_key": incident_key,
                "created_at": "2026-11-25T10:00:00Z",
                "title": title,
                "service": {
                    "html_url": "https://acme.pagerduty.com/services/PF9KMXH",
                    "id": "PF9KMXH",
                    "self": "https://api.pagerduty.com/services/PF9KMXH",
                    "summary": "API Service",
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": {
                    "id": "PXPGF42",
                    "summary": "Engineering",
                    "type": "escalation_policy_reference",
                },
                "teams": [],
                "priority": (
                    {"id": "PSO75BM", "summary": priority, "type": "priority_reference"}
                    if priority
                    else None
                ),
                "urgency": urgency,
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def sign(body: bytes, *secrets: str) -> str:
    """The header PagerDuty sends: one v1 signature per secret (several while rotating)."""
    return ",".join(
        "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets
    )


def encoded(delivery: dict[str, Any]) -> bytes:
    return json.dumps(delivery).encode()
