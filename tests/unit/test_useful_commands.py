"""The pure parts of the runbook's useful commands: workload and pod health, rollouts and
their changes, signal readings and rule levels, and the incident summary."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.cli.cluster import PluginError
from incident_operator.cli.main import _parser
from incident_operator.cli.useful_commands import _health_text
from incident_operator.domain.detection import InstantVector, WorkloadKey, resolve_thresholds
from incident_operator.domain.rollback_plan import workload_from_objects
from incident_operator.domain.rollout_history import change_causes, recent_rollouts
from incident_operator.domain.signals import Level, Signal
from incident_operator.domain.workload_health import (
    PodHealth,
    WorkloadHealth,
    pod_health,
    workload_health,
)
from incident_operator.reconcile.detection import compile_rule
from incident_operator.reconcile.incident_summary import (
    SummaryFormat,
    render_summary,
    summarize,
)
from incident_operator.reconcile.signal_levels import (
    RuleLevel,
    readings,
    rule_level,
    signal_source,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ------------------------------------------------------------------------ health


def _deployment(replicas: int, status: dict[str, Any], generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout", "namespace": "shop", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 1, **status},
    }


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (_deployment(2, {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}), None),
        (
            _deployment(3, {"readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 1}),
            "1 of 3 available",
        ),
        (
            _deployment(2, {"updatedReplicas": 1, "availableReplicas": 2}),
            "rollout in progress: 1 of 2 updated",
        ),
        (
            _deployment(1, {"updatedReplicas": 1, "availableReplicas": 1}, generation=2),
            "the controller has not seen the latest spec yet",
        ),
        (
            _deployment(
                1,
                {
                    "updatedReplicas": 1,
                    "availableReplicas": 1,
                    "conditions": [
                        {
                            "type": "Progressing",
                            "status": "False",
                            "reason": "ProgressDeadlineExceeded",
                            "message": "too slow",
                        }
                    ],
                },
            ),
            "progress deadline exceeded: too slow",
        ),
    ],
)
def test_a_deployment_is_healthy_when_every_replica_is_updated_and_available(
    raw: dict[str, Any], problem: str | None
) -> None:
    assert workload_health("Deployment", raw).problem == problem


def test_a_daemon_set_counts_the_nodes_it_should_run_on() -> None:
    raw = {
        "metadata": {"name": "agent", "namespace": "shop"},
        "status": {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 2},
    }
    health = workload_health("DaemonSet", raw)
    assert (health.desired, health.available, health.problem) == (3, 2, "2 of 3 available")


def _pod(phase: str, ready: bool, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout-1", "namespace": "shop"},
        "spec": {"containers": [{"name": "app"}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            **status,
        },
    }


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (_pod("Running", True), None),
        (_pod("Succeeded", False), None),
        (_pod("Running", False), "Running, not Ready"),
        (
            _pod(
                "Running",
                False,
                containerStatuses=[
                    {
                        "name": "app",
                        "ready": False,
                        "restartCount": 7,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    }
                ],
            ),
            "app: CrashLoopBackOff",
        ),
        (
            _pod(
                "Pending",
                False,
                conditions=[
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": "0/2 nodes are available",
                    }
                ],
            ),
            "Unschedulable: 0/2 nodes are available",
        ),
    ],
)
def test_a_pod_is_healthy_when_running_and_ready(raw: dict[str, Any], problem: str | None) -> None:
    assert pod_health(raw).problem == problem


# ----------------------------------------------------------------------- deploys

UID = "uid-1"


def _replica_set(revision: int, image: str, created: datetime, cause: str | None = None) -> Any:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": annotations,
            "ownerReferences": [{"controller": True, "uid": UID}],
            "creationTimestamp": created.isoformat(),
        },
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}},
    }


def test_rollouts_in_the_window_with_what_changed_from_the_revision_before() -> None:
    history = [
        _replica_set(1, "web:1.0", NOW - timedelta(days=3)),
        _replica_set(2, "web:1.1", NOW - timedelta(hours=5), cause="bump to 1.1"),
        _replica_set(3, "web:1.2", NOW - timedelta(hours=1)),
    ]
    raw = {
        "metadata": {"name": "web", "uid": UID},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:1.2"}]}}},
    }
    workload = workload_from_objects("Deployment", raw, history)
    found = recent_rollouts("shop", workload, change_causes(history), NOW - timedelta(hours=24))
    assert [(r.revision, r.previous, r.current) for r in found] == [(2, 1, False), (3, 2, True)]
    assert found[0].changes == ("container app: image web:1.0 -> web:1.1",)
    assert found[0].change_cause == "bump to 1.1"
    assert found[1].changes == ("container app: image web:1.1 -> web:1.2",)
    assert found[1].change_cause is None


def test_the_first_revision_kept_has_no_change_to_show() -> None:
    history = [_replica_set(4, "web:2.0", NOW - timedelta(minutes=5))]
    raw = {"metadata": {"name": "web", "uid": UID}, "spec": {"template": {}}}
    [only] = recent_rollouts(
        "shop", workload_from_objects("Deployment", raw, history), {}, NOW - timedelta(hours=1)
    )
    assert (only.revision, only.previous, only.changes) == (4, None, ())


# ------------------------------------------------------------------ errors, queue


def _vector(values: dict[tuple[str, str], float]) -> InstantVector:
    return InstantVector({"shop": {key: (value,) for key, value in values.items()}}, 0.0)


def test_error_rates_are_listed_worst_first_with_their_levels() -> None:
    thresholds = resolve_thresholds(Signal.API_ERROR_RATE, None, None, None)
    vector = _vector(
        {
            ("Deployment", "search"): 0.02,
            ("Deployment", "checkout"): 0.5,
            ("Deployment", "idle"): float("nan"),
            ("Deployment", "cart"): 0.001,
        }
    )
    found = readings(vector, thresholds)
    assert [(r.name, r.level) for r in found] == [
        ("checkout", Level.CRITICAL),
        ("search", Level.WARNING),
        ("cart", Level.OK),
        ("idle", Level.UNKNOWN),
    ]


def _policy(rules: list[dict[str, Any]], **spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "runbook", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"tier": "api"}}, "detection": {"rules": rules}},
            **spec,
        }
    )


def test_a_signal_is_read_as_the_namespace_policy_reads_it() -> None:
    policy = _policy(
        [
            {
                "name": "errors",
                "signal": "apiErrorRate",
                "warning": 0.02,
                "critical": 0.1,
                "metrics": {"requests": "api_requests_total"},
            }
        ]
    )
    source = signal_source(Signal.API_ERROR_RATE, "shop", [policy], timedelta(hours=1))
    assert "api_requests_total" in source.promql
    assert "[3600s]" in source.promql
    assert (source.thresholds.warning, source.thresholds.critical) == (0.02, 0.1)
    assert source.origin == "policy runbook, rule errors"
    runbook = signal_source(Signal.AGENT_QUEUE_DEPTH, "shop", [policy])
    assert (runbook.thresholds.warning, runbook.thresholds.critical) == (1000, 5000)
    assert runbook.origin == "the runbook"


def test_a_rule_shows_its_worst_workload_and_counts_the_rest() -> None:
    policy = _policy([{"name": "queue", "signal": "agentQueueDepth"}])
    compiled = compile_rule("shop", policy.spec.detection.rules[0])
    workloads = [
        (WorkloadKey("Deployment", name), {"tier": "api"}) for name in ("a", "b", "c", "d")
    ] + [(WorkloadKey("Deployment", "other"), {"tier": "web"})]
    vector = InstantVector(
        {
            "shop": {
                ("Deployment", "a"): (200.0,),
                ("Deployment", "b"): (1500.0,),
                ("Deployment", "c"): (1200.0,),
                ("Deployment", "other"): (9000.0,),
            }
        },
        NOW.timestamp(),
    )
    level = rule_level("shop", policy, compiled, vector, workloads, NOW)
    assert (level.level, level.workload, level.value) == (
        Level.WARNING,
        WorkloadKey("Deployment", "b"),
        1500.0,
    )
    assert level.counts == {Level.OK: 1, Level.WARNING: 2, Level.UNKNOWN: 1}
    failed = rule_level("shop", policy, compiled, "Prometheus at http://x refused", workloads, NOW)
    assert (failed.level, failed.problem) == (Level.UNKNOWN, "Prometheus at http://x refused")


# ----------------------------------------------------------------------- summary


def _incident() -> Incident:
    def at(minutes: int) -> str:
        return (NOW + timedelta(minutes=minutes)).isoformat()

    return Incident.model_validate(
        {
            "metadata": {"name": "checkout-down", "namespace": "shop"},
            "spec": {
                "title": "Checkout down",
                "severity": "P1",
                "summary": "Checkout returns 500s.\nSince the 11:58 deploy.",
                "impact": "~30% of orders fail",
                "state": "Resolved",
                "affected": [{"kind": "Deployment", "name": "checkout"}],
                "roles": {"commander": "alice"},
                "mitigation": "rolled back to 1.4.2",
                "updates": [{"message": "error rate\nfalling", "author": "bob", "time": at(20)}],
                "actionItems": [
                    {"id": "AI-1", "action": "add a canary", "owner": "carol", "priority": "P1"},
                    {
                        "id": "AI-2",
                        "action": "done already",
                        "owner": "carol",
                        "priority": "P2",
                        "done": True,
                    },
                ],
            },
            "status": {
                "id": "INC-0042",
                "phase": "PostIncident",
                "detectedAt": at(0),
                "acknowledgedAt": at(4),
                "mitigatedAt": at(25),
                "resolvedAt": at(70),
                "postMortem": {"scheduleDueAt": at(60 * 48)},
                "checklist": [
                    {
                        "checklist": "postIncident",
                        "key": "lessonsLearned",
                        "text": "Lessons learned captured",
                        "done": False,
                        "tickedBy": "responder",
                        "required": True,
                    }
                ],
                "timeline": [
                    {"time": at(0), "type": "Declared", "actor": "operator", "message": "opened"},
                    {"time": at(1), "type": "NotificationSent", "actor": "op", "message": "x"},
                    {"time": at(4), "type": "Acknowledged", "actor": "alice", "message": "ack"},
                    {
                        "time": at(10),
                        "type": "SeverityChanged",
                        "actor": "alice",
                        "message": "P2 -> P1",
                    },
                    {
                        "time": at(70),
                        "type": "PhaseChanged",
                        "actor": "alice",
                        "message": "Monitoring -> Resolved",
                    },
                ],
            },
        }
    )


def test_the_summary_in_text() -> None:
    text = render_summary(summarize(_incident(), NOW + timedelta(hours=3)), SummaryFormat.TEXT)
    assert text.startswith("INC-0042 [P1] Checkout down\n")
    assert "  Checkout returns 500s.\n  Since the 11:58 deploy.\n" in text
    assert "  Affected: Deployment/checkout\n" in text
    assert "  ~30% of orders fail\n" in text
    highlights = text.split("Timeline highlights:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[3] for line in highlights] == [
        "Declared",
        "Acknowledged",
        "SeverityChanged",
        "PhaseChanged",
    ]
    assert "  Mitigation: rolled back to 1.4.2\n" in text
    # A multi-line message stays on its line.
    assert "by bob: error rate falling\n" in text
    assert "  Checklist: Lessons learned captured (lessonsLearned, required)\n" in text
    assert "  Post-mortem (Draft): scheduled by 2026-03-03 12:00:00 UTC\n" in text
    assert "Action item AI-1 [P1]: add a canary (owner carol)" in text
    assert "AI-2" not in text
    assert "  Time to acknowledge: 4m\n  Time to mitigate: 25m\n  Time to resolve: 1h10m\n" in text


def test_the_summary_in_markdown() -> None:
    incident = _incident()
    incident.status.resolved_at = None
    text = render_summary(summarize(incident, NOW + timedelta(hours=3)), SummaryFormat.MARKDOWN)
    assert text.startswith("# INC-0042 [P1] Checkout down\n\n## What\n\nCheckout returns 500s.\n")
    assert "\n## Open items\n\n- Checklist: Lessons learned captured" in text
    assert "- Time to resolve: not yet (3h so far)\n" in text
    assert "\n## Actions taken\n\n- Mitigation: rolled back to 1.4.2\n" in text


# ------------------------------------------------------------------------ parsing


def test_the_commands_parse_their_windows_and_outputs() -> None:
    args = _parser().parse_args(["errors", "--last", "30m", "-o", "json", "-n", "shop"])
    assert (args.last, args.output, args.namespace) == (timedelta(minutes=30), "json", "shop")
    args = _parser().parse_args(["deploys", "-A"])
    assert (args.last, args.all_namespaces) == (timedelta(hours=24), True)
    args = _parser().parse_args(["summary", "INC-42", "--format", "markdown"])
    assert (args.incident, args.format) == ("INC-42", "markdown")
    with pytest.raises(SystemExit):
        _parser().parse_args(["errors", "--last", "soon"])


def test_the_health_table_marks_levels_and_escapes_what_the_cluster_says() -> None:
    sick = WorkloadHealth("shop", "Deployment", "stuck", 1, 0, 1, 0, "0 of 1 available")
    pod = PodHealth("shop", "stuck-1", "Pending", 0, 1, 0, "app: Bad\x1b[31mReason")
    queue = RuleLevel(
        "shop",
        "runbook",
        "queue",
        "agentQueueDepth",
        Level.WARNING,
        WorkloadKey("Deployment", "checkout"),
        2000,
        resolve_thresholds(Signal.AGENT_QUEUE_DEPTH, None, None, None),
        {Level.UNKNOWN: 2, Level.WARNING: 1},
    )
    text = _health_text([sick], [sick], [pod], [queue], "http://127.0.0.1:9", None, [], False)
    assert "Workloads: 1, 0 fully available" in text
    assert "app: Bad\\x1b[31mReason" in text
    assert "\x1b" not in text
    [row] = [line for line in text.splitlines() if line.startswith("runbook")]
    assert row.split() == [
        "runbook",
        "queue",
        "agentQueueDepth",
        "warning",
        "!",
        "Deployment/checkout",
        "2000",
        ">",
        "1000",
        ">",
        "5000",
        "1",
        "warning,",
        "2",
        "unknown",
    ]
    failed = _health_text(
        [], [], [], [], "http://x", PluginError("Prometheus at http://x"), [], False
    )
    assert "Detection rules: not evaluated: Prometheus at http://x" in failed


def test_a_stateful_sets_rollouts_come_from_its_controller_revisions() -> None:
    def revision(number: int, image: str, cause: str | None = None) -> dict[str, Any]:
        annotations = {"kubernetes.io/change-cause": cause} if cause else {}
        return {
            "metadata": {
                "name": f"db-{number}",
                "annotations": annotations,
                "ownerReferences": [{"controller": True, "uid": UID}],
                "creationTimestamp": (NOW - timedelta(minutes=60 - number)).isoformat(),
            },
            "revision": number,
            "data": {
                "spec": {"template": {"spec": {"containers": [{"name": "db", "image": image}]}}}
            },
        }

    history = [revision(1, "pg:15"), revision(2, "pg:16", cause="major upgrade")]
    raw = {
        "metadata": {"name": "db", "uid": UID},
        "spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}},
    }
    workload = workload_from_objects("StatefulSet", raw, history)
    found = recent_rollouts("shop", workload, change_causes(history), NOW - timedelta(hours=1))
    assert [(r.reference, r.revision, r.current) for r in found] == [
        ("StatefulSet/db", 1, False),
        ("StatefulSet/db", 2, True),
    ]
    assert found[1].changes == ("container db: image pg:15 -> pg:16",)
    assert found[1].change_cause == "major upgrade"
