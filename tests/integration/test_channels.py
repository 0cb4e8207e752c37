"""The runbook's chat channels on a real API server, each behind a Slack webhook of its own.

#incident-all hears every notification of every severity, #monitoring the P3 and P4
incidents the runbook promises updates for, #sre-team the role changes and hand-offs,
once each, across a restart; and the sample policy is one the API server accepts.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.incidents import PRE_RESOLUTION_TICKED
from tests.support.escalation_env import (
    SECRETS,
    EscalationEnv,
    all_sent,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    incident,
    records,
)

pytestmark = pytest.mark.timeout(240)

SAMPLE_POLICY = Path(__file__).parents[2] / "manifests/samples/escalationpolicy-runbook.yaml"
# The webhooks of tests/support/escalation_env.py: the shared one (slack-critical,
# slack-high, slack-warning) and one each for #monitoring, #incident-all, #sre-team.
SHARED, MONITORING, ALL, SRE_TEAM = (
    f"/slack/{SECRETS['slack-path']}",
    "/slack/monitoring/",
    "/slack/all/",
    "/slack/sre-team/",
)


def _texts(env: EscalationEnv, path: str) -> list[str]:
    return [c.body["blocks"][1]["text"]["text"] for c in env.http.received(path)]


def _headed(texts: list[str], header: str) -> list[str]:
    return [t for t in texts if t.startswith(f"```{header}")]


def _patch(env: EscalationEnv, name: str, spec: dict[str, Any]) -> None:
    env.kubectl(
        "patch", "incident", name, "-n", env.namespace, "--type=merge",
        "-p", json.dumps({"spec": spec}),
    )  # fmt: skip


def _keys(body: dict[str, Any], kind: str) -> set[str]:
    return {r["key"] for r in records(body) if r["kind"] == kind}


def test_p3_and_p4_are_told_in_monitoring_and_incident_all_hears_everything(
    env: EscalationEnv,
) -> None:
    env.setup("slack-high", "slack-monitoring", "slack-all", "slack-sre-team")
    with env.operator() as operator:
        env.apply(incident("tidy-up", "P4"))
        env.apply(incident("ui-glitch", "P3"))
        tidy = env.wait_for("tidy-up", all_sent, "the P4 declaration sent", operator)
        assert {r["key"] for r in records(tidy)} == {
            "declaration/slack-monitoring",
            "declaration/slack-all",
        }
        env.wait_for("ui-glitch", all_sent, "the P3 declaration sent", operator)
        # Posted now: an update a day old would make the next one (daily for P3) overdue.
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        update = {"message": "Workaround: reload", "author": "bob", "time": now}
        _patch(env, "ui-glitch", {"updates": [update]})
        env.wait_for("ui-glitch", lambda b: all_sent(b, 4), "the P3 status update sent", operator)
        _patch(env, "ui-glitch", {"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED})
        glitch = env.wait_for(
            "ui-glitch", lambda b: all_sent(b, 6), "the P3 resolution sent", operator
        )
        # A P1 for contrast: its channel is #incident-high, and #incident-all hears it too.
        env.apply(incident("auth", "P1"))
        env.wait_for("auth", lambda b: all_sent(b, 4), "the P1 declaration and step", operator)
    for kind in ("Declaration", "StatusUpdate", "Resolution"):
        assert {k.split("/")[1] for k in _keys(glitch, kind)} == {"slack-monitoring", "slack-all"}

    monitoring = _texts(env, MONITORING)
    # Two declarations (P3, P4), the update and the resolution: nothing of the P1.
    assert len(monitoring) == 4
    [p3, p4] = sorted(_headed(monitoring, "INCIDENT DECLARED"), key=lambda t: "P4" in t)
    assert "Severity: P3 - Minor issue with workaround available." in p3
    assert "Examples of P3: UI cosmetic issues; " in p3
    assert "Severity: P4 - No immediate impact, improvement opportunity." in p4
    assert len(_headed(monitoring, "INCIDENT UPDATE")) == 1
    assert "Workaround: reload" in _headed(monitoring, "INCIDENT UPDATE")[0]
    assert len(_headed(monitoring, "INCIDENT RESOLVED")) == 1
    # #incident-all: everything #monitoring got, and the P1's declaration and escalation.
    everything = _texts(env, ALL)
    assert len(everything) == 6
    assert len(_headed(everything, "INCIDENT DECLARED")) == 3
    assert len(_headed(everything, "ESCALATION NOTICE")) == 1
    # #incident-high (the shared webhook) only the P1; #sre-team nothing (no roles).
    shared = _texts(env, SHARED)
    assert len(shared) == 2
    assert all("auth is failing" in text for text in shared)
    assert _texts(env, SRE_TEAM) == []
    # Every message went through its own webhook once: no key twice.
    keys = [c.headers["Idempotency-Key"] for c in env.http.received()]
    assert len(keys) == len(set(keys)) == 12
    env.assert_no_secret("tidy-up", "ui-glitch", "auth")


def test_sre_team_hears_each_role_change_once_across_a_restart(env: EscalationEnv) -> None:
    env.setup("slack-high", "slack-all", "slack-sre-team")

    def coordinated(count: int) -> Any:
        return lambda b: (
            escalation(b).get("roleChangesAnnounced") == count
            and len(_keys(b, "Coordination")) == 2 * count
            and all_sent(b)
        )

    with env.operator("first.log") as operator:
        env.apply(incident("auth", "P1", roles={"commander": "alice"}))
        env.wait_for("auth", coordinated(1), "the commander's assignment told", operator)
        # A hand-off: the commander moves from alice to bob.
        _patch(env, "auth", {"roles": {"commander": "bob"}})
        env.wait_for("auth", coordinated(2), "the hand-off told", operator)
    # A new operator process: what was told is in status, so nothing is told again; the
    # next change is told, once.
    with env.operator("second.log") as operator:
        _patch(env, "auth", {"roles": {"techLead": "carol"}})
        body = env.wait_for("auth", coordinated(3), "the new technical lead told", operator)
    assert _keys(body, "Coordination") == {
        f"coordination-{n}-{role}/{channel}"
        for n, role in ((1, "commander"), (2, "commander"), (3, "techLead"))
        for channel in ("slack-all", "slack-sre-team")
    }
    changes = escalation(body)["roleChanges"]
    assert [(c["number"], c["role"], c.get("previous"), c["current"]) for c in changes] == [
        (1, "commander", None, "alice"),
        (2, "commander", "alice", "bob"),
        (3, "techLead", None, "carol"),
    ]
    sre_team = _texts(env, SRE_TEAM)
    # Coordination only: the declaration and the escalation went elsewhere.
    assert len(sre_team) == 3
    assert all(text.startswith("```INCIDENT COORDINATION") for text in sre_team)
    assert "Role assigned: Incident Commander @alice" in sre_team[0]
    assert "Hand-off: Incident Commander @alice -> @bob" in sre_team[1]
    assert "Role assigned: Technical Lead @carol" in sre_team[2]
    assert "- Incident Commander: @bob" in sre_team[2]
    assert len(_headed(_texts(env, ALL), "INCIDENT COORDINATION")) == 3
    assert _headed(_texts(env, SHARED), "INCIDENT COORDINATION") == []
    keys = [c.headers["Idempotency-Key"] for c in env.http.received()]
    assert len(keys) == len(set(keys))
    env.assert_no_secret("auth")


def test_the_sample_policy_is_accepted_by_the_api_server(env: EscalationEnv) -> None:
    sample = yaml.safe_load(SAMPLE_POLICY.read_text())
    sample["metadata"]["namespace"] = env.namespace
    applied = env.kubectl(
        "apply", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(sample)
    )
    spec = json.loads(applied.stdout)["spec"]
    chats = {c["name"]: (c.get("chatChannel"), c["secretRef"]["key"]) for c in spec["channels"]}
    # One webhook (Secret key) per chat channel.
    slack_keys = [key for chat, key in chats.values() if chat]
    assert len(slack_keys) == len(set(slack_keys)) == 6
    assert {chat for chat, _ in chats.values() if chat} >= {
        "#incident-all",
        "#monitoring",
        "#sre-team",
    }
    rules = {r["name"]: r for r in spec["detection"]["rules"]}
    assert rules["api-latency-vs-normal"]["signal"] == "apiLatencyRelative"
    assert rules["agent-success-rate"]["severity"] == {"critical": "P1", "warning": "P2"}
    assert rules["agent-outage"]["severity"]["critical"] == "P0"


def test_kubectl_explain_lists_the_severities_with_definitions_and_examples(
    env: EscalationEnv,
) -> None:
    explained = env.kubectl("explain", "incident.spec.severity").stdout
    # kubectl wraps long lines: compare the words.
    words = " ".join(explained.split())
    assert "P0 - Complete system outage or data loss affecting all users" in words
    assert "All agents failing to execute" in words
    assert "Agent execution success rate < 50%; API latency > 10x normal" in words
    assert "P4 - No immediate impact, improvement opportunity." in words
