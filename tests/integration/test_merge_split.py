"""Merge and split on a real API server (docs/merge-split.md): `kubectl incident merge`
moves signals and closes the merged incident, which pages no more; `split` opens a new
incident for one signal; a merge whose first write was made before a restart finishes
without moving anything twice."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.harness.plugin import run_plugin
from tests.support.escalation_env import (
    EscalationEnv,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
    records,
)

from incident_operator.reconcile.merge import split_name

pytestmark = pytest.mark.timeout(180)


def _signal(number: int, workload: str, fingerprint: str) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": f"s{number}",
        "source": "alertmanager",
        "severity": "P2",
        "firstSeen": now,
        "fingerprint": fingerprint,
        "policy": "am",
        "rule": "HighErrorRate",
        "workload": {"kind": "Deployment", "name": workload},
        "level": "critical",
        "breaching": True,
        "lastEvaluatedAt": now,
    }


def _set_status(env: EscalationEnv, name: str, status: dict[str, Any]) -> None:
    env.kubectl(
        "patch", "incident", name, "-n", env.namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def _status(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body.get("status") or {})


def _timeline(body: dict[str, Any], type_: str) -> list[str]:
    return [e["message"] for e in _status(body).get("timeline") or [] if e["type"] == type_]


def _fingerprints(body: dict[str, Any]) -> list[str]:
    return [s["fingerprint"] for s in _status(body).get("signals") or []]


def test_merge_then_split(env: EscalationEnv) -> None:
    env.setup("pagerduty", "slack-high", escalation=first_step_only())
    kubeconfig = env.cluster.kubeconfig
    with env.operator() as operator:
        env.apply(incident("checkout", "P2", affected=[{"kind": "Deployment", "name": "web"}]))
        env.apply(incident("payments", "P1", affected=[{"kind": "Deployment", "name": "pay"}]))
        for name in ("checkout", "payments"):
            env.wait_for(name, lambda b: _status(b).get("id"), f"{name} has an ID", operator)
        _set_status(env, "checkout", {"signals": [_signal(1, "web", "fp-web")]})
        _set_status(
            env,
            "payments",
            {"signals": [_signal(1, "pay", "fp-pay"), _signal(2, "ledger", "fp-ledger")]},
        )
        env.wait_for("payments", lambda b: records(b), "payments paged at its first step", operator)
        result = run_plugin(kubeconfig, env.namespace, "merge", "checkout", "payments")
        assert "merged into" in result.stdout
        source = env.wait_for(
            "payments", lambda b: _status(b).get("phase") == "Closed", "payments closed", operator
        )
        target = env.wait_for(
            "checkout",
            lambda b: len(_fingerprints(b)) == 3,
            "checkout holds the three signals",
            operator,
        )
        status = _status(target)
        assert _fingerprints(target) == ["fp-web", "fp-pay", "fp-ledger"]
        assert [(s["id"], s.get("movedFrom")) for s in status["signals"]] == [
            ("s1", None),
            ("s2", "payments"),
            ("s3", "payments"),
        ]
        assert status["mergedFrom"] == ["payments"]
        assert target["spec"]["severity"] == "P1"  # payments' was higher
        assert [w["name"] for w in target["spec"]["affected"]] == ["web", "pay"]
        assert any("merged into this incident" in m for m in _timeline(target, "Merged"))
        merged = _status(source)
        assert merged["mergedInto"] == "checkout"
        assert merged.get("signals", []) == []
        assert any(m.startswith("merged into") for m in _timeline(source, "Merged"))
        assert {c["type"]: c["status"] for c in merged["conditions"]}["Merged"] == "True"
        assert "postMortem" not in merged
        # A merged incident pages no more: a trigger that would escalate it at once does
        # nothing, while the same trigger on checkout (set after it) escalates checkout.
        before = {r["key"] for r in records(source)}
        # (With the shipped admission policies in force the API server refuses the change
        # to a Closed incident outright; either way nothing may page.)
        env.kubectl(
            "patch", "incident", "payments", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"triggers": {"dataLoss": True}}}), check=False,
        )  # fmt: skip
        env.kubectl(
            "patch", "incident", "checkout", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"triggers": {"dataLoss": True}}}),
        )  # fmt: skip
        env.wait_for(
            "checkout",
            lambda b: any(
                t["name"] == "dataLoss"
                for t in (_status(b).get("escalation") or {}).get("triggers") or []
            ),
            "checkout escalated for data loss",
            operator,
        )
        after = env.get("payments")
        assert {r["key"] for r in records(after)} <= before
        fired = (_status(after).get("escalation") or {}).get("triggers") or []
        assert "dataLoss" not in [t["name"] for t in fired]

        shown = run_plugin(kubeconfig, env.namespace, "show", "checkout").stdout
        assert "Signals (3):" in shown
        assert "Merged from:" in shown

        # Split fp-ledger (s3) back out.
        result = run_plugin(kubeconfig, env.namespace, "split", "checkout", "s3")
        child_name = split_name("checkout", "fp-ledger")
        assert child_name in result.stdout
        child = env.wait_for(
            child_name, lambda b: _status(b).get("signals"), "the split-out incident", operator
        )
        assert _status(child)["splitFrom"] == "checkout"
        assert _fingerprints(child) == ["fp-ledger"]
        assert child["metadata"]["labels"]["sre.agentos.io/fingerprint"] == "fp-ledger"
        assert child["spec"]["affected"] == [{"kind": "Deployment", "name": "ledger"}]
        assert any(m.startswith("split out of") for m in _timeline(child, "SignalSplit"))
        target = env.get("checkout")
        assert _fingerprints(target) == ["fp-web", "fp-pay"]
        assert any(m.startswith("s3 split out to") for m in _timeline(target, "SignalSplit"))
        assert "sre.agentos.io/split" not in target["metadata"].get("annotations", {})
        # The only-signal refusal: the plugin refuses before asking.
        refused = run_plugin(kubeconfig, env.namespace, "split", child_name, "s1", check=False)
        assert refused.returncode == 1
        assert "only signal" in refused.stderr


def test_a_merge_half_done_before_a_restart_finishes_without_duplicates(
    env: EscalationEnv,
) -> None:
    env.setup("slack-high")
    moved = {**_signal(2, "pay", "fp-pay"), "movedFrom": "payments"}
    with env.operator("first.log") as operator:
        env.apply(incident("checkout", "P2"))
        env.apply(incident("payments", "P2"))
        for name in ("checkout", "payments"):
            env.wait_for(name, lambda b: _status(b).get("id"), f"{name} has an ID", operator)
    # The operator stopped after the first write of a merge: checkout holds the signal and
    # names payments in mergedFrom; payments still has it and the annotation.
    _set_status(env, "checkout", {"signals": [_signal(1, "web", "fp-web"), moved]})
    _set_status(env, "checkout", {"mergedFrom": ["payments"]})
    _set_status(env, "payments", {"signals": [_signal(1, "pay", "fp-pay")]})
    me = env.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    env.kubectl(
        "annotate", "incident", "payments", "-n", env.namespace,
        "sre.agentos.io/merge-into=checkout", f"sre.agentos.io/merge-by={me}",
    )  # fmt: skip
    with env.operator("second.log") as operator:
        source = env.wait_for(
            "payments", lambda b: _status(b).get("mergedInto"), "payments merged", operator
        )
    target = env.get("checkout")
    assert _fingerprints(target) == ["fp-web", "fp-pay"]
    assert _status(target)["mergedFrom"] == ["payments"]
    assert _status(source)["phase"] == "Closed"


def test_merge_and_split_requests_are_made_as_yourself(
    env: EscalationEnv, admission_policies: None
) -> None:
    kubectl, namespace = env.kubectl, env.namespace
    kubectl(
        "create", "rolebinding", "responders", "-n", namespace,
        "--clusterrole=incident-responder", "--user=alice", "--user=bob",
    )  # fmt: skip
    env.apply(incident("db", "P2"))
    for key in ("merge-by", "split-by"):
        forged = kubectl(
            "annotate", "incident", "db", "-n", namespace, f"sre.agentos.io/{key}=bob",
            as_user="alice", check=False,
        )  # fmt: skip
        assert forged.returncode != 0
        assert f"{key} must be your own user name (alice), not bob" in forged.stderr
    own = kubectl(
        "annotate", "incident", "db", "-n", namespace, "sre.agentos.io/merge-by=alice",
        as_user="alice",
    )  # fmt: skip
    assert own.returncode == 0
