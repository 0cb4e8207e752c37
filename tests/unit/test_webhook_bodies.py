"""A webhook channel's bodyTemplate: the shipped Teams and Google Chat samples render real
messages to valid JSON, hostile text stays a JSON string, and a broken template is an
error naming the channel and bodyTemplate that is not retried as if the receiver failed."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator.adapters.notifiers import DeliveryError
from incident_operator.api.escalation_policy import Channel, EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.notifications import Audience, NotificationKind, OutgoingMessage
from incident_operator.reconcile.messages import outgoing_message, templates_condition
from incident_operator.reconcile.webhook_bodies import (
    BodyTemplateError,
    body_template_problems,
    render_body,
    sample_messages,
)
from incident_operator.runtime.delivery import _webhook_body

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples" / "chat-webhooks"
NOW = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
HOSTILE = 'Checkout "down" \\ {{ 7*7 }} {% raw %} </script>\n\tline two\u2028'


def _sample(name: str) -> Channel:
    return Channel.model_validate(yaml.safe_load((SAMPLES / f"{name}.yaml").read_text()))


def _message(
    channel: Channel, kind: NotificationKind, title: str = "Checkout down"
) -> OutgoingMessage:
    """A real OutgoingMessage: a P0 incident, its policy with ``channel``, a record."""
    incident = Incident.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "uid": "uid-1"},
            "spec": {"title": title, "severity": "P0", "roles": {"commander": "alice"}},
            "status": {"id": "INC-0042", "phase": "Investigating", "detectedAt": NOW},
        }
    )
    policy = EscalationPolicy.model_validate(
        {
            "metadata": {"name": "team", "namespace": "shop"},
            "spec": {"channels": [channel.model_dump(by_alias=True, exclude_none=True)]},
        }
    )
    record = NotificationRecord(
        key=f"declaration/{channel.name}",
        kind=kind,
        channel=channel.name,
        due_at=NOW,
        created_at=NOW,
    )
    message, problem = outgoing_message(incident, policy, record, NOW)
    assert problem is None
    return message


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("sample", ["teams", "google-chat"])
@pytest.mark.parametrize("kind", [NotificationKind.DECLARATION, NotificationKind.RESOLUTION])
def test_each_sample_renders_a_real_message_to_json(sample: str, kind: NotificationKind) -> None:
    channel = _sample(sample)
    assert channel.body_template is not None
    message = _message(channel, kind)
    body = render_body(channel.body_template, message, channel.name, channel.audience)
    assert isinstance(body, dict)
    texts = " ".join(_texts(body))
    assert message.subject in texts
    assert "INC-0042" in texts
    # What went over the wire parses back to the same thing.
    assert json.loads(json.dumps(body)) == body


def test_the_teams_sample_is_an_adaptive_card_for_a_workflows_webhook() -> None:
    channel = _sample("teams")
    assert channel.body_template is not None
    body = render_body(
        channel.body_template,
        _message(channel, NotificationKind.DECLARATION),
        channel.name,
        Audience.INTERNAL,
    )
    assert isinstance(body, dict)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts == {"Incident": "INC-0042", "Severity": "P0", "Phase": "Investigating"}
    assert card["body"][0]["color"] == "attention"


def test_the_google_chat_sample_threads_by_incident() -> None:
    channel = _sample("google-chat")
    assert channel.body_template is not None
    message = _message(channel, NotificationKind.DECLARATION)
    body = render_body(channel.body_template, message, channel.name, Audience.INTERNAL)
    assert isinstance(body, dict)
    assert body["thread"] == {"threadKey": "shop/checkout"}
    assert body["text"].startswith(f"*{message.subject}*\n\n")


@pytest.mark.parametrize("sample", ["teams", "google-chat"])
def test_a_hostile_subject_stays_one_json_string(sample: str) -> None:
    channel = _sample(sample)
    assert channel.body_template is not None
    message = _message(channel, NotificationKind.DECLARATION, title=HOSTILE)
    assert HOSTILE in message.subject
    body = render_body(channel.body_template, message, channel.name, Audience.INTERNAL)
    # Nothing of it was evaluated, split or dropped: the whole title is in one string.
    assert any(HOSTILE in text for text in _texts(body))
    assert "49" not in json.dumps(body)


@pytest.mark.parametrize("sample", ["teams", "google-chat"])
def test_the_samples_have_no_problems_against_every_kind(sample: str) -> None:
    assert body_template_problems([_sample(sample)]) == []


def _webhook(template: str) -> Channel:
    return Channel.model_validate(
        {
            "name": "teams",
            "type": "webhook",
            "url": "http://127.0.0.1:1/x",
            "bodyTemplate": template,
        }
    )


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ('{"text": {{ text|tojson }', "bodyTemplate line 1: unexpected '}'"),
        ('{"text": {{ txt|tojson }}}', "bodyTemplate line 1: 'txt' is undefined"),
        ('{"text": {{ text }}}', "bodyTemplate: the rendered body is not valid JSON"),
        (
            "{{ text|tojson }}",
            "bodyTemplate: the rendered body is a JSON str, not an object or array",
        ),
        ('{"a": {{ "x".__class__|tojson }}}', "bodyTemplate line 1:"),
    ],
)
def test_a_broken_template_is_a_delivery_error_naming_the_channel_not_retried(
    template: str, error: str
) -> None:
    channel = _webhook(template)
    message = sample_messages()[0]
    with pytest.raises(DeliveryError) as raised:
        _webhook_body(channel, message)
    assert raised.value.message.startswith(f"channel teams: {error}"), raised.value.message
    assert raised.value.retryable is False
    # The policy's TemplatesValid condition says the same before any incident needs it.
    (problem,) = body_template_problems([channel])
    assert problem.describe().startswith(f"spec.channels[teams].{error}")


def test_an_array_body_is_accepted_and_no_template_keeps_the_operators_body() -> None:
    message = sample_messages()[0]
    assert render_body("[{{ kind|tojson }}]", message, "x", Audience.INTERNAL) == ["Declaration"]
    plain = Channel.model_validate({"name": "w", "type": "webhook", "url": "http://127.0.0.1:1/x"})
    assert _webhook_body(plain, message) is None


def test_sample_validation_catches_what_only_sparse_messages_break() -> None:
    # Fine for a message with targets, an error for one without.
    template = '{"to": {{ targets[0]|tojson }}}'
    (problem,) = body_template_problems([_webhook(template)])
    assert "bodyTemplate line 1:" in problem.describe()
    with pytest.raises(BodyTemplateError):
        render_body(template, sample_messages()[1], "teams", Audience.INTERNAL)


def test_body_template_problems_make_templates_valid_false() -> None:
    problems = body_template_problems([_webhook("{{ text|tojson }}")])
    condition = templates_condition([], [], NOW, 1, problems)
    assert condition is not None
    assert condition.status is ConditionStatus.FALSE
    assert condition.message.startswith("spec.channels[teams].bodyTemplate: the rendered body")
    assert condition.message.endswith("the channel's notifications fail until it is fixed")


def test_body_template_is_for_webhook_channels_only() -> None:
    with pytest.raises(ValueError, match="bodyTemplate is for webhook channels only"):
        Channel.model_validate(
            {
                "name": "s",
                "type": "slack",
                "secretRef": {"name": "s", "key": "k"},
                "bodyTemplate": "{}",
            }
        )


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({}, "a webhook channel needs url or urlSecretRef (one of them)"),
        (
            {"url": "http://127.0.0.1:1/x", "urlSecretRef": {"name": "s", "key": "url"}},
            "a webhook channel needs url or urlSecretRef (one of them)",
        ),
    ],
)
def test_a_webhook_channel_takes_its_url_from_spec_or_a_secret(
    settings: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        Channel.model_validate({"name": "w", "type": "webhook", **settings})
    from_secret = {"name": "w", "type": "webhook", "urlSecretRef": {"name": "s", "key": "url"}}
    assert Channel.model_validate(from_secret).url is None


def test_url_secret_ref_is_for_webhook_channels_only() -> None:
    with pytest.raises(ValueError, match="urlSecretRef is for webhook channels only"):
        Channel.model_validate(
            {
                "name": "s",
                "type": "slack",
                "secretRef": {"name": "s", "key": "k"},
                "urlSecretRef": {"name": "s", "key": "url"},
            }
        )
