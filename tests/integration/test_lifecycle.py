"""The incident lifecycle on a real control plane, driven with `kubectl incident`."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    PRE_RESOLUTION_BY_PEOPLE,
    PRE_RESOLUTION_TICKED,
    REQUIRED_BY_PEOPLE,
    conditions,
    create_incident,
    events,
    get_incident,
    patch_incident,
    policy_manifest,
    timeline_types,
    wait_for_condition,
    wait_for_incident,
    wait_for_phase,
    wait_for_status_field,
)
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until


def plugin(
    cluster: ClusterInfo, namespace: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster.kubeconfig, namespace, *args, check=check)


def test_a_p0_through_its_whole_life_with_the_plugin(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
) -> None:
    declared = plugin(
        cluster,
        namespace,
        "declare",
        "--title",
        "Checkout returns 500",
        "--severity",
        "P0",
        "--affected",
        "Deployment/checkout",
        "--name",
        "checkout",
        "--summary",
        "All payments fail",
    )
    incident_id = declared.stdout.split()[0]
    assert incident_id.startswith("INC-")
    assert f"{incident_id} declared (checkout)" in declared.stdout
    wait_for_phase(kubectl, namespace, "checkout", "Detected", operator.log_tail)

    plugin(cluster, namespace, "ack", incident_id)
    plugin(cluster, namespace, "assign", incident_id, "commander", "me")
    body = wait_for_phase(kubectl, namespace, "checkout", "Triaged", operator.log_tail)
    assert conditions(body)["Acknowledged"]["message"] == "acknowledged by admin"
    plugin(cluster, namespace, "assign", incident_id, "tech-lead", "bob")
    plugin(cluster, namespace, "update", incident_id, "Rolling back the 14:02 deploy")
    wait_for_phase(kubectl, namespace, "checkout", "Investigating", operator.log_tail)
    plugin(cluster, namespace, "state", incident_id, "Identified")
    wait_for_phase(kubectl, namespace, "checkout", "Identified", operator.log_tail)
    plugin(cluster, namespace, "state", incident_id, "Monitoring")
    wait_for_phase(kubectl, namespace, "checkout", "Monitoring", operator.log_tail)
    plugin(cluster, namespace, "check", incident_id, *PRE_RESOLUTION_BY_PEOPLE)
    plugin(cluster, namespace, "state", incident_id, "Resolved")
    body = wait_for_phase(kubectl, namespace, "checkout", "PostIncident", operator.log_tail)
    ready = conditions(body)["ReadyToClose"]
    assert ready["status"] == "False"
    assert "post-mortem is not Final" in ready["message"]
    assert "no post-mortem owner (spec.postMortem.owner)" in ready["message"]

    shown = plugin(cluster, namespace, "show", incident_id).stdout
    assert incident_id in shown
    assert "Phase: PostIncident" in shown
    assert "post-mortem by" in shown

    def draft() -> str | None:
        result = plugin(cluster, namespace, "postmortem", incident_id, check=False)
        return result.stdout if result.returncode == 0 else None

    markdown = wait_until(draft, timeout=30, what="the post-mortem draft")
    assert markdown.startswith("# Post-Mortem: Checkout returns 500")
    assert f"**Incident ID:** {incident_id}" in markdown
    assert "Rolling back the 14:02 deploy" in markdown
    assert "acknowledged by admin" in markdown

    plugin(cluster, namespace, "check", incident_id, *REQUIRED_BY_PEOPLE)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    plugin(
        cluster,
        namespace,
        "postmortem",
        incident_id,
        "--status",
        "Final",
        "--owner",
        "me",
        "--scheduled",
        now,
        "--root-cause",
        "a bad config push",
    )
    item = {"id": "AI-1", "action": "Canary deploys", "owner": "bob", "priority": "P1"}
    patch_incident(kubectl, namespace, "checkout", actionItems=[{**item, "done": True}])
    body = wait_for_phase(kubectl, namespace, "checkout", "Closed", operator.log_tail)
    status = body["status"]
    assert (
        status["closedAt"]
        >= status["resolvedAt"]
        >= status["mitigatedAt"]
        >= status["acknowledgedAt"]
    )
    kinds = timeline_types(body)
    for kind in (
        "Declared",
        "Acknowledged",
        "RoleAssigned",
        "UpdatePosted",
        "PhaseChanged",
        "PostMortemStatus",
    ):
        assert kind in kinds
    phases = [e["message"].split(":")[0] for e in status["timeline"] if e["type"] == "PhaseChanged"]
    assert phases == [
        "Detected -> Triaged",
        "Triaged -> Investigating",
        "Investigating -> Identified",
        "Identified -> Monitoring",
        "Monitoring -> Resolved",
        "Resolved -> PostIncident",
        "PostIncident -> Closed",
    ]
    assert all(e["actor"] == "admin" for e in status["timeline"] if e["type"] == "RoleAssigned")
    reasons = {e["reason"] for e in events(kubectl, namespace, "checkout")}
    assert {"Declared", "Acknowledged", "PhaseChanged"} <= reasons

    # A Closed incident is a record: the API server refuses changes, naming why.
    refused = plugin(cluster, namespace, "state", incident_id, "Investigating", check=False)
    assert refused.returncode == 1
    assert "a Closed incident cannot be changed" in refused.stderr
    # Its acknowledgement too; labels stay free for filing it.
    unacknowledged = kubectl(
        "annotate",
        "incident",
        "checkout",
        "-n",
        namespace,
        "sre.agentos.io/acknowledged-by-",
        check=False,
    )
    assert unacknowledged.returncode != 0
    assert "its sre.agentos.io/ annotations" in unacknowledged.stderr
    kubectl("label", "incident", "checkout", "-n", namespace, "archived=true")


def test_acknowledging_as_someone_else_is_refused(
    kubectl: Kubectl, namespace: str, admission_policies: None
) -> None:
    kubectl(
        "create",
        "rolebinding",
        "responders",
        "-n",
        namespace,
        "--clusterrole=incident-responder",
        "--user=alice",
        "--user=bob",
    )
    create_incident(kubectl, namespace, "db", title="DB slow", severity="P2")
    forged = kubectl(
        "annotate",
        "incident",
        "db",
        "-n",
        namespace,
        "sre.agentos.io/acknowledged-by=bob",
        as_user="alice",
        check=False,
    )
    assert forged.returncode != 0
    assert "acknowledged-by must be your own user name (alice), not bob" in forged.stderr
    annotations = get_incident(kubectl, namespace, "db")["metadata"].get("annotations", {})
    assert "sre.agentos.io/acknowledged-by" not in annotations
    own = kubectl(
        "annotate",
        "incident",
        "db",
        "-n",
        namespace,
        "sre.agentos.io/acknowledged-by=alice",
        as_user="alice",
    )
    assert own.returncode == 0
    # Someone else editing the incident later leaves alice's acknowledgement standing.
    kubectl("label", "incident", "db", "-n", namespace, "team=storage", as_user="bob")
    forged_change = kubectl(
        "annotate",
        "incident",
        "db",
        "-n",
        namespace,
        "sre.agentos.io/changed-by=alice",
        as_user="bob",
        check=False,
    )
    assert "changed-by must be your own user name (bob), not alice" in forged_change.stderr


def _fast_policy(kubectl: Kubectl, namespace: str, **severities: Any) -> None:
    """A default policy with the runbook's clocks shortened; waits until it is Ready."""
    manifest = policy_manifest("fast", default=True, severities=severities)
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for_condition(kubectl, namespace, "fast", "Ready", kind="escalationpolicy")


