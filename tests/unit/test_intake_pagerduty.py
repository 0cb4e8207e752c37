"""PagerDuty v3 webhooks: signatures (good, bad, rotated, missing), over HTTP too, and what
each event means here."""

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from incident_operator.adapters.alertmanager_receiver import (
    PAGERDUTY_PATH,
    AlertmanagerReceiver,
    CachedToken,
    SignedIntake,
)
from incident_operator.api.contacts import Contact
from incident_operator.config import Settings, add_run_arguments
from incident_operator.domain.notifications import pagerduty_dedup_key
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.alerts import PayloadError
from incident_operator.reconcile.pagerduty_intake import (
    Acknowledge,
    Declare,
    Ignore,
    Reference,
    acknowledger,
    decide,
    parse_delivery,
    signatures_match,
)
from tests.support.pagerduty_webhooks import encoded, incident_event, sign

NOW = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)
BODY = encoded(incident_event("incident.triggered"))


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (sign(BODY, "current"), True),
        # Rotation: PagerDuty signs with the old and the new secret; either is enough.
        (sign(BODY, "previous", "current"), True),
        (sign(BODY, "current", "previous"), True),
        (sign(BODY, "previous"), False),
        (sign(BODY + b" ", "current"), False),
        (sign(BODY, "current").upper().replace("V1=", "v1="), True),
        (sign(BODY, "current").replace("v1=", "v0="), False),
        ("", False),
        (None, False),
        ("v1=", False),
    ],
)
def test_signatures(header: str | None, matches: bool) -> None:
    assert signatures_match(BODY, header, ["current"]) is matches


def test_no_secret_matches_nothing() -> None:
    assert signatures_match(BODY, sign(BODY, ""), [""]) is False


def _serve(secret: str, requests: list[tuple[str | None, bytes]]) -> tuple[list[int], int]:
    """A receiver with only /pagerduty; the statuses and how many bodies reached the intake."""
    reached: list[bytes] = []

    async def intake(body: bytes) -> tuple[int, dict[str, Any]]:
        reached.append(body)
        return 200, {}

    async def run() -> list[int]:
        signed = SignedIntake(CachedToken(lambda: secret), signatures_match, intake)
        receiver = AlertmanagerReceiver("127.0.0.1", 0, None, None, pagerduty=signed)
        await receiver.start()
        try:
            url = f"http://127.0.0.1:{receiver.bound_port}{PAGERDUTY_PATH}"
            statuses = []
            async with aiohttp.ClientSession() as session:
                for header, body in requests:
                    headers = {"X-PagerDuty-Signature": header} if header is not None else {}
                    async with session.post(url, data=body, headers=headers) as response:
                        statuses.append(response.status)
                # Without the bearer token, /alerts is not served at all.
                async with session.post(url.replace(PAGERDUTY_PATH, "/alerts")) as response:
                    statuses.append(response.status)
            return statuses
        finally:
            await receiver.stop()

    return asyncio.run(run()), len(reached)


def test_over_http_only_a_good_signature_reaches_the_intake() -> None:
    statuses, reached = _serve(
        "s3cret",
        [
            (sign(BODY, "s3cret"), BODY),
            (sign(BODY, "wrong"), BODY),
            (None, BODY),
            (sign(BODY, "s3cret"), BODY + b"\n"),
        ],
    )
    assert statuses == [200, 401, 401, 401, 404]
    assert reached == 1


def test_triggered_declares_with_the_documented_severity() -> None:
    action = decide(parse_delivery(BODY), "intake", NOW)
    assert isinstance(action, Declare)
    item = action.item
    assert (item.namespace, item.fingerprint) == ("intake", "pagerduty.Q2K9SHJ3WJ1KPL")
    assert item.severity is Severity.P0
    assert item.alert.status == "firing"
    assert item.alert.labels["pagerduty_service"] == "PF9KMXH"


@pytest.mark.parametrize(
    ("priority", "urgency", "severity"),
    [
        ("P1", "high", Severity.P0),
        ("P2", "low", Severity.P1),
        ("P3", "high", Severity.P2),
        ("P4", "high", Severity.P3),
        ("P5", "high", Severity.P4),
        (None, "high", Severity.P1),
        (None, "low", Severity.P3),
        ("SEV-custom", "low", Severity.P3),
    ],
)
def test_severity_mapping(priority: str | None, urgency: str, severity: Severity) -> None:
    delivery = incident_event("incident.triggered", priority=priority, urgency=urgency)
    action = decide(parse_delivery(encoded(delivery)), "intake", NOW)
    assert isinstance(action, Declare)
    assert action.item.severity is severity


