"""On-call rotations on a real control plane: `kubectl incident oncall` and RotationsValid."""

import json
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import conditions, events, policy_manifest, wait_for_condition
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl

# Weekly, Mondays 09:00 Berlin time: 08:00Z in winter, 07:00Z in summer.
PRIMARY: dict[str, Any] = {
    "name": "primary",
    "people": ["alice", "bob", "carol"],
    "start": "2026-01-05T09:00:00+01:00",
    "length": "168h",
    "timeZone": "Europe/Berlin",
    "overrides": [{"user": "dave", "start": "2026-03-31T00:00:00Z", "end": "2026-04-01T00:00:00Z"}],
}
SECONDARY: dict[str, Any] = {
    "name": "secondary",
    "people": ["carol", "alice", "bob"],
    "start": "2026-01-05T08:00:00Z",
    "length": "24h",
}


def _apply(kubectl: Kubectl, namespace: str, name: str, **spec: Any) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=policy_manifest(name, **spec))


def test_oncall_shows_who_is_on_call_per_policy_and_rotation(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str
) -> None:
    _apply(kubectl, namespace, "runbook", rotations=[PRIMARY, SECONDARY])
    _apply(kubectl, namespace, "quiet")  # no rotations: listed with none
    # 26 March 2026 is in the 12th week (turn 11): carol; the week after is alice's, cut
    # by dave's override, and the hand-off on 30 March is at 09:00 summer time (07:00Z).
    # The secondary's day 80 is bob's (80 mod 3 = 2).
    shown = run_plugin(
        cluster.kubeconfig, namespace, "oncall", "--at", "2026-03-26T12:00:00Z", "--next", "3"
    )
    assert shown.stdout.splitlines() == [
        "on call at 2026-03-26 12:00Z",
        "POLICY    ROTATION    WHEN   ON CALL           FROM                UNTIL",
        "runbook   primary     now    carol             2026-03-23 08:00Z   2026-03-30 07:00Z",
        "runbook   primary     next   alice             2026-03-30 07:00Z   2026-03-31 00:00Z",
        "runbook   primary     next   dave (override)   2026-03-31 00:00Z   2026-04-01 00:00Z",
        "runbook   primary     next   alice             2026-04-01 00:00Z   2026-04-06 07:00Z",
        "runbook   secondary   now    bob               2026-03-26 08:00Z   2026-03-27 08:00Z",
        "runbook   secondary   next   carol             2026-03-27 08:00Z   2026-03-28 08:00Z",
        "runbook   secondary   next   alice             2026-03-28 08:00Z   2026-03-29 08:00Z",
        "runbook   secondary   next   bob               2026-03-29 08:00Z   2026-03-30 08:00Z",
    ]

    as_json = run_plugin(
        cluster.kubeconfig,
        namespace,
        "oncall",
        "--policy",
        "runbook",
        "--at",
        "2026-03-31T12:00:00+02:00",
        "--next",
        "1",
        "-o",
        "json",
    )
    document = json.loads(as_json.stdout)
    assert document["namespace"] == namespace
    primary = document["rotations"][0]
    assert (primary["policy"], primary["rotation"], primary["timeZone"]) == (
        "runbook",
        "primary",
        "Europe/Berlin",
    )
    assert primary["onCall"] == {
        "person": "dave",
        "start": "2026-03-31T00:00:00+00:00",
        "end": "2026-04-01T00:00:00+00:00",
        "override": True,
    }
    assert [shift["person"] for shift in primary["next"]] == ["alice"]
    assert [r["rotation"] for r in document["rotations"]] == ["primary", "secondary"]

    quiet = run_plugin(cluster.kubeconfig, namespace, "oncall", "--policy", "quiet")
    assert quiet.stdout.strip() == (
        f"no rotations in EscalationPolicy quiet in namespace {namespace} (spec.rotations)"
    )
    missing = run_plugin(cluster.kubeconfig, namespace, "oncall", "--policy", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (
        1,
        f"error: no EscalationPolicy 'nope' in namespace {namespace}\n",
    )


def test_an_unknown_time_zone_is_a_condition_not_a_broken_policy(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    # The API server cannot know the zone database: it stores this policy.
    _apply(kubectl, namespace, "runbook", rotations=[{**SECONDARY, "timeZone": "Europe/Berln"}])
    body = wait_for_condition(
        kubectl,
        namespace,
        "runbook",
        "RotationsValid",
        "False",
        kind="escalationpolicy",
        detail=operator.log_tail,
    )
    problem = (
        "spec.rotations[0].timeZone: unknown time zone 'Europe/Berln' (rotation secondary); "
        "use an IANA name such as Europe/Berlin"
    )
    valid = conditions(body)["RotationsValid"]
    assert (valid["reason"], valid["message"]) == ("UnknownTimeZone", problem)
    # The rest of the policy still governs incidents.
    assert conditions(body)["Ready"]["status"] == "True"
    assert [e["message"] for e in events(kubectl, namespace, "runbook", "UnknownTimeZone")] == [
        problem
    ]
    refused = run_plugin(cluster.kubeconfig, namespace, "oncall", check=False)
    assert (refused.returncode, refused.stderr) == (
        1,
        f"error: EscalationPolicy runbook: {problem}\n",
    )

    # Fixed: True, and the plugin answers.
    _apply(kubectl, namespace, "runbook", rotations=[{**SECONDARY, "timeZone": "Europe/Berlin"}])
    body = wait_for_condition(
        kubectl,
        namespace,
        "runbook",
        "RotationsValid",
        "True",
        kind="escalationpolicy",
        detail=operator.log_tail,
    )
    assert conditions(body)["RotationsValid"]["reason"] == "TimeZonesKnown"
    shown = run_plugin(cluster.kubeconfig, namespace, "oncall", "--at", "2026-03-26T12:00:00Z")
    assert "runbook   secondary   now    bob" in shown.stdout
