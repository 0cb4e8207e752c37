"""Fixtures for tests on a real control plane (tests/harness): tests/integration and tests/e2e.

By default one cluster is started per test session, in pytest's temporary directory,
and stopped at the end. With INCIDENT_OPERATOR_TEST_KUBECONFIG set, the tests use that
cluster instead (nothing is started or stopped); its Prometheus is
INCIDENT_OPERATOR_TEST_PROMETHEUS_URL, or the one recorded beside the kubeconfig by
``python -m tests.harness up``; tests that need Prometheus skip when there is none.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from tests.harness.binaries import ensure_binaries
from tests.harness.cluster import STATE_FILE, ClusterInfo, LocalCluster, run_kubectl
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

ENV_KUBECONFIG = "INCIDENT_OPERATOR_TEST_KUBECONFIG"
ENV_PROMETHEUS_URL = "INCIDENT_OPERATOR_TEST_PROMETHEUS_URL"
# Set to 1 to keep each test's namespace after a failure, for a look with kubectl.
ENV_KEEP_NAMESPACES = "INCIDENT_OPERATOR_TEST_KEEP_NAMESPACES"
TESTS = Path(__file__).resolve().parent
CLUSTER_TEST_DIRS = (TESTS / "integration", TESTS / "e2e")
MANIFESTS = TESTS.parent / "manifests"
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


# ----------------------------------------------------------------------------- hooks


def _is_integration(item: pytest.Item) -> bool:
    return any(directory in item.path.parents for directory in CLUSTER_TEST_DIRS)


def pytest_configure(config: pytest.Config) -> None:
    """Several xdist workers each start a cluster; on one given cluster they would change
    the same cluster-wide objects (CRDs, ClusterRoles, admission policies) at once."""
    workers = getattr(config.option, "numprocesses", None)
    if os.environ.get(ENV_KUBECONFIG) and workers not in (None, 0, 1):
        raise pytest.UsageError(
            f"{ENV_KUBECONFIG} names one cluster: run one worker (-n 1, TEST_WORKERS=1), "
            f"not {workers}"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration and tests/e2e is marked ``integration``."""
    for item in items:
        if _is_integration(item):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Build the binaries (first run only: 20-30 min) before any test's timeout starts."""
    if session.config.option.collectonly or os.environ.get(ENV_KUBECONFIG):
        return
    # Marked by the hook above, or by hand (the property tests that sample the API server).
    if any(item.get_closest_marker("integration") for item in session.items):
        ensure_binaries()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, for _component_logs_on_failure."""
    report: pytest.TestReport = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


# ---------------------------------------------------------------------------- cluster


def _existing_cluster(kubeconfig: Path) -> ClusterInfo:
    """The cluster INCIDENT_OPERATOR_TEST_KUBECONFIG points at."""
    kubeconfig = kubeconfig.resolve()
    prometheus_url = os.environ.get(ENV_PROMETHEUS_URL) or None
    state = kubeconfig.parent / STATE_FILE
    if state.exists() and json.loads(state.read_text()).get("kubeconfig") == str(kubeconfig):
        # Started by `python -m tests.harness up`: its processes can be controlled.
        info = LocalCluster.attach(kubeconfig.parent).info
        assert info is not None
        if prometheus_url:
            info.prometheus_url = prometheus_url
        return info
    config = yaml.safe_load(kubeconfig.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    return ClusterInfo(
        workdir=None,
        kubeconfig=kubeconfig,
        api_server_url=cluster["server"],
        admin_token=user.get("token", ""),
        ca_file=None,
        bin_dir=ensure_binaries(),
        prometheus_url=prometheus_url,
    )


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    """The control plane: a fresh one for the session, or the one named by the environment."""
    existing = os.environ.get(ENV_KUBECONFIG)
    if existing:
        yield _existing_cluster(Path(existing))
        return
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    info = local.start()
    try:
        yield info
    finally:
        local.stop()


@pytest.fixture(scope="session")
def prometheus_url(cluster: ClusterInfo) -> str:
    """The cluster's Prometheus; skips the test when the cluster has none."""
    if not cluster.prometheus_url:
        pytest.skip(f"no Prometheus: set {ENV_PROMETHEUS_URL}")
    return cluster.prometheus_url


