"""Customer messages on a real API server: published by the communications lead, sent once.

The real operator, the real plugin, the shipped admission policy, and local receivers: a
customer-audience webhook hears nothing of the declaration or the internal updates, and
exactly the text the communications lead publishes, once.
"""

import json
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.plugin import run_plugin
from tests.support.escalation_env import (
    SECRET_NAME,
    EscalationEnv,
    all_sent,
    channels,
    escalation_env,  # noqa: F401 (the fixture env)
    incident,
    records,
)

pytestmark = pytest.mark.timeout(240)
CUSTOMERS = "/webhook/customers"


def _customer_channel(env: EscalationEnv) -> dict[str, Any]:
    return {
        "name": "status-page",
        "type": "webhook",
        "url": f"{env.http.url}{CUSTOMERS}",
        "secretRef": {"name": SECRET_NAME, "key": "token"},
        "audience": "customer",
    }


def _setup(env: EscalationEnv, **spec: Any) -> None:
    env.create_secret()
    env.apply_policy(channels=[*channels(env.http, "slack-high"), _customer_channel(env)], **spec)


def _me(env: EscalationEnv) -> str:
    return env.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout


def _condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def _plugin(env: EscalationEnv, *args: str, check: bool = True) -> Any:
    return run_plugin(env.cluster.kubeconfig, env.namespace, *args, check=check)


def test_customers_hear_only_what_the_comms_lead_publishes(env: EscalationEnv) -> None:
    _setup(env)
    me = _me(env)
    with env.operator() as operator:
        env.apply(incident("api", "P1", roles={"commsLead": me, "commander": "alice"}))
        body = env.wait_for(
            "api",
            lambda b: all_sent(b, 1) and ((b.get("status") or {}).get("communication") or {}),
            "the declaration sent and a customer draft",
            operator,
        )
        incident_id = body["status"]["id"]
        _plugin(env, "update", incident_id, "internal: db-7 ran out of memory")
        env.wait_for(
            "api",
            lambda b: any(r["key"].startswith("update-1/") for r in records(b)) and all_sent(b, 2),
            "the internal update sent",
            operator,
        )
        # The draft is shown, and it does not quote the internal update.
        shown = _plugin(env, "publish", incident_id, "--dry-run")
        assert "Initial customer message (not published)" in shown.stdout
        assert "Subject: [Service Disruption] AgentOS Platform" in shown.stdout
        assert "db-7" not in shown.stdout
        assert env.http.received(CUSTOMERS) == []

        text = "We are investigating failed API calls. Next update within 30 minutes."
        published = _plugin(env, "publish", incident_id, "--kind", "initial", "-m", text)
        assert f"published as {me}" in published.stdout
        body = env.wait_for(
            "api",
            lambda b: any(
                r["key"] == "customer-message-1/status-page" and r["state"] == "Sent"
                for r in records(b)
            ),
            "the customer message sent",
            operator,
        )
        # A later pass (another update) sends nothing more to customers.
        _plugin(env, "update", incident_id, "internal: rolled back")
        env.wait_for(
            "api",
            lambda b: any(
                r["key"].startswith("update-2/") and r["state"] == "Sent" for r in records(b)
            ),
            "the second internal update sent",
            operator,
        )
    calls = env.http.received(CUSTOMERS)
    assert len(calls) == 1, [c.body for c in calls]
    assert calls[0].body["kind"] == "CustomerInitial"
    assert calls[0].body["text"] == text
    assert calls[0].body["subject"] == "[Service Disruption] AgentOS Platform"
    uid = body["metadata"]["uid"]
    assert calls[0].headers["Idempotency-Key"] == f"{uid}/customer-message-1/status-page"
    timeline = [e["type"] for e in env.get("api")["status"]["timeline"]]
    assert timeline.count("CustomerMessagePublished") == 1


