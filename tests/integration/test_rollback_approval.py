"""Approving a rollback: who may (the API server decides), and approvals that do nothing."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.rollback_support import (
    APPROVE,
    APPROVE_PROPOSAL,
    approve,
    build_history,
    get,
    incident,
    let_approve,
    manifest,
    plugin,
    rollback_of,
    timeline_types,
    user_kubeconfig,
    wait_rollback,
)

WEB = ("Deployment", "web")


@pytest.fixture(autouse=True)
def _approval_policy_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _annotations(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    found: dict[str, str] = get(kubectl, "Incident", namespace, name)["metadata"].get(
        "annotations", {}
    )
    return found


def _warning_events(kubectl: Kubectl, namespace: str, reason: str) -> list[str]:
    events = json.loads(
        kubectl(
            "get", "events", "-n", namespace, "--field-selector", f"reason={reason}", "-o", "json"
        ).stdout
    )["items"]
    return [e["message"] for e in events if e["type"] == "Warning"]


def test_the_api_server_refuses_approvals_by_outsiders_and_in_other_names(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "alice", "bob")
    incident(kubectl, namespace, "outage", target=WEB)
    wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)

    outsider = approve(kubectl, namespace, "outage", user="bob", groups=(), check=False)
    assert outsider.returncode != 0
    assert (
        "only members of group incident-approvers may approve rollbacks of this incident; "
        "bob is not one" in outsider.stderr
    )
    forged = approve(kubectl, namespace, "outage", user="bob", as_user="alice", check=False)
    assert forged.returncode != 0
    assert "approve-rollback must be your own user name (alice), not bob" in forged.stderr
    # Redirecting someone's approval to another proposal takes the group too.
    redirected = kubectl(
        "annotate",
        "incident",
        "outage",
        "-n",
        namespace,
        f"{APPROVE_PROPOSAL}=0123456789ab",
        as_user="bob",
        check=False,
    )
    assert redirected.returncode != 0
    assert "only members of group incident-approvers" in redirected.stderr
    assert APPROVE not in _annotations(kubectl, namespace, "outage")
    assert rollback_of(kubectl, namespace, "outage")["phase"] == "Proposed"

    # The group is the governing policy's: the operator publishes it for the policy.
    policy = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"default": True, "rollback": {"approverGroup": "sre-leads"}},
    }
    kubectl("apply", "-f", "-", input=json.dumps(policy))
    wait_until(
        lambda: rollback_of(kubectl, namespace, "outage").get("approverGroup") == "sre-leads",
        what="the policy's approver group in status.rollback",
        timeout=60,
        detail=operator.log_tail,
    )
    former = approve(kubectl, namespace, "outage", user="alice", check=False)
    assert "only members of group sre-leads may approve" in former.stderr
    approve(kubectl, namespace, "outage", user="bob", groups=("sre-leads",))
    done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "bob"
    # Consumed: the operator removed the approval once it had recorded it.
    wait_until(
        lambda: APPROVE not in _annotations(kubectl, namespace, "outage"),
        what="the approval annotation to be cleared",
        timeout=30,
    )
    timeline = get(kubectl, "Incident", namespace, "outage")["status"]["timeline"]
    (approval,) = [e for e in timeline if e["type"] == "RollbackApproved"]
    assert approval["actor"] == "bob"
    assert approval["message"] == (
        "rollback of Deployment/web from revision 2 to revision 1 approved by bob"
    )
    assert approval["time"] == done["approvedAt"]


def test_approvals_that_do_nothing_say_why(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "alice")
    before = get(kubectl, "Deployment", namespace, "web")

    # Before any proposal: an incident with nothing to roll back.
    incident(kubectl, namespace, "early")
    approve(kubectl, namespace, "early")

    def cleared(name: str) -> bool:
        return APPROVE not in _annotations(kubectl, namespace, name)

    wait_until(lambda: cleared("early"), what="the early approval to be cleared", timeout=30)
    assert "ApprovalIgnored" in timeline_types(kubectl, namespace, "early")
    assert any(
        "approval by alice ignored: no rollback is proposed for this incident" in message
        for message in _warning_events(kubectl, namespace, "ApprovalIgnored")
    )
    assert "rollback" not in get(kubectl, "Incident", namespace, "early")["status"]

    # Naming a proposal that has since moved: a hotfix rolled out after alice looked.
    incident(kubectl, namespace, "late", target=WEB)
    seen = wait_rollback(kubectl, namespace, "late", "Proposed", operator.log_tail)
    assert seen["proposal"]
    hotfix = manifest("Deployment", "web", revision=3)
    k8s.AppsV1Api(k8s_api).patch_namespaced_deployment(
        "web", namespace, {"spec": {"template": hotfix["spec"]["template"]}}
    )

    def moved_to_hotfix() -> dict[str, Any] | None:
        found = rollback_of(kubectl, namespace, "late")
        at_hotfix = (found.get("phase"), found.get("currentRevision")) == ("Proposed", 3)
        return found if at_hotfix else None

    moved = wait_until(
        moved_to_hotfix,
        what="the proposal to move to the hotfix (revision 3)",
        timeout=60,
        detail=operator.log_tail,
    )
    assert moved["proposal"] != seen["proposal"]
    hotfixed = get(kubectl, "Deployment", namespace, "web")
    approve(kubectl, namespace, "late", proposal=seen["proposal"])
    wait_until(lambda: cleared("late"), what="the mismatched approval to be cleared", timeout=30)
    assert APPROVE_PROPOSAL not in _annotations(kubectl, namespace, "late")
    rollback = rollback_of(kubectl, namespace, "late")
    assert rollback["phase"] == "Proposed"
    assert rollback["reason"] == "ApprovalMismatch"
    why = (
        f"approval by alice ignored: it approves proposal {seen['proposal']}, but the current "
        f"proposal is {moved['proposal']} (roll back Deployment/web from revision 3 to "
        "revision 2)"
    )
    assert why in rollback["message"]
    assert any(why in message for message in _warning_events(kubectl, namespace, "ApprovalIgnored"))
    condition = next(
        c
        for c in get(kubectl, "Incident", namespace, "late")["status"]["conditions"]
        if c["type"] == "RolledBack"
    )
    assert (condition["status"], condition["reason"]) == ("False", "ApprovalMismatch")
    after = get(kubectl, "Deployment", namespace, "web")
    assert after["spec"]["template"] == hotfixed["spec"]["template"]
    assert after["metadata"]["generation"] == hotfixed["metadata"]["generation"]
    assert before["metadata"]["generation"] < after["metadata"]["generation"]


def test_the_api_server_refuses_an_approval_that_names_no_proposal(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "alice", "bob")
    incident(kubectl, namespace, "outage", target=WEB)
    proposal = wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)

    plain = approve(kubectl, namespace, "outage", proposal=None, check=False)
    assert plain.returncode != 0
    assert (
        "sre.agentos.io/approve-rollback must name the proposal it approves: use "
        "`kubectl incident approve-rollback INCIDENT`, or set "
        "sre.agentos.io/approve-rollback-proposal to status.rollback.proposal in the same "
        "request"
    ) in plain.stderr
    # Naming the proposal for someone else's approval is refused too, group or not.
    for_alice = kubectl(
        "annotate",
        "incident",
        "outage",
        "-n",
        namespace,
        f"{APPROVE}=alice",
        f"{APPROVE_PROPOSAL}={proposal['proposal']}",
        as_user="bob",
        as_groups=("incident-approvers",),
        check=False,
    )
    assert for_alice.returncode != 0
    assert "approve-rollback must be your own user name (bob), not alice" in for_alice.stderr
    assert APPROVE not in _annotations(kubectl, namespace, "outage")

    # The documented manual form: both annotations in one request.
    approve(kubectl, namespace, "outage", proposal=proposal["proposal"])
    done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
    assert (done["approvedBy"], done["proposal"]) == ("alice", proposal["proposal"])


def test_approve_rollback_with_the_plugin(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
    tmp_path: Path,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "carol")
    carol = user_kubeconfig(cluster, kubectl, tmp_path, "carol", ["incident-approvers"])
    incident(kubectl, namespace, "quiet")
    wait_until(
        lambda: get(kubectl, "Incident", namespace, "quiet").get("status", {}).get("id"),
        what="an incident ID",
        timeout=30,
    )
    nothing = plugin(carol, namespace, "approve-rollback", "quiet", check=False)
    assert nothing.returncode == 1
    assert "has no rollback proposal" in nothing.stderr
    assert """{"spec":{"rollback":{"target":""" in nothing.stderr

    incident(kubectl, namespace, "outage", affected=[WEB])
    proposal = wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
    assert proposal["source"] == "RecentRevision", "proposed from the recent revision alone"
    incident_id = get(kubectl, "Incident", namespace, "outage")["status"]["id"]
    shown = plugin(cluster.kubeconfig, namespace, "show", incident_id).stdout
    assert "Rollback:        Proposed  Deployment/web  revision 2 -> 1" in shown
    assert f"  proposal {proposal['proposal']}" in shown
    assert "container app: image registry.invalid/shop:1.1.0 -> registry.invalid/shop:1.0.0" in (
        shown
    )
    assert f"approve: kubectl incident approve-rollback {incident_id}" in shown

    # The cluster's admin is not an approver: the API server says so.
    admin = plugin(cluster.kubeconfig, namespace, "approve-rollback", incident_id, check=False)
    assert admin.returncode == 1
    assert "only members of group incident-approvers may approve" in admin.stderr

    approved = plugin(carol, namespace, "approve-rollback", incident_id)
    # What is approved is printed before it is approved, then the approval.
    assert approved.stdout.splitlines()[0] == (
        f"{incident_id}: approving proposal {proposal['proposal']}: roll back Deployment/web "
        "from revision 2 to revision 1"
    )
    assert approved.stdout.splitlines()[-1] == (
        f"{incident_id}: approved rolling back Deployment/web from revision 2 to revision 1 "
        "as carol"
    )
    assert (
        "  container app: image registry.invalid/shop:1.1.0 -> registry.invalid/shop:1.0.0"
        in approved.stdout.splitlines()
    )
    done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "carol"
    image = get(kubectl, "Deployment", namespace, "web")["spec"]["template"]["spec"]["containers"]
    assert image[0]["image"] == "registry.invalid/shop:1.0.0"
    again = plugin(carol, namespace, "approve-rollback", incident_id, check=False)
    assert again.returncode == 1
    assert "the rollback was already approved by carol (it is Succeeded)" in again.stderr


def test_of_two_concurrent_plugin_approvals_exactly_one_succeeds(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
    tmp_path: Path,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "carol", "dave")
    people = {
        user: user_kubeconfig(cluster, kubectl, tmp_path, user, ["incident-approvers"])
        for user in ("carol", "dave")
    }
    incident(kubectl, namespace, "outage", target=WEB)
    wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
    incident_id = wait_until(
        lambda: get(kubectl, "Incident", namespace, "outage").get("status", {}).get("id"),
        what="an incident ID",
        timeout=30,
    )

    with ThreadPoolExecutor(max_workers=2) as pool:
        command = ("approve-rollback", incident_id)
        runs = {
            user: pool.submit(plugin, config, namespace, *command, check=False)
            for user, config in people.items()
        }
        results = {user: run.result() for user, run in runs.items()}
    winners = [user for user, result in results.items() if result.returncode == 0]
    assert len(winners) == 1, {user: (r.stdout, r.stderr) for user, r in results.items()}
    (winner,) = winners
    (loser,) = set(people) - {winner}
    assert results[winner].stdout.splitlines()[-1].endswith(f"as {winner}")
    assert results[loser].returncode == 1
    assert "approved rolling back" not in results[loser].stdout
    assert f"the rollback was already approved by {winner}" in results[loser].stderr
    done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == winner
    timeline = get(kubectl, "Incident", namespace, "outage")["status"]["timeline"]
    assert [e["actor"] for e in timeline if e["type"] == "RollbackApproved"] == [winner]
    assert "ApprovalIgnored" not in [e["type"] for e in timeline], "the loser wrote nothing"
