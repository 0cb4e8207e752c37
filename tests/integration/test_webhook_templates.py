"""A webhook channel's bodyTemplate through the real operator: the shipped Teams sample
posts an Adaptive Card for a real incident's escalation; a template that renders invalid
JSON is reported on the incident (NotificationsFailing) and the policy (TemplatesValid),
naming bodyTemplate, and nothing reaches its receiver."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.escalation_env import (
    EscalationEnv,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
    records,
)

pytestmark = pytest.mark.timeout(120)
TEAMS_SAMPLE = Path(__file__).parents[2] / "manifests" / "samples" / "chat-webhooks" / "teams.yaml"
# Renders, but not JSON: the subject is not quoted.
BROKEN = '{"text": {{ subject }}}'
TEAMS_SIG = "teams-workflow-signature-secret"


def _condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def test_teams_gets_an_adaptive_card_and_a_broken_template_names_itself(
    env: EscalationEnv,
) -> None:
    http = env.http
    teams = yaml.safe_load(TEAMS_SAMPLE.read_text())
    # The sample reads its URL from the Secret, as a Workflows URL carries its signature.
    env.create_secret(**{"teams-workflow-url": f"{http.url}/webhook/teams?sig={TEAMS_SIG}"})
    name = teams["name"]
    broken = {"name": "broken", "type": "webhook", "url": f"{http.url}/webhook/broken"}
    broken["bodyTemplate"] = BROKEN
    env.apply_policy(escalation=first_step_only(), channels=[teams, broken])

    def settled(body: dict[str, Any]) -> bool:
        by_channel: dict[str, list[dict[str, Any]]] = {}
        for record in records(body):
            by_channel.setdefault(record["channel"], []).append(record)
        failing = _condition(body, "NotificationsFailing")
        return (
            len(by_channel.get(name, [])) == 2
            and all(r["state"] == "Sent" for r in by_channel[name])
            and len(by_channel.get("broken", [])) == 2
            and all(r.get("error") for r in by_channel["broken"])
            and failing.get("status") == "True"
        )

    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        body = env.wait_for(
            "api", settled, "Teams sent, the broken template reported", operator, timeout=40
        )
        policy = env.wait_for(
            "team",
            lambda b: _condition(b, "TemplatesValid").get("status") == "False",
            "the policy's TemplatesValid False",
            operator,
            timeout=20,
            kind="escalationpolicy",
        )
    uid = body["metadata"]["uid"]
    cards = {c.headers["Idempotency-Key"]: c.body for c in http.received("/webhook/teams")}
    escalation = cards[f"{uid}/escalation-P1-0/{name}"]
    assert escalation["type"] == "message"
    (attachment,) = escalation["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"].startswith("[P1] ")
    assert "ESCALATION" in card["body"][0]["text"]
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Severity"] == "P1"
    assert facts["For"] == "Primary (pager)"
    # The broken template: nothing sent, an error naming it, never treated as retryable.
    assert http.received("/webhook/broken") == []
    for record in (r for r in records(body) if r["channel"] == "broken"):
        assert record["error"].startswith(
            "channel broken: bodyTemplate: the rendered body is not valid JSON"
        ), record["error"]
        assert record["state"] in ("Pending", "Sending", "Failed")
        assert record["attempts"] <= 3  # MAX_CLIENT_ERROR_ATTEMPTS: not retried as a 5xx is
    assert "channel broken: bodyTemplate" in _condition(body, "NotificationsFailing")["message"]
    # The URL's signature is a secret like the others: in no status, Event or log.
    env.assert_no_secret("api", also={"teams-sig": TEAMS_SIG})
    templates_valid = _condition(policy, "TemplatesValid")
    assert templates_valid["message"].startswith(
        "spec.channels[broken].bodyTemplate: the rendered body is not valid JSON"
    )
