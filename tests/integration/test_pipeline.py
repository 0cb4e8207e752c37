"""The one incident pipeline on the local control plane: its rollback and its escalation
see the same policy and the same status in the same pass."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.integration.rollback_support import (
    approve,
    build_history,
    incident,
    let_approve,
    rollback_of,
    wait_rollback,
)
from tests.support.escalation_env import (
    EscalationEnv,
    channels,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    time_of,
)

WEB = ("Deployment", "web")
DOES_NOT_RESOLVE = "fix does not resolve the original problem"


@pytest.fixture(autouse=True)
def _approval_policy_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


def _policy(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


def _condition(body: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def test_a_workloads_labels_choose_the_policy_and_only_its_group_approves(
    env: EscalationEnv,
) -> None:
    kubectl, namespace = env.kubectl, env.namespace
    build_history(kubectl, env.api, "Deployment", namespace, "web", revisions=2)
    kubectl("label", "deployment", "web", "-n", namespace, "team=payments")
    let_approve(kubectl, namespace, "alice", "bob")
    # The namespace default would let incident-approvers approve; the payments policy
    # selects the workload by its label and names its own group.
    env.apply(_policy("shop", default=True))
    env.apply(
        _policy(
            "payments",
            selector={"matchLabels": {"team": "payments"}},
            rollback={"approverGroup": "payments-leads"},
        )
    )
    with env.operator() as operator:
        # Declared by hand: the incident has no labels of its own, only its workload does.
        incident(kubectl, namespace, "outage", target=WEB)
        proposed = wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
        assert proposed["approverGroup"] == "payments-leads"
        resolved = _condition(env.get("outage"), "PolicyResolved")
        assert (resolved["status"], resolved["reason"]) == ("True", "BySelector")
        assert "payments" in resolved["message"]

        outsider = approve(kubectl, namespace, "outage", user="alice", check=False)
        assert outsider.returncode != 0
        assert "only members of group payments-leads may approve" in outsider.stderr
        assert rollback_of(kubectl, namespace, "outage")["phase"] == "Proposed"

        approve(kubectl, namespace, "outage", user="bob", groups=("payments-leads",))
        done = wait_rollback(kubectl, namespace, "outage", "Succeeded", operator.log_tail)
        assert done["approvedBy"] == "bob"


def test_a_rollback_that_does_not_help_escalates_at_once(env: EscalationEnv) -> None:
    kubectl, namespace = env.kubectl, env.namespace
    build_history(kubectl, env.api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "alice")
    env.create_secret()
    steps = [
        {"severities": ["P1"], "after": "0s", "targets": [{"name": "Primary", "method": "chat"}]},
        # Hours away on the clock: only a trigger reaches it within the test.
        {
            "severities": ["P1"],
            "after": "2h",
            "targets": [{"name": "Engineering Manager", "method": "chat"}],
            "channel": "webhook",
        },
    ]
    env.apply(
        _policy(
            "shop",
            default=True,
            channels=channels(env.http, "slack-high", "webhook"),
            escalation={"steps": steps},
            detection={"monitoringWindow": "3s"},
        )
    )
    with env.operator() as operator:
        incident(kubectl, namespace, "outage", target=WEB)
        wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
        # Detection still sees the breach, and keeps seeing it after the rollback.
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        detection = {
            "fingerprint": "manual",
            "policy": "shop",
            "rule": "error-rate",
            "level": "critical",
            "value": 0.4,
            "threshold": 0.2,
            "breaching": True,
            "breachStartedAt": now,
            "lastEvaluatedAt": now,
        }
        k8s.CustomObjectsApi(env.api).patch_namespaced_custom_object_status(
            "sre.agentos.io",
            "v1alpha1",
            namespace,
            "incidents",
            "outage",
            {"status": {"detection": detection}},
        )
        approve(kubectl, namespace, "outage", user="alice")
        failed = wait_rollback(kubectl, namespace, "outage", "Failed", operator.log_tail)
        assert failed["reason"] == "VerificationFailed"
        assert DOES_NOT_RESOLVE in failed["message"]

        body = env.wait_for(
            "outage",
            lambda b: any(t["name"] == "rollbackFailed" for t in escalation(b).get("triggers", [])),
            "the failed rollback to fire its escalation trigger",
            operator,
        )
        (trigger,) = [t for t in escalation(body)["triggers"] if t["name"] == "rollbackFailed"]
        assert DOES_NOT_RESOLVE in trigger["message"]
        assert trigger["step"] == "P1-1"
        step = next(s for s in escalation(body)["steps"] if s["key"] == "P1-1")
        assert step["cause"] == "Trigger"
        # Reached at once, not two hours after detection.
        reached = time_of(step["reachedAt"]) - time_of(body["status"]["detectedAt"])
        assert reached < timedelta(minutes=10)
        types = [e["type"] for e in body["status"]["timeline"]]
        assert types.index("RollbackFailed") < types.index(
            "Escalated", types.index("RollbackFailed")
        )

        # The Engineering Manager's webhook is told why.
        env.wait_for(
            "outage",
            lambda _: any(
                DOES_NOT_RESOLVE in json.dumps(call.body) for call in env.http.received("/webhook")
            ),
            "the escalation notice at the webhook receiver",
            operator,
        )
