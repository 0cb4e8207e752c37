"""The pre-resolution gate, the commander's override, triage and Mitigating, on a real
control plane with the real operator, driven with `kubectl incident` as a person would."""

import json
import subprocess
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    PRE_RESOLUTION_BY_PEOPLE,
    conditions,
    create_incident,
    event_messages,
    get_incident,
    patch_incident,
    policy_manifest,
    timeline_types,
    wait_for_condition,
    wait_for_incident,
    wait_for_phase,
)
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.rollback_support import let_approve

ME = "admin"  # the test kubeconfig's user: the plugin acts as them


def plugin(
    cluster: ClusterInfo, namespace: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster.kubeconfig, namespace, *args, check=check)


def _entries(body: dict[str, Any], kind: str) -> list[str]:
    return [e["message"] for e in body["status"]["timeline"] if e["type"] == kind]


def test_resolved_is_refused_naming_the_open_items_then_taken_once_they_are_ticked(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(kubectl, namespace, "search", title="Search slow", severity="P3")
    body = wait_for_phase(kubectl, namespace, "search", "Detected", operator.log_tail)
    incident_id = body["status"]["id"]

    refused = plugin(cluster, namespace, "resolve", incident_id, check=False)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, "one line"
    assert refused.stderr.startswith(
        f"error: {incident_id}: Resolved is held, pre-resolution verification open: "
        + ", ".join(PRE_RESOLUTION_BY_PEOPLE)
    )
    assert "--override REASON" in refused.stderr
    held = wait_for_condition(
        kubectl, namespace, "search", "TransitionRefused", detail=operator.log_tail
    )
    condition = conditions(held)["TransitionRefused"]
    assert condition["reason"] == "PreResolutionOpen"
    assert (
        "spec.checklist.manualVerification (Manual verification completed)"
        in (condition["message"])
    )
    assert held["status"]["phase"] == "Detected"
    assert held["status"]["resolution"]["openItems"] == list(PRE_RESOLUTION_BY_PEOPLE)

    # Ticking some items leaves it held, with one timeline entry and one Event in all.
    plugin(cluster, namespace, "check", incident_id, *PRE_RESOLUTION_BY_PEOPLE[:3])
    partly = wait_for_incident(
        kubectl,
        namespace,
        "search",
        lambda b: (
            b["status"].get("resolution", {}).get("openItems") == list(PRE_RESOLUTION_BY_PEOPLE[3:])
        ),
        what="three items ticked",
        detail=operator.log_tail,
    )
    assert partly["status"]["phase"] == "Detected"
    assert timeline_types(partly).count("TransitionRefused") == 1
    warnings = event_messages(kubectl, namespace, "search", "TransitionRefused")
    assert len(warnings) == 1
    assert "state Resolved is held" in warnings[0]

    # The rest ticked: the Resolved set earlier takes effect, without being set again.
    plugin(cluster, namespace, "check", incident_id, *PRE_RESOLUTION_BY_PEOPLE[3:])
    resolved = wait_for_phase(kubectl, namespace, "search", "PostIncident", operator.log_tail)
    assert conditions(resolved)["TransitionRefused"]["status"] == "False"
    assert "Detected -> Resolved: state set to Resolved" in _entries(resolved, "PhaseChanged")
    checklist = {c["key"]: c for c in resolved["status"]["checklist"]}
    assert all(checklist[key]["done"] for key in PRE_RESOLUTION_BY_PEOPLE)
    # Nothing monitors it: people tick the monitoring items; the operator sent nothing.
    assert checklist["normalMetrics"]["tickedBy"] == "responder"
    assert checklist["metricsNormal"]["done"] is False
    assert checklist["onCallNotified"]["done"] is False
    assert checklist["customerCommunicationSent"]["required"] is True


def test_the_commander_overrides_with_a_reason_in_the_timeline(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(
        kubectl, namespace, "queue", title="Queue backlog", severity="P2", roles={"commander": ME}
    )
    body = wait_for_phase(kubectl, namespace, "queue", "Detected", operator.log_tail)
    incident_id = body["status"]["id"]
    plugin(cluster, namespace, "check", incident_id, "manualVerification")
    done = plugin(
        cluster, namespace, "resolve", incident_id, "--override", "verified on the bridge"
    )
    assert f"{incident_id}: resolved (override by {ME}); phase PostIncident" in done.stdout
    resolved = get_incident(kubectl, namespace, "queue")
    [entry] = _entries(resolved, "ResolutionOverridden")
    assert entry.startswith("resolved with open items rootCauseDocumented, fixInProduction, ")
    assert "manualVerification" not in entry
    assert entry.endswith(f"overridden by {ME}: verified on the bridge")
    assert resolved["status"]["resolution"]["overriddenBy"] == ME
    shown = plugin(cluster, namespace, "show", incident_id).stdout
    assert f"overridden by {ME}: verified on the bridge" in shown


def test_an_override_by_someone_not_the_commander_is_refused_by_the_api_server(
    kubectl: Kubectl, namespace: str, admission_policies: None
) -> None:
    # The incident-responder role for both (rollback_support's helper).
    let_approve(kubectl, namespace, "alice", "bob")
    create_incident(
        kubectl, namespace, "db", title="DB slow", severity="P2", roles={"commander": "alice"}
    )

    def override(by: str, user: str, dry_run: bool = False) -> subprocess.CompletedProcess[str]:
        patch = {"spec": {"resolution": {"override": {"by": by, "reason": "looks fine"}}}}
        return kubectl(
            "patch",
            "incident",
            "db",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps(patch),
            *(["--dry-run=server"] if dry_run else []),
            as_user=user,
            check=False,
        )

    # The policy is compiled and enforced a little after it is created.
    wait_until(
        lambda: override("bob", "bob", dry_run=True).returncode != 0,
        timeout=60,
        what="the resolution-override admission policy to be enforced",
    )
    by_bob = override("bob", "bob")
    assert by_bob.returncode != 0
    assert (
        "spec.resolution.override: only the incident commander (alice) may override the "
        "pre-resolution verification, as themselves; you are bob"
    ) in by_bob.stderr
    as_alice = override("alice", "bob")
    assert as_alice.returncode != 0
    assert "you are bob" in as_alice.stderr
    assert "resolution" not in get_incident(kubectl, namespace, "db")["spec"]
    assert override("alice", "alice").returncode == 0
    # Declaring an incident with an override is held to the same rule.
    declared = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "late"},
        "spec": {
            "title": "Declared after the fact",
            "severity": "P3",
            "state": "Resolved",
            "roles": {"commander": "alice"},
            "resolution": {"override": {"by": "bob", "reason": "it is over"}},
        },
    }
    created = kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(declared), as_user="bob", check=False
    )
    assert created.returncode != 0
    assert "only the incident commander (alice) may override" in created.stderr
    declared["spec"]["roles"] = {"commander": "bob"}  # type: ignore[index]
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(declared), as_user="bob")
    # Unchanged, the override stays while someone else edits the incident.
    kubectl("label", "incident", "db", "-n", namespace, "team=storage", as_user="bob")
    patch = json.dumps({"spec": {"impact": "reads slow"}})
    edited = kubectl(
        "patch", "incident", "db", "-n", namespace, "--type=merge", "-p", patch, as_user="bob"
    )
    assert edited.returncode == 0


