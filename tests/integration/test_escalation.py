"""Escalation on a real API server, with the real operator and real local receivers."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.harness.incidents import PRE_RESOLUTION_TICKED
from tests.support.escalation_env import (
    SECRETS,
    EscalationEnv,
    all_sent,
    channels,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
    records,
    time_of,
)

from incident_operator.domain.notifications import stamp

pytestmark = pytest.mark.timeout(240)


def _steps(body: dict[str, object]) -> list[dict[str, object]]:
    return list(escalation(body).get("steps") or [])  # type: ignore[call-overload]


def test_short_matrix_end_to_end(env: EscalationEnv) -> None:
    http, namespace = env.http, env.namespace
    steps = [
        {"severities": ["P1"], "after": "0s", "targets": [{"name": "Primary", "method": "pager"}]},
        {
            "severities": ["P1"],
            "after": "3s",
            "targets": [{"name": "Secondary", "method": "pager"}],
        },
        {
            "severities": ["P1"],
            "after": "6s",
            "targets": [{"name": "Manager", "method": "chat"}],
            "channel": "webhook",
        },
    ]
    env.setup("pagerduty", "slack-high", "webhook", escalation={"steps": steps})
    with env.operator() as operator:
        env.apply(incident("checkout", "P1"))
        body = env.wait_for(
            "checkout",
            lambda b: escalation(b).get("level") == 3 and all_sent(b, 9),
            "three steps reached and every notification sent",
            operator,
        )
        status = body["status"]
        detected = time_of(status["detectedAt"])
        reached = {s["key"]: time_of(s["reachedAt"]) - detected for s in _steps(body)}
        assert list(reached) == ["P1-0", "P1-1", "P1-2"]
        for key, after in (("P1-0", 0), ("P1-1", 3), ("P1-2", 6)):
            # Reached when due, give or take the operator's reaction time.
            assert timedelta(seconds=after) <= reached[key] < timedelta(seconds=after + 4), key
        assert escalation(body)["policy"] == "team"
        assert {r["key"] for r in records(body)} == {
            "declaration/slack-high",
            "declaration/webhook",
            "escalation-P1-0/pagerduty",
            "escalation-P1-0/slack-high",
            "escalation-P1-0/webhook",
            "escalation-P1-1/pagerduty",
            "escalation-P1-1/slack-high",
            "escalation-P1-1/webhook",
            "escalation-P1-2/webhook",
        }
        pd = http.received("/pagerduty")
        assert [c.body["event_action"] for c in pd] == ["trigger", "trigger"]
        dedup = {c.body["dedup_key"] for c in pd}
        assert dedup == {f"incident-operator/{namespace}/checkout/{body['metadata']['uid']}"}
        assert {c.body["payload"]["severity"] for c in pd} == {"error"}
        slack = http.received("/slack")
        assert any("INCIDENT DECLARED" in c.body["blocks"][1]["text"]["text"] for c in slack)
        assert any("ESCALATION NOTICE" in c.body["blocks"][1]["text"]["text"] for c in slack)
        hooks = http.received("/webhook/ops")
        assert all(c.headers["Authorization"] == f"Bearer {SECRETS['token']}" for c in hooks)
        assert "P1-2" in {c.body["key"].split("/")[0].removeprefix("escalation-") for c in hooks}
        # Every delivery carries its key; none was sent twice.
        keys = [c.headers["Idempotency-Key"] for c in http.received()]
        assert len(keys) == len(set(keys)) == len(records(body))

        # Acknowledged, then resolved: PagerDuty hears both, on the same dedup key.
        env.kubectl(
            "annotate",
            "incident",
            "checkout",
            "-n",
            namespace,
            "sre.agentos.io/acknowledged-by=admin",
        )
        env.wait_for(
            "checkout",
            lambda b: (
                any(r["key"] == "acknowledgement/pagerduty" for r in records(b)) and all_sent(b)
            ),
            "the acknowledgement sent to PagerDuty",
            operator,
        )
        env.kubectl(
            "patch", "incident", "checkout", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED}}),
        )  # fmt: skip
        body = env.wait_for(
            "checkout",
            lambda b: any(r["kind"] == "Resolution" for r in records(b)) and all_sent(b),
            "the resolution notices sent",
            operator,
        )
        actions = [c.body["event_action"] for c in http.received("/pagerduty")]
        assert actions == ["trigger", "trigger", "acknowledge", "resolve"]
        assert {c.body["dedup_key"] for c in http.received("/pagerduty")} == dedup
        assert any(
            "INCIDENT RESOLVED" in c.body["blocks"][1]["text"]["text"]
            for c in http.received("/slack")
        )
        timeline = [e["type"] for e in body["status"]["timeline"]]
        assert timeline.count("Escalated") == 3
        assert "NotificationSent" in timeline
        reasons = {e["reason"] for e in env.events()}
        assert {"Escalated", "NotificationSent"} <= reasons
    # No secret in status, Events or the operator's log.
    env.assert_no_secret("checkout")


def test_a_reopened_incident_pages_again_on_the_same_dedup_key(env: EscalationEnv) -> None:
    env.setup("pagerduty", "slack-high", escalation=first_step_only())
    patch = lambda spec: env.kubectl(  # noqa: E731
        "patch", "incident", "regress", "-n", env.namespace, "--type=merge",
        "-p", json.dumps({"spec": spec}),
    )  # fmt: skip

    def phase(body: dict[str, Any]) -> Any:
        return (body.get("status") or {}).get("phase")

    with env.operator() as operator:
        env.apply(incident("regress", "P1"))
        env.wait_for(
            "regress",
            lambda b: escalation(b).get("level") == 1 and all_sent(b, 3),
            "P1-0 paged and announced",
            operator,
        )
        # Resolved: a P1 needs a post-mortem, so it goes on to PostIncident at once.
        patch({"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED})
        env.wait_for(
            "regress",
            lambda b: (
                phase(b) == "PostIncident"
                and len([r for r in records(b) if r["kind"] == "Resolution"]) == 2
                and all_sent(b)
            ),
            "the resolution sent to PagerDuty and chat",
            operator,
        )
        # It regresses while the post-mortem is pending: reopened.
        patch({"state": "Investigating"})
        body = env.wait_for(
            "regress",
            lambda b: (
                phase(b) == "Investigating"
                and len([r for r in records(b) if r["kind"] == "Reopened"]) == 2
                and all_sent(b)
            ),
            "the reopening announced and PagerDuty triggered again",
            operator,
        )
        resolved_for = escalation(body)["resolvedFor"]
        assert escalation(body)["reopenedFor"] == resolved_for
        undone = stamp(time_of(resolved_for), exact=True)
        assert {r["key"] for r in records(body) if r["kind"] == "Reopened"} == {
            f"reopened-{undone}/pagerduty",
            f"reopened-{undone}/slack-high",
        }
        pd = env.http.received("/pagerduty")
        assert [c.body["event_action"] for c in pd] == ["trigger", "resolve", "trigger"]
        uid = body["metadata"]["uid"]
        assert {c.body["dedup_key"] for c in pd} == {
            f"incident-operator/{env.namespace}/regress/{uid}"
        }
        assert pd[-1].body["payload"]["severity"] == "error"
        assert "REOPENED" in pd[-1].body["payload"]["summary"]
        texts = [c.body["blocks"][1]["text"]["text"] for c in env.http.received("/slack")]
        assert sum("INCIDENT REOPENED" in t for t in texts) == 1
        # Resolved again: a new resolution, a new resolve.
        patch({"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED})
        env.wait_for(
            "regress",
            lambda b: (
                len([r for r in records(b) if r["kind"] == "Resolution"]) == 4 and all_sent(b)
            ),
            "the second resolution sent",
            operator,
        )
        actions = [c.body["event_action"] for c in env.http.received("/pagerduty")]
        assert actions == ["trigger", "resolve", "trigger", "resolve"]
        texts = [c.body["blocks"][1]["text"]["text"] for c in env.http.received("/slack")]
        assert sum("INCIDENT REOPENED" in t for t in texts) == 1
        keys = [c.headers["Idempotency-Key"] for c in env.http.received()]
        assert len(keys) == len(set(keys))
    env.assert_no_secret("regress")


def test_the_runbook_matrix_applies_when_a_policy_has_no_steps(env: EscalationEnv) -> None:
    env.setup("pagerduty", "slack-high", name="runbook")
    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        env.wait_for("api", lambda b: escalation(b).get("level") == 1, "P1-0", operator)
        # As if detected 65 minutes ago: the runbook's 0, 30 and 60 minute steps are due.
        earlier = (datetime.now(UTC) - timedelta(minutes=65)).strftime("%Y-%m-%dT%H:%M:%SZ")
        env.kubectl(
            "patch", "incident", "api", "-n", env.namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps({"status": {"detectedAt": earlier}}),
        )  # fmt: skip
        body = env.wait_for(
            "api",
            lambda b: escalation(b).get("level") == 3 and all_sent(b),
            "the P1 matrix's first three steps",
            operator,
        )
    steps = _steps(body)
    assert [(s["key"], s["after"], s["targets"]) for s in steps] == [
        ("P1-0", "0s", ["Primary on-call (pager)"]),
        ("P1-1", "30m", ["Secondary on-call (pager)"]),
        ("P1-2", "1h", ["Engineering Manager (chat)", "Engineering Manager (phone)"]),
    ]
    assert [s["late"] for s in steps[1:]] == [True, True]
    assert escalation(body)["stepsTotal"] == 4
    assert time_of(escalation(body)["nextStepDueAt"]) == time_of(earlier) + timedelta(hours=2)
    # Phone and pager go through PagerDuty; chat to #incident-high.
    channels_of = {s["key"]: s["channels"] for s in steps}
    assert channels_of["P1-2"] == ["pagerduty", "slack-high"]
    late = [
        c
        for c in env.http.received("/pagerduty")
        if c.body["payload"]["summary"].endswith("(late)")
    ]
    assert len(late) == 2


def test_triggers_escalate_at_once_and_say_why(env: EscalationEnv) -> None:
    slow = [
        {"severities": ["P2"], "after": after, "targets": [{"name": who, "method": "chat"}]}
        for after, who in (("0s", "Primary"), ("2h", "Team Lead"), ("4h", "Manager"), ("5h", "VP"))
    ]
    env.setup(
        "slack-warning",
        escalation={"steps": slow},
        # The runbook's "no progress": an update overdue escalates, with a 4s cadence.
        severities={"P2": {"updateEvery": "4s"}},
        communication={"escalateOverdueUpdates": True},
    )
    with env.operator() as operator:
        env.apply(incident("db", "P2"))
        env.wait_for("db", lambda b: escalation(b).get("level") == 1, "P2-0", operator)
        env.kubectl(
            "patch", "incident", "db", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"triggers": {"dataLoss": True}}}),
        )  # fmt: skip
        body = env.wait_for(
            "db",
            lambda b: (
                any(t["name"] == "noProgress" for t in escalation(b).get("triggers", []))
                and any(t["name"] == "dataLoss" for t in escalation(b).get("triggers", []))
            ),
            "the data loss and no-progress triggers",
            operator,
        )
        body = env.wait_for("db", lambda b: all_sent(b, 3), "notices sent", operator)
    triggers = {t["name"]: t for t in escalation(body)["triggers"]}
    assert triggers["dataLoss"]["message"] == "data loss confirmed"
    assert "status update overdue" in triggers["noProgress"]["message"]
    by_key = {s["key"]: s for s in _steps(body)}
    assert {triggers["dataLoss"]["step"], triggers["noProgress"]["step"]} <= {"P2-1", "P2-2"}
    for key in (triggers["dataLoss"]["step"], triggers["noProgress"]["step"]):
        assert by_key[key]["cause"] == "Trigger"
        assert by_key[key]["reason"].startswith("escalation trigger:")
    notices = [
        c.body["blocks"][1]["text"]["text"]
        for c in env.http.received("/slack")
        if "ESCALATION NOTICE" in c.body["blocks"][1]["text"]["text"]
    ]
    assert any("data loss confirmed" in text for text in notices)
    # The update reminder went to the chat channel when the update fell due.
    assert any(r["kind"] == "UpdateReminder" for r in records(body))


def test_template_override_and_broken_template(env: EscalationEnv) -> None:
    namespace = env.namespace
    templates = {
        "declaration": "DECLARED {{ incident.id }} ({{ incident.severity }}): {{ incident.title }}",
        "statusUpdate": "UPDATE {{ incident.id }}\nStatus: {{ incident.state }\n",
    }
    env.setup("slack-warning", communication={"templates": templates})
    with env.operator() as operator:
        body = env.wait_for(
            "team",
            lambda b: (
                {c["type"] for c in b.get("status", {}).get("conditions", [])}
                >= {"Ready", "TemplatesValid"}
            ),
            "the policy's Ready and TemplatesValid conditions",
            operator,
            kind="escalationpolicy",
        )
        conditions = {c["type"]: c for c in body["status"]["conditions"]}
        assert conditions["Ready"]["status"] == "True"
        valid = conditions["TemplatesValid"]
        assert (valid["status"], valid["reason"]) == ("False", "TemplateError")
        assert "spec.communication.templates.statusUpdate line 2" in valid["message"]
        # GitOps: only status was written; no finalizer, no annotation, spec untouched.
        assert "finalizers" not in body["metadata"]
        assert not body["metadata"].get("annotations")
        shown = env.kubectl(
            "get", "escalationpolicy", "team", "-n", namespace, "-o", "json",
            "--show-managed-fields",
        )  # fmt: skip
        managers = {
            (m["manager"], m.get("subresource"))
            for m in json.loads(shown.stdout)["metadata"]["managedFields"]
            if m["manager"].startswith("incident-operator")
        }
        assert ("incident-operator-notifications", "status") in managers
        assert all(subresource == "status" for _, subresource in managers), managers

        update = {"message": "Replica promoted", "author": "bob", "time": "2026-01-01T00:00:00Z"}
        env.apply(incident("db", "P2", updates=[update]))
        env.wait_for("db", lambda b: all_sent(b, 3), "notices sent", operator)
    texts = [c.body["blocks"][1]["text"]["text"] for c in env.http.received("/slack")]
    declared = [t for t in texts if t.startswith("```DECLARED")]
    assert len(declared) == 1
    assert "(P2): db is failing" in declared[0]
    # The broken statusUpdate override: the runbook's own template went out instead.
    assert any(t.startswith("```INCIDENT UPDATE") and "Replica promoted" in t for t in texts)
    # Fixing the template clears the condition.
    templates["statusUpdate"] = "UPDATE {{ incident.id }}: {{ update.message }}"
    env.apply_policy(
        channels=channels(env.http, "slack-warning"), communication={"templates": templates}
    )
    with env.operator("operator2.log") as operator:
        env.wait_for(
            "team",
            lambda b: any(
                c["type"] == "TemplatesValid" and c["status"] == "True"
                for c in b.get("status", {}).get("conditions", [])
            ),
            "TemplatesValid=True after the fix",
            operator,
            kind="escalationpolicy",
        )
    # Deleting a policy needs no operator: nothing holds it.
    env.kubectl("delete", "escalationpolicy", "team", "-n", namespace, "--wait=true", timeout=30)
