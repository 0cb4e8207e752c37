"""Alertmanager's webhook (payload version 4) as incidents: parse, check, decide.

A delivery is checked whole before anything is written, so a malformed one changes
nothing; then each alert is decided on its own::

    firing,   no open incident ........ open one (severity from the alert's label)
    firing,   open incident ........... breaching again if it had recovered
    resolved, open incident ........... recovered since the alert's endsAt (Monitoring)
    resolved, no open incident ........ nothing

Incidents are found by the alert's fingerprint (Alertmanager's hash of its labels), and
status.detection carries only what the payload says, so a repeated delivery decides
nothing new. The alert's labels cannot change under one fingerprint, and neither can
its severity: Alertmanager never raises one.

The fingerprint label
=====================
``sre.agentos.io/fingerprint`` holds Alertmanager's own fingerprint (``bce0da8dec1400a7``),
so ``kubectl get incidents -l sre.agentos.io/fingerprint=<fingerprint>`` finds the alert's
incident. Before, it held a value derived from it (32 hex digits: ``alert_fingerprint``);
incidents labelled so are still found: an alert is looked up under both values
(``AlertItem.keys``), and an incident found under the old one keeps it. Incident names are
still derived from the old value, so a breach gets the same name as before an upgrade.

An alert that cannot be written
===============================
One alert never blocks the others of its delivery. Each is decided and written on its
own; one the API server refuses for good (its namespace does not exist, forbidden,
invalid) is answered in the response's ``ignored`` list with a reason (``IgnoreReason``)
and counted, and the delivery still answers 200. Only a failure that may pass (the API
server unavailable, overloaded, or not reached) answers 500, once every other alert was
tried, so Alertmanager sends the delivery again (what was written is found, not repeated).
"""

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentSource,
    IncidentSpec,
    WorkloadKind,
    WorkloadReference,
)
from incident_operator.domain.detection import alert_fingerprint, incident_name, label_value
from incident_operator.domain.severity import ALERT_SEVERITY, AlertLevel, Severity
from incident_operator.domain.signals import Level
from incident_operator.reconcile.detection import (
    FINGERPRINT_LABEL,
    RULE_LABEL,
    DetectionUpdate,
    NewIncident,
    needs_write,
)
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.grouping import alert_kind_labels
from incident_operator.reconcile.invalid import describe_validation_error
from incident_operator.reconcile.signals import find_signal, signal_detection

# Alerts whose severity label says they are not meant for people (kube-prometheus'
# Watchdog and InfoInhibitor carry "none").
IGNORED_SEVERITIES: Final = frozenset({"none"})
# kube-state-metrics' alert labels that name a workload, by kind.
_WORKLOAD_LABELS: Final = {
    "deployment": WorkloadKind.DEPLOYMENT,
    "statefulset": WorkloadKind.STATEFUL_SET,
    "daemonset": WorkloadKind.DAEMON_SET,
}
_CRITICAL_LEVELS: Final = frozenset({AlertLevel.CRITICAL, AlertLevel.HIGH})
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PayloadError(ValueError):
    """A delivery that cannot be taken; the message says why (the response's reason)."""


class IgnoreReason(StrEnum):
    """Why an alert of a delivery was answered without an incident written for it."""

    # Its severity label is "none" or absent: not meant for people (Watchdog).
    SEVERITY_NONE = "SeverityNone"
    # The namespace it names (or the receiver's) does not exist.
    NAMESPACE_NOT_FOUND = "NamespaceNotFound"
    # The API server refused its incident for good (forbidden, invalid: a 4xx).
    REFUSED = "Refused"
    # Deciding or writing it raised something unexpected (logged with its traceback).
    FAILED = "Failed"


@dataclass(frozen=True)
class Ignored:
    """One alert answered in the response's ``ignored`` list."""

    # Where in the delivery: alerts[<index>].
    index: int
    alertname: str
    # Alertmanager's fingerprint of the alert.
    fingerprint: str
    reason: IgnoreReason
    message: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "alert": f"alerts[{self.index}]",
            "alertname": self.alertname,
            "fingerprint": self.fingerprint,
            "reason": self.reason.value,
            "message": self.message,
        }


# Answers of the API server that may pass: the delivery is answered 500 and sent again.
_RETRIED_STATUSES: Final = frozenset({408, 409, 425, 429})