@pytest.fixture(scope="session")
def kubectl(cluster: ClusterInfo) -> Kubectl:
    """Run the real kubectl built for the cluster; ``as_user``/``as_groups`` impersonate.

    Raises on a non-zero exit unless ``check=False``; returns the CompletedProcess.
    """

    def run(
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]:
        if as_groups and not as_user:
            raise ValueError("kubectl impersonates groups only together with a user (as_user)")
        impersonation = [f"--as={as_user}"] if as_user else []
        impersonation += [f"--as-group={group}" for group in as_groups]
        return run_kubectl(
            cluster.kubectl_path,
            cluster.kubeconfig,
            [*impersonation, *args],
            check=check,
            input=input,
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def k8s_api(cluster: ClusterInfo) -> Iterator[k8s.ApiClient]:
    """A kubernetes ApiClient for the cluster's admin (kubernetes.client.CoreV1Api(k8s_api))."""
    api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The real operator, started for the module's tests and stopped after them."""
    process = OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("operator") / "log")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def admission_policies(kubectl: Kubectl) -> None:
    """The shipped ValidatingAdmissionPolicies and the responder role, installed and in force."""
    kubectl("apply", "-k", str(MANIFESTS / "admission"))
    kubectl("apply", "-f", str(MANIFESTS / "rbac" / "incident-responder.yaml"))
    # One probe per policy: an annotation only that policy refuses from this user (someone
    # else's name as the acknowledger; their own name as an approver outside the group).
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    probes = {
        "sre.agentos.io/acknowledged-by": ("not-" + me, "acknowledged-by must be your own"),
        "sre.agentos.io/approve-rollback": (me, "only members of group"),
        "sre.agentos.io/remediate-by": ("not-" + me, "set to your own user name"),
    }

    def refused(annotation: str, value: str, message: str, **spec: Any) -> bool:
        probe = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {"generateName": "admission-probe-", "annotations": {annotation: value}},
            "spec": {"title": "probe", "severity": "P4", **spec},
        }
        result = kubectl(
            "create",
            "-n",
            "default",
            "--dry-run=server",
            "-f",
            "-",
            input=json.dumps(probe),
            check=False,
        )
        return result.returncode != 0 and message in result.stderr

    # A customer message published under someone else's name.
    forged_message = {
        "kind": "Initial",
        "text": "probe",
        "author": "not-" + me,
        "time": "2026-01-01T00:00:00Z",
    }

    def enforced() -> bool:
        return all(
            refused(annotation, *expected) for annotation, expected in probes.items()
        ) and refused(
            "sre.agentos.io/changed-by",
            me,
            "customer message must be published as yourself",
            customerMessages=[forged_message],
        )

    # Policies are compiled and enforced asynchronously after they are created.
    wait_until(enforced, what="the admission policies to be enforced", timeout=60)


def _namespace_name(test_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    return f"t-{base[:48].rstrip('-')}-{secrets.token_hex(3)}"


@pytest.fixture
def namespace(k8s_api: k8s.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test (with its default ServiceAccount), deleted afterwards."""
    core = k8s.CoreV1Api(k8s_api)
    name = _namespace_name(request.node.name)
    core.create_namespace(
        k8s.V1Namespace(
            metadata=k8s.V1ObjectMeta(name=name, labels={"incident-operator/test": "true"})
        )
    )

    def service_account_exists() -> bool:
        core.read_namespaced_service_account("default", name)
        return True

    # Pods are refused until the controller manager has made the default ServiceAccount.
    wait_until(service_account_exists, what=f"ServiceAccount default in {name}", timeout=30)
    yield name
    reports = request.node.stash.get(REPORTS, {})
    if os.environ.get(ENV_KEEP_NAMESPACES) == "1" and any(r.failed for r in reports.values()):
        return
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(autouse=True)
def _component_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """When a test that used the cluster fails, its report shows the components' log tails."""
    yield
    reports = request.node.stash.get(REPORTS, {})
    failed = [r for r in reports.values() if r.failed]
    if not failed or "cluster" not in request.fixturenames:
        return
    try:
        info: Any = request.getfixturevalue("cluster")
        text = info.log_tail(lines=30)
    except Exception as exc:  # the cluster fixture itself failed
        text = f"(no component logs: {exc})"
    failed[0].sections.append(("control plane logs (last 30 lines each)", text))
