"""Triage answers escalate at once, with the real operator and the local receivers."""

import json

import pytest
from tests.support.escalation_env import (
    EscalationEnv,
    all_sent,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    incident,
    records,
)

pytestmark = pytest.mark.timeout(240)


def test_a_security_component_in_triage_escalates_as_a_suspected_breach(
    env: EscalationEnv,
) -> None:
    slow = [
        {"severities": ["P2"], "after": after, "targets": [{"name": who, "method": "chat"}]}
        for after, who in (("0s", "Primary"), ("2h", "Team Lead"), ("4h", "Manager"))
    ]
    env.setup("slack-warning", escalation={"steps": slow})
    with env.operator() as operator:
        env.apply(incident("auth", "P2"))
        body = env.wait_for(
            "auth",
            lambda b: escalation(b).get("level") == 1 and all_sent(b),
            "P2-0 announced",
            operator,
        )
        checklist = {c["key"]: c["done"] for c in body["status"]["checklist"]}
        assert checklist["onCallNotified"], "a delivered declaration ticks it"
        triage = {"securityComponent": True, "dataAtRisk": True, "affectsProduction": True}
        env.kubectl(
            "patch", "incident", "auth", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"triage": triage}}),
        )  # fmt: skip
        body = env.wait_for(
            "auth",
            lambda b: (
                {"securityBreach", "dataAtRisk"}
                <= {t["name"] for t in escalation(b).get("triggers", [])}
                and all_sent(b, 2)
            ),
            "the security and data-at-risk triggers, and their notice sent",
            operator,
        )
    triggers = {t["name"]: t for t in escalation(body)["triggers"]}
    assert triggers["securityBreach"]["message"] == "security breach suspected"
    assert triggers["dataAtRisk"]["message"] == "data at risk (triage)"
    assert triggers["securityBreach"]["step"] == "P2-1"
    assert [r["kind"] for r in records(body)].count("Escalation") >= 1
    notices = [
        c.body["blocks"][1]["text"]["text"]
        for c in env.http.received("/slack")
        if "ESCALATION NOTICE" in c.body["blocks"][1]["text"]["text"]
    ]
    assert any("security breach suspected" in text for text in notices)
    assert any(
        "Triage: production: yes; data at risk: yes; security component: yes" in text
        for text in notices
    )
