"""Acting from Slack, the pure half: the /incident command's words, a button press's
payload, who a Slack member acts as, and the card's buttons."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from incident_operator.api.contacts import Contact
from incident_operator.api.incident import Incident
from incident_operator.reconcile.alerts import PayloadError
from incident_operator.reconcile.slack_commands import (
    Action,
    CommandError,
    acting_contact,
    action_buttons,
    command_action,
    member_mention,
    parse_command,
    parse_interaction,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ack", Action("ack")),
        ("ack INC-42", Action("ack", reference="INC-42")),
        ("ACK inc-0042", Action("ack", reference="inc-0042")),
        ("update rolled back web", Action("update", ("rolled back web",))),
        (
            "update INC-7  it's   the cache",
            Action("update", ("it's   the cache",), "INC-7"),
        ),
        ("state mitigating", Action("state", ("Mitigating",))),
        ("state INC-3 Resolved", Action("state", ("Resolved",), "INC-3")),
        ("severity p1", Action("severity", ("P1",))),
        ("assign commander me", Action("assign", ("commander", "me"))),
        (
            "assign INC-9 scribe <@U0DANA01|dana>",
            Action("assign", ("scribe", "<@U0DANA01|dana>"), "INC-9"),
        ),
        ("publish", Action("publish")),
        ("publish INC-2 We are recovering", Action("publish", ("We are recovering",), "INC-2")),
        ("declare p0 Checkout is down", Action("declare", ("P0", "Checkout is down"))),
        (
            "check INC-5 manualverification customerImpactResolved",
            Action("check", ("manualVerification", "customerImpactResolved"), "INC-5"),
        ),
        ("resolve", Action("resolve")),
        (
            "resolve INC-5 override  verified by hand",
            Action("resolve", ("verified by hand",), "INC-5"),
        ),
        ("resolve override it is fine", Action("resolve", ("it is fine",))),
    ],
)
def test_commands_are_read_as_typed(text: str, expected: Action) -> None:
    assert command_action(text) == expected


@pytest.mark.parametrize(
    ("text", "usage"),
    [
        ("", "Usage: /incident declare"),
        ("frobnicate", "Usage: /incident declare"),
        ("ack INC-1 now", "Usage: /incident ack [INC-42]"),
        ("update", "Usage: /incident update"),
        ("state Fixed", "Usage: /incident state"),
        ("severity P9", "Usage: /incident severity"),
        ("assign boss me", "Usage: /incident assign"),
        ("declare P1", "Usage: /incident declare"),
        ("declare urgent Checkout", "Usage: /incident declare"),
        ("check", "Usage: /incident check"),
        ("check INC-5 coffee", "No checklist item coffee. Usage: /incident check"),
        ("resolve now", "Usage: /incident resolve"),
        ("resolve override", "Usage: /incident resolve"),
    ],
)
def test_a_command_that_cannot_be_read_is_answered_with_its_usage(text: str, usage: str) -> None:
    with pytest.raises(CommandError) as refused:
        command_action(text)
    assert str(refused.value).startswith(usage)


def test_a_slash_command_form_gives_who_where_and_where_to_answer() -> None:
    body = urlencode(
        {
            "command": "/incident",
            "text": "ack",
            "user_id": "U0DANA01",
            "channel_id": "C0INC001",
            "response_url": "http://127.0.0.1:9/response/1",
        }
    ).encode()
    request = parse_command(body)
    assert (request.user, request.channel, request.action) == (
        "U0DANA01",
        "C0INC001",
        Action("ack"),
    )
    assert request.response_url == "http://127.0.0.1:9/response/1"


def _press(action_id: str, value: str, **extra: Any) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0DANA01"},
        "channel": {"id": "C0INC001"},
        "response_url": "http://127.0.0.1:9/response/2",
        "actions": [{"action_id": action_id, "value": value}],
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_button_presses_name_the_incident_and_the_proposal_they_showed() -> None:
    ack = parse_interaction(_press("incident-ack", "shop/checkout"))
    assert ack.action == Action("ack", key=("shop", "checkout"))
    approve = parse_interaction(_press("incident-approve-rollback", "shop/checkout/9c8b41"))
    assert approve.action == Action("approve-rollback", key=("shop", "checkout"), proposal="9c8b41")
    remediation = parse_interaction(_press("incident-approve-remediation", "shop/co/r2:ab12"))
    assert (remediation.action.request_id, remediation.action.proposal) == ("r2", "ab12")
    assert approve.response_url == "http://127.0.0.1:9/response/2"


@pytest.mark.parametrize(
    "body",
    [
        _press("somebody-elses-button", "shop/checkout"),
        _press("incident-ack", "no-name"),
        _press("incident-ack", "shop/checkout", type="view_submission"),
        urlencode({"payload": "{not json"}).encode(),
        b"",
    ],
)
def test_anything_but_the_cards_buttons_is_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_interaction(body)


def _contact(name: str, user: str | None, mention: str) -> Contact:
    return Contact.model_validate(
        {
            "name": name,
            "user": user,
            "groups": ["incident-approvers"],
            "slack": {"mention": mention},
        }
    )


def test_a_member_acts_as_the_contact_naming_their_member_id_and_a_user() -> None:
    dana = _contact("Dana", "dana@example.com", "@U0DANA01")
    no_user = _contact("Erin", None, "U0ERIN01")
    assert acting_contact("U0DANA01", [no_user, dana]) == dana
    assert acting_contact("U0ERIN01", [no_user, dana]) is None
    assert acting_contact("U0CAROL1", [no_user, dana]) is None
    assert member_mention("<@U0DANA01|dana>") == "U0DANA01"
    assert member_mention("<@U0DANA01>") == "U0DANA01"
    assert member_mention("dana") is None


def _incident(**status: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"title": "Checkout is down", "severity": "P1"},
            "status": {"id": "INC-0042", **status},
        }
    )


def _buttons(incident: Incident) -> list[tuple[str, str]]:
    block = action_buttons(incident)
    assert block is not None
    return [(b["action_id"], b["value"]) for b in block["elements"]]


def test_the_card_offers_what_can_be_done_now() -> None:
    assert _buttons(_incident(phase="Detected")) == [
        ("incident-ack", "shop/checkout"),
        ("incident-commander", "shop/checkout"),
        ("incident-resolve", "shop/checkout"),
    ]
    proposed = {
        "phase": "Proposed",
        "proposal": "9c8b41441f37",
        "target": {"kind": "Deployment", "name": "web"},
    }
    acknowledged = _incident(
        phase="Investigating", acknowledgedAt="2026-01-01T00:00:00Z", rollback=proposed
    )
    assert _buttons(acknowledged) == [
        ("incident-commander", "shop/checkout"),
        ("incident-approve-rollback", "shop/checkout/9c8b41441f37"),
        ("incident-resolve", "shop/checkout"),
    ]
    approved = {**proposed, "phase": "Approved"}
    assert ("incident-approve-rollback", "shop/checkout/9c8b41441f37") not in _buttons(
        _incident(phase="Investigating", rollback=approved)
    )
    assert _buttons(_incident(phase="Resolved"))[-1][0] == "incident-commander"
    assert action_buttons(_incident(phase="Closed")) is None
