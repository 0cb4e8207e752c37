"""Alertmanager's webhook payload: checked whole, mapped by the runbook, decided per alert."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.api.incident import Incident
from incident_operator.domain.detection import alert_fingerprint, incident_name
from incident_operator.domain.phases import Phase
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level
from incident_operator.reconcile.alerts import (
    AlertItem,
    IgnoreReason,
    PayloadError,
    check_alerts,
    parse_payload,
    plan_alert,
    write_failure,
)
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, DetectionUpdate, NewIncident

NOW = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
STARTED = "2026-11-25T10:00:00Z"
NEVER = "0001-01-01T00:00:00Z"


def alert(
    status: str = "firing", fingerprint: str = "4a5b6c7d8e9f0a1b", **labels: str
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": "critical", **labels},
        "annotations": {"summary": "5xx above 5%", "description": "checkout is failing"},
        "startsAt": STARTED,
        "endsAt": "2026-11-25T10:04:00Z" if status == "resolved" else NEVER,
        "generatorURL": "http://prometheus.example/graph?g0.expr=x",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], **fields: Any) -> bytes:
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "incident-operator",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
        **fields,
    }
    return json.dumps(body).encode()


def _items(body: bytes) -> list[AlertItem]:
    items, _ = check_alerts(parse_payload(body), "ops")
    return items


@pytest.mark.parametrize(
    ("severity", "expected", "level"),
    [
        ("critical", Severity.P0, Level.CRITICAL),
        ("high", Severity.P1, Level.CRITICAL),
        ("warning", Severity.P2, Level.WARNING),
        ("info", Severity.P3, Level.WARNING),
        ("Warning", Severity.P2, Level.WARNING),
    ],
)
def test_severity_follows_the_runbooks_alert_mapping(
    severity: str, expected: Severity, level: Level
) -> None:
    [item] = _items(payload(alert(severity=severity)))
    assert (item.severity, item.level) == (expected, level)


def test_alerts_meant_for_nobody_are_ignored() -> None:
    no_severity = alert(alertname="InfoInhibitor", fingerprint="ab")
    del no_severity["labels"]["severity"]
    items, ignored = check_alerts(
        parse_payload(payload(alert(alertname="Watchdog", severity="none"), alert(), no_severity)),
        "ops",
    )
    assert [(i.index, i.alertname, i.reason) for i in ignored] == [
        (0, "Watchdog", IgnoreReason.SEVERITY_NONE),
        (2, "InfoInhibitor", IgnoreReason.SEVERITY_NONE),
    ]
    assert ignored[0].to_wire() == {
        "alert": "alerts[0]",
        "alertname": "Watchdog",
        "fingerprint": "4a5b6c7d8e9f0a1b",
        "reason": "SeverityNone",
        "message": "severity label 'none': not meant for people",
    }
    assert [item.alertname for item in items] == ["HighErrorRate"]


def test_namespace_workload_and_fingerprint_come_from_the_labels() -> None:
    [here, default] = _items(
        payload(alert(namespace="shop", deployment="checkout"), alert(fingerprint="ff"))
    )
    assert here.namespace == "shop"
    assert here.workload is not None
    assert (here.workload.kind.value, here.workload.name) == ("Deployment", "checkout")
    # The label a person selects by is Alertmanager's own fingerprint...
    assert here.fingerprint == "4a5b6c7d8e9f0a1b"
    # ...and incidents labelled with the value derived from it before are found too.
    assert here.keys == ("4a5b6c7d8e9f0a1b", alert_fingerprint("shop", "4a5b6c7d8e9f0a1b"))
    assert default.namespace == "ops"
    assert default.workload is None


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("BCE0DA8DEC1400A7", "bce0da8dec1400a7"),  # as Alertmanager writes it: lower case
        ("0" * 63, "0" * 63),
    ],
)
def test_the_fingerprint_label_is_alertmanagers_own(given: str, label: str) -> None:
    [item] = _items(payload(alert(fingerprint=given, namespace="shop")))
    new = plan_alert(item, None, NOW)
    assert isinstance(new, NewIncident)
    assert new.labels[FINGERPRINT_LABEL] == label
    assert new.detection.fingerprint == label
    # Named as before the label changed: the same breach keeps the same name.
    legacy = alert_fingerprint("shop", given.lower())
    assert new.name == incident_name(["HighErrorRate", ""], legacy, item.alert.starts_at)


def test_a_fingerprint_too_long_for_a_label_still_gives_a_valid_one() -> None:
    [item] = _items(payload(alert(fingerprint="a" * 64)))
    assert len(item.fingerprint) <= 63
    assert item.fingerprint != item.legacy_fingerprint


def test_an_incident_opened_before_the_label_changed_is_found_and_keeps_its_label() -> None:
    [item] = _items(payload(alert(namespace="shop")))
    new = plan_alert(item, None, NOW)
    assert isinstance(new, NewIncident)
    legacy = item.legacy_fingerprint
    before = _open(new)
    before.metadata.labels[FINGERPRINT_LABEL] = legacy
    assert before.status.detection is not None
    before.status.detection = before.status.detection.model_copy(update={"fingerprint": legacy})
    # Found under its old label (the intake looks under item.keys), nothing to write again...
    assert before.metadata.labels[FINGERPRINT_LABEL] in item.keys
    assert plan_alert(item, before, NOW) is None
    # ...and a resolution is written with the fingerprint the incident already carries.
    [resolved] = _items(payload(alert("resolved", namespace="shop"), status="resolved"))
    update = plan_alert(resolved, before, NOW)
    assert isinstance(update, DetectionUpdate)
    assert update.detection.fingerprint == legacy
    assert not update.detection.breaching


@pytest.mark.parametrize(
    ("status", "kind", "reason"),
    [
        (404, "namespaces", IgnoreReason.NAMESPACE_NOT_FOUND),
        (403, None, IgnoreReason.REFUSED),
        (422, "Incident", IgnoreReason.REFUSED),
        (400, None, IgnoreReason.REFUSED),
        (404, None, None),  # the CRD not there (yet): sent again
        (409, None, None),
        (429, None, None),
        (500, None, None),
        (503, None, None),
        (None, None, None),  # the API server not reached
    ],
)
def test_which_write_failures_are_for_good(
    status: int | None, kind: str | None, reason: IgnoreReason | None
) -> None:
    assert write_failure(status, kind) is reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "must be a JSON object"),
        (payload(alert(), version="3"), "body.version"),
        (payload(alert(status="pending")), "body.alerts.0.status"),
        (payload({**alert(), "fingerprint": "not hex!"}), "body.alerts.0.fingerprint"),
        (payload({**alert(), "startsAt": "yesterday"}), "body.alerts.0.startsAt"),
        (payload({k: v for k, v in alert().items() if k != "labels"}), "body.alerts.0.labels"),
        (payload(alert(), receiver=""), "body.receiver"),
        (payload(alert(), alerts="many"), "body.alerts"),
    ],
)
def test_malformed_deliveries_are_refused_with_the_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        check_alerts(parse_payload(body), "ops")


def test_one_bad_alert_refuses_the_whole_delivery() -> None:
    body = payload(alert(), alert(fingerprint="ab", severity="page-everyone"))
    with pytest.raises(PayloadError, match=r"alerts\[1\] \(HighErrorRate\): severity label"):
        check_alerts(parse_payload(body), "ops")
    with pytest.raises(PayloadError, match="is not a namespace name"):
        check_alerts(parse_payload(payload(alert(namespace="Not_A_Namespace"))), "ops")


def _open(new: NewIncident, phase: Phase = Phase.DETECTED) -> Incident:
    manifest = new.manifest()
    manifest["status"] = {"phase": phase.value, "detection": new.detection.to_wire()}
    return Incident.model_validate(manifest)


def test_a_firing_alert_opens_an_incident() -> None:
    [item] = _items(payload(alert(namespace="shop", deployment="checkout")))
    new = plan_alert(item, None, NOW)
    assert isinstance(new, NewIncident)
    spec = new.manifest()["spec"]
    assert spec["source"] == "alertmanager"
    assert spec["severity"] == "P0"
    assert spec["title"] == "HighErrorRate: 5xx above 5%"
    assert "checkout is failing" in spec["summary"]
    assert spec["affected"] == [{"kind": "Deployment", "name": "checkout"}]
    assert new.labels[FINGERPRINT_LABEL] == item.fingerprint
    assert new.namespace == "shop"
    assert new.detection.breaching
    assert new.detection.breach_started_at == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert (new.detection.policy, new.detection.rule) == ("incident-operator", "HighErrorRate")


def test_repeated_deliveries_change_nothing() -> None:
    [item] = _items(payload(alert()))
    new = plan_alert(item, None, NOW)
    assert isinstance(new, NewIncident)
    assert plan_alert(item, _open(new), NOW) is None
    [same_again] = _items(payload(alert()))
    assert plan_alert(same_again, _open(new), datetime(2026, 11, 25, 11, tzinfo=UTC)) is None


def test_a_resolved_alert_recovers_the_incident_at_its_end() -> None:
    [firing] = _items(payload(alert()))
    new = plan_alert(firing, None, NOW)
    assert isinstance(new, NewIncident)
    [resolved] = _items(payload(alert("resolved"), status="resolved"))
    update = plan_alert(resolved, _open(new), NOW)
    assert isinstance(update, DetectionUpdate)
    assert not update.detection.breaching
    assert update.detection.level is Level.OK
    assert update.detection.recovered_at == datetime(2026, 11, 25, 10, 4, tzinfo=UTC)
    recovered = _open(new, Phase.MONITORING).model_copy(deep=True)
    recovered.status.detection = update.detection
    assert plan_alert(resolved, recovered, NOW) is None
    again = plan_alert(firing, recovered, NOW)
    assert isinstance(again, DetectionUpdate)
    assert again.detection.breaching
    assert again.detection.recovered_at is None


def test_a_resolved_alert_without_an_open_incident_does_nothing() -> None:
    [resolved] = _items(payload(alert("resolved"), status="resolved"))
    assert plan_alert(resolved, None, NOW) is None
