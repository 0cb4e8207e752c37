"""The generic JSON webhook (``POST /webhook``): its schema, checked whole, as alerts.

Anything that can post JSON (a Datadog monitor, a custom health check, a support tool)
declares and recovers incidents through it. A body is checked whole before anything is
written, so one bad signal refuses the delivery with a 400 naming its field
(``signals[2].severity: ...``) and nothing changes.

Each signal is then taken exactly like an Alertmanager alert (``signal_item`` makes it
one): deduplicated by its (source, id) as the fingerprint label, firing opens an incident
or breaches it again, resolved recovers it (Monitoring), a repeat changes nothing; new
incidents go through maintenance windows and grouping (runtime/signal_router.py).
docs/intake.md documents every field; docs/intake-webhook.schema.json is rendered from
``WebhookBody`` (a unit test checks it did not drift).
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incident_operator.api.incident import IncidentSource, WorkloadKind, WorkloadReference
from incident_operator.domain.detection import label_value
from incident_operator.domain.severity import ALERT_SEVERITY, AlertLevel, Severity
from incident_operator.domain.signals import Level
from incident_operator.reconcile.alerts import Alert, AlertItem, PayloadError
from incident_operator.reconcile.detection import NewIncident

MAX_SIGNALS: Final = 1000
_DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Severities a sender may give: the runbook's P0..P4, or its alert levels.
WebhookSeverity = Literal["P0", "P1", "P2", "P3", "P4", "critical", "high", "warning", "info"]
_WORKLOAD_LABEL: Final = {
    WorkloadKind.DEPLOYMENT: "deployment",
    WorkloadKind.STATEFUL_SET: "statefulset",
    WorkloadKind.DAEMON_SET: "daemonset",
}


class WebhookWorkload(BaseModel):
    """The workload the signal is about; it becomes the incident's spec.affected."""

    model_config = ConfigDict(extra="forbid")

    kind: WorkloadKind = Field(description="Deployment, StatefulSet or DaemonSet.")
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
        ),
    ] = Field(description="The workload's name in the signal's namespace.")


class WebhookSignal(BaseModel):
    """One thing that is wrong (firing) or no longer is (resolved)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Annotated[str, Field(min_length=1, max_length=256)] = Field(
        description="The sender's dedup key: the same (source, id) is the same signal, so a "
        "repeat changes nothing and resolved finds the incident firing opened."
    )
    status: Literal["firing", "resolved"] = Field(
        description="firing opens an incident (or breaches it again); resolved recovers it."
    )
    severity: WebhookSeverity = Field(
        description="P0..P4, or an alert level: critical=P0, high=P1, warning=P2, info=P3."
    )
    title: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="The incident's title."
    )
    summary: Annotated[str, Field(max_length=8192)] = Field(
        default="", description="What is known; the incident's spec.summary."
    )
    namespace: (
        Annotated[str, Field(min_length=1, max_length=63, pattern=_DNS_LABEL_PATTERN)] | None
    ) = Field(
        default=None,
        description="Where the incident opens; default: the namespace of the receiver's "
        "token Secret.",
    )
    workload: WebhookWorkload | None = Field(
        default=None, description="The workload affected, if the sender knows it."
    )
    labels: Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=64)] = (
        Field(
            default={},
            description="Free labels; maintenance windows and grouping match on them "
            "(with namespace).",
        )
    )
    starts_at: datetime | None = Field(
        default=None,
        alias="startsAt",
        description="When it started (RFC 3339); default: when it is received.",
    )
    ends_at: datetime | None = Field(
        default=None,
        alias="endsAt",
        description="When it recovered (RFC 3339, resolved only); default: when received.",
    )
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = Field(
        default=None, description="A link to the signal at its source, added to the summary."
    )


class WebhookBody(BaseModel):
    """A delivery to POST /webhook."""

    model_config = ConfigDict(
        extra="forbid",
        title="incident-operator generic webhook",
        json_schema_extra={"$id": "https://sre.agentos.io/schemas/intake-webhook.json"},
    )

    version: Literal["1"] = Field(description='The schema version: "1".')
    source: Annotated[
        str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$")
    ] = Field(description="Who sends it (datadog, healthcheck, support); part of the dedup key.")
    signals: Annotated[list[WebhookSignal], Field(min_length=1, max_length=MAX_SIGNALS)] = Field(
        description="The signals of this delivery, taken in order."
    )


def webhook_schema() -> dict[str, Any]:
    """The JSON Schema of a delivery, as docs/intake-webhook.schema.json holds it."""
    return WebhookBody.model_json_schema(by_alias=True)


def parse_webhook(body: bytes) -> WebhookBody:
    """The delivery, or PayloadError naming the first field that is wrong."""
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"the body is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise PayloadError("the body must be a JSON object (see docs/intake.md)")
    try:
        return WebhookBody.model_validate(raw)
    except ValidationError as error:
        raise PayloadError(_describe(error)) from error


def _describe(error: ValidationError) -> str:
    """``signals[2].severity: Input should be ...``: each field as a sender writes it."""
    details = error.errors()
    parts = []
    for detail in details[:3]:
        where = ""
        for part in detail["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        parts.append(f"{where.lstrip('.') or 'body'}: {detail['msg']}")
    if len(details) > 3:
        parts.append(f"and {len(details) - 3} more")
    return "; ".join(parts)


def signal_severity(severity: WebhookSeverity) -> Severity:
    """P0..P4 as they are; an alert level as the runbook's Alert Severity Mapping says."""
    if severity.startswith("P"):
        return Severity(severity)
    return ALERT_SEVERITY[AlertLevel(severity)]


