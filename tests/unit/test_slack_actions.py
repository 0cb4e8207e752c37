"""The Slack actions' runtime without a cluster: who may act, where the incident is
found, and what a person is told when they may not (nothing is written: the API is
never called)."""

import asyncio
import json
from typing import Any

import pytest
from kubernetes import client

from incident_operator.api.contacts import Contact
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.reconcile.slack_commands import Action, Request
from incident_operator.runtime import slack_actions
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.policies import PolicyRegistry
from incident_operator.runtime.slack_actions import SlackActions

CHANNEL = "C0INC0042"


def _unreachable() -> client.ApiClient:
    raise AssertionError("no API call may be made")


def _actions() -> SlackActions:
    index = IncidentIndex()
    index.put_raw(
        {
            "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "1"},
            "spec": {"title": "Checkout is down", "severity": "P1"},
            "status": {
                "id": "INC-0042",
                "phase": "Investigating",
                "chat": {
                    "channel": {
                        "id": CHANNEL,
                        "name": "inc-0042",
                        "createdAt": "2026-01-01T00:00:00Z",
                    }
                },
            },
        }
    )
    policies = PolicyRegistry()
    dana = {"name": "Dana", "user": "dana@example.com", "slack": {"mention": "U0DANA01"}}
    policy = {
        "metadata": {"name": "team", "namespace": "shop"},
        "spec": {"default": True, "contacts": [{"role": "commander", "primary": dana}]},
    }
    policies.put(EscalationPolicy.model_validate(policy))
    return SlackActions(index, declare_in="shop", policies=policies, api=_unreachable)


def _act(actions: SlackActions, user: str, action: Action, channel: str = CHANNEL) -> str:
    return asyncio.run(actions.act(Request(user, channel, action)))


def test_an_unmapped_member_is_told_which_policy_maps_them_and_nothing_is_called() -> None:
    said = _act(_actions(), "U0CAROL1", Action("ack"))
    assert said.startswith("Your Slack account (U0CAROL1) is not mapped to a Kubernetes user")
    assert "EscalationPolicy shop/team spec.contacts" in said
    assert "slack: {mention: U0CAROL1}" in said


@pytest.mark.parametrize(
    ("action", "channel", "told"),
    [
        (Action("ack"), "C0RANDOM1", "This is not an incident's channel"),
        (Action("ack", reference="INC-7"), "C0RANDOM1", "no incident INC-7"),
        (Action("ack", key=("shop", "gone")), CHANNEL, "incident shop/gone no longer exists"),
    ],
)
def test_an_incident_that_cannot_be_found_is_said_so(
    action: Action, channel: str, told: str
) -> None:
    assert _act(_actions(), "U0DANA01", action, channel).startswith(told)


def test_an_impersonation_the_operator_may_not_make_names_the_chart_values() -> None:
    body = json.dumps(
        {
            "message": 'users "frank@example.com" is forbidden: User "system:serviceaccount:'
            'incident-operator:incident-operator" cannot impersonate resource "users"'
        }
    )
    error = client.ApiException(status=403, reason="Forbidden")
    error.body = body
    contact = Contact.model_validate(
        {
            "name": "Frank",
            "user": "frank@example.com",
            "groups": ["sre"],
            "slack": {"mention": "U0F"},
        }
    )
    refused = str(slack_actions._refusal(error, contact))
    assert refused.startswith(
        "The operator is not allowed to act as frank@example.com and groups sre"
    )
    assert "slackApp.impersonate.users and slackApp.impersonate.groups" in refused
    other: Any = client.ApiException(status=403, reason="Forbidden")
    other.body = json.dumps({"message": "admission says no"})
    assert str(slack_actions._refusal(other, contact)) == "admission says no"
