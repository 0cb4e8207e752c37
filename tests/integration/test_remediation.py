"""Remediations end to end on the local control plane, with the `scale` kind (the other
kinds have their own modules): request with the plugin, refusals (by the plugin, by the
operator, by the API server), approval, execution, verification, a killed operator, a
concurrent edit and concurrent approvals.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.remediation_support import (
    APPROVE,
    REMEDIATE,
    annotate_request,
    annotations,
    approve,
    approver,
    catalog_policy,
    open_incident,
    record,
    request,
    scale_entry,
    wait_phase,
    write_records,
)
from tests.integration.rollback_support import (
    get,
    let_approve,
    manifest,
    timeline_types,
    wait_rollout,
)


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _web(kubectl: Kubectl, namespace: str, replicas: int = 2) -> dict[str, Any]:
    kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(manifest("Deployment", "web", replicas=replicas)),
    )
    return wait_rollout(kubectl, "Deployment", namespace, "web")


def _replicas(kubectl: Kubectl, namespace: str) -> int:
    found: int = get(kubectl, "Deployment", namespace, "web")["spec"]["replicas"]
    return found


def test_request_approve_scale_and_succeed(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)

    requested = request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="0")
    assert (
        f"r1 Proposed: scale Deployment/web from 2 to 0 replicas (approve with: kubectl "
        f"incident approve {incident_id} r1)" in requested.stdout
    ), requested.stdout
    proposed = record(kubectl, namespace, "outage", "r1")
    assert proposed["approverGroup"] == "incident-approvers"
    assert proposed["parameters"] == {"replicas": "0"}
    assert _replicas(kubectl, namespace) == 2, "nothing happens before the approval"
    wait_until(
        lambda: REMEDIATE not in annotations(kubectl, namespace, "outage"),
        what="the request annotation to be removed",
        timeout=30,
    )

    approved = approve(alice, namespace, incident_id, "r1")
    assert "approved r1 as alice" in approved.stdout
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert done["previous"] == {"replicas": 2}
    assert done["attempt"]
    assert done["startedAt"] <= done["actedAt"]
    assert _replicas(kubectl, namespace) == 0
    wait_until(
        lambda: APPROVE not in annotations(kubectl, namespace, "outage"),
        what="the approval annotation to be removed",
        timeout=30,
    )
    types = timeline_types(kubectl, namespace, "outage")
    for expected in (
        "RemediationRequested",
        "RemediationProposed",
        "RemediationApproved",
        "RemediationStarted",
        "RemediationSucceeded",
    ):
        assert types.count(expected) == 1, (expected, types)
    shown = run_plugin(cluster.kubeconfig, namespace, "show", incident_id)
    assert "r1  Succeeded  kill-switch" in shown.stdout, shown.stdout


def test_bad_requests_are_refused_by_the_plugin_and_by_the_operator(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry(), scale_entry("p0-only", severities=["P0"])])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]

    # The plugin checks the catalog first, naming the allowed values; nothing is written.
    bad = request(
        cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="5", check=False
    )
    assert bad.returncode != 0
    assert "parameter replicas: '5' is not allowed; allowed values: 0, 1" in bad.stderr
    unknown = request(cluster.kubeconfig, namespace, incident_id, "restart-all", check=False)
    assert unknown.returncode != 0
    assert "has no remediation restart-all; its catalog: kill-switch, p0-only" in unknown.stderr
    assert REMEDIATE not in annotations(kubectl, namespace, "outage")

    # What the plugin cannot check (the severity) the operator refuses; the plugin says so.
    severity = request(
        cluster.kubeconfig, namespace, incident_id, "p0-only", replicas="0", check=False
    )
    assert severity.returncode != 0
    assert "r1 Refused" in severity.stdout
    refused = record(kubectl, namespace, "outage", "r1")
    assert refused["reason"] == "SeverityNotAllowed"
    assert "may be used for P0 incidents" in refused["message"]

    # Plain kubectl annotate bypasses the plugin: the operator checks the same things.
    cases = [
        (
            '{"remediation": "kill-switch", "parameters": {"replicas": "7"}}',
            "InvalidParameter",
            "allowed values: 0, 1",
        ),
        (
            '{"remediation": "restart-all"}',
            "UnknownRemediation",
            "the catalog has: kill-switch, p0-only",
        ),
        ("not json", "UnknownRemediation", "is not JSON"),
    ]
    for number, (body, reason, words) in enumerate(cases, start=2):
        wait_until(
            lambda: REMEDIATE not in annotations(kubectl, namespace, "outage"),
            what="the previous request to be consumed",
            timeout=30,
        )
        annotate_request(kubectl, namespace, "outage", body)
        found = wait_phase(kubectl, namespace, "outage", f"r{number}", "Refused", operator.log_tail)
        assert found["reason"] == reason
        assert words in found["message"], found["message"]
    assert record(kubectl, namespace, "outage", "r4")["remediation"] == "unknown"
    wait_until(
        lambda: REMEDIATE not in annotations(kubectl, namespace, "outage"),
        what="the last request to be consumed",
        timeout=30,
    )
    assert _replicas(kubectl, namespace) == 2
    events = json.loads(
        kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            "reason=RemediationRefused",
            "-o",
            "json",
        ).stdout
    )["items"]
    assert len(events) == 4
    assert all(e["type"] == "Warning" for e in events)


def test_the_api_server_refuses_requests_and_approvals_in_other_names_and_outsiders(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    let_approve(kubectl, namespace, "alice", "bob")
    forged_request = annotate_request(
        kubectl, namespace, "outage", '{"remediation": "kill-switch"}', user="bob", check=False
    )
    assert forged_request.returncode == 0  # bob's own request: allowed
    wait_phase(kubectl, namespace, "outage", "r1", "Refused", operator.log_tail)  # no replicas
    in_alices_name = kubectl(
        "annotate",
        "--overwrite",
        "incident",
        "outage",
        "-n",
        namespace,
        f"{REMEDIATE}={{}}",
        "sre.agentos.io/remediate-by=alice",
        as_user="bob",
        check=False,
    )
    assert in_alices_name.returncode != 0
    assert "set to your own user name (bob)" in in_alices_name.stderr

    request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="0")
    proposal = wait_phase(kubectl, namespace, "outage", "r2", "Proposed")["proposal"]

    def annotate_approval(
        user: str, value: str, groups: tuple[str, ...], target: str = "r2"
    ) -> Any:
        return kubectl(
            "annotate",
            "--overwrite",
            "incident",
            "outage",
            "-n",
            namespace,
            f"{APPROVE}={value}",
            f"sre.agentos.io/approve-remediation-request={target}:{proposal}",
            as_user=user,
            as_groups=groups,
            check=False,
        )

    outsider = annotate_approval("bob", "bob", ())
    assert outsider.returncode != 0
    assert (
        "only members of group incident-approvers may approve remediation r2; bob is not one"
        in (outsider.stderr)
    )
    forged = annotate_approval("alice", "bob", ("incident-approvers",))
    assert forged.returncode != 0
    assert "approve-remediation must be your own user name (alice)" in forged.stderr
    missing = annotate_approval("alice", "alice", ("incident-approvers",), target="r9")
    assert missing.returncode != 0
    assert "this incident has no remediation r9" in missing.stderr
    assert APPROVE not in annotations(kubectl, namespace, "outage")
    assert record(kubectl, namespace, "outage", "r2")["phase"] == "Proposed"

    # The group member approving in her own name names the proposal she saw.
    assert annotate_approval("alice", "alice", ("incident-approvers",)).returncode == 0
    done = wait_phase(kubectl, namespace, "outage", "r2", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert _replicas(kubectl, namespace) == 0


def test_an_approval_of_another_proposal_does_nothing_and_says_why(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    let_approve(kubectl, namespace, "alice")
    request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="0")
    first = wait_phase(kubectl, namespace, "outage", "r1", "Proposed")["proposal"]
    # Someone scales web to 3 meanwhile: the proposal is now "from 3 to 0".
    kubectl("scale", "deployment/web", "--replicas=3", "-n", namespace)
    changed = wait_until(
        lambda: (r := record(kubectl, namespace, "outage", "r1"))["proposal"] != first and r,
        what="the proposal to follow the workload",
        timeout=30,
        detail=operator.log_tail,
    )
    assert changed["summary"] == "scale Deployment/web from 3 to 0 replicas"
    kubectl(
        "annotate",
        "incident",
        "outage",
        "-n",
        namespace,
        f"{APPROVE}=alice",
        f"sre.agentos.io/approve-remediation-request=r1:{first}",
        as_user="alice",
        as_groups=("incident-approvers",),
    )
    ignored = wait_until(
        lambda: (
            (r := record(kubectl, namespace, "outage", "r1")).get("reason") == "ApprovalMismatch"
            and r
        ),
        what="the approval to be judged",
        timeout=30,
        detail=operator.log_tail,
    )
    assert ignored["phase"] == "Proposed"
    assert f"it approves proposal {first} of r1, but the current proposal is" in ignored["message"]
    assert "RemediationApprovalIgnored" in timeline_types(kubectl, namespace, "outage")
    wait_until(
        lambda: APPROVE not in annotations(kubectl, namespace, "outage"),
        what="the ignored approval to be removed",
        timeout=30,
    )
    assert _replicas(kubectl, namespace) == 3


def test_two_approvals_at_once_exactly_one_wins(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path, "alice")
    carol = approver(cluster, kubectl, namespace, tmp_path, "carol")
    request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="0")
    with ThreadPoolExecutor(2) as pool:
        results = list(
            pool.map(
                lambda config: approve(config, namespace, incident_id, "r1", check=False),
                [alice, carol],
            )
        )
    won = [r for r in results if r.returncode == 0]
    lost = [r for r in results if r.returncode != 0]
    assert len(won) == 1, [(r.stdout, r.stderr) for r in results]
    assert len(lost) == 1
    winner = "alice" if results[0] is won[0] else "carol"
    assert f"approved r1 as {winner}" in won[0].stdout
    assert winner in lost[0].stderr
    assert "already approved by" in lost[0].stderr or "is being recorded" in lost[0].stderr
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == winner
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 1


def _in_progress(kubectl: Kubectl, namespace: str, workload: dict[str, Any]) -> dict[str, Any]:
    """The record a killed operator left: approved, attempt recorded, not yet acted on."""
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    return {
        "id": "r1",
        "remediation": "kill-switch",
        "kind": "scale",
        "parameters": {"replicas": "0"},
        "requestedBy": "alice",
        "requestedAt": started,
        "phase": "InProgress",
        "approverGroup": "incident-approvers",
        "summary": "scale Deployment/web from 2 to 0 replicas",
        "approvedBy": "alice",
        "approvedAt": started,
        "attempt": "deadbeef",
        "startedAt": started,
        "previous": {"replicas": 2},
        "targets": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "resourceVersion": workload["metadata"]["resourceVersion"],
            }
        ],
    }


@pytest.mark.parametrize("left_behind", ["marked", "scaled", "changed-by-someone"])
def test_a_killed_operator_acts_exactly_once(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    left_behind: str,
) -> None:
    web = _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry()])
    open_incident(kubectl, namespace, "outage")
    operator.stop(kill=True)
    try:
        write_records(kubectl, namespace, "outage", [_in_progress(kubectl, namespace, web)])
        if left_behind == "scaled":
            kubectl("scale", "deployment/web", "--replicas=0", "-n", namespace)
        elif left_behind == "changed-by-someone":
            kubectl("scale", "deployment/web", "--replicas=3", "-n", namespace)
        before = wait_rollout(kubectl, "Deployment", namespace, "web")
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            phase = "Failed" if left_behind == "changed-by-someone" else "Succeeded"
            done = wait_phase(kubectl, namespace, "outage", "r1", phase, restarted.log_tail)
            after = wait_rollout(kubectl, "Deployment", namespace, "web")
            restarted.stop(kill=True)
    finally:
        operator.start()
    generations = (before["metadata"]["generation"], after["metadata"]["generation"])
    if left_behind == "marked":
        assert after["spec"]["replicas"] == 0
        assert generations[1] == generations[0] + 1, "scaled exactly once"
    elif left_behind == "scaled":
        assert after["spec"]["replicas"] == 0
        assert generations[1] == generations[0], "not patched a second time"
    else:
        assert after["spec"]["replicas"] == 3, "their change stands"
        assert generations[1] == generations[0]
        assert done["reason"] == "RemediationFailed"
        assert "Deployment/web was scaled by someone else to 3 replicas" in done["message"]
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 0


def _detection(breaching: bool) -> dict[str, Any]:
    return {
        "detection": {
            "fingerprint": "test",
            "policy": "shop",
            "rule": "error-rate",
            "workload": {"kind": "Deployment", "name": "web"},
            "level": "critical" if breaching else "ok",
            "breaching": breaching,
            "lastEvaluatedAt": datetime.now(UTC).isoformat(),
        }
    }


def _write_status(kubectl: Kubectl, namespace: str, name: str, status: dict[str, Any]) -> None:
    kubectl(
        "patch",
        "incident",
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


@pytest.mark.parametrize("recovers", [True, False], ids=["recovers", "does-not-recover"])
def test_verification_watches_the_rules_and_a_failure_escalates(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    recovers: bool,
) -> None:
    _web(kubectl, namespace)
    # No approval needed (a diagnostic-like kill switch), and a short verification window.
    entry = scale_entry(requiresApproval=False, verify={"within": "4s"})
    catalog_policy(kubectl, namespace, [entry])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    _write_status(kubectl, namespace, "outage", _detection(breaching=True))
    request(cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="1")
    verifying = wait_phase(kubectl, namespace, "outage", "r1", "Verifying", operator.log_tail)
    assert verifying["approvedBy"] == "incident-operator"
    assert "watching error-rate" in verifying["message"]
    assert _replicas(kubectl, namespace) == 1
    if recovers:
        _write_status(kubectl, namespace, "outage", _detection(breaching=False))
        done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
        assert "error-rate stayed recovered for 4s" in done["message"]
        assert "RemediationRecovered" in timeline_types(kubectl, namespace, "outage")
        return
    failed = wait_phase(kubectl, namespace, "outage", "r1", "Failed", operator.log_tail)
    assert failed["reason"] == "VerificationFailed"
    assert "the fix does not resolve the original problem" in failed["message"]

    def triggered() -> list[dict[str, Any]] | None:
        status = get(kubectl, "Incident", namespace, "outage")["status"]
        triggers = (status.get("escalation") or {}).get("triggers") or []
        return [t for t in triggers if t["name"] == "remediationFailed"] or None

    (trigger,) = wait_until(triggered, what="the remediationFailed trigger", timeout=30)
    assert trigger["instance"] == "remediationFailed/r1"


def test_a_remediation_needing_no_approval_runs_and_wait_reports_its_outcome(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
) -> None:
    _web(kubectl, namespace)
    catalog_policy(kubectl, namespace, [scale_entry(requiresApproval=False)])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    # No detection rule watches this incident: done is Succeeded, with a word to check.
    done = request(
        cluster.kubeconfig, namespace, incident_id, "kill-switch", "--wait", replicas="1"
    )
    assert "r1 Succeeded: scale Deployment/web from 2 to 1 replicas" in done.stdout, done.stdout
    assert "confirm the recovery by hand" in done.stdout
    assert _replicas(kubectl, namespace) == 1
    # The same request again: nothing to do, refused, and the plugin exits non-zero.
    again = request(
        cluster.kubeconfig, namespace, incident_id, "kill-switch", replicas="1", check=False
    )
    assert again.returncode != 0
    assert "r2 Refused" in again.stdout
    assert "Deployment/web already has 1 replicas" in again.stdout
