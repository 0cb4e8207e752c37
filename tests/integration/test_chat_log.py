"""The chat log over real HTTP: Slack's signed Events API deliveries to /slack/events on
the real operator (one run for the module), logged in status.chat.log and told once in the
timeline as ChatLogged by the Kubernetes user the policy maps the Slack member to.

The incident's channel is recorded with a status patch, as the Slack app would have
recorded it when creating the channel; deliveries are built and signed as Slack builds
and signs them (tests/support/slack_signing.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, policy_manifest
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.support.intake_http import free_port, post_json
from tests.support.slack_signing import (
    encoded,
    event_callback,
    message_event,
    pin_added_event,
    signed_headers,
    url_verification,
)

pytestmark = pytest.mark.timeout(180)

SIGNING_SECRET = secrets.token_hex(16)
CHANNEL = "C0INC0042"
DANA = "U0DANA01"
DANA_USER = "dana@example.com"
INCIDENT = "checkout"


@dataclass
class ChatLog:
    namespace: str
    url: str
    api: k8s.CustomObjectsApi
    process: OperatorProcess

    def incident(self) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get_namespaced_custom_object(
            "sre.agentos.io", "v1alpha1", self.namespace, "incidents", INCIDENT
        )
        return body

    def log(self) -> list[dict[str, Any]]:
        chat = (self.incident().get("status") or {}).get("chat") or {}
        lines: list[dict[str, Any]] = chat.get("log") or []
        return lines

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return post_json(self.url, body, headers)

    def say(self, event: dict[str, Any], **signing: Any) -> tuple[int, dict[str, Any]]:
        body = encoded(event_callback(event))
        return self.post(body, signed_headers(body, SIGNING_SECRET, **signing))


_next_ts = iter(range(1, 1000))


def _ts() -> str:
    """A fresh Slack message ts, as Slack makes them (now, to the microsecond)."""
    return f"{int(time.time())}.{next(_next_ts):06d}"


@pytest.fixture(scope="module")
def chat(
    cluster: ClusterInfo,
    k8s_api: k8s.ApiClient,
    kubectl: Kubectl,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ChatLog]:
    """A namespace with the Slack app's Secret, a policy mapping Dana's Slack member ID to
    her Kubernetes user, the operator, and an incident whose channel is recorded."""
    core = k8s.CoreV1Api(k8s_api)
    namespace = f"t-chatlog-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="slack-app"),
            string_data={"bot-token": "xoxb-test", "signing-secret": SIGNING_SECRET},
        ),
    )
    dana = {"name": "Dana", "user": DANA_USER, "slack": {"mention": DANA}}
    policy = policy_manifest(
        "team", default=True, contacts=[{"role": "commander", "primary": dana}]
    )
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=policy)
    port = free_port()
    process = OperatorProcess(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("chatlog") / "operator.log",
        extra_args=(
            "--namespace",
            namespace,
            "--alertmanager-listen",
            f"127.0.0.1:{port}",
            "--slack-app-secret",
            f"{namespace}/slack-app",
            "--slack-api-url",
            "http://127.0.0.1:9/api/",
        ),
    ).start()
    api = k8s.CustomObjectsApi(k8s_api)
    log = ChatLog(namespace, f"http://127.0.0.1:{port}/slack/events", api, process)
    try:
        create_incident(kubectl, namespace, INCIDENT, severity="P2")
        wait_until(
            lambda: (log.incident().get("status") or {}).get("id"),
            what="the incident decided once",
            timeout=30,
            detail=process.log_tail,
        )
        channel = {"id": CHANNEL, "name": "inc-0001-checkout-is-down", "createdAt": _now()}
        api.patch_namespaced_custom_object_status(
            "sre.agentos.io",
            "v1alpha1",
            namespace,
            "incidents",
            INCIDENT,
            {"status": {"chat": {"channel": channel}}},
        )
        yield log
    finally:
        process.stop()
        core.delete_namespace(namespace, propagation_policy="Background")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _told(chat: ChatLog, ts: str) -> dict[str, Any]:
    """Waits for the ChatLogged timeline entry of line ``ts`` and returns it."""
    line = next(line for line in chat.log() if line["ts"] == ts)

    def entry() -> dict[str, Any] | None:
        timeline = chat.incident()["status"].get("timeline", [])
        found = [
            e
            for e in timeline
            if e["type"] == "ChatLogged"
            and (e["actor"], e["message"]) == (line["author"], line["text"])
        ]
        assert len(found) <= 1, found
        return found[0] if found else None

    told: dict[str, Any] = wait_until(
        entry, what=f"ChatLogged for {ts}", timeout=20, detail=chat.process.log_tail
    )
    return told


def _logged(chat: ChatLog, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """Says ``event`` until the operator knows the channel (its index follows the watch),
    then returns the answer that logged it."""

    def attempt() -> tuple[int, dict[str, Any]] | None:
        status, answer = chat.say(event)
        return (status, answer) if "ignored" not in answer else None

    answer: tuple[int, dict[str, Any]] = wait_until(
        attempt, what="the line logged", timeout=20, detail=chat.process.log_tail
    )
    return answer


def test_url_verification_is_answered_with_the_challenge(chat: ChatLog) -> None:
    body = encoded(url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    assert chat.post(body, signed_headers(body, SIGNING_SECRET)) == (
        200,
        {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
    )


def test_a_mapped_members_line_is_told_once_as_their_kubernetes_user(chat: ChatLog) -> None:
    ts = _ts()
    event = message_event(CHANNEL, DANA, "!log rolled back checkout to v41", ts)
    status, answer = _logged(chat, event)
    assert (status, answer["author"]) == (200, DANA_USER)
    told = _told(chat, ts)
    assert (told["actor"], told["message"]) == (DANA_USER, "rolled back checkout to v41")
    # Slack redelivers the same event (X-Slack-Retry-Num): nothing changes.
    before = chat.log()
    assert chat.say(event, retry=1) == (
        200,
        {"unchanged": f"{chat.namespace}/{INCIDENT}", "ts": ts},
    )
    assert chat.log() == before
    assert [line["ts"] for line in before].count(ts) == 1


def test_an_unmapped_member_is_logged_by_their_slack_id_and_a_pin_is_logged(
    chat: ChatLog,
) -> None:
    said = message_event(CHANNEL, "U0CAROL1", "!log cache flushed", _ts())
    assert _logged(chat, said)[1]["author"] == "slack:U0CAROL1"
    assert _told(chat, said["ts"])["message"] == "cache flushed"
    pinned = message_event(CHANNEL, DANA, "DB failover done, replica promoted", _ts())
    assert chat.say(message_event(CHANNEL, DANA, pinned["text"], pinned["ts"]))[1] == {
        "ignored": "not a line to log (no '!log' first)"
    }
    assert _logged(chat, pin_added_event(CHANNEL, "U0CAROL1", pinned))[1]["author"] == DANA_USER
    assert _told(chat, pinned["ts"])["message"] == "DB failover done, replica promoted"


def test_bad_signatures_old_timestamps_and_other_channels_write_nothing(chat: ChatLog) -> None:
    event = message_event(CHANNEL, DANA, "!log should never be logged", _ts())
    body = encoded(event_callback(event))
    before = chat.log()
    refused = [
        chat.post(body, signed_headers(body, "not-the-signing-secret")),
        chat.post(body, signed_headers(body, SIGNING_SECRET, timestamp=int(time.time()) - 360)),
        chat.post(body, {}),
    ]
    assert [status for status, _ in refused] == [401, 401, 401]
    elsewhere = message_event("C0RANDOM1", DANA, "!log elsewhere", _ts())
    assert chat.say(elsewhere) == (200, {"ignored": "channel C0RANDOM1 is no incident's channel"})
    assert chat.log() == before
    assert event["ts"] not in [line["ts"] for line in before]
