"""Acting from Slack over real HTTP: the card's buttons (POST /slack/interactions) and the
``/incident`` slash command (POST /slack/commands), signed as Slack signs them, performed
by the real operator impersonating the Kubernetes user the policy maps the member to.

The operator runs as the chart's own ServiceAccount with the chart's RBAC rendered by
helm, impersonation included (slackApp.impersonate lists Dana, Erin and the approver
group), so the API server checks that the operator may act as them. The shipped
admission policies are in force: the changed-by and acknowledged-by annotations being
the person's own name proves the API server saw the person; Erin, outside the approver
group, pressing Approve rollback is refused by the rollback-approval policy. Answers are
posted to the press's response_url (FakeSlack keeps them) or returned in the command's
HTTP response.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, policy_manifest
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.helm import render
from tests.integration.rollback_support import build_history, rollback_of, wait_rollback
from tests.support.intake_http import free_port, post_json
from tests.support.slack_api import FakeSlack
from tests.support.slack_signing import button_press, signed_headers, slash_command

from incident_operator.adapters.client_transport import impersonating

pytestmark = pytest.mark.timeout(240)

SIGNING_SECRET = secrets.token_hex(16)
CHANNEL = "C0INC0007"
DANA, DANA_USER = "U0DANA01", "dana@example.com"
ERIN, ERIN_USER = "U0ERIN01", "erin@example.com"
CAROL = "U0CAROL1"  # in Slack, in no policy's contacts
FRANK, FRANK_USER = "U0FRANK1", "frank@example.com"  # mapped; the chart does not list him
APPROVERS = "incident-approvers"
INCIDENT = "checkout"
RELEASE = "slack-incident-operator"
RBAC_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Chat:
    namespace: str
    url: str
    api: k8s.CustomObjectsApi
    slack: FakeSlack
    process: OperatorProcess

    def incident(self) -> dict[str, Any]:
        body: dict[str, Any] = self.api.get_namespaced_custom_object(
            "sre.agentos.io", "v1alpha1", self.namespace, "incidents", INCIDENT
        )
        return body

    def post(self, path: str, body: bytes, **signing: Any) -> tuple[int, dict[str, Any]]:
        headers = signed_headers(body, signing.pop("secret", SIGNING_SECRET), **signing)
        return post_json(self.url + path, body, FORM | headers)

    def press(self, user: str, action_id: str, value: str) -> str:
        """Presses a card button as ``user``; the answer posted to its response_url."""
        key = secrets.token_hex(4)
        body = button_press(user, CHANNEL, action_id, value, self.slack.response_url(key))
        assert self.post("/slack/interactions", body) == (200, {})
        answers = wait_until(
            lambda: self.slack.responses_to(key),
            what=f"the answer to {action_id}",
            timeout=20,
            detail=self.process.log_tail,
        )
        assert answers[0]["response_type"] == "ephemeral"
        text: str = answers[0]["text"]
        return text

    def command(self, user: str, text: str, channel: str = CHANNEL) -> str:
        """Types ``/incident {text}`` as ``user``; the ephemeral answer."""
        key = secrets.token_hex(4)
        body = slash_command(user, channel, text, self.slack.response_url(key))
        status, answer = self.post("/slack/commands", body)
        assert (status, answer["response_type"]) == (200, "ephemeral"), answer
        said: str = answer["text"]
        if said == "Working on it…":
            # Longer than Slack's 3 s: the outcome comes to the command's response_url.
            later = wait_until(
                lambda: self.slack.responses_to(key),
                what=f"the answer to /incident {text}",
                timeout=30,
                detail=self.process.log_tail,
            )
            assert later[0]["response_type"] == "ephemeral"
            said = later[0]["text"]
        return said


def _operator_kubeconfig(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, path: Path
) -> Path:
    """A kubeconfig for the chart's ServiceAccount (a token from the TokenRequest API)."""
    token = kubectl("create", "token", RELEASE, "-n", namespace, "--duration=1h").stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def chat(
    cluster: ClusterInfo,
    k8s_api: k8s.ApiClient,
    kubectl: Kubectl,
    admission_policies: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Chat]:
    core = k8s.CoreV1Api(k8s_api)
    namespace = f"t-slackact-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="slack-app"),
            string_data={"bot-token": "xoxb-test", "signing-secret": SIGNING_SECRET},
        ),
    )
    # The chart's RBAC for this release, impersonation of Dana, Erin and the approvers.
    # The shared incident-responder role stays the session's (admission_policies applies it).
    rendered = render(
        "--set",
        "rbac.responderRole=false",
        "--set",
        "slackApp.secretName=slack-app",
        "--set",
        f"slackApp.impersonate.users={{{DANA_USER},{ERIN_USER}}}",
        "--set",
        f"slackApp.impersonate.groups={{{APPROVERS}}}",
        release=RELEASE,
        namespace=namespace,
    )
    rbac = [m for m in rendered if m["kind"] in RBAC_KINDS]
    assert any(m["metadata"]["name"].endswith("-slack-impersonation") for m in rbac)
    cluster_scoped = [m for m in rbac if m["kind"].startswith("Cluster")]
    assert all(m["metadata"]["name"].startswith(RELEASE) for m in cluster_scoped)
    kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": rbac})
    )
    # The responders may run incidents in the namespace (the shipped role).
    kubectl(
        "create", "rolebinding", "responders", "-n", namespace,
        "--clusterrole=incident-responder", f"--user={DANA_USER}", f"--user={ERIN_USER}",
    )  # fmt: skip
    dana = {"name": "Dana", "user": DANA_USER, "groups": [APPROVERS], "slack": {"mention": DANA}}
    erin = {"name": "Erin", "user": ERIN_USER, "slack": {"mention": f"@{ERIN}"}}
    frank = {"name": "Frank", "user": FRANK_USER, "slack": {"mention": FRANK}}
    policy = policy_manifest(
        "team",
        default=True,
        contacts=[
            {"role": "commander", "primary": dana},
            {"role": "on-call-primary", "primary": erin},
            {"role": "team-lead", "primary": frank},
        ],
    )
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=policy)
    directory = tmp_path_factory.mktemp("slackact")
    kubeconfig = _operator_kubeconfig(cluster, kubectl, namespace, directory / "kubeconfig")
    slack = FakeSlack().start()
    port = free_port()
    process = OperatorProcess(
        kubeconfig,
        directory / "operator.log",
        extra_args=(
            "--namespace", namespace,
            "--alertmanager-listen", f"127.0.0.1:{port}",
            "--slack-app-secret", f"{namespace}/slack-app",
            "--slack-api-url", slack.url,
        ),
    )  # fmt: skip
    api = k8s.CustomObjectsApi(k8s_api)
    chat = Chat(namespace, f"http://127.0.0.1:{port}", api, slack, process)
    try:
        process.start()
        create_incident(kubectl, namespace, INCIDENT, severity="P2")
        wait_until(
            lambda: (chat.incident().get("status") or {}).get("id"),
            what="the incident decided once",
            timeout=30,
            detail=process.log_tail,
        )
        channel = {"id": CHANNEL, "name": "inc-0001-checkout", "createdAt": "2026-01-01T00:00:00Z"}
        api.patch_namespaced_custom_object_status(
            "sre.agentos.io", "v1alpha1", namespace, "incidents", INCIDENT,
            {"status": {"chat": {"channel": channel}}},
        )  # fmt: skip
        yield chat
    finally:
        process.stop()
        slack.close()
        for manifest in cluster_scoped:
            kubectl("delete", manifest["kind"], manifest["metadata"]["name"], check=False)
        core.delete_namespace(namespace, propagation_policy="Background")