def write_failure(status: int | None, kind: str | None) -> IgnoreReason | None:
    """How an alert whose write failed is answered: ignored for good (the reason), or None
    when the failure may pass and the delivery is answered 500 to be sent again.

    ``status`` is the API server's HTTP status (None: it was not reached), ``kind`` the
    kind its Status details name (``namespaces`` for a missing namespace).
    """
    if status is None or status >= 500 or status in _RETRIED_STATUSES or status < 400:
        return None
    if status == 404:
        # Only a missing namespace is for good; a missing resource (the CRD not installed
        # yet) passes once it is installed.
        return IgnoreReason.NAMESPACE_NOT_FOUND if kind == "namespaces" else None
    return IgnoreReason.REFUSED


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    # Alertmanager sends 0001-01-01T00:00:00Z for an alert still firing.
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-fA-F]+$")]


class WebhookPayload(BaseModel):
    """Alertmanager's webhook body; fields the operator does not use are still checked
    for their type, so a body from something else is refused rather than half-read."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: Annotated[str, Field(min_length=1, max_length=253)]
    group_labels: dict[str, str] = Field(default={}, alias="groupLabels")
    common_labels: dict[str, str] = Field(default={}, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default={}, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: Annotated[list[Alert], Field(max_length=1000)]


def parse_payload(body: bytes) -> WebhookPayload:
    """The delivery, or PayloadError naming what is wrong with it."""
    try:
        raw: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"the body is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise PayloadError("the body must be a JSON object (Alertmanager's webhook payload)")
    try:
        return WebhookPayload.model_validate(raw)
    except ValidationError as error:
        raise PayloadError(describe_validation_error(error, "body")) from error


class AlertItem(BaseModel):
    """One alert, checked and with everything the decision needs."""

    alert: Alert
    # Where in the delivery: alerts[<index>].
    index: int
    receiver: str
    alertname: str
    namespace: str
    # Alertmanager's fingerprint, as the incident's fingerprint label.
    fingerprint: str
    # The value derived from it that labelled incidents before (see "The fingerprint label").
    legacy_fingerprint: str
    severity: Severity
    level: Level
    workload: WorkloadReference | None

    @property
    def keys(self) -> tuple[str, str]:
        """The fingerprint labels its open incident may carry, the current one first."""
        return self.fingerprint, self.legacy_fingerprint


def _workload(labels: dict[str, str]) -> WorkloadReference | None:
    for label, kind in _WORKLOAD_LABELS.items():
        name = labels.get(label, "")
        if name and len(name) <= 253 and _DNS_NAME.match(name):
            return WorkloadReference(kind=kind, name=name)
    return None


def check_alerts(
    payload: WebhookPayload, default_namespace: str
) -> tuple[list[AlertItem], list[Ignored]]:
    """The alerts to act on and the ones ignored; PayloadError for the first bad one.

    An unknown severity refuses the whole delivery: mapping it to a guess would page the
    wrong people, and a refusal shows up in Alertmanager's own error metrics.
    """
    items: list[AlertItem] = []
    ignored: list[Ignored] = []
    for index, alert in enumerate(payload.alerts):
        alertname = alert.labels.get("alertname", "")
        where = f"alerts[{index}]" + (f" ({alertname})" if alertname else "")
        raw_severity = alert.labels.get("severity", "").strip().lower()
        fingerprint = alert.fingerprint.lower()
        if not raw_severity or raw_severity in IGNORED_SEVERITIES:
            shown = f"severity label {raw_severity!r}" if raw_severity else "no severity label"
            ignored.append(
                Ignored(
                    index,
                    alertname,
                    fingerprint,
                    IgnoreReason.SEVERITY_NONE,
                    f"{shown}: not meant for people",
                )
            )
            continue
        try:
            alert_level = AlertLevel(raw_severity)
        except ValueError:
            known = ", ".join(level.value for level in AlertLevel)
            raise PayloadError(
                f"{where}: severity label {raw_severity!r} is not one of {known} (or none)"
            ) from None
        namespace = alert.labels.get("namespace") or default_namespace
        if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
            raise PayloadError(f"{where}: namespace label {namespace!r} is not a namespace name")
        items.append(
            AlertItem(
                alert=alert,
                index=index,
                receiver=payload.receiver,
                alertname=alertname or "alert",
                namespace=namespace,
                fingerprint=label_value(fingerprint),
                legacy_fingerprint=alert_fingerprint(namespace, fingerprint),
                severity=ALERT_SEVERITY[alert_level],
                level=Level.CRITICAL if alert_level in _CRITICAL_LEVELS else Level.WARNING,
                workload=_workload(alert.labels),
            )
        )
    return items, ignored


def _detection(item: AlertItem, fingerprint: str, now: datetime) -> DetectionStatus:
    alert = item.alert
    firing = alert.status == "firing"
    ended = alert.ends_at if alert.ends_at and alert.ends_at.year > 1 else None
    return DetectionStatus(
        fingerprint=fingerprint,
        policy=item.receiver,
        rule=item.alertname,
        workload=item.workload,
        level=item.level if firing else Level.OK,
        breaching=firing,
        breach_started_at=alert.starts_at,
        recovered_at=None if firing else (ended or now),
        last_evaluated_at=now,
    )


def _new_incident(item: AlertItem, now: datetime) -> NewIncident:
    alert = item.alert
    annotations = alert.annotations
    headline = annotations.get("summary") or annotations.get("message") or "firing"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    details = [
        annotations.get("description", ""),
        f"Alertmanager receiver {item.receiver}, alert {item.alertname} firing since "
        f"{alert.starts_at.isoformat(timespec='seconds')}. Labels: {labels}.",
        f"Source: {alert.generator_url}" if alert.generator_url else "",
    ]
    where = f"{item.workload.kind.value} {item.workload.name} in " if item.workload else ""
    spec = IncidentSpec(
        title=f"{item.alertname}: {headline}"[:200],
        severity=item.severity,
        summary="\n".join(part for part in details if part)[:8192],
        impact=(annotations.get("impact") or f"{where}namespace {item.namespace}")[:8192],
        source=IncidentSource.ALERTMANAGER,
        affected=[item.workload] if item.workload else [],
    )
    parts = [item.alertname, item.workload.name if item.workload else ""]
    return NewIncident(
        namespace=item.namespace,
        # Named from the derived value, as before it stopped being the label: the same
        # breach keeps the same name across an upgrade.
        name=incident_name(parts, item.legacy_fingerprint, alert.starts_at),
        labels={
            FINGERPRINT_LABEL: item.fingerprint,
            RULE_LABEL: label_value(item.alertname),
            # So a polling breach of the same kind joins it later (docs/grouping.md).
            **alert_kind_labels(alert.labels),
        },
        spec=spec,
        detection=_detection(item, item.fingerprint, now),
        signal_labels={**alert.labels, "namespace": item.namespace},
    )


def alert_policy(
    new: NewIncident,
    policies: list[EscalationPolicy],
    workload_labels: Sequence[Mapping[str, str]] = (),
) -> EscalationPolicy | None:
    """The policy governing the incident ``new`` would open, chosen as for any incident
    (selector on its labels, the alert's or its workload's, else the namespace default):
    the policy whose grouping the alert follows."""
    incident = Incident.model_validate(new.manifest())
    label_sets = [new.signal_labels, *workload_labels]
    return governing_policy(incident, policies, label_sets).policy


def plan_alert(
    item: AlertItem, open_incident: Incident | None, now: datetime
) -> NewIncident | DetectionUpdate | None:
    """What one alert changes: a new incident, a detection status, or nothing.

    ``open_incident`` is the one found under either of ``item.keys``; it keeps the
    fingerprint it was opened with.
    """
    if open_incident is None:
        return _new_incident(item, now) if item.alert.status == "firing" else None
    labelled = open_incident.metadata.labels.get(FINGERPRINT_LABEL)
    # The alert's own signal of the incident (one of several when it is grouped).
    fingerprint = next(
        (key for key in item.keys if find_signal(open_incident, key) is not None),
        labelled if labelled is not None and labelled in item.keys else item.fingerprint,
    )
    desired = _detection(item, fingerprint, now)
    previous = signal_detection(open_incident, fingerprint)
    if previous is not None and previous.recovered_at and not desired.breaching:
        # Already recovered: keep the first recovery time, or the monitoring window restarts.
        desired = desired.model_copy(update={"recovered_at": previous.recovered_at})
    if not needs_write(previous, desired, now):
        return None
    return DetectionUpdate(open_incident.metadata.namespace, open_incident.metadata.name, desired)
