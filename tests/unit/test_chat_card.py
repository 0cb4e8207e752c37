"""Chat-ops decisions (reconcile/chat.py): the card and its digest, the channel's topic,
which incidents get a channel, who is invited, which slackApp channels carry the card,
and when the channel is archived; and the escalation template naming the channel."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.reconcile.chat import (
    app_channels,
    archive_at,
    channel_topic,
    chat_ready_condition,
    incident_card,
    responder_ids,
    uses_slack_app,
    wanted_channel_name,
)
from incident_operator.reconcile.messages import incident_context

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _incident(severity: str = "P0", **status: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"title": "Checkout errors", "severity": severity},
            "status": {"id": "INC-0042", "phase": "Detected", **status},
        }
    )


def _policy(**spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {"metadata": {"name": "team", "namespace": "shop"}, "spec": spec}
    )


CHANNELS = [{"name": "app", "type": "slackApp", "chatChannel": "#incident-critical"}]
WITH_CHANNEL = {"chat": {"incidentChannel": {"archiveAfter": "1h"}}}


def test_the_card_shows_the_incident() -> None:
    card = incident_card(_incident(response_due_at=NOW), bridge_url="https://bridge/x")
    text = str(card.blocks)
    assert card.text.startswith("[P0] INC-0042: Checkout errors")
    for shown in ("Detected", "Investigating", "unassigned", "2026-11-27 02:00 UTC", "bridge/x"):
        assert shown in text
    assert "kubectl incident show api -n shop" in text


@pytest.mark.parametrize(
    ("change", "changes_digest"),
    [
        ({"severity": "P1"}, True),
        ({"title": "Checkout down"}, True),
        ({"roles": {"commander": "dana"}}, True),
        ({"state": "Identified"}, True),
        ({"summary": "not shown on the card"}, False),
    ],
)
def test_the_digest_changes_with_what_the_card_shows(
    change: dict[str, Any], changes_digest: bool
) -> None:
    incident = _incident()
    spec = incident.spec.model_validate({**incident.spec.to_wire(), **change})
    changed = incident.model_copy(update={"spec": spec})
    assert (incident_card(changed).digest != incident_card(incident).digest) is changes_digest


def test_the_digest_changes_with_a_clock_and_the_phase_not_with_time_passing() -> None:
    base = _incident(response_due_at=NOW)
    assert incident_card(base).digest == incident_card(_incident(response_due_at=NOW)).digest
    later = _incident(response_due_at=NOW + timedelta(minutes=5))
    assert incident_card(later).digest != incident_card(base).digest
    triaged = _incident(response_due_at=NOW, phase="Triaged")
    assert incident_card(triaged).digest != incident_card(base).digest


def test_the_topic() -> None:
    incident = _incident()
    assert channel_topic(incident, None) == "P0 · commander: unassigned · Investigating"
    commanded = incident.spec.model_validate(
        {**incident.spec.to_wire(), "roles": {"commander": "dana"}}
    )
    assert channel_topic(incident.model_copy(update={"spec": commanded}), "https://b") == (
        "P0 · commander: dana · Investigating · bridge: https://b"
    )


@pytest.mark.parametrize(
    ("severity", "status", "spec", "expected"),
    [
        ("P0", {}, WITH_CHANNEL, "inc-0042-checkout-errors"),
        ("P1", {}, WITH_CHANNEL, "inc-0042-checkout-errors"),
        ("P2", {}, WITH_CHANNEL, None),  # not a severity with a channel (default P0, P1)
        ("P2", {}, {"chat": {"incidentChannel": {"severities": ["P2"], "prefix": "war"}}},
         "war-0042-checkout-errors"),
        ("P0", {}, {}, None),  # the policy wants no channels
        ("P0", {"phase": "Closed"}, WITH_CHANNEL, None),
        (
            "P0",
            {"chat": {"channel": {"id": "C1", "name": "x", "createdAt": "2026-11-27T02:00:00Z"}}},
            WITH_CHANNEL,
            None,  # recorded already: never a second
        ),
    ],
)  # fmt: skip
def test_which_incidents_get_a_channel(
    severity: str, status: dict[str, Any], spec: dict[str, Any], expected: str | None
) -> None:
    assert wanted_channel_name(_incident(severity, **status), _policy(**spec)) == expected


def test_without_an_id_no_channel_yet() -> None:
    incident = _incident()
    no_id = incident.model_copy(update={"status": incident.status.model_copy(update={"id": None})})
    assert wanted_channel_name(no_id, _policy(**WITH_CHANNEL)) is None


def test_responders_of_the_steps_reached_are_invited_once() -> None:
    person = lambda name, mention: {"name": name, "slack": {"mention": mention}}  # noqa: E731
    policy = _policy(
        contacts=[
            {"role": "on-call-primary", "primary": person("Dana", "U0DANA"),
             "backup": person("Bo", "@bo")},  # a handle cannot be invited
            {"role": "team-lead", "primary": person("Lee", "U0LEE")},
            {"role": "cto", "primary": person("Cy", "U0CY")},
        ],
        escalation={"steps": [
            {"severities": ["P0"], "after": "0s",
             "targets": [{"name": "P", "method": "chat", "role": "on-call-primary"}]},
            {"severities": ["P0"], "after": "5m",
             "targets": [{"name": "L", "method": "chat", "role": "team-lead"},
                         {"name": "P", "method": "chat", "role": "on-call-primary"}]},
            {"severities": ["P0"], "after": "1h",
             "targets": [{"name": "C", "method": "chat", "role": "cto"}]},
        ]},
    )  # fmt: skip
    step = {"severity": "P0", "after": "0s", "dueAt": NOW, "reachedAt": NOW}
    step |= {"cause": "Schedule", "reason": "due"}
    reached = [{**step, "key": "P0-1", "ordinal": 0}, {**step, "key": "P0-2", "ordinal": 1}]
    incident = _incident(escalation={"steps": reached})
    assert responder_ids(incident, policy) == ["U0DANA", "U0LEE"]
    assert responder_ids(_incident(), policy) == []


def test_the_slack_app_channels_are_those_notifications_went_to() -> None:
    channels = [*CHANNELS, {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/x"}]
    policy = _policy(channels=channels)
    record = {"kind": "Declaration", "dueAt": NOW, "createdAt": NOW}
    notifications = [
        {**record, "key": "a", "channel": "hook"},
        {**record, "key": "b", "channel": "app"},
        {**record, "key": "c", "channel": "app"},
    ]
    assert app_channels(_incident(notifications=notifications), policy) == ["#incident-critical"]
    assert uses_slack_app(policy)
    assert uses_slack_app(_policy(**WITH_CHANNEL))
    assert not uses_slack_app(_policy())
    assert not uses_slack_app(None)


def test_the_channel_is_archived_archive_after_closed() -> None:
    channel = {"id": "C1", "name": "inc-0042-x", "createdAt": NOW}
    closed = {"phase": "Closed", "closedAt": NOW, "chat": {"channel": channel}}
    policy = _policy(**WITH_CHANNEL)
    assert archive_at(_incident(**closed), policy) == NOW + timedelta(hours=1)
    assert archive_at(_incident(chat={"channel": channel}), policy) is None  # still open
    done = {**closed, "chat": {"channel": {**channel, "archivedAt": NOW}}}
    assert archive_at(_incident(**done), policy) is None
    assert archive_at(_incident(phase="Closed", closedAt=NOW), policy) is None  # no channel


def test_the_escalation_template_names_the_recorded_channel() -> None:
    channel = {"id": "C1", "name": "inc-0042-checkout-errors", "createdAt": NOW}
    named = incident_context(_incident(chat={"channel": channel}), NOW, None)
    assert named["incident"]["channel"] == "#inc-0042-checkout-errors"
    fallback = incident_context(_incident(), NOW, None)
    assert fallback["incident"]["channel"] == "#incident-api"


def test_the_policy_is_told_when_the_slack_app_it_uses_is_missing() -> None:
    uses = _policy(channels=CHANNELS)
    missing = chat_ready_condition([], uses, False, NOW, 1)
    assert missing is not None
    assert missing.status == "False"
    assert "--slack-app-secret" in missing.message
    configured = chat_ready_condition([missing], uses, True, NOW, 1)
    assert configured is not None
    assert configured.status == "True"
    assert chat_ready_condition([configured], uses, True, NOW, 1) is None  # unchanged
    # A policy that never used the app gets no condition; one that stopped, True.
    assert chat_ready_condition([], _policy(), False, NOW, 1) is None
    stopped = chat_ready_condition([missing], _policy(), False, NOW, 1)
    assert stopped is not None
    assert stopped.status == "True"