def _key(chat: Chat) -> str:
    return f"{chat.namespace}/{INCIDENT}"


def _annotations(chat: Chat) -> dict[str, str]:
    return dict(chat.incident()["metadata"].get("annotations") or {})


def test_an_ack_button_pressed_by_a_mapped_member_acknowledges_as_their_user(
    chat: Chat, k8s_api: k8s.ApiClient
) -> None:
    answer = chat.press(DANA, "incident-ack", _key(chat))
    incident_id = chat.incident()["status"]["id"]
    assert answer == f"{incident_id} acknowledged by {DANA_USER}"
    annotations = _annotations(chat)
    # The identity admission policy lets these through only when they name the requester.
    assert annotations["sre.agentos.io/acknowledged-by"] == DANA_USER
    assert annotations["sre.agentos.io/changed-by"] == DANA_USER
    managers = [f["manager"] for f in chat.incident()["metadata"]["managedFields"]]
    assert "incident-operator-slack" in managers
    # The API server's view of the impersonating client: Dana, in the approver group.
    acting = impersonating(k8s_api, DANA_USER, [APPROVERS])
    review: Any = k8s.AuthenticationV1Api(acting).create_self_subject_review(
        k8s.V1SelfSubjectReview()
    )
    assert review.status.user_info.username == DANA_USER
    assert APPROVERS in review.status.user_info.groups
    # Pressed again: nothing more is written.
    assert chat.press(DANA, "incident-ack", _key(chat)) == f"already acknowledged by {DANA_USER}"


