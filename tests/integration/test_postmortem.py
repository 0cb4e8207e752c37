"""Post-mortems on a real control plane: the policy's deadlines, the fields people fill
with `kubectl incident postmortem`, the owner before Closed, and the related runbooks and
dashboards in the draft and in `kubectl incident show`."""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    PRE_RESOLUTION_TICKED,
    REQUIRED_BY_PEOPLE,
    conditions,
    create_incident,
    patch_incident,
    policy_manifest,
    wait_for_condition,
    wait_for_incident,
    wait_for_phase,
)
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until


def plugin(cluster: ClusterInfo, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_plugin(cluster.kubeconfig, namespace, *args)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _policy(kubectl: Kubectl, namespace: str, **spec: Any) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=policy_manifest("team", **spec))
    wait_for_condition(kubectl, namespace, "team", "Ready", kind="escalationpolicy")


def test_the_policy_deadlines_the_draft_fields_and_the_links(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    _policy(
        kubectl,
        namespace,
        postMortem={"P2": {"scheduleWithin": "1h", "completeWithin": "2h"}},
        links={
            "dashboardBaseUrl": "https://grafana.example",
            "runbooks": [
                {"name": "Checkout", "url": "https://wiki.example/checkout", "purpose": "Orders"}
            ],
        },
    )
    create_incident(
        kubectl,
        namespace,
        "cart",
        title="Carts emptied",
        severity="P2",
        state="Resolved",
        checklist=PRE_RESOLUTION_TICKED,
        policyRef={"name": "team"},
        triggers={"dataLoss": True},
    )
    body = wait_for_incident(
        kubectl,
        namespace,
        "cart",
        lambda b: bool(((b.get("status") or {}).get("postMortem") or {}).get("scheduleDueAt")),
        "status.postMortem.scheduleDueAt",
        detail=operator.log_tail,
    )
    status = body["status"]
    resolved = _moment(status["resolvedAt"])
    assert _moment(status["postMortem"]["scheduleDueAt"]) == resolved + timedelta(hours=1)
    assert _moment(status["postMortem"]["completeDueAt"]) == resolved + timedelta(hours=2)
    incident_id = status["id"]

    plugin(
        cluster,
        namespace,
        "postmortem",
        incident_id,
        "--status",
        "In Review",
        "--owner",
        "me",
        "--factor",
        "No canary",
        "--factor",
        "Alert too slow",
        "--went-well",
        "Quick rollback",
        "--could-improve",
        "Paging took 10 minutes",
        "--users-affected",
        "12% of users",
        "--revenue-impact",
        "About $4k of orders delayed",
        "--data-loss",
        "40 carts lost",
        "--document-url",
        "https://docs.example/pm/cart",
    )
    # A second call appends to the lists rather than replacing them.
    plugin(cluster, namespace, "postmortem", incident_id, "--factor", "Cache TTLs aligned")

    def configmap_text() -> str | None:
        result = kubectl(
            "get", "configmap", "cart-postmortem", "-n", namespace, "-o", "json", check=False
        )
        if result.returncode != 0:
            return None
        text: str = json.loads(result.stdout)["data"]["postmortem.md"]
        return text if "Cache TTLs aligned" in text else None

    text = wait_until(configmap_text, timeout=30, what="the draft with the plugin's fields")
    for line in (
        "**Status:** In Review\n",
        "**Owner:** @admin\n",
        "**Document:** https://docs.example/pm/cart\n",
        "- **Users Affected:** 12% of users\n",
        "- **Revenue Impact:** About $4k of orders delayed\n",
        "- **Data Loss:** Yes - 40 carts lost\n",
        "1. No canary\n2. Alert too slow\n3. Cache TTLs aligned\n",
        "### What Went Well\n\n- Quick rollback\n",
        "### What Could Be Improved\n\n- Paging took 10 minutes\n",
        "Blameless Post-Mortem Principles",
        "## Related Runbooks and Dashboards",
        "| System Overview | https://grafana.example/d/system-overview |",
        "- [Checkout](https://wiki.example/checkout) - Orders",
    ):
        assert line in text
    printed = plugin(cluster, namespace, "postmortem", incident_id).stdout
    assert "**Status:** In Review" in printed

    shown = plugin(cluster, namespace, "show", incident_id).stdout
    assert "Post-mortem:     In Review   owner admin" in shown
    assert "- System Overview: https://grafana.example/d/system-overview" in shown
    assert "- Checkout: https://wiki.example/checkout" in shown
    timeline = wait_for_incident(
        kubectl,
        namespace,
        "cart",
        lambda b: any(
            e["message"] == "post-mortem is In Review" for e in b["status"].get("timeline", [])
        ),
        "the In Review timeline entry",
    )
    assert timeline["spec"]["postMortem"]["status"] == "InReview"


def test_closing_waits_for_a_post_mortem_owner(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(
        kubectl,
        namespace,
        "search",
        title="Search slow",
        severity="P3",
        state="Resolved",
        checklist={**dict.fromkeys(REQUIRED_BY_PEOPLE, True), **PRE_RESOLUTION_TICKED},
    )
    body = wait_for_phase(kubectl, namespace, "search", "PostIncident", operator.log_tail)
    incident_id = body["status"]["id"]
    kubectl(
        "annotate", "incident", "search", "-n", namespace, "sre.agentos.io/acknowledged-by=admin"
    )
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    patch_incident(kubectl, namespace, "search", postMortem={"status": "Final", "scheduledAt": now})
    item = {"id": "AI-1", "action": "Tune the cache", "owner": "bob", "priority": "P3"}
    patch_incident(kubectl, namespace, "search", actionItems=[item])
    refused = wait_for_incident(
        kubectl,
        namespace,
        "search",
        lambda b: (
            conditions(b).get("ReadyToClose", {}).get("message")
            == "cannot close yet: no post-mortem owner (spec.postMortem.owner)"
        ),
        "ReadyToClose naming only the missing owner",
        detail=operator.log_tail,
    )
    assert refused["status"]["phase"] == "PostIncident"
    assert conditions(refused)["ReadyToClose"]["status"] == "False"

    plugin(cluster, namespace, "postmortem", incident_id, "--owner", "carol")
    closed = wait_for_phase(kubectl, namespace, "search", "Closed", operator.log_tail)
    assert closed["spec"]["postMortem"]["owner"] == "carol"
    assert conditions(closed)["ReadyToClose"]["status"] == "True"
