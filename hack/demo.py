"""`make demo`: the whole story on a local control plane, narrated in the terminal.

A checkout service rolls out a bad revision; its error rate climbs; the operator opens an
incident, escalates it to a (local) chat channel, proposes rolling back with the diff;
a person approves; the operator rolls back, sees the error rate recover, and once a person
resolves it, drafts the post-mortem.

Then a second story: a payments feature flag (a flagd flags ConfigMap) is turned on and
payments starts failing; the operator opens a second incident; the on-call requests the
policy's `disable-flag` remediation, the operator records the proposal with its diff, a
person approves it, the operator turns the flag off (recording its previous value), the
errors stop, and the remediation is verified against the incident's rules.

Everything runs on this machine (127.0.0.1): the control plane and Prometheus of
tests/harness, the operator as a process, a small exporter standing in for the service's
metrics, and an HTTP receiver standing in for Slack. With DEMO_KUBECONFIG (and
DEMO_PROMETHEUS_URL) it uses an existing cluster instead and starts only the operator.
Pass --keep to leave it all running at the end.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.cluster import ClusterInfo, LocalCluster, run_kubectl
from tests.harness.incidents import Body, conditions
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import PLUGIN, run_plugin
from tests.harness.wait import wait_until
from tests.harness.workloads import PART_OF_AGENTOS, deployment_manifest
from tests.integration.exporters import WorkloadExporter
from tests.support.intake_http import free_port
from tests.support.receivers import HttpRecorder

NAMESPACE = "demo"
# The second story's flagd flags ConfigMap and the flag in it.
PAYMENTS_FLAGS = "payments-flags"
PAYMENTS_FLAG = "fast-path"
BOLD, DIM, RESET = "\033[1m", "\033[2m", "\033[0m"


def say(text: str) -> None:
    print(f"\n{BOLD}==> {text}{RESET}", flush=True)


def show(text: str) -> None:
    print("\n".join(f"    {line}" for line in text.rstrip().splitlines()), flush=True)


class Demo:
    def __init__(self, info: ClusterInfo, workdir: Path) -> None:
        self.info = info
        self.workdir = workdir
        self.exporter = WorkloadExporter().start()
        self.chat = HttpRecorder().start()
        self.operator: OperatorProcess | None = None
        self.dashboard: subprocess.Popen[bytes] | None = None
        self.status_page = ""

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return run_kubectl(
            self.info.kubectl_path, self.info.kubeconfig, args, True, input, 60
        ).stdout

    def plugin(self, *args: str) -> str:
        return run_plugin(self.info.kubeconfig, NAMESPACE, *args).stdout

    def apply(self, manifest: dict[str, Any]) -> None:
        self.kubectl("apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(manifest))

    def incident(self) -> Body | None:
        items = json.loads(self.kubectl("get", "incidents", "-n", NAMESPACE, "-o", "json"))["items"]
        return items[0] if items else None

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 120) -> Any:
        detail = self.operator.log_tail if self.operator else None
        return wait_until(check, timeout=timeout, interval=0.5, what=what, detail=detail)

    def pods(self, app: str = "checkout") -> list[str]:
        listing = self.kubectl(
            "get",
            "pods",
            "-n",
            NAMESPACE,
            "-l",
            f"app={app}",
            "-o",
            "jsonpath={.items[*].metadata.name}",
        )
        return listing.split()

    def traffic(self, error_ratio: float, app: str = "checkout") -> None:
        for pod in self.pods(app):
            self.exporter.set_traffic(
                NAMESPACE, pod, requests_per_second=50, error_ratio=error_ratio
            )

    def incident_of(self, workload: str) -> Body | None:
        items = json.loads(self.kubectl("get", "incidents", "-n", NAMESPACE, "-o", "json"))["items"]
        mine = [
            item
            for item in items
            if any(w.get("name") == workload for w in item["spec"].get("affected") or [])
        ]
        return mine[0] if mine else None

    def flag_variant(self) -> str:
        """The payments flag's default variant, as the payments service would read it."""
        flags = json.loads(
            self.kubectl(
                "get",
                "configmap",
                PAYMENTS_FLAGS,
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.data.flags\\.flagd\\.json}",
            )
        )
        return str(flags["flags"][PAYMENTS_FLAG]["defaultVariant"])

    def run(self) -> None:
        say("Installing the CRDs' companions: admission policies and the responder role")
        repo = Path(__file__).resolve().parents[1]
        self.kubectl("apply", "-k", str(repo / "manifests" / "admission"))
        self.kubectl("apply", "-f", str(repo / "manifests" / "rbac" / "incident-responder.yaml"))
        self.kubectl("create", "namespace", NAMESPACE)
        if self.info.controllable:
            self.info.add_scrape_target("checkout", self.exporter.host_port)

        say("An EscalationPolicy: the runbook, with short clocks so the story fits in minutes")
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "incident-channels"},
                "stringData": {"slack-webhook-url": self.chat.url + "/slack"},
            }
        )
        policy = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": "runbook"},
            "spec": {
                "default": True,
                "selector": {"matchLabels": PART_OF_AGENTOS},
                "detection": {
                    "interval": "1s",
                    # Longer than the rule's 30 s rate window: the error rate a rollback
                    # ends takes that long to leave the window, and a shorter watch would
                    # judge the rollback as not having helped.
                    "monitoringWindow": "45s",
                    "rules": [
                        {
                            "name": "api-errors",
                            "signal": "apiErrorRate",
                            "warning": 0.01,
                            "critical": 0.05,
                            "for": "2s",
                            "window": "30s",
                            "severity": {"critical": "P1", "warning": "P2"},
                        }
                    ],
                },
                "escalation": {
                    "steps": [
                        {
                            "severities": ["P1"],
                            "after": "0s",
                            "channel": "slack",
                            "targets": [{"name": "Primary on-call", "method": "chat"}],
                        },
                        {
                            "severities": ["P1"],
                            "after": "30s",
                            "channel": "slack",
                            "targets": [{"name": "Secondary on-call", "method": "chat"}],
                        },
                    ]
                },
                "channels": [
                    {
                        "name": "slack",
                        "type": "slack",
                        "chatChannel": "#incident-high",
                        "secretRef": {"name": "incident-channels", "key": "slack-webhook-url"},
                    }
                ],
                "rollback": {"approverGroup": "system:masters", "proposalWindow": "30m"},
                # What customers see on the public status page (docs/status-page.md).
                "statusPage": {
                    "components": [
                        {
                            "name": "Checkout",
                            "description": "Placing orders",
                            "group": "Shop",
                            "workloads": [{"kind": "Deployment", "name": "checkout"}],
                        },
                        {
                            "name": "Payments",
                            "description": "Card and wallet payments",
                            "group": "Shop",
                            "workloads": [{"kind": "Deployment", "name": "payments"}],
                        },
                    ]
                },
                # The remediation catalog (docs/remediation.md): what may be requested, with
                # which parameters, approved by whom (here the rollback's group).
                "remediations": [
                    {
                        "name": "disable-flag",
                        "kind": "featureFlag",
                        "description": "Turn a payments feature flag off (flagd ConfigMap)",
                        "parameters": [{"name": "flag", "allowed": [PAYMENTS_FLAG]}],
                        "featureFlag": {
                            "source": "ConfigMap",
                            "name": PAYMENTS_FLAGS,
                            "flag": "{{ params.flag }}",
                            "offVariant": "off",
                        },
                    }
                ],
            },
        }
        self.apply(policy)
        show(self.kubectl("get", "escalationpolicies", "-n", NAMESPACE))

        say("Starting the operator")
        self.status_page = f"http://127.0.0.1:{free_port()}/"
        args = [
            "--prometheus-url",
            self.info.prometheus_url or "",
            "--status-page-listen",
            self.status_page.removeprefix("http://").rstrip("/"),
            "--status-page-title",
            "AgentOS Status",
        ]
        self.operator = OperatorProcess(
            self.info.kubeconfig, self.workdir / "operator.log", extra_args=tuple(args)
        ).start()
        print(f"    log: {self.operator.log_path}")
        print(f"    public status page: {self.status_page}")
        self.wait(self.status_components, "the status page")
        self.narrate_status()

        say("checkout v1 is healthy: 50 requests/s, no errors")
        container = {
            "name": "api",
            "image": "registry.example/checkout:1.0",
            "env": [{"name": "POOL_SIZE", "value": "20"}],
        }
        deployment = deployment_manifest("checkout", container, replicas=2, labels=PART_OF_AGENTOS)
        self.apply(deployment)
        self.kubectl("rollout", "status", "deployment/checkout", "-n", NAMESPACE, "--timeout=120s")
        self.traffic(0.0)

        say("Rolling out checkout v1.1, which breaks: 30% of requests fail")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["image"] = "registry.example/checkout:1.1"
        container["env"] = [{"name": "POOL_SIZE", "value": "2"}]
        self.apply(deployment)
        self.kubectl("rollout", "status", "deployment/checkout", "-n", NAMESPACE, "--timeout=120s")
        self.traffic(0.30)

        say("Detection opens an incident (apiErrorRate over its critical threshold, held 2 s)")
        incident = self.wait(lambda: self.incident(), "the incident to open")
        name = incident["metadata"]["name"]
        incident = self.wait(
            lambda: (found := self.incident()) and (found.get("status") or {}).get("id") and found,
            "its ID",
        )
        incident_id = incident["status"]["id"]
        show(self.kubectl("get", "incidents", "-n", NAMESPACE, "-o", "wide"))
        self.wait(
            lambda: self.status_components().get("Checkout") == "partial_outage",
            "the status page to show Checkout's partial outage",
        )
        self.narrate_status()

        say(
            "The escalation matrix pages the primary on-call in #incident-high (our local receiver)"
        )
        self.wait(lambda: self.chat.received("/slack"), "the first notification")
        for call in self.chat.received("/slack")[:1]:
            show(json.dumps(call.body, indent=2)[:1500])

        say("The operator proposes a rollback: v1.1 rolled out minutes before detection")
        proposal = self.wait(
            lambda: ((self.incident() or {}).get("status") or {}).get("rollback"), "the proposal"
        )
        show(json.dumps({k: v for k, v in proposal.items() if k != "diff"}, indent=2))
        show(proposal.get("diff", ""))

        say(f"A person acknowledges and approves: kubectl incident approve-rollback {incident_id}")
        show(self.plugin("ack", incident_id))
        show(self.plugin("assign", incident_id, "commander", "me"))
        show(self.plugin("approve-rollback", incident_id))

        say(
            "The commander tells customers (the runbook's Initial Notification): only what is "
            "published reaches the status page, never the title or internal updates"
        )
        show(
            self.plugin(
                "publish",
                incident_id,
                "--kind",
                "initial",
                "--message",
                "Some checkouts are failing. We have found the cause and are rolling back.",
            )
        )
        self.wait(lambda: self.status_updates() >= 1, "the customer message on the status page")
        self.narrate_status()

        say("The operator rolls back like `kubectl rollout undo`, and waits for the rollout")
        self.wait(
            lambda: (
                "checkout:1.0"
                in self.kubectl(
                    "get",
                    "deployment",
                    "checkout",
                    "-n",
                    NAMESPACE,
                    "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}",
                )
            ),
            "the template to be rolled back",
        )
        self.kubectl("rollout", "status", "deployment/checkout", "-n", NAMESPACE, "--timeout=120s")
        show(self.kubectl("rollout", "history", "deployment/checkout", "-n", NAMESPACE))
        self.traffic(0.0)

        say("Errors stop: the incident goes to Monitoring with MetricsRecovered and RolledBack")
        body = self.wait(
            lambda: (
                (found := self.incident())
                and found["status"].get("phase") == "Monitoring"
                and found
            ),
            "Monitoring",
        )
        for type_ in ("MetricsRecovered", "RolledBack"):
            condition = conditions(body).get(type_, {})
            print(f"    {type_}={condition.get('status')}: {condition.get('message')}")

        say(
            "P1 incidents are resolved by a person, after the runbook's pre-resolution "
            "verification: the operator ticked what it saw (fix in production: the rollback "
            "succeeded; normal metrics, error rates, no new alerts: detection watches it)"
        )
        show(self.plugin("update", incident_id, "Rolled back to 1.0; error rate back to 0"))
        held = run_plugin(
            self.info.kubeconfig, NAMESPACE, "resolve", incident_id, "--wait", "30", check=False
        )
        show(held.stderr or held.stdout)
        say("People tick what only they know, then resolve")
        show(
            self.plugin(
                "check",
                incident_id,
                "rootCauseDocumented",
                "manualVerification",
                "customerImpactResolved",
            )
        )
        show(self.plugin("resolve", incident_id, "--wait", "30"))
        self.wait(
            lambda: ((self.incident() or {}).get("status") or {}).get("phase") == "PostIncident",
            "PostIncident",
        )
        self.wait(
            lambda: self.status_components().get("Checkout") == "operational",
            "the status page to show Checkout operational again",
        )
        self.narrate_status()

        say("The post-mortem draft, in the runbook's template")
        draft = self.wait(
            lambda: (
                run_plugin(
                    self.info.kubeconfig, NAMESPACE, "postmortem", incident_id, check=False
                ).stdout
            ),
            "the draft",
        )
        show(draft)

        say("The timeline")
        show(self.plugin("timeline", incident_id))
        say("Everything the chat channel received")
        for call in self.chat.received("/slack"):
            text = json.dumps(call.body)
            print(f"    {DIM}{text[:160]}{RESET}")
        print(f"\nIncident {incident_id} ({name}) is waiting for its post-mortem.")
        self.flag_story()

    def flag_story(self) -> None:
        say("Second story: payments reads its flags from a flagd ConfigMap; all is well")
        flags = {
            "flags": {
                PAYMENTS_FLAG: {
                    "state": "ENABLED",
                    "variants": {"on": True, "off": False},
                    "defaultVariant": "off",
                }
            }
        }
        self.apply(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": PAYMENTS_FLAGS},
                "data": {"flags.flagd.json": json.dumps(flags, indent=2)},
            }
        )
        container = {"name": "api", "image": "registry.example/payments:2.3"}
        self.apply(deployment_manifest("payments", container, replicas=2, labels=PART_OF_AGENTOS))
        self.kubectl("rollout", "status", "deployment/payments", "-n", NAMESPACE, "--timeout=120s")
        self.traffic(0.0, "payments")

        say(f"Someone turns {PAYMENTS_FLAG} on; payments starts failing 25% of requests")
        flags["flags"][PAYMENTS_FLAG]["defaultVariant"] = "on"
        self.kubectl(
            "patch", "configmap", PAYMENTS_FLAGS, "-n", NAMESPACE, "--type=merge", "-p",
            json.dumps({"data": {"flags.flagd.json": json.dumps(flags, indent=2)}}),
        )  # fmt: skip
        # The demo plays the payments service: it fails while it reads the flag on.
        self.traffic(0.25 if self.flag_variant() == "on" else 0.0, "payments")

        say("Detection opens a second incident, for payments (no revision to roll back)")
        incident = self.wait(
            lambda: (
                (found := self.incident_of("payments"))
                and (found.get("status") or {}).get("id")
                and found
            ),
            "the payments incident and its ID",
        )
        incident_id = incident["status"]["id"]
        show(self.kubectl("get", "incidents", "-n", NAMESPACE, "-o", "wide"))
        self.wait(
            lambda: self.status_components().get("Payments") == "partial_outage",
            "the status page to show Payments' partial outage",
        )
        self.narrate_status()

        say(
            f"The on-call asks for the catalog's remediation: "
            f"kubectl incident remediate {incident_id} disable-flag --param flag={PAYMENTS_FLAG}"
        )
        show(
            self.plugin(
                "remediate", incident_id, "disable-flag", "--param", f"flag={PAYMENTS_FLAG}"
            )
        )
        say("The operator recorded the proposal: what would change, and who may approve it")
        show(self.plugin("show", incident_id))

        say(
            "An approver (group system:masters) approves: "
            f"kubectl incident approve {incident_id} r1"
        )
        show(self.plugin("approve", incident_id, "r1"))

        say("The operator turns the flag off, recording its previous value")
        self.wait(lambda: self.flag_variant() == "off", "the flag to be turned off")
        self.traffic(0.0, "payments")
        show(
            self.kubectl(
                "get", "configmap", PAYMENTS_FLAGS, "-n", NAMESPACE, "-o",
                "jsonpath={.data.flags\\.flagd\\.json}",
            )
        )  # fmt: skip

        say("Errors stop; the remediation is verified against the incident's rules")
        record = self.wait(
            lambda: next(
                (
                    r
                    for r in ((self.incident_of("payments") or {}).get("status") or {}).get(
                        "remediations", []
                    )
                    if r.get("phase") in ("Succeeded", "Failed")
                ),
                None,
            ),
            "the remediation's outcome",
            timeout=180,
        )
        shown = ("id", "phase", "summary", "previous", "approvedBy", "message")
        show(json.dumps({key: record.get(key) for key in shown}, indent=2))
        if record["phase"] != "Succeeded":
            raise SystemExit(f"the remediation did not succeed: {record.get('message')}")
        show(self.plugin("timeline", incident_id))

    def status_summary(self) -> dict[str, Any]:
        """The public status page's /api/v2/summary.json (Statuspage's shape)."""
        with urllib.request.urlopen(self.status_page + "api/v2/summary.json", timeout=5) as got:
            summary: dict[str, Any] = json.load(got)
            return summary

    def status_components(self) -> dict[str, str]:
        try:
            summary = self.status_summary()
        except OSError:
            return {}
        return {c["name"]: c["status"] for c in summary.get("components", []) if not c.get("group")}

    def status_updates(self) -> int:
        incidents = self.status_summary().get("incidents", [])
        return sum(len(i.get("incident_updates", [])) for i in incidents)

    def narrate_status(self) -> None:
        """One line of what customers see on the status page right now."""
        summary = self.status_summary()
        components = ", ".join(
            f"{c['name']}: {c['status'].replace('_', ' ')}"
            for c in summary["components"]
            if not c.get("group")  # a group's entry repeats its worst member
        )
        print(f"    {BOLD}status page{RESET}: {summary['status']['description']} ({components})")
        for incident in summary.get("incidents", []):
            for update in incident.get("incident_updates", [])[:1]:
                print(f"    {DIM}{update['status']}: {update['body'][:120]}{RESET}")

    def start_dashboard(self) -> str:
        """`kubectl incident dashboard`, as the person running the demo, for --keep."""
        port = free_port()
        self.dashboard = subprocess.Popen(
            [str(PLUGIN), "-n", NAMESPACE, "dashboard", "--port", str(port), "--no-open"],
            env={**os.environ, "KUBECONFIG": str(self.info.kubeconfig)},
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "dashboard.log").open("ab"),
        )
        return f"http://127.0.0.1:{port}/"

    def close(self) -> None:
        if self.dashboard is not None:
            self.dashboard.terminate()
            self.dashboard.wait(timeout=10)
        if self.operator is not None:
            self.operator.stop()
        self.exporter.stop()
        self.chat.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # A SIGTERM stops the demo like Ctrl-C: through the clean-up that stops what it started.
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    existing = os.environ.get("DEMO_KUBECONFIG")
    workdir = Path(tempfile.mkdtemp(prefix="incident-operator-demo-"))
    cluster: LocalCluster | None = None
    if existing:
        from tests.cluster_fixtures import _existing_cluster

        info = _existing_cluster(Path(existing))
        info.prometheus_url = os.environ.get("DEMO_PROMETHEUS_URL", info.prometheus_url)
    else:
        say("Starting a local control plane and Prometheus (binaries are built on first use)")
        cluster = LocalCluster(workdir / "cluster")
        info = cluster.start()
    demo = Demo(info, workdir)
    try:
        demo.run()
        if not args.keep and cluster is not None:
            # The local cluster is stopped on the way out: nothing would be left to explore.
            print("\nStopping the local cluster; `make demo ARGS=--keep` leaves it running.")
            return 0
        print(
            f"\n{BOLD}Explore further{RESET}\n"
            f"    export KUBECONFIG={info.kubeconfig}\n"
            f"    kubectl get incidents -n {NAMESPACE} -o wide\n"
            f"    kubectl incident -n {NAMESPACE} show INC-0001\n"
            f"    kubectl describe incident -n {NAMESPACE}\n"
            f"    Prometheus: {info.prometheus_url}\n"
        )
        if args.keep:
            print(f"    Status page: {demo.status_page}")
            print(f"    Dashboard: {demo.start_dashboard()} (kubectl incident dashboard)")
            print("Left running (--keep). Stop with Ctrl-C.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