def test_slash_commands_post_an_update_and_change_the_state_as_the_mapped_user(
    chat: Chat,
) -> None:
    said = chat.command(ERIN, "update rolled back web to v41, watching errors")
    assert said.endswith("update posted (1 in all)"), said
    update = chat.incident()["spec"]["updates"][-1]
    assert (update["author"], update["message"]) == (
        ERIN_USER,
        "rolled back web to v41, watching errors",
    )
    # Outside the incident's channel the incident is named.
    incident_id = chat.incident()["status"]["id"]
    said = chat.command(ERIN, f"state {incident_id} identified", channel="C0RANDOM1")
    assert said == f"{incident_id}: state Identified"
    incident = chat.incident()
    assert incident["spec"]["state"] == "Identified"
    assert incident["metadata"]["annotations"]["sre.agentos.io/changed-by"] == ERIN_USER
    said = chat.press(ERIN, "incident-commander", _key(chat))
    assert said == f"{incident_id}: commander is {ERIN_USER}"
    assert chat.incident()["spec"]["roles"]["commander"] == ERIN_USER
    # Declared from any channel, in the Slack app Secret's namespace, as Dana.
    said = chat.command(DANA, "declare P3 Search is slow", channel="C0RANDOM1")
    name = said.split()[0]
    assert said == f"{name} declared as {DANA_USER}; the operator assigns its ID"
    declared = chat.api.get_namespaced_custom_object(
        "sre.agentos.io", "v1alpha1", chat.namespace, "incidents", name
    )
    assert declared["spec"]["title"] == "Search is slow"
    assert declared["metadata"]["annotations"]["sre.agentos.io/changed-by"] == DANA_USER
    assert chat.command(ERIN, "ack", channel="C0RANDOM1").startswith(
        "This is not an incident's channel"
    )
    assert chat.command(ERIN, "frobnicate").startswith("Usage: /incident declare")


def test_unmapped_members_bad_signatures_old_timestamps_and_non_approvers_write_nothing(
    chat: Chat, kubectl: Kubectl, k8s_api: k8s.ApiClient
) -> None:
    before = chat.incident()
    said = chat.command(CAROL, "severity P0")
    assert said.startswith(f"Your Slack account ({CAROL}) is not mapped"), said
    assert f"EscalationPolicy {chat.namespace}/team" in said
    assert chat.press(CAROL, "incident-commander", _key(chat)).startswith("Your Slack account")
    # Mapped, but the operator may not impersonate him (not in slackApp.impersonate.users).
    said = chat.press(FRANK, "incident-commander", _key(chat))
    assert said.startswith(f"The operator is not allowed to act as {FRANK_USER}"), said
    assert "slackApp.impersonate.users" in said
    body = slash_command(DANA, CHANNEL, "severity P0", chat.slack.response_url("forged"))
    refused = [
        chat.post("/slack/commands", body, secret="not-the-signing-secret"),
        chat.post("/slack/commands", body, timestamp=int(time.time()) - 360),
        post_json(chat.url + "/slack/interactions", body, FORM),
    ]
    assert [status for status, _ in refused] == [401, 401, 401]
    # Erin (no approver group) presses Approve rollback on a proposal awaiting approval.
    build_history(kubectl, k8s_api, "Deployment", chat.namespace, "web", revisions=2)
    web = {"kind": "Deployment", "name": "web"}
    request = {"affected": [web], "rollback": {"target": web}}
    kubectl(
        "patch", "incident", INCIDENT, "-n", chat.namespace, "--type=merge",
        "-p", json.dumps({"spec": request}),
    )  # fmt: skip
    proposal = wait_rollback(
        kubectl, chat.namespace, INCIDENT, "Proposed", detail=chat.process.log_tail
    )["proposal"]
    before = chat.incident()
    answer = chat.press(ERIN, "incident-approve-rollback", f"{_key(chat)}/{proposal}")
    assert f"only members of group {APPROVERS}" in answer, answer
    after = chat.incident()
    assert after["spec"] == before["spec"]
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert chat.slack.responses_to("forged") == []
    # Dana, in the approver group, approves the proposal she was shown.
    answer = chat.press(DANA, "incident-approve-rollback", f"{_key(chat)}/{proposal}")
    assert "approved rolling back Deployment/web" in answer, answer
    assert answer.endswith(f"as {DANA_USER}"), answer
    approver = wait_until(
        lambda: rollback_of(kubectl, chat.namespace, INCIDENT).get("approvedBy"),
        what="the approval recorded",
        timeout=30,
        detail=chat.process.log_tail,
    )
    assert approver == DANA_USER


def test_a_responder_resolves_from_chat_ticking_what_the_gate_holds(chat: Chat) -> None:
    """The runbook's pre-resolution verification from Slack: Resolved is held naming the
    open items, the responder ticks them with /incident check, and Resolve resolves."""
    incident_id = chat.incident()["status"]["id"]
    said = chat.command(ERIN, "state Resolved")
    assert said.startswith(f"{incident_id}: Resolved is held, pre-resolution verification open: ")
    assert f"/incident check {incident_id} ITEM..." in said, said
    open_items = chat.incident()["status"]["resolution"]["openItems"]
    assert open_items
    assert f"verification open: {', '.join(open_items)}; tick them" in said, said
    said = chat.command(ERIN, "check " + " ".join(open_items))
    assert said == f"{incident_id}: ticked {', '.join(open_items)}"
    checklist = chat.incident()["spec"]["checklist"]
    assert all(checklist[item] is True for item in open_items)
    answer = chat.press(ERIN, "incident-resolve", _key(chat))
    assert answer.startswith(f"{incident_id}: resolved as {ERIN_USER}; phase "), answer
    assert chat.incident()["status"]["phase"] in ("Resolved", "PostIncident")
    assert chat.incident()["metadata"]["annotations"]["sre.agentos.io/changed-by"] == ERIN_USER
