"""The plugin as scriptable as kubectl (issue 19 item 5), against the local control plane.

One operator (writing JSON logs) and one namespace serve the whole module: the tests
read the same two incidents, and each says what it changes.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, wait_for_status_field
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import PLUGIN, run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

COMPLETE = PLUGIN.parent / "kubectl_complete-incident"


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator with --log-format json (item 5: JSON logs)."""
    process = OperatorProcess(
        cluster.kubeconfig,
        tmp_path_factory.mktemp("operator") / "log",
        extra_args=("--log-format", "json"),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def shared(
    k8s_api: k8s.ApiClient, kubectl: Kubectl, operator: OperatorProcess
) -> Iterator[tuple[str, dict[str, str]]]:
    """A namespace with two incidents, checkout and search; their IDs by name."""
    core = k8s.CoreV1Api(k8s_api)
    name = f"t-plugin-scripting-{secrets.token_hex(3)}"
    core.create_namespace(
        k8s.V1Namespace(
            metadata=k8s.V1ObjectMeta(name=name, labels={"incident-operator/test": "true"})
        )
    )
    create_incident(kubectl, name, "checkout", severity="P1")
    create_incident(kubectl, name, "search", severity="P2", title="search is slow")
    ids = {
        incident: wait_for_status_field(kubectl, name, incident, "id", operator.log_tail)["status"][
            "id"
        ]
        for incident in ("checkout", "search")
    }
    yield name, ids
    core.delete_namespace(name, propagation_policy="Background")


def _plugin(cluster: ClusterInfo, namespace: str, *args: str) -> str:
    return run_plugin(cluster.kubeconfig, namespace, *args).stdout


def _same_as_kubectl_get(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, extra: list[str]
) -> None:
    printed: list[tuple[str, str]] = []

    def same() -> bool:
        # Ages tick by the second: the two runs agree within a few tries.
        ours = _plugin(cluster, namespace, "list", "--all", *extra)
        printed.append((ours, kubectl("get", "incidents", "-n", namespace, *extra).stdout))
        return printed[-1][0] == printed[-1][1]

    wait_until(
        same,
        what=f"`list {' '.join(extra)}` to print what `kubectl get incidents` prints",
        timeout=15,
        detail=lambda: "\n---\n".join(printed[-1]) if printed else "",
    )


def test_list_prints_what_kubectl_get_prints(
    cluster: ClusterInfo, kubectl: Kubectl, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, ids = shared
    for extra in ([], ["-o", "wide"], ["--no-headers"]):
        _same_as_kubectl_get(cluster, kubectl, namespace, extra)
    everywhere = _plugin(cluster, namespace, "list", "-A", "--no-headers").splitlines()
    assert [namespace, "checkout", ids["checkout"]] in [row.split()[:3] for row in everywhere]
    wide_header = _plugin(cluster, namespace, "list", "-o", "wide").splitlines()[0]
    assert wide_header.split()[:3] == ["NAME", "ID", "SEVERITY"]
    assert "TITLE" in wide_header
    assert "TITLE" not in _plugin(cluster, namespace, "list").splitlines()[0]
    assert "NAME" not in _plugin(cluster, namespace, "list", "--no-headers")


def test_json_yaml_and_name_round_trip(
    cluster: ClusterInfo, kubectl: Kubectl, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, ids = shared
    listed = json.loads(_plugin(cluster, namespace, "list", "-o", "json"))
    assert (listed["kind"], listed["apiVersion"]) == ("List", "v1")
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["checkout", "search"]
    assert yaml.safe_load(_plugin(cluster, namespace, "list", "-o", "yaml"))["kind"] == "List"
    theirs = json.loads(
        kubectl("get", "incident", "checkout", "-n", namespace, "-o", "json").stdout
    )
    shown = json.loads(_plugin(cluster, namespace, "show", ids["checkout"], "-o", "json"))
    assert (shown["kind"], shown["metadata"]["uid"]) == ("Incident", theirs["metadata"]["uid"])
    assert shown["spec"] == theirs["spec"]
    as_yaml = yaml.safe_load(_plugin(cluster, namespace, "show", "checkout", "-o", "yaml"))
    assert as_yaml["spec"] == shown["spec"]
    assert as_yaml["metadata"]["uid"] == shown["metadata"]["uid"]
    names = _plugin(cluster, namespace, "list", "-o", "name").split()
    assert names == kubectl("get", "incidents", "-n", namespace, "-o", "name").stdout.split()
    assert _plugin(cluster, namespace, "show", "checkout", "-o", "name").strip() == (
        "incident.sre.agentos.io/checkout"
    )
    timeline = json.loads(_plugin(cluster, namespace, "timeline", "checkout", "-o", "json"))
    assert timeline
    assert all({"time", "type", "actor"} <= set(entry) for entry in timeline)
    assert yaml.safe_load(_plugin(cluster, namespace, "timeline", "checkout", "-o", "yaml")) == (
        timeline
    )


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout lines as they come, read by a thread."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _start(cluster: ClusterInfo, namespace: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PLUGIN), "-n", namespace, *args],
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_prints_a_row_per_change_and_wait_ends_when_met(
    cluster: ClusterInfo, kubectl: Kubectl, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, ids = shared
    watching = _start(cluster, namespace, "list", "-w", "--no-headers")
    waiting = _start(cluster, namespace, "wait", ids["search"], "--for=state=Identified")
    try:
        seen: list[str] = []
        lines = _lines(watching)
        wait_until(
            lambda: seen.append(lines.get(timeout=0.5)) or len(seen) >= 2,
            what="the watch's first rows",
            timeout=20,
        )
        kubectl(
            "patch", "incident", "search", "-n", namespace, "--type=merge",
            "-p", '{"spec": {"state": "Identified"}}',
        )  # fmt: skip

        def changed_row() -> bool:
            seen.append(lines.get(timeout=0.5))
            return seen[-1].startswith("search ") and "Identified" in seen[-1]

        wait_until(
            changed_row, what="a row for the change", timeout=20, detail=lambda: "".join(seen)
        )
        assert waiting.wait(timeout=20) == 0, waiting.stderr
        assert waiting.stdout is not None
        assert "condition met" in waiting.stdout.read()
    finally:
        for process in (watching, waiting):
            process.terminate()
            process.wait(timeout=10)
    already = run_plugin(
        cluster.kubeconfig, namespace, "wait", "search", "--for=state=Identified", "--timeout=5s"
    )
    assert already.returncode == 0
    timed_out = run_plugin(
        cluster.kubeconfig,
        namespace,
        "wait",
        ids["search"],
        "--for=phase=Resolved",
        "--timeout",
        "1s",
        check=False,
    )
    assert timed_out.returncode == 1
    assert timed_out.stderr.startswith("error: timed out waiting for the condition phase=Resolved")


def test_completion_lists_the_incidents(
    cluster: ClusterInfo, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, ids = shared
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    answer = subprocess.run(
        [str(COMPLETE), "-n", namespace, "show", ""],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert answer[-1] == ":4"
    assert set(answer[:-1]) == {*ids.values(), "checkout", "search"}
    only = subprocess.run(
        [str(PLUGIN), "__complete", "-n", namespace, "ack", "sea"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert only == ["search", ":4"]


def test_version_names_the_served_api_and_the_cluster(
    cluster: ClusterInfo, kubectl: Kubectl, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, _ = shared
    server = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    body = json.loads(_plugin(cluster, namespace, "version", "-o", "json"))
    assert body["clientVersion"]["apiVersion"] == "sre.agentos.io/v1alpha1"
    assert body["serverVersion"]["kubernetesVersion"] == server["gitVersion"]
    assert body["serverVersion"]["incidentAPI"]["served"] == ["sre.agentos.io/v1alpha1"]


def test_as_and_as_group_act_as_another_user(
    cluster: ClusterInfo, kubectl: Kubectl, shared: tuple[str, dict[str, str]]
) -> None:
    namespace, _ = shared
    kubectl(
        "create", "role", "incident-reader", "-n", namespace,
        "--verb=get,list", "--resource=incidents.sre.agentos.io",
    )  # fmt: skip
    kubectl(
        "create", "rolebinding", "incident-readers", "-n", namespace,
        "--role=incident-reader", "--group=plugin-readers",
    )  # fmt: skip
    assert _plugin(cluster, namespace, "--as", "jane", "whoami").strip() == "jane"
    # Two groups, each its own header line: only the second one may read incidents.
    listed = _plugin(
        cluster, namespace, "--as", "jane", "--as-group", "other", "--as-group", "plugin-readers",
        "list", "-o", "name",
    )  # fmt: skip
    assert "incident.sre.agentos.io/checkout" in listed.split()
    refused = run_plugin(
        cluster.kubeconfig, namespace, "--as", "jane", "--as-group", "other", "list", check=False
    )
    assert refused.returncode == 1
    assert "forbidden" in refused.stderr, refused.stderr
    assert '"jane"' in refused.stderr, refused.stderr


def test_the_operator_writes_json_logs(
    operator: OperatorProcess, shared: tuple[str, dict[str, str]]
) -> None:
    lines = [line for line in Path(operator.log_path).read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records, operator.log_tail()
    assert all({"message", "severity"} <= set(record) for record in records), records[:3]
    assert len(records) >= len(lines) * 0.9, operator.log_tail()