def test_resolved_recovers_the_same_signal() -> None:
    action = decide(parse_delivery(encoded(incident_event("incident.resolved"))), "intake", NOW)
    assert isinstance(action, Declare)
    assert action.item.alert.status == "resolved"
    assert action.item.fingerprint == "pagerduty.Q2K9SHJ3WJ1KPL"
    assert action.item.alert.ends_at == datetime(2026, 11, 25, 10, 6, tzinfo=UTC)


def test_acknowledged_acknowledges_the_declared_incident() -> None:
    action = decide(parse_delivery(encoded(incident_event("incident.acknowledged"))), "intake", NOW)
    assert action == Acknowledge(
        "intake",
        "pagerduty.Q2K9SHJ3WJ1KPL",
        None,
        Reference(
            id="PLH1HKV",
            type="user_reference",
            summary="Tenex Engineer",
            self="https://api.pagerduty.com/users/PLH1HKV",
            html_url="https://acme.pagerduty.com/users/PLH1HKV",
        ),
    )


def test_the_operators_own_page_is_recognised_by_its_dedup_key() -> None:
    key = pagerduty_dedup_key("shop", "inc-checkout", "uid-1", "on-call/backup")
    triggered = incident_event("incident.triggered", incident_key=key)
    assert isinstance(decide(parse_delivery(encoded(triggered)), "intake", NOW), Ignore)
    resolved = incident_event("incident.resolved", incident_key=key)
    assert isinstance(decide(parse_delivery(encoded(resolved)), "intake", NOW), Ignore)
    acked = decide(
        parse_delivery(encoded(incident_event("incident.acknowledged", incident_key=key))),
        "intake",
        NOW,
    )
    assert isinstance(acked, Acknowledge)
    assert acked.own == ("shop", "inc-checkout", "uid-1")


def test_other_events_are_ignored() -> None:
    annotated = incident_event("incident.annotated")
    assert isinstance(decide(parse_delivery(encoded(annotated)), "intake", NOW), Ignore)


def test_a_malformed_event_names_the_field() -> None:
    delivery = incident_event("incident.triggered")
    del delivery["event"]["data"]["created_at"]
    with pytest.raises(PayloadError, match=r"event\.data\.created_at: Field required"):
        decide(parse_delivery(encoded(delivery)), "intake", NOW)
    with pytest.raises(PayloadError, match="event: Field required"):
        parse_delivery(b"{}")


def test_the_acknowledger_is_mapped_through_the_policys_contacts() -> None:
    agent = Reference(id="PLH1HKV", summary="Tenex Engineer")
    dana = Contact.model_validate(
        {
            "name": "Dana",
            "user": "dana@example.com",
            "pagerDutyUser": "PLH1HKV",
            "email": {"channel": "mail", "address": "dana@example.com"},
        }
    )
    other = dana.model_copy(update={"pager_duty_user": "POTHER1", "user": "sam"})
    assert acknowledger(agent, [other, dana]) == "dana@example.com"
    assert acknowledger(agent, [other]) == "pagerduty:Tenex Engineer"
    assert acknowledger(None, [dana]) == "pagerduty:unknown"


def _settings(*argv: str, environ: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, environ or {})
    return Settings.from_arguments(parser.parse_args(list(argv)))


def test_the_pagerduty_settings_from_flags_and_environment() -> None:
    assert _settings().pagerduty_webhook_secret is None
    flagged = _settings("--pagerduty-webhook-secret", "ops/pd", "--pagerduty-namespace", "shop")
    assert flagged.pagerduty_webhook_secret == ("ops", "pd")
    assert (flagged.pagerduty_webhook_secret_key, flagged.pagerduty_namespace) == (
        "secret",
        "shop",
    )
    from_env = _settings(
        environ={"PAGERDUTY_WEBHOOK_SECRET": "ops/pd", "PAGERDUTY_WEBHOOK_SECRET_KEY": "k"}
    )
    assert (from_env.pagerduty_webhook_secret, from_env.pagerduty_webhook_secret_key) == (
        ("ops", "pd"),
        "k",
    )
    with pytest.raises(ValueError, match="expected NAMESPACE/NAME"):
        _settings("--pagerduty-webhook-secret", "pd")