def test_a_publish_by_neither_comms_lead_nor_commander_is_refused(
    env: EscalationEnv, cluster: ClusterInfo, admission_policies: None
) -> None:
    env.apply(incident("db", "P1", roles={"commsLead": "carol", "commander": "alice"}))
    refused = _plugin(env, "publish", "db", "--kind", "initial", "-m", "Hello.", check=False)
    assert refused.returncode == 1
    me = _me(env)
    assert (
        "only the communications lead or the incident commander may publish customer "
        f"messages; {me} is neither (they are carol, alice)"
    ) in refused.stderr
    assert not (env.get("db")["spec"].get("customerMessages"))
    # Nor in someone else's name, even the communications lead's.
    forged = {"kind": "Initial", "text": "x", "author": "carol", "time": "2026-01-01T00:00:00Z"}
    result = env.kubectl(
        "patch", "incident", "db", "-n", env.namespace, "--type=merge",
        "-p", f'{{"spec":{{"customerMessages":[{json.dumps(forged)}]}}}}',
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"must be published as yourself ({me}), not as carol" in result.stderr


def test_p1_customer_deadline_overdue_reminds_the_comms_lead(env: EscalationEnv) -> None:
    # The runbook's 30 minutes, shortened by the policy's override.
    _setup(env, severities={"P1": {"customerCommunicationWithin": "5s"}})
    me = _me(env)
    with env.operator() as operator:
        env.apply(incident("web", "P1", roles={"commsLead": me}))
        body = env.wait_for(
            "web",
            lambda b: (
                _condition(b, "CustomerCommunicationOverdue").get("status") == "True"
                and any(
                    r["kind"] == "CustomerCommunicationReminder" and r["state"] == "Sent"
                    for r in records(b)
                )
            ),
            "CustomerCommunicationOverdue=True and the reminder sent",
            operator,
            timeout=90,
        )
        condition = _condition(body, "CustomerCommunicationOverdue")
        assert condition["reason"] == "DeadlinePassed"
        assert "the first customer message was due at" in condition["message"]
        reminders = [r for r in records(body) if r["kind"] == "CustomerCommunicationReminder"]
        # To the internal channel, once; customers hear nothing of it.
        assert [r["channel"] for r in reminders] == ["slack-high"]
        texts = [c.body["blocks"][1]["text"]["text"] for c in env.http.received("/slack")]
        reminder_texts = [t for t in texts if "CUSTOMER COMMUNICATION DUE" in t]
        assert len(reminder_texts) == 1
        assert f"@{me}: the first customer message was due at" in reminder_texts[0]
        assert env.http.received(CUSTOMERS) == []

        # Publishing the draft as it is ends it; the cadence runs from the message.
        _plugin(env, "publish", body["status"]["id"])
        body = env.wait_for(
            "web",
            lambda b: (
                _condition(b, "CustomerCommunicationOverdue").get("reason") == "WithinDeadline"
            ),
            "CustomerCommunicationOverdue=False once published",
            operator,
        )
        assert body["status"]["communication"]["draft"]["kind"] == "Progress"
        env.wait_for(
            "web",
            lambda b: any(
                r["key"] == "customer-message-1/status-page" and r["state"] == "Sent"
                for r in records(b)
            ),
            "the published draft sent",
            operator,
        )
    calls = env.http.received(CUSTOMERS)
    assert len(calls) == 1
    assert "We are currently investigating an issue affecting" in calls[0].body["text"]


def test_a_message_published_while_the_operator_is_down_goes_out_once(env: EscalationEnv) -> None:
    _setup(env)
    me = _me(env)
    with env.operator("first.log") as operator:
        env.apply(incident("api", "P1", roles={"commsLead": me}))
        body = env.wait_for(
            "api",
            lambda b: ((b.get("status") or {}).get("communication") or {}).get("draft"),
            "a customer draft",
            operator,
        )
    incident_id = body["status"]["id"]
    _plugin(env, "publish", incident_id, "-m", "We are investigating.")
    sent = lambda b: any(  # noqa: E731
        r["key"] == "customer-message-1/status-page" and r["state"] == "Sent" for r in records(b)
    )
    with env.operator("second.log") as operator:
        env.wait_for("api", sent, "the customer message sent once the operator is back", operator)
    with env.operator("third.log") as operator:
        # A pass of the third operator: an internal update it announces.
        _plugin(env, "update", incident_id, "internal: still looking")
        env.wait_for(
            "api",
            lambda b: any(
                r["key"].startswith("update-1/") and r["state"] == "Sent" for r in records(b)
            ),
            "the update sent by the third operator",
            operator,
        )
    calls = env.http.received(CUSTOMERS)
    assert [c.body["text"] for c in calls] == ["We are investigating."]
