"""Rollback benchmark: from the approval annotation to the workload rolled back.

Run with ``python -m bench.rollback_latency`` (not part of the test run). Starts its own
control plane (or uses ``--kubeconfig``), installs the admission policies and runs the
operator, then for each trial:

1. builds two identical Deployments with two revisions each;
2. opens an Incident asking to roll one of them back and waits for the proposal;
3. writes the approval annotation as a member of the approver group (through the
   admission policy, as a person would) and, on a watch of the Deployment, takes the
   time until its pod template is revision 1's: **approval -> rolled back**;
4. runs the real ``kubectl rollout undo`` on the other Deployment and takes the wall
   time of that process: **kubectl rollout undo**, the same rollback by hand.

The clock starts when the approval request is sent, so it includes admission and the
write; the operator's part is everything after. Prints percentiles (nearest rank) of
both, and writes them as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until

from bench.common import control_plane, percentile

GROUP, VERSION = "sre.agentos.io", "v1alpha1"
# A new one each run, so runs against a kept cluster do not collide.
NAMESPACE = f"bench-rollback-{secrets.token_hex(3)}"
REPO = Path(__file__).resolve().parents[1]
APPROVER, APPROVERS = "bench-approver", "incident-approvers"
IMAGES = ("registry.invalid/bench:1", "registry.invalid/bench:2")


def _deployment(name: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": IMAGES[0]}]},
            },
        },
    }


def _image(deployment: Any) -> str:
    return str(deployment.spec.template.spec.containers[0].image)


class Bench:
    def __init__(self, kubeconfig: Path, kubectl: Path) -> None:
        self.kubeconfig, self.kubectl = kubeconfig, kubectl
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        # The approver: the admin impersonating a member of the approver group.
        self.approver_api = config.new_client_from_config(config_file=str(kubeconfig))
        self.approver_api.set_default_header("Impersonate-User", APPROVER)
        self.approver_api.set_default_header("Impersonate-Group", APPROVERS)
        self.apps = client.AppsV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def run_kubectl(self, *args: str, input: str | None = None) -> float:
        started = time.perf_counter()
        subprocess.run(
            [str(self.kubectl), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=True,
        )
        return time.perf_counter() - started

    def setup(self) -> None:
        self.run_kubectl("apply", "-k", str(REPO / "manifests" / "admission"))
        self.run_kubectl(
            "apply", "-f", str(REPO / "manifests" / "rbac" / "incident-responder.yaml")
        )
        self.run_kubectl("create", "namespace", NAMESPACE)
        self.run_kubectl(
            "create",
            "rolebinding",
            "approver",
            "-n",
            NAMESPACE,
            "--clusterrole=incident-responder",
            f"--user={APPROVER}",
        )

    def two_revisions(self, name: str) -> None:
        self.apps.create_namespaced_deployment(NAMESPACE, _deployment(name))
        patch = {
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGES[1]}]}}}
        }
        wait_until(lambda: self._revisions(name) >= 1, what=f"{name} revision 1", timeout=60)
        self.apps.patch_namespaced_deployment(name, NAMESPACE, patch)
        wait_until(lambda: self._revisions(name) >= 2, what=f"{name} revision 2", timeout=60)

    def _revisions(self, name: str) -> int:
        listed = self.apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"app={name}")
        return len(listed.items)

    def propose(self, trial: int, target: str) -> tuple[str, str]:
        """The incident's name and its proposal's identifier, once proposed."""
        name = f"outage-{trial}"
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Incident",
            "metadata": {"name": name},
            "spec": {
                "title": "bench",
                "severity": "P2",
                "affected": [{"kind": "Deployment", "name": target}],
                "rollback": {"target": {"kind": "Deployment", "name": target}},
            },
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "incidents", body)

        def proposed() -> str | None:
            found: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "incidents", name
            )
            rollback = (found.get("status") or {}).get("rollback", {})
            return str(rollback["proposal"]) if rollback.get("phase") == "Proposed" else None

        proposal: str = wait_until(proposed, what=f"the proposal of {name}", timeout=60)
        return name, proposal

    def approve_and_time(self, incident: str, proposal: str, target: str) -> float:
        """Seconds from sending the approval to a watch event with the old image back."""
        current = self.apps.read_namespaced_deployment(target, NAMESPACE)
        stream = watch.Watch()
        events = stream.stream(
            self.apps.list_namespaced_deployment,
            NAMESPACE,
            field_selector=f"metadata.name={target}",
            resource_version=current.metadata.resource_version,
            timeout_seconds=60,
        )
        approval = {
            "metadata": {
                "annotations": {
                    "sre.agentos.io/approve-rollback": APPROVER,
                    "sre.agentos.io/approve-rollback-proposal": proposal,
                }
            }
        }
        started = time.perf_counter()
        client.CustomObjectsApi(self.approver_api).patch_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "incidents", incident, approval
        )
        try:
            for event in events:
                if _image(event["object"]) == IMAGES[0]:
                    return time.perf_counter() - started
        finally:
            stream.stop()
        raise TimeoutError(f"{target} was not rolled back within 60 s")


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.50),
        "p90": percentile(values, 0.90),
        "p99": percentile(values, 0.99),
        "max": max(values),
        "min": min(values),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rollback_latency", description=__doc__)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--kubeconfig", help="use this cluster instead of starting one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    with (
        control_plane(args.kubeconfig, "rollback-bench-") as (kubeconfig, kubectl),
        tempfile.TemporaryDirectory() as logs,
    ):
        bench = Bench(kubeconfig, kubectl)
        bench.setup()
        operator = OperatorProcess(kubeconfig, Path(logs) / "operator.log").start()
        operator_times, kubectl_times = [], []
        try:
            for trial in range(args.trials):
                ours, theirs = f"web-{trial}", f"twin-{trial}"
                bench.two_revisions(ours)
                bench.two_revisions(theirs)
                incident, proposal = bench.propose(trial, ours)
                operator_times.append(bench.approve_and_time(incident, proposal, ours))
                kubectl_times.append(
                    bench.run_kubectl("rollout", "undo", f"deployment/{theirs}", "-n", NAMESPACE)
                )
                ours_ms, theirs_ms = operator_times[-1] * 1000, kubectl_times[-1] * 1000
                print(
                    f"trial {trial + 1:>3}: approval -> rolled back {ours_ms:7.1f} ms"
                    f"   kubectl rollout undo {theirs_ms:7.1f} ms",
                    flush=True,
                )
        finally:
            operator.stop(kill=True)
            bench.run_kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    result = {
        "trials": args.trials,
        "approval_to_rolled_back_s": _summary(operator_times),
        "kubectl_rollout_undo_s": _summary(kubectl_times),
    }
    print()
    print(f"{'over ' + str(args.trials) + ' trials':<34}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}")
    for label, key in (
        ("approval -> template rolled back", "approval_to_rolled_back_s"),
        ("kubectl rollout undo (wall time)", "kubectl_rollout_undo_s"),
    ):
        figures = result[key]
        assert isinstance(figures, dict)
        print(
            f"{label:<34}"
            + "".join(f"{figures[p] * 1000:>7.0f}ms" for p in ("p50", "p90", "p99", "max"))
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
