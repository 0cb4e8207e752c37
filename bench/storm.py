"""An alert storm: one outage, many alerts, one incident per group (issue 16).

Run by ``make bench-storm`` (and ``make bench``; not part of the test run). Starts its own
local control plane (or uses ``--kubeconfig``), a local PagerDuty receiver and the
operator with its Alertmanager receiver, then:

1. makes ``--workloads`` Deployments (no replicas) in ``--groups`` groups, labelled
   ``app.kubernetes.io/part-of=group-<n>``, and one default EscalationPolicy that groups
   by ``[namespace, app.kubernetes.io/part-of]`` and pages PagerDuty at once for P1;
2. measures the anchor: the time for the API server alone to create one Incident per
   group (concurrently, one client thread per group), in a namespace the operator does not
   watch;
3. sends the storm as Alertmanager does: ``--alerts`` firing alerts (spread evenly over the
   workloads, several alert names each), one delivery per group (Alertmanager batches by
   its route's group_by), all groups at once; first round with the first half of each
   group's alerts (group_wait), then ``--resends`` rounds with all of them (group_interval
   and repeat_interval send the whole group again);
4. waits until every alert is a signal of some incident (``status.signals`` holds its
   fingerprint) and prints: incidents opened (goal: one per group), the time from the
   storm's start to the last incident holding all its signals (goal < 10 s on 2 cores),
   that time divided by the anchor, and the pages PagerDuty received (goal: one per
   group).

Without spec.grouping implemented every alert opens its own incident and pages; the figures
then show that (and the goals are reported as missed) rather than failing.
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from tests.harness.cluster import ClusterInfo, LocalCluster
from tests.harness.operator import OperatorProcess, _free_port
from tests.harness.wait import wait_until
from tests.support.receivers import HttpRecorder

from bench.pipeline import _post_alerts

GROUP, VERSION = "sre.agentos.io", "v1alpha1"
PART_OF = "app.kubernetes.io/part-of"
SECRET = "storm-channels"
TOKEN_SECRET = "alertmanager-token"
POLICY = "storm"
# Alert names a workload fires at once in an outage (each a separate alert and fingerprint).
ALERT_NAMES = (
    "HighErrorRate",
    "HighLatency",
    "KubePodCrashLooping",
    "KubeDeploymentReplicasMismatch",
    "TargetDown",
    "SLOBurnRateFast",
    "SLOBurnRateSlow",
    "UpstreamErrors",
    "QueueBacklog",
    "DatabaseConnectionsExhausted",
)
GOAL_SECONDS = 10.0


# --------------------------------------------------------------------------- the storm


def _group_of(workload: int, groups: int, workloads: int) -> int:
    """Workloads are split into ``groups`` contiguous runs of equal size."""
    return workload * groups // workloads


def storm_alerts(
    namespace: str, alerts: int, workloads: int, groups: int
) -> dict[int, list[dict[str, Any]]]:
    """Each group's alerts: alert i is on workload i % workloads, named by its round."""
    started = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    by_group: dict[int, list[dict[str, Any]]] = {group: [] for group in range(groups)}
    for index in range(alerts):
        workload = index % workloads
        group = _group_of(workload, groups, workloads)
        name = ALERT_NAMES[(index // workloads) % len(ALERT_NAMES)]
        instance = index // (workloads * len(ALERT_NAMES))
        labels = {
            "alertname": name,
            "severity": "high",
            "namespace": namespace,
            "deployment": f"svc-{workload:03d}",
            # Relabelled onto the alert as many setups do; the Deployment carries it too.
            PART_OF: f"group-{group}",
            "instance": f"10.0.{workload}.{instance}:8080",
        }
        by_group[group].append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{name} on svc-{workload:03d}"},
                "startsAt": started,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": f"{index + 1:016x}",
            }
        )
    return by_group


def delivery(namespace: str, group: int, alerts: list[dict[str, Any]]) -> bytes:
    """One Alertmanager webhook delivery of a group (route group_by namespace, part-of)."""
    group_labels = {"namespace": namespace, PART_OF: f"group-{group}"}
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:" + json.dumps(group_labels, sort_keys=True),
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "incident-operator",
            "groupLabels": group_labels,
            "commonLabels": {**group_labels, "severity": "high"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid",
            "alerts": alerts,
        }
    ).encode()


