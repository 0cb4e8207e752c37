"""Chat-ops through the operator's Slack app, on the local control plane with a fake of
Slack's Web API (tests/support/slack_api.py): the incident's own channel (created,
recorded, topic, invites, adopted when it already exists, archived after Closed), the
card kept updated in place, notifications threaded under it, and a Slack refusal
reported without stopping the incident pass."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.incidents import patch_incident
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.wait import wait_until
from tests.support.escalation_env import EscalationEnv, all_sent, escalation_env, incident
from tests.support.slack_api import BOT_TOKEN, FakeMessage, FakeSlack

__all__ = ["escalation_env"]  # the fixture env

pytestmark = pytest.mark.timeout(180)
APP_SECRET = "slack-app"
CRITICAL = "incident-critical"
HIGH = "incident-high"
DANA = "U0DANA"
BRIDGE = "http://127.0.0.1:9/bridge"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


def _setup(env: EscalationEnv, slack: FakeSlack) -> None:
    data = {"bot-token": BOT_TOKEN, "signing-secret": "not-used-here"}
    k8s.CoreV1Api(env.api).create_namespaced_secret(
        env.namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=APP_SECRET),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )
    env.apply_policy(
        # The runbook's channels by alert level: P0 in #incident-critical, P1 in #incident-high.
        channels=[
            {"name": "app-critical", "type": "slackApp", "chatChannel": f"#{CRITICAL}"},
            {"name": "app-high", "type": "slackApp", "chatChannel": f"#{HIGH}"},
        ],
        contacts=[
            {
                "role": "on-call-primary",
                "primary": {"name": "Dana", "user": "dana", "slack": {"mention": DANA}},
            }
        ],
        escalation={
            "steps": [
                {
                    "severities": ["P0"],
                    "after": "0s",
                    "targets": [{"name": "Primary", "method": "chat", "role": "on-call-primary"}],
                    "channel": "app-critical",
                }
            ]
        },
        chat={"incidentChannel": {"archiveAfter": "2s", "bridgeUrl": BRIDGE}},
    )


def _chat(body: dict[str, Any]) -> dict[str, Any]:
    return dict((body.get("status") or {}).get("chat") or {})


def _cards(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["channel"]: m for m in _chat(body).get("messages") or []}


def _settled(body: dict[str, Any], channels: int) -> bool:
    cards = _cards(body)
    return len(cards) == channels and all(m.get("digest") for m in cards.values())


def test_incident_channel_card_updates_threads_adoption_and_archiving(
    env: EscalationEnv, slack: FakeSlack
) -> None:
    critical = slack.add_channel(CRITICAL)
    high = slack.add_channel(HIGH)
    # As if an operator died between creating the second incident's channel and recording it.
    left_behind = slack.add_channel("inc-0002-db-is-failing")
    _setup(env, slack)
    arguments = (
        "--namespace", env.namespace,
        "--slack-app-secret", f"{env.namespace}/{APP_SECRET}",
        "--slack-api-url", slack.url,
    )  # fmt: skip
    log = env.directory / "operator.log"
    env.logs.append(log)
    operator = OperatorProcess(env.cluster.kubeconfig, log, extra_args=arguments).start()
    try:
        env.apply(incident("api", "P0"))
        body = env.wait_for(
            "api",
            lambda b: _settled(b, 2) and all_sent(b, 1),
            "the channel, both cards and the notifications",
            operator,
        )
        channel = _chat(body)["channel"]
        assert channel["name"] == "inc-0001-api-is-failing"
        own = slack.channel_named(channel["name"])
        assert own is not None
        assert own.id == channel["id"]
        assert own.topic == f"P0 · commander: unassigned · Investigating · bridge: {BRIDGE}"
        assert own.members == [DANA]
        cards = _cards(body)
        assert set(cards) == {own.id, critical.id}
        # The card in the incident channel shows the bridge; both show the ID and severity.
        own_card = slack.messages_in(own.id)
        assert len(own_card) == 1
        assert BRIDGE in json.dumps(own_card[0].blocks)
        in_critical = slack.messages_in(critical.id)
        card_ts = cards[critical.id]["ts"]
        assert in_critical[0].ts == card_ts
        assert in_critical[0].thread_ts is None
        assert "[P0] INC-0001: api is failing" in in_critical[0].text
        # Every notification is a reply in the card's thread, none a card of its own.
        replies = in_critical[1:]
        assert replies
        assert all(m.thread_ts == card_ts for m in replies)
        assert len(replies) == len((body.get("status") or {}).get("notifications") or [])
        # The escalation template names the incident's channel.
        assert f"#{channel['name']}" in json.dumps([m.blocks for m in replies])

        run_plugin(env.cluster.kubeconfig, env.namespace, "ack", "INC-0001")
        patch_incident(env.kubectl, env.namespace, "api", severity="P1")
        env.wait_for(
            "api",
            lambda b: "P1" in (slack.channel_named(channel["name"]) or own).topic,
            "the topic shows the new severity",
            operator,
        )

        def card_shows_p1() -> list[FakeMessage] | None:
            found = slack.messages_in(critical.id)
            return [m for m in found if m.ts == card_ts and "[P1]" in m.text] or None

        updated = wait_until(
            card_shows_p1,
            timeout=20,
            what="the card updated in place",
            detail=lambda: f"{slack.calls[-6:]}\n{operator.log_tail(30)}",
        )
        assert "Acknowledged by" in json.dumps(updated[0].blocks)
        updates = slack.calls_of("chat.update")
        assert {c.arguments["ts"] for c in updates} <= {m["ts"] for m in cards.values()}
        # Still one card per channel: updated, never posted again.
        assert [m for m in slack.messages_in(critical.id) if m.thread_ts is None] == updated
        assert len(slack.messages_in(own.id)) == 1

        # The second incident's channel exists already: adopted, not created twice.
        env.apply(incident("db", "P1"))
        db = env.wait_for("db", lambda b: _settled(b, 2), "db's channel and cards", operator)
        assert _chat(db)["channel"]["id"] == left_behind.id
        # A P1: its card in #incident-high (the level's channel), none in #incident-critical.
        assert set(_cards(db)) == {left_behind.id, high.id}
        created = [c.arguments["name"] for c in slack.calls_of("conversations.create")]
        assert created == ["inc-0001-api-is-failing", "inc-0002-db-is-failing"]

        # Closed (merged into api), then archived archiveAfter later, with nothing else
        # happening to it.
        run_plugin(env.cluster.kubeconfig, env.namespace, "merge", "api", "db")
        closed = env.wait_for(
            "db",
            lambda b: (_chat(b).get("channel") or {}).get("archivedAt"),
            "db's channel archived",
            operator,
        )
        assert left_behind.archived
        assert _chat(closed)["channel"]["archivedAt"] >= closed["status"]["closedAt"]
        assert not (slack.channel_named(channel["name"]) or own).archived
        # Slack refusing (a scope the app lacks) is an Event; the incident pass goes on.
        slack.refuse("chat.update", "missing_scope")
        patch_incident(env.kubectl, env.namespace, "api", severity="P2")
        env.wait_for(
            "api",
            lambda b: any(
                e["type"] == "SeverityChanged" and "P2" in e["message"]
                for e in b["status"]["timeline"]
            ),
            "the severity change recorded although Slack refuses",
            operator,
        )
        refused = wait_until(
            lambda: [e for e in env.events() if e["reason"] == "ChatFailed"] or None,
            timeout=20,
            what="a ChatFailed Event",
        )
        assert "chat.update: missing_scope" in refused[0]["message"]

        # A restart repeats nothing: the card the refusal left stale is updated in place,
        # no channel or card is created again.
        slack.allow("chat.update")
        operator.stop()
        operator = OperatorProcess(env.cluster.kubeconfig, log, extra_args=arguments).start()

        def card_shows_p2() -> list[FakeMessage] | None:
            found = slack.messages_in(critical.id)
            return [m for m in found if m.ts == card_ts and "[P2]" in m.text] or None

        wait_until(
            card_shows_p2,
            timeout=20,
            what="the stale card updated after the restart",
        )
        assert len(slack.calls_of("conversations.create")) == 2
        assert [m.ts for m in slack.messages_in(critical.id) if m.thread_ts is None] == [card_ts]
        assert len(slack.messages_in(own.id)) == 1
        # The bot token went only to Slack, in the Authorization header.
        assert {c.authorization for c in slack.calls} == {f"Bearer {BOT_TOKEN}"}
        env.assert_no_secret("api", "db", also={"bot-token": BOT_TOKEN})
    finally:
        operator.stop()


def test_without_the_slack_app_a_policy_using_it_is_told_so(env: EscalationEnv) -> None:
    env.apply_policy(
        channels=[{"name": "app-critical", "type": "slackApp", "chatChannel": f"#{CRITICAL}"}],
        escalation={
            "steps": [
                {
                    "severities": ["P0"],
                    "after": "0s",
                    "targets": [{"name": "Primary", "method": "pager"}],
                    "channel": "app-critical",
                }
            ]
        },
        chat={"incidentChannel": {}},
    )
    with env.operator() as operator:
        env.apply(incident("api", "P0"))
        body = env.wait_for(
            "api",
            lambda b: any(r["state"] == "Failed" for r in b["status"].get("notifications", [])),
            "the slackApp notifications given up",
            operator,
        )
        failed = [r for r in body["status"]["notifications"] if r["state"] == "Failed"]
        assert all("--slack-app-secret" in r["error"] for r in failed)
        told = wait_until(
            lambda: [e for e in env.events() if e["reason"] == "SlackAppNotConfigured"] or None,
            timeout=20,
            what="a SlackAppNotConfigured Event",
        )
        policy = env.wait_for(
            "team",
            lambda b: any(c["type"] == "ChatReady" for c in b["status"].get("conditions", [])),
            "the policy's ChatReady condition",
            operator,
            kind="escalationpolicy",
        )
    assert "--slack-app-secret" in told[0]["message"]
    assert "chat" not in body["status"]
    ready = next(c for c in policy["status"]["conditions"] if c["type"] == "ChatReady")
    assert ready["status"] == "False"
    assert ready["reason"] == "SlackAppNotConfigured"
    assert "--slack-app-secret" in ready["message"]


def test_a_card_and_a_reply_posted_but_not_recorded_before_a_kill_are_not_posted_again(
    env: EscalationEnv, slack: FakeSlack
) -> None:
    critical = slack.add_channel(CRITICAL)
    _setup(env, slack)
    arguments = (
        "--namespace", env.namespace,
        "--slack-app-secret", f"{env.namespace}/{APP_SECRET}",
        "--slack-api-url", slack.url,
        # Short, so the notifications claimed by a killed operator are claimed again soon.
        "--send-timeout", "2",
    )  # fmt: skip
    log = env.directory / "operator.log"
    env.logs.append(log)

    def restart_after_held(operator: OperatorProcess) -> OperatorProcess:
        """Kills ``operator`` once Slack took the held call (its answer never reaches the
        operator, which so never records it), then starts another."""
        assert slack.held.wait(timeout=30), operator.log_tail(30)
        operator.stop(kill=True)
        slack.release()
        return OperatorProcess(env.cluster.kubeconfig, log, extra_args=arguments)

    # The first card (in the incident's own channel) reaches Slack; the operator is
    # killed before it can record it.
    slack.hold("chat.postMessage")
    operator = OperatorProcess(env.cluster.kubeconfig, log, extra_args=arguments).start()
    try:
        env.apply(incident("api", "P0"))
        operator = restart_after_held(operator)
        body = env.get("api")
        channel = _chat(body)["channel"]
        assert not _cards(body), "the card was recorded: the kill came too late"
        own = slack.channel_named(channel["name"])
        assert own is not None
        lost = slack.messages_in(own.id)
        assert len(lost) == 1
        # The next operator posts the first reply in the card's thread (the escalation
        # claimed by the killed one, claimed again when its lease ran out) and is killed
        # before recording it Sent.
        slack.hold("chat.postMessage", when=lambda arguments: "thread_ts" in arguments)
        operator = restart_after_held(operator.start())
        # The held reply reached Slack (the declaration's and the escalation's replies are
        # sent side by side, so another may have too); none is posted again below.
        posted = [m for m in slack.messages_in(critical.id) if m.thread_ts is not None]
        assert posted

        operator.start()
        body = env.wait_for(
            "api",
            lambda b: _settled(b, 2) and all_sent(b, 1),
            "both cards recorded and the notifications sent after the restarts",
            operator,
        )
        # Adopted: the card the first operator posted is the one recorded, and it was
        # brought up to date in place (and the channel's topic set).
        assert _cards(body)[own.id]["ts"] == lost[0].ts
        assert [m.ts for m in slack.messages_in(own.id)] == [lost[0].ts]
        assert [c.arguments["ts"] for c in slack.calls_of("chat.update")][:1] == [lost[0].ts]
        assert own.topic.startswith("P0 · commander: unassigned")
        looked = [c.arguments["channel"] for c in slack.calls_of("conversations.history")]
        # Each operator looked before posting in a channel with no card recorded.
        assert looked == [own.id, own.id, critical.id]
        # One card per channel, posted once each.
        cards = [c for c in slack.calls_of("chat.postMessage") if "thread_ts" not in c.arguments]
        assert sorted(c.arguments["channel"] for c in cards) == sorted([own.id, critical.id])
        assert all(c.arguments["metadata"]["event_type"] == "incident_card" for c in cards)
        in_critical = slack.messages_in(critical.id)
        top_level = [m.ts for m in in_critical if m.thread_ts is None]
        assert top_level == [_cards(body)[critical.id]["ts"]]
        # Each notification once in the thread: the reply the killed operator posted was
        # found by its key when the record was claimed again, not posted a second time.
        replies = [m for m in in_critical if m.thread_ts is not None]
        assert replies[0].ts == posted[0].ts
        keys = [(m.metadata or {}).get("event_payload", {}).get("idempotency_key") for m in replies]
        assert len(set(keys)) == len(keys) == len(body["status"]["notifications"])
        assert slack.calls_of("conversations.replies")
    finally:
        slack.release()
        operator.stop()