def signal_fingerprint(source: str, signal_id: str) -> str:
    """The fingerprint label value of (source, id): readable when it fits, hashed if not."""
    return label_value(f"{source}.{signal_id}")


def signal_item(
    *,
    index: int,
    source: str,
    signal_id: str,
    firing: bool,
    severity: Severity,
    title: str,
    namespace: str,
    labels: dict[str, str],
    starts_at: datetime,
    ends_at: datetime | None,
    workload: WorkloadReference | None,
    url: str | None,
) -> AlertItem:
    """One signal of any intake as an alert, so it is decided (``plan_alert``), deduplicated,
    suppressed and grouped exactly as Alertmanager's alerts are."""
    digest = hashlib.sha256(f"{source}\0{signal_id}\0{namespace}".encode()).hexdigest()
    alert_labels = {**labels, "alertname": source, "namespace": namespace}
    if workload is not None:
        alert_labels[_WORKLOAD_LABEL[workload.kind]] = workload.name
    alert = Alert.model_validate(
        {
            "status": "firing" if firing else "resolved",
            "labels": alert_labels,
            "annotations": {"summary": title},
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": url or "",
            "fingerprint": digest[:16],
        }
    )
    return AlertItem(
        alert=alert,
        index=index,
        receiver=source,
        alertname=source,
        namespace=namespace,
        fingerprint=signal_fingerprint(source, signal_id),
        legacy_fingerprint=digest[:32],
        severity=severity,
        level=Level.CRITICAL if severity in (Severity.P0, Severity.P1) else Level.WARNING,
        workload=workload,
    )


# The start of a signal already open under (namespace, fingerprint label), if any.
StartedAt = Callable[[str, str], datetime | None]


def check_webhook(
    body: WebhookBody, default_namespace: str, now: datetime, started_at: StartedAt
) -> list[AlertItem]:
    """Every signal of the delivery as an alert to take (the schema already checked them).

    A signal without startsAt keeps the start its open incident recorded, so a repeat
    changes nothing; a new one starts now.
    """
    return [
        signal_item(
            index=index,
            source=body.source,
            signal_id=signal.id,
            firing=signal.status == "firing",
            severity=signal_severity(signal.severity),
            title=signal.title,
            namespace=signal.namespace or default_namespace,
            labels=signal.labels,
            starts_at=(
                signal.starts_at
                or started_at(
                    signal.namespace or default_namespace,
                    signal_fingerprint(body.source, signal.id),
                )
                or now
            ),
            ends_at=signal.ends_at,
            workload=(
                WorkloadReference(kind=signal.workload.kind, name=signal.workload.name)
                if signal.workload
                else None
            ),
            url=signal.url,
        )
        for index, signal in enumerate(body.signals)
    ]


def shaped_incident(
    new: NewIncident, source: IncidentSource, title: str, summary: str, url: str | None
) -> NewIncident:
    """The incident ``plan_alert`` decided, as its own intake declares it: its source, its
    title and summary as the sender wrote them, and the sender's link."""
    details = "\n".join(part for part in (summary, f"Source: {url}" if url else "") if part)
    spec = new.spec.model_copy(
        update={"source": source, "title": title[:200], "summary": details[:8192] or title}
    )
    return replace(new, spec=spec)