# --------------------------------------------------------------------------- set-up


def _namespace(core: client.CoreV1Api, name: str) -> None:
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))


def _workloads(api: client.ApiClient, namespace: str, workloads: int, groups: int) -> None:
    apps = client.AppsV1Api(api)

    def create(index: int) -> None:
        name = f"svc-{index:03d}"
        selector = {"app": name}
        labels = {**selector, PART_OF: f"group-{_group_of(index, groups, workloads)}"}
        apps.create_namespaced_deployment(
            namespace,
            client.V1Deployment(
                metadata=client.V1ObjectMeta(name=name, labels=labels),
                spec=client.V1DeploymentSpec(
                    replicas=0,
                    selector=client.V1LabelSelector(match_labels=selector),
                    template=client.V1PodTemplateSpec(
                        metadata=client.V1ObjectMeta(labels=labels),
                        spec=client.V1PodSpec(
                            containers=[
                                client.V1Container(name="main", image="registry.invalid/x:1")
                            ]
                        ),
                    ),
                ),
            ),
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(workloads)))


def _policy(recorder: HttpRecorder, max_signals: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EscalationPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "default": True,
            "grouping": {"by": ["namespace", PART_OF], "maxSignals": max_signals},
            "channels": [
                {
                    "name": "pagerduty",
                    "type": "pagerduty",
                    "url": f"{recorder.url}/pagerduty",
                    "secretRef": {"name": SECRET, "key": "routing-key"},
                }
            ],
            "escalation": {
                "steps": [
                    {
                        "severities": ["P0", "P1"],
                        "after": "0s",
                        "channel": "pagerduty",
                        "targets": [{"name": "Primary", "method": "pager"}],
                    }
                ]
            },
        },
    }


def _secret(core: client.CoreV1Api, namespace: str, name: str, data: dict[str, str]) -> None:
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data)
    )


def _policy_ready(custom: client.CustomObjectsApi, namespace: str) -> bool:
    body: Any = custom.get_namespaced_custom_object(
        GROUP, VERSION, namespace, "escalationpolicies", POLICY
    )
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@contextmanager
def _cluster(kubeconfig: Path | None, workdir: Path) -> Iterator[Path]:
    if kubeconfig is not None:
        yield kubeconfig
        return
    local = LocalCluster(workdir / "cluster")
    info: ClusterInfo = local.start()
    try:
        yield info.kubeconfig
    finally:
        local.stop()


# -------------------------------------------------------------------------- measures


def anchor_seconds(custom: client.CustomObjectsApi, namespace: str, count: int) -> float:
    """The API server alone creating ``count`` Incidents, one client thread each."""

    def create(index: int) -> None:
        custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "incidents",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Incident",
                "metadata": {"name": f"anchor-{index}"},
                "spec": {"title": f"group-{index} is down", "severity": "P1"},
            },
        )

    with ThreadPoolExecutor(count) as pool:
        started = time.monotonic()
        list(pool.map(create, range(count)))
        return time.monotonic() - started


def _signals_by_incident(custom: client.CustomObjectsApi, namespace: str) -> dict[str, set[str]]:
    listed: Any = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "incidents")
    items: list[dict[str, Any]] = listed["items"]
    return {
        item["metadata"]["name"]: {
            signal["fingerprint"] for signal in (item.get("status") or {}).get("signals") or []
        }
        for item in items
    }


