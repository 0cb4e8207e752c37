"""PagerDuty v3 webhooks (``POST /pagerduty``): verify, read, decide.

PagerDuty signs each delivery with the subscription's secret: ``X-PagerDuty-Signature``
lists ``v1=<hex HMAC-SHA256 of the raw body>``, several comma-separated while a secret is
being rotated; one that matches is enough. Then, by ``event.event_type``::

    incident.triggered ..... declare an Incident here (source pagerduty), through the
                             signal router like any alert; the operator's own page
                             (its incident_key is the operator's dedup key) is not
                             declared again
    incident.acknowledged .. acknowledge the Incident it declared, or the operator's
                             incident whose page it is, as the PagerDuty user (mapped to a
                             Kubernetes user by the governing policy's contacts)
    incident.resolved ...... the signal recovers (Monitoring); the runbook's gate resolves
    anything else .......... answered 200 and ignored

Severity (docs/intake.md): PagerDuty's priority P1..P5 is the runbook's P0..P4; without a
priority, urgency high is P1 and low is P3.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from incident_operator.api.contacts import Contact
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.alerts import AlertItem, PayloadError
from incident_operator.reconcile.webhook_intake import signal_fingerprint, signal_item

SIGNATURE_HEADER: Final = "X-PagerDuty-Signature"
# The source of incidents PagerDuty declares: the fingerprint label is pagerduty.<id>.
SOURCE: Final = "pagerduty"
# The operator's own dedup keys (domain/notifications.py pagerduty_dedup_key) begin so.
_OWN_KEY_PREFIX: Final = "incident-operator/"
_PRIORITY_SEVERITY: Final = {
    "P1": Severity.P0,
    "P2": Severity.P1,
    "P3": Severity.P2,
    "P4": Severity.P3,
    "P5": Severity.P4,
}
_URGENCY_SEVERITY: Final = {"high": Severity.P1, "low": Severity.P3}


def signatures_match(body: bytes, header: str | None, secrets: list[str]) -> bool:
    """Whether one of the header's v1 signatures is the HMAC-SHA256 of ``body`` with one
    of ``secrets`` (the current one, and the previous one while rotating)."""
    if not header:
        return False
    given = [
        part.strip().removeprefix("v1=").lower()
        for part in header.split(",")
        if part.strip().startswith("v1=")
    ]
    expected = [hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets if s]
    # Every pair is compared, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(g, e) for g in given for e in expected]
    return any(matches)


class Reference(BaseModel):
    """PagerDuty's reference to another object (a user, service, priority)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: str = ""
    summary: str = ""
    self: str | None = None
    html_url: str | None = None


class PagerDutyIncident(BaseModel):
    """``event.data`` of an incident event (the fields used)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    type: Literal["incident"] = "incident"
    number: int | None = None
    title: str = ""
    status: str = ""
    incident_key: str | None = None
    created_at: datetime
    html_url: str | None = None
    urgency: Literal["high", "low"] = "high"
    priority: Reference | None = None
    service: Reference | None = None


class PagerDutyEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    event_type: str
    resource_type: str
    occurred_at: datetime
    agent: Reference | None = None
    data: dict[str, Any]


class PagerDutyDelivery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event: PagerDutyEvent


@dataclass(frozen=True)
class Declare:
    """Take ``item`` as a signal (triggered: it may open; resolved: it recovers)."""

    item: AlertItem
    incident: PagerDutyIncident


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge the incident PagerDuty's incident stands for."""

    # Found by the fingerprint label (one PagerDuty declared) in ``namespace``...
    namespace: str
    fingerprint: str | None
    # ...or named by the operator's own dedup key (namespace, name, uid).
    own: tuple[str, str, str] | None
    agent: Reference | None


@dataclass(frozen=True)
class Ignore:
    reason: str


Action = Declare | Acknowledge | Ignore


def parse_delivery(body: bytes) -> PagerDutyDelivery:
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"the body is not JSON: {error}") from error
    try:
        return PagerDutyDelivery.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise PayloadError(f"{where}: {first['msg']}") from error


def own_incident(incident_key: str | None) -> tuple[str, str, str] | None:
    """(namespace, name, uid) when ``incident_key`` is one of the operator's dedup keys."""
    if not incident_key or not incident_key.startswith(_OWN_KEY_PREFIX):
        return None
    parts = incident_key.removeprefix(_OWN_KEY_PREFIX).split("/")
    if len(parts) < 3 or not all(parts[:3]):
        return None
    return parts[0], parts[1], parts[2]


def pagerduty_severity(incident: PagerDutyIncident) -> Severity:
    """Priority P1..P5 as P0..P4; without a (known) priority, by urgency."""
    if incident.priority is not None and incident.priority.summary in _PRIORITY_SEVERITY:
        return _PRIORITY_SEVERITY[incident.priority.summary]
    return _URGENCY_SEVERITY[incident.urgency]


def decide(delivery: PagerDutyDelivery, namespace: str, now: datetime) -> Action:
    """What one event changes here; ``namespace`` is where PagerDuty's incidents open."""
    event = delivery.event
    kinds = ("incident.triggered", "incident.acknowledged", "incident.resolved")
    if event.event_type not in kinds:
        return Ignore(f"event type {event.event_type} is not one the operator takes")
    try:
        incident = PagerDutyIncident.model_validate(event.data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("event", "data", *first["loc"]))
        raise PayloadError(f"{where}: {first['msg']}") from error
    own = own_incident(incident.incident_key)
    if event.event_type == "incident.acknowledged":
        fingerprint = None if own else signal_fingerprint(SOURCE, incident.id)
        return Acknowledge(namespace, fingerprint, own, event.agent)
    if own is not None:
        # The operator's own page: its incident exists, and resolves through the runbook.
        return Ignore(f"{incident.incident_key} is the operator's own page")
    triggered = event.event_type == "incident.triggered"
    service = incident.service.summary if incident.service else ""
    labels = {"pagerduty_service": incident.service.id} if incident.service else {}
    item = signal_item(
        index=0,
        source=SOURCE,
        signal_id=incident.id,
        firing=triggered,
        severity=pagerduty_severity(incident),
        title=incident.title or f"PagerDuty incident {incident.number or incident.id}",
        namespace=namespace,
        labels=labels | ({"pagerduty_service_name": service[:63]} if service else {}),
        starts_at=incident.created_at,
        ends_at=None if triggered else event.occurred_at,
        workload=None,
        url=incident.html_url,
    )
    return Declare(item, incident)


def incident_summary(incident: PagerDutyIncident) -> str:
    number = f"#{incident.number} " if incident.number is not None else ""
    service = f" on service {incident.service.summary}" if incident.service else ""
    return f"Declared from PagerDuty incident {number}({incident.id}){service}."


def acknowledger(agent: Reference | None, contacts: list[Contact]) -> str:
    """Who acknowledged: the Kubernetes user of the contact whose pagerDutyUser is the
    PagerDuty user, else ``pagerduty:<their name or id>``."""
    if agent is None:
        return "pagerduty:unknown"
    for contact in contacts:
        if contact.pager_duty_user and contact.user and contact.pager_duty_user == agent.id:
            return contact.user
    return f"pagerduty:{agent.summary or agent.id}"[:256]


def policy_contacts(policy: EscalationPolicy | None) -> list[Contact]:
    if policy is None:
        return []
    return [
        contact
        for role in policy.spec.contacts
        for contact in (role.primary, role.backup)
        if contact is not None
    ]
