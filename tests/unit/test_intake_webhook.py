"""The generic JSON webhook: its schema (and the documented schema file), field-naming
errors, dedup keys, severities, and signals taken as alerts."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from incident_operator.api.incident import IncidentSource, WorkloadKind
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.alerts import PayloadError, plan_alert
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, NewIncident
from incident_operator.reconcile.webhook_intake import (
    check_webhook,
    parse_webhook,
    shaped_incident,
    signal_fingerprint,
    webhook_schema,
)

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "intake-webhook.schema.json"
NOW = datetime(2026, 11, 25, 10, 5, tzinfo=UTC)


def _signal(**overrides: Any) -> dict[str, Any]:
    signal = {
        "id": "monitor-42",
        "status": "firing",
        "severity": "high",
        "title": "Checkout p99 above 2s",
        "summary": "Datadog monitor 42",
        "namespace": "shop",
        "workload": {"kind": "Deployment", "name": "checkout"},
        "labels": {"team": "payments"},
        "startsAt": "2026-11-25T10:00:00Z",
        "url": "https://app.datadoghq.invalid/monitors/42",
    }
    return {**signal, **overrides}


def _body(*signals: dict[str, Any], source: str = "datadog") -> bytes:
    return json.dumps({"version": "1", "source": source, "signals": list(signals)}).encode()


def _never_started(namespace: str, fingerprint: str) -> None:
    return None


def test_the_documented_schema_file_is_the_models() -> None:
    rendered = json.dumps(webhook_schema(), indent=2, sort_keys=True) + "\n"
    assert SCHEMA_FILE.read_text() == rendered, (
        "docs/intake-webhook.schema.json drifted from reconcile/webhook_intake.py; render it "
        "again (docs/intake.md says how)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "the body is not JSON"),
        (b"[]", "must be a JSON object"),
        (json.dumps({"source": "x", "signals": [_signal()]}).encode(), "version: Field required"),
        (_body(), "signals: List should have at least 1 item"),
        (_body(_signal(), _signal(), _signal(severity="sev1")), "signals[2].severity: Input"),
        (_body(_signal(status="open")), "signals[0].status: Input should be 'firing'"),
        (_body(_signal(namespace="Not_A_Namespace")), "signals[0].namespace: String should"),
        (_body(_signal(workload={"kind": "Pod", "name": "x"})), "signals[0].workload.kind"),
        (_body(_signal(colour="red")), "signals[0].colour: Extra inputs are not permitted"),
        (_body(_signal(title="")), "signals[0].title: String should have at least 1"),
        (_body(_signal(), source="Has Spaces"), "source: String should match pattern"),
    ],
)
def test_schema_errors_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_webhook(body)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("given", "severity"),
    [
        ("critical", Severity.P0),
        ("high", Severity.P1),
        ("warning", Severity.P2),
        ("info", Severity.P3),
        ("P0", Severity.P0),
        ("P4", Severity.P4),
    ],
)
def test_severities_are_the_runbooks(given: str, severity: Severity) -> None:
    [item] = check_webhook(
        parse_webhook(_body(_signal(severity=given))), "intake", NOW, _never_started
    )
    assert item.severity is severity


def test_a_signal_is_an_alert_keyed_by_source_and_id() -> None:
    [item] = check_webhook(parse_webhook(_body(_signal())), "intake", NOW, _never_started)
    assert item.fingerprint == signal_fingerprint("datadog", "monitor-42") == "datadog.monitor-42"
    assert item.namespace == "shop"
    assert item.workload is not None
    assert item.workload.kind is WorkloadKind.DEPLOYMENT
    assert item.alert.labels["team"] == "payments"
    new = plan_alert(item, None, NOW)
    assert isinstance(new, NewIncident)
    assert new.labels[FINGERPRINT_LABEL] == "datadog.monitor-42"
    assert new.detection.breaching is True
    shaped = shaped_incident(new, IncidentSource.WEBHOOK, "Checkout slow", "Monitor 42", None)
    assert (shaped.spec.source, shaped.spec.title) == (IncidentSource.WEBHOOK, "Checkout slow")
    assert shaped.spec.affected == new.spec.affected
    # The same (source, id) from another sender is another signal.
    [other] = check_webhook(
        parse_webhook(_body(_signal(), source="healthcheck")), "intake", NOW, _never_started
    )
    assert other.fingerprint != item.fingerprint


def test_a_long_id_is_hashed_into_a_label_value() -> None:
    fingerprint = signal_fingerprint("support", "ticket/" + "x" * 300)
    assert len(fingerprint) <= 63
    assert fingerprint != signal_fingerprint("support", "ticket/" + "x" * 299)


def test_without_starts_at_a_repeat_keeps_the_recorded_start() -> None:
    recorded = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    signal = _signal()
    del signal["startsAt"]
    [new] = check_webhook(parse_webhook(_body(signal)), "intake", NOW, _never_started)
    [repeat] = check_webhook(
        parse_webhook(_body(signal)), "intake", NOW, lambda namespace, fingerprint: recorded
    )
    assert new.alert.starts_at == NOW
    assert repeat.alert.starts_at == recorded


def test_a_signal_without_namespace_opens_in_the_default_one() -> None:
    signal = _signal()
    del signal["namespace"]
    [item] = check_webhook(parse_webhook(_body(signal)), "intake", NOW, _never_started)
    assert item.namespace == "intake"