def run_storm(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    if args.workloads % args.groups:
        raise SystemExit("--workloads must be a multiple of --groups")
    per_group = args.alerts // args.groups
    if per_group > 200:
        raise SystemExit("at most 200 alerts per group (an incident's signal limit)")
    tag = secrets.token_hex(2)
    namespace, anchor_namespace = f"storm-{tag}", f"storm-anchor-{tag}"
    token = secrets.token_hex(16)
    recorder = HttpRecorder().start()
    with _cluster(args.kubeconfig, workdir) as kubeconfig:
        api = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        _namespace(core, namespace)
        _namespace(core, anchor_namespace)
        _workloads(api, namespace, args.workloads, args.groups)
        _secret(core, namespace, SECRET, {"routing-key": secrets.token_hex(16)})
        _secret(core, namespace, TOKEN_SECRET, {"token": token})
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "escalationpolicies", _policy(recorder, per_group)
        )
        port = _free_port()
        operator = OperatorProcess(
            kubeconfig,
            workdir / "operator.log",
            extra_args=(
                "--namespace",
                namespace,
                "--alertmanager-listen",
                f"127.0.0.1:{port}",
                "--alertmanager-token-secret",
                f"{namespace}/{TOKEN_SECRET}",
            ),
        ).start()
        try:
            wait_until(
                lambda: _policy_ready(custom, namespace),
                what="the policy Ready",
                timeout=120,
                detail=operator.log_tail,
            )
            wait_until(
                lambda: _post_alerts(port, b"{}", None)[0] == 401,
                what="the Alertmanager receiver",
                timeout=60,
                detail=operator.log_tail,
            )
            anchor = anchor_seconds(custom, anchor_namespace, args.groups)
            by_group = storm_alerts(namespace, args.alerts, args.workloads, args.groups)
            fingerprints = {a["fingerprint"] for alerts in by_group.values() for a in alerts}
            rounds = [{g: alerts[: len(alerts) // 2] for g, alerts in by_group.items()}]
            rounds += [by_group] * args.resends
            answers: list[int] = []
            started = time.monotonic()
            with ThreadPoolExecutor(args.groups) as pool:
                for round_ in rounds:
                    # Alertmanager sends each group on its own; the groups go at once.
                    answers += pool.map(
                        lambda item: _post_alerts(
                            port, delivery(namespace, *item), token, timeout=300
                        )[0],
                        round_.items(),
                    )
            delivered = time.monotonic() - started

            def complete() -> dict[str, set[str]] | None:
                signals = _signals_by_incident(custom, namespace)
                held = set().union(*signals.values()) if signals else set()
                return signals if held >= fingerprints else None

            signals = wait_until(
                complete,
                what="every alert a signal of an incident",
                timeout=args.timeout,
                interval=0.1,
                detail=operator.log_tail,
            )
            holding = time.monotonic() - started
            # Pages go out after the incidents' status is written: wait for them to settle.
            wait_until(
                lambda: len(_pages(recorder)) >= args.groups,
                what="the pages",
                timeout=args.timeout,
                detail=operator.log_tail,
            )
            settled = _settle(lambda: len(_pages(recorder)), seconds=5)
        finally:
            operator.stop()
            recorder.close()
    return {
        "alerts": args.alerts,
        "workloads": args.workloads,
        "groups": args.groups,
        "deliveries": len(answers),
        "deliveries answered 200": sum(1 for status in answers if status == 200),
        "all deliveries sent in s": round(delivered, 3),
        "incidents opened": len(signals),
        "incidents opened goal": args.groups,
        "largest incident signals": max(len(s) for s in signals.values()),
        "s to the last incident holding all its signals": round(holding, 3),
        "s goal": GOAL_SECONDS,
        f"anchor: s for the API server to create {args.groups} Incidents": round(anchor, 3),
        "storm / anchor": round(holding / anchor, 1) if anchor else None,
        "pages sent": settled,
        "pages goal": args.groups,
    }


def _pages(recorder: HttpRecorder) -> set[str]:
    """PagerDuty trigger events received, by dedup key (a retry is not a second page)."""
    return {
        call.body.get("dedup_key", "")
        for call in recorder.received("/pagerduty")
        if isinstance(call.body, dict) and call.body.get("event_action") == "trigger"
    }


def _settle(count: Any, seconds: float) -> int:
    """``count()`` once it has not changed for ``seconds``."""
    last, since = count(), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.2)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return int(last)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--resends", type=int, default=2, help="whole-group deliveries again")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait at most")
    parser.add_argument("--kubeconfig", type=Path, help="an existing cluster (default: start one)")
    parser.add_argument("--output", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storm-bench-") as tmp:
        results = run_storm(args, Path(tmp))
    print(json.dumps(results, indent=2), flush=True)
    goals = {
        "incidents": results["incidents opened"] == args.groups,
        "time": results["s to the last incident holding all its signals"] < GOAL_SECONDS,
        "pages": results["pages sent"] == args.groups,
    }
    print("goals: " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in goals.items()))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