def test_triage_is_overdue_for_a_p1_until_answered(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    # The runbook's 15 minutes, shortened by the policy so the test can see it pass.
    manifest = policy_manifest("fast", default=True, severities={"P1": {"triageWithin": "3s"}})
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    wait_for_condition(kubectl, namespace, "fast", "Ready", kind="escalationpolicy")
    create_incident(kubectl, namespace, "login", title="Login errors", severity="P1")
    overdue = wait_for_condition(
        kubectl, namespace, "login", "TriageOverdue", detail=operator.log_tail
    )
    message = conditions(overdue)["TriageOverdue"]["message"]
    assert message.startswith("triage (spec.triage: all five questions) was due at ")
    assert "TriageOverdue" in timeline_types(overdue)
    incident_id = overdue["status"]["id"]

    answered = plugin(
        cluster,
        namespace,
        "triage",
        incident_id,
        "--production",
        "yes",
        "--users",
        "about 2000",
        "--data-at-risk",
        "no",
        "--security",
        "no",
        "--business-impact",
        "no sign-ups",
    )
    assert f"{incident_id}: triage affectsProduction yes" in answered.stdout
    body = wait_for_condition(
        kubectl, namespace, "login", "TriageOverdue", "False", detail=operator.log_tail
    )
    assert body["status"]["triagedAt"]
    assert _entries(body, "TriageAnswered") == [
        "triage: production: yes; users impacted: about 2000; data at risk: no; "
        "security component: no; business impact: no sign-ups"
    ]
    shown = plugin(cluster, namespace, "show", incident_id).stdout
    assert "production: yes    data at risk: no    security component: no" in shown
    bad = plugin(cluster, namespace, "triage", incident_id, "--security", "perhaps", check=False)
    assert bad.returncode == 2
    assert "argument --security: expected yes or no, not 'perhaps'" in bad.stderr


def test_mitigating_is_a_state_word_recorded_with_what_was_done(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(kubectl, namespace, "pay", title="Payments slow", severity="P2")
    body = wait_for_phase(kubectl, namespace, "pay", "Detected", operator.log_tail)
    incident_id = body["status"]["id"]
    # The API server refuses the state word without what was done, naming the field.
    refused = kubectl(
        "patch", "incident", "pay", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"state": "Mitigating"}}), check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "spec.mitigation" in refused.stderr
    assert "mitigation is required when state is Mitigating (what was done)" in refused.stderr

    plugin(cluster, namespace, "mitigate", incident_id, "workaround: card retries off")
    body = wait_for_phase(kubectl, namespace, "pay", "Mitigating", operator.log_tail)
    assert body["status"]["mitigatedAt"]
    assert _entries(body, "MitigationRecorded") == ["mitigation: workaround: card retries off"]
    assert "Detected -> Mitigating: state set to Mitigating" in _entries(body, "PhaseChanged")
    table = kubectl("get", "incident", "pay", "-n", namespace).stdout
    assert "Mitigating" in table
    shown = plugin(cluster, namespace, "show", incident_id).stdout
    assert "Mitigation:      workaround: card retries off" in shown
    # A changed note is recorded again.
    patch_incident(kubectl, namespace, "pay", mitigation="workaround: traffic to eu-west")
    body = wait_for_incident(
        kubectl,
        namespace,
        "pay",
        lambda b: len(_entries(b, "MitigationRecorded")) == 2,
        what="the second mitigation note",
        detail=operator.log_tail,
    )