def test_a_deadline_falls_due_on_time_without_polling(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    _fast_policy(kubectl, namespace, P2={"updateEvery": "4s"})
    create_incident(kubectl, namespace, "quiet", title="Nobody posts", severity="P2")
    found = wait_for_condition(
        kubectl, namespace, "quiet", "UpdateOverdue", detail=operator.log_tail
    )
    due = datetime.fromisoformat(found["status"]["nextUpdateDueAt"])
    fired = datetime.fromisoformat(conditions(found)["UpdateOverdue"]["lastTransitionTime"])
    assert due <= fired <= due + timedelta(seconds=3), "the timer wakes for the deadline"


def test_deadlines_fire_after_an_operator_restart(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    _fast_policy(kubectl, namespace, P1={"responseTime": "5s"})
    create_incident(kubectl, namespace, "late", title="Nobody answers", severity="P1")
    found = wait_for_status_field(kubectl, namespace, "late", "responseDueAt", operator.log_tail)
    due = datetime.fromisoformat(found["status"]["responseDueAt"])
    assert due - datetime.fromisoformat(found["status"]["detectedAt"]) == timedelta(seconds=5)
    operator.stop(kill=True)
    try:
        wait_until(
            lambda: datetime.now(UTC) > due + timedelta(seconds=1),
            timeout=30,
            what="the deadline to pass",
        )
        assert (
            conditions(get_incident(kubectl, namespace, "late"))["ResponseOverdue"]["status"]
            == "False"
        )
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            latest = wait_for_condition(
                kubectl, namespace, "late", "ResponseOverdue", detail=restarted.log_tail
            )
    finally:
        operator.start()
    kinds = timeline_types(latest)
    assert kinds.count("ResponseOverdue") == 1
    assert kinds.count("Declared") == 1, "nothing repeated after the restart"


def test_the_postmortem_configmap(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(
        kubectl,
        namespace,
        "cache",
        title="Cache stampede",
        severity="P2",
        state="Resolved",
        checklist=PRE_RESOLUTION_TICKED,
        impact="10% of searches slow",
        triggers={"dataLoss": False},
    )
    incident = wait_for_phase(kubectl, namespace, "cache", "PostIncident", operator.log_tail)
    name = incident["status"]["postMortem"]["configMap"]
    assert name == "cache-postmortem"

    def configmap() -> dict[str, Any] | None:
        result = kubectl("get", "configmap", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    found = wait_until(configmap, timeout=30, what="the post-mortem ConfigMap")
    owner = found["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Incident",
        "cache",
        incident["metadata"]["uid"],
    )
    text = found["data"]["postmortem.md"]
    for heading in (
        "## Summary",
        "## Impact",
        "## Timeline (All times UTC)",
        "## Root Cause",
        "## Lessons Learned",
        "## Action Items",
    ):
        assert heading in text
    assert "**Status:** Draft" in text
    assert "- **Users Affected:** 10% of searches slow" in text
    assert "| Declared: P2 incident opened" in text
    # While a draft, it follows the spec.
    patch_incident(kubectl, namespace, "cache", postMortem={"rootCause": "TTLs expired together"})
    wait_until(
        lambda: (
            "TTLs expired together" in (configmap() or {}).get("data", {}).get("postmortem.md", "")
        ),
        timeout=30,
        what="the draft to take the root cause",
    )
    # Final: the operator stops rewriting it.
    final = {"status": "Final", "rootCause": "changed after final"}
    patch_incident(kubectl, namespace, "cache", postMortem=final)
    wait_for_incident(
        kubectl,
        namespace,
        "cache",
        lambda body: any(
            e["message"] == "post-mortem is Final" for e in body["status"]["timeline"]
        ),
        "the Final post-mortem to be recorded",
    )
    assert "changed after final" not in (configmap() or {})["data"]["postmortem.md"]
