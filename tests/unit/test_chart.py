"""The Helm chart, rendered with helm (built from its Go module) and checked object by object.

No cluster: `helm lint` and `helm template` only. tests/integration/test_install.py
installs the chart and the kustomize manifests into the local control plane.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator import entrypoint
from incident_operator.api.annotations import LEADER_LABEL
from incident_operator.config import Settings
from tests.helm import (
    CHART,
    REPO,
    Manifest,
    by_kind,
    one,
    operator_container,
    render,
    run_helm,
)

EXPECTED_KINDS = {
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "Deployment",
    "PodDisruptionBudget",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
}
# What the chart may render with some values: nothing else, ever.
OPTIONAL_KINDS = {"ServiceMonitor", "CustomResourceDefinition", "PrometheusRule", "ConfigMap"}
SERVICE_MONITOR_API = "monitoring.coreos.com/v1/ServiceMonitor"
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "*"}


@pytest.fixture(scope="module")
def default() -> list[Manifest]:
    return render()


# ------------------------------------------------------------------- lint and kinds


def test_helm_lint_strict_passes() -> None:
    result = run_helm("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in result.stdout, result.stdout


def test_default_install_renders_exactly_the_expected_kinds(default: list[Manifest]) -> None:
    assert {m["kind"] for m in default} == EXPECTED_KINDS


@pytest.mark.parametrize(
    "values",
    [
        ["--set", "podDisruptionBudget.enabled=false", "--set", "replicaCount=1"],
        ["--set", "crds.templated=true", "--api-versions", SERVICE_MONITOR_API],
        ["--set", "secretAccess.namespaces={a,b}", "--set", "watchNamespaces={a,b}"],
        ["--set", "alertmanager.enabled=false", "--set", "leaderElection.enabled=false"],
        [
            *("--set", "monitoring.prometheusRule.enabled=true"),
            *("--set", "monitoring.dashboards.enabled=true"),
        ],
    ],
    ids=["no-pdb", "crds-servicemonitor", "namespaced", "minimal", "monitoring"],
)
def test_no_values_render_unexpected_kinds(values: list[str]) -> None:
    kinds = {m["kind"] for m in render(*values)}
    assert kinds <= EXPECTED_KINDS | OPTIONAL_KINDS, kinds - EXPECTED_KINDS - OPTIONAL_KINDS


# -------------------------------------------------------------------- pod security


@pytest.mark.parametrize(
    "values",
    [[], ["--set", "replicaCount=3", "--set", "watchNamespaces={x}"]],
    ids=["default", "other"],
)
def test_pod_meets_the_restricted_pod_security_standard(values: list[str]) -> None:
    manifests = render(*values)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in pod
    assert "hostPID" not in pod
    container = operator_container(manifests)
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    # The only writable place is an emptyDir.
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]], mount


def test_container_has_cpu_and_memory_requests_and_limits(default: list[Manifest]) -> None:
    resources = operator_container(default)["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, resources


def test_values_schema_requires_limits() -> None:
    result = run_helm("template", "x", str(CHART), "--set", "resources.limits=null", check=False)
    assert result.returncode != 0
    assert "limits" in result.stderr


# --------------------------------------------------------- probes, ports, replicas


def _port_number(container: Manifest, name: str) -> int:
    ports: dict[str, int] = {p["name"]: p["containerPort"] for p in container["ports"]}
    return ports[name]


def test_probes_hit_healthz_and_readyz_on_the_health_port() -> None:
    manifests = render("--set", "health.port=8181")
    container = operator_container(manifests)
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert _port_number(container, container[probe]["httpGet"]["port"]) == 8181
    assert "--health-listen=0.0.0.0:8181" in container["args"]


def _services(manifests: list[Manifest]) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in by_kind(manifests, "Service")}


@pytest.mark.parametrize("alertmanager", [True, False])
def test_metrics_service_selects_every_replica(alertmanager: bool) -> None:
    manifests = render("--set", f"alertmanager.enabled={str(alertmanager).lower()}")
    container = operator_container(manifests)
    deployment = one(manifests, "Deployment")
    metrics = _services(manifests)["incident-operator-metrics"]
    # Headless, and without the leader label: Prometheus scrapes the standbys too.
    assert metrics["spec"]["clusterIP"] == "None"
    assert metrics["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    ports = {p["name"]: p for p in metrics["spec"]["ports"]}
    assert set(ports) == {"metrics"}
    assert _port_number(container, ports["metrics"]["targetPort"]) == ports["metrics"]["port"]
    if not alertmanager:
        assert set(_services(manifests)) == {"incident-operator-metrics"}
        assert not any(a.startswith("--alertmanager") for a in container["args"])


def test_alertmanager_service_selects_the_leader_only(default: list[Manifest]) -> None:
    container = operator_container(default)
    deployment = one(default, "Deployment")
    service = _services(default)["incident-operator"]
    # The Service keeps the name Alertmanager's URL uses; the leader label narrows it.
    assert service["spec"]["selector"] == {
        **deployment["spec"]["selector"]["matchLabels"],
        LEADER_LABEL: "true",
    }
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert set(ports) == {"alertmanager"}
    target = _port_number(container, ports["alertmanager"]["targetPort"])
    assert f"--alertmanager-listen=0.0.0.0:{target}" in container["args"]
    assert ports["alertmanager"]["port"] == target


def test_no_status_page_by_default(default: list[Manifest]) -> None:
    container = operator_container(default)
    assert not any(a.startswith("--status-page") for a in container["args"])
    assert "status-page" not in {p["name"] for p in container["ports"]}
    assert "incident-operator-status-page" not in _services(default)


def test_the_status_page_service_selects_the_leader_only() -> None:
    manifests = render(
        "--set", "statusPage.enabled=true",
        "--set", "statusPage.port=8099",
        "--set", "statusPage.title=Acme Status: prod #1",
        "--set", "statusPage.url=https://status.example.com",
    )  # fmt: skip
    container = operator_container(manifests)
    deployment = one(manifests, "Deployment")
    service = _services(manifests)["incident-operator-status-page"]
    # Served where kopf runs: on the leader, as the receiver is.
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == {
        **deployment["spec"]["selector"]["matchLabels"],
        LEADER_LABEL: "true",
    }
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8099
    assert _port_number(container, port["targetPort"]) == 8099
    assert "--status-page-listen=0.0.0.0:8099" in container["args"]
    assert "--status-page-title=Acme Status: prod #1" in container["args"]
    assert "--status-page-url=https://status.example.com" in container["args"]


def test_the_metrics_service_name_fits_a_dns_label() -> None:
    long = "a" * 63
    names = _services(render("--set", f"fullnameOverride={long}"))
    assert all(len(name) <= 63 for name in names), names
    assert len(names) == 2


def test_two_replicas_with_leader_election_on_a_lease_the_role_names(
    default: list[Manifest],
) -> None:
    deployment = one(default, "Deployment")
    container = operator_container(default)
    assert deployment["spec"]["replicas"] == 2
    assert "--leader-elect" in container["args"]
    lease = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--lease-name="))
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    role = one(default, "Role")
    lease_rules = [r for r in role["rules"] if r["resources"] == ["leases"]]
    named = [r for r in lease_rules if r.get("resourceNames")]
    assert [r["resourceNames"] for r in named] == [[lease]]
    assert sorted(v for r in lease_rules for v in r["verbs"]) == ["create", "get", "update"]


def test_update_strategy_keeps_a_ready_replica_throughout(default: list[Manifest]) -> None:
    # A healthy standby is ready, so waiting for the new pod to be available ends.
    strategy = one(default, "Deployment")["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }


def test_service_monitor_whenever_enabled_with_or_without_the_api() -> None:
    # Off by default: installing one needs the Prometheus Operator's CRDs.
    assert not by_kind(render(), "ServiceMonitor")
    assert not by_kind(render("--api-versions", SERVICE_MONITOR_API), "ServiceMonitor")
    # Enabled, it is rendered whatever the cluster reports: `helm template` and GitOps
    # tools render without a cluster.
    for api in ([], ["--api-versions", SERVICE_MONITOR_API]):
        monitor = one(render("--set", "serviceMonitor.enabled=true", *api), "ServiceMonitor")
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    # It selects the metrics Service (every replica), not the leader-only one.
    selected = [
        name
        for name, service in _services(render()).items()
        if monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    ]
    assert selected == ["incident-operator-metrics"]


def test_pod_disruption_budget_keeps_one_replica_and_selects_the_operator(
    default: list[Manifest],
) -> None:
    budget = one(default, "PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1"
    selector = one(default, "Deployment")["spec"]["selector"]
    assert budget["spec"]["selector"] == selector
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


@pytest.mark.parametrize(
    "values",
    [["--set", "podDisruptionBudget.enabled=false"], ["--set", "replicaCount=1"]],
    ids=["disabled", "one-replica"],
)
def test_no_pod_disruption_budget_when_off_or_with_one_replica(values: list[str]) -> None:
    # With one replica, keeping one available would block every drain of its node.
    assert not by_kind(render(*values), "PodDisruptionBudget")


# ------------------------------------------------------- arguments the CLI accepts


def _parse_run_args(args: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """Parse the container's arguments with the real `incident-operator run` parser."""
    seen: list[argparse.Namespace] = []

    def fake_run(parsed: argparse.Namespace) -> int:
        seen.append(parsed)
        return 0

    monkeypatch.setattr(entrypoint, "_run", fake_run)
    try:
        code = entrypoint.main(["run", *args])
    except SystemExit as exit_:  # argparse: an unknown flag or a bad value
        raise AssertionError(f"incident-operator run rejects {args}: exit {exit_.code}") from None
    assert code == 0
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], {"namespace": None, "leader_elect": True, "verbose": False}),
        (
            [
                "--set",
                "watchNamespaces={prod,staging}",
                "--set",
                "prometheus.url=http://prometheus.monitoring.svc:9090",
                "--set",
                "verbose=true",
                "--set",
                "leaderElection.leaseName=lease-x",
            ],
            {
                "namespace": ["prod", "staging"],
                "prometheus_url": "http://prometheus.monitoring.svc:9090",
                "verbose": True,
                "lease_name": "lease-x",
            },
        ),
        (
            ["--set", "leaderElection.enabled=false", "--set", "alertmanager.enabled=false"],
            {"leader_elect": False, "alertmanager_token_secret": None},
        ),
        (
            ["--set", "intake.pagerduty.enabled=true", "--set", "intake.pagerduty.namespace=shop"],
            {
                "pagerduty_webhook_secret": "incident-operator/incident-operator-pagerduty",
                "pagerduty_webhook_secret_key": "secret",
                "pagerduty_namespace": "shop",
            },
        ),
        (
            ["--set", "statusPage.enabled=true", "--set", "statusPage.title=Acme: prod"],
            {"status_page_listen": "0.0.0.0:8090", "status_page_title": "Acme: prod"},
        ),
        (
            ["--set", "slackApp.secretName=slack-app"],
            {"slack_app_secret": "incident-operator/slack-app"},
        ),
        (
            [
                "--set",
                "prometheus.url=https://mimir.example:443/prometheus",
                "--set",
                "prometheus.auth.bearerTokenSecret=prom-token",
                "--set",
                "prometheus.auth.caSecret=prom-ca",
                "--set",
                "prometheus.auth.headers.X-Scope-OrgID=tenant-a",
            ],
            {
                "prometheus_bearer_token_secret": "incident-operator/prom-token:token",
                "prometheus_ca_secret": "incident-operator/prom-ca:ca.crt",
                "prometheus_header": ["X-Scope-OrgID=tenant-a"],
            },
        ),
        (["--set", "logFormat=json"], {"log_format": "json"}),
    ],
    ids=[
        "default",
        "namespaced-prometheus",
        "minimal",
        "pagerduty",
        "status-page",
        "slack-app",
        "prometheus-auth",
        "json-logs",
    ],
)
def test_rendered_arguments_are_accepted_by_the_operator(
    values: list[str], expected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parser reads defaults from these; the pod sets them through the downward API.
    for name in (
        "PROMETHEUS_URL",
        "ALERTMANAGER_TOKEN_SECRET",
        "ALERTMANAGER_LISTEN",
        "STATUS_PAGE_LISTEN",
        "STATUS_PAGE_TITLE",
        "STATUS_PAGE_URL",
        "SLACK_APP_SECRET",
        "PROMETHEUS_BEARER_TOKEN_SECRET",
        "PROMETHEUS_CA_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    args = _parse_run_args(operator_container(render(*values))["args"], monkeypatch)
    for name, value in expected.items():
        assert getattr(args, name) == value, name
    # The values the operator checks itself (HOST:PORT, NAMESPACE/NAME, URL) are well formed.
    options = Settings.from_arguments(args)
    if args.alertmanager_token_secret:
        assert options.alertmanager_token_secret == (
            "incident-operator",
            "incident-operator-alertmanager",
        )
        assert options.alertmanager_host == "0.0.0.0"


# --------------------------------------------------------------------------- RBAC


# ClusterRoles for people (bound by them, or aggregated into view/edit/admin), not the
# operator's.
PEOPLES_ROLES = {"incident-responder", "incident-operator-view", "incident-operator-edit"}


def _rules(manifests: list[Manifest]) -> list[tuple[str, Manifest]]:
    return [
        (f"{m['kind']}/{m['metadata']['name']}", rule)
        for m in manifests
        if m["kind"] in ("ClusterRole", "Role") and m["metadata"]["name"] not in PEOPLES_ROLES
        for rule in m["rules"]
    ]


@pytest.mark.parametrize(
    "values",
    [[], ["--set", "secretAccess.namespaces={a}", "--set", "watchNamespaces={a}"]],
    ids=["default", "namespaced"],
)
def test_operator_rules_are_least_privilege(values: list[str]) -> None:
    for role, rule in _rules(render(*values)):
        where = f"{role}: {rule}"
        assert "*" not in rule["verbs"], where
        assert "*" not in rule["resources"], where
        assert "*" not in rule["apiGroups"], where
        assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(
            rule["verbs"]
        ), where
        if "secrets" in rule["resources"]:
            assert rule["verbs"] == ["get"], where
            assert rule.get("resourceNames"), where
        if "escalationpolicies" in rule["resources"]:
            assert not WRITE_VERBS & set(rule["verbs"]), where
        if "maintenancewindows" in rule["resources"]:
            assert not WRITE_VERBS & set(rule["verbs"]), where
        if {"deployments", "statefulsets", "daemonsets"} & set(rule["resources"]):
            assert "create" not in rule["verbs"], where
        if "pods" in rule["resources"]:
            # Only the leader label on its own Pod, in its own namespace.
            assert role.startswith("Role/"), where
            assert rule["verbs"] == ["get", "patch"], where


@pytest.mark.parametrize(
    "values",
    [[], ["--set", "leaderElection.enabled=false", "--set", "alertmanager.enabled=false"]],
    ids=["default", "minimal"],
)
def test_the_operator_may_label_pods_in_its_own_namespace(values: list[str]) -> None:
    # A replica running alone labels its Pod too, so the Role is always there.
    role = one(render(*values), "Role", "incident-operator")
    assert role["metadata"]["namespace"] == "incident-operator"
    assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]} in role["rules"]


def test_channel_secrets_cluster_wide_by_name_by_default(default: list[Manifest]) -> None:
    role = one(default, "ClusterRole", "incident-operator-channel-secrets")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": ["incident-channels"],
            "verbs": ["get"],
        }
    ]
    binding = one(default, "ClusterRoleBinding", "incident-operator-channel-secrets")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_channel_secrets_only_in_listed_namespaces() -> None:
    manifests = render(
        "--set", "secretAccess.namespaces={team-a,team-b}", "--set", "secretAccess.names={pd,chat}"
    )
    role = one(manifests, "ClusterRole", "incident-operator-channel-secrets")
    assert role["rules"][0]["resourceNames"] == ["pd", "chat"]
    bindings = [
        b
        for b in by_kind(manifests, "RoleBinding")
        if b["roleRef"]["name"] == "incident-operator-channel-secrets"
    ]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    names = [b["metadata"]["name"] for b in by_kind(manifests, "ClusterRoleBinding")]
    assert "incident-operator-channel-secrets" not in names


def test_cluster_role_rules_are_the_kustomize_ones(default: list[Manifest]) -> None:
    source = yaml.safe_load((REPO / "manifests" / "install" / "clusterrole.yaml").read_text())
    assert one(default, "ClusterRole", "incident-operator")["rules"] == source["rules"]


def test_rbac_can_be_left_to_the_user() -> None:
    manifests = render(
        "--set", "rbac.create=false", "--set", "rbac.responderRole=false",
        "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops",
    )  # fmt: skip
    assert not {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"} & {
        m["kind"] for m in manifests
    }
    assert one(manifests, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops"


# ------------------------------------------------------------------- values, CRDs


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["--set", "image.pullPolicy=Sometimes"], "pullPolicy"),
        (["--set", "replicaCount=0"], "replicaCount"),
        (["--set", "prometheus.url=prometheus:9090"], "url"),
        (["--set", "replicas=2"], "replicas"),  # a typo of replicaCount
        (["--set", "secretAccess.namespaces={Bad_Name}"], "namespaces"),
        (["--set", "statusPage.url=status.example.com"], "url"),
        (["--set", "prometheus.auth.insecureSkipVerify=yes"], "insecureSkipVerify"),
        (
            [
                "--set",
                "prometheus.url=https://p",
                "--set",
                "prometheus.auth.bearerTokenSecret=a",
                "--set",
                "prometheus.auth.basicAuthSecret=b",
            ],
            "not both",
        ),
    ],
)
def test_values_schema_rejects_bad_values(values: list[str], complaint: str) -> None:
    result = run_helm("template", "x", str(CHART), *values, check=False)
    assert result.returncode != 0, f"{values} was accepted"
    assert complaint in result.stderr, result.stderr


def test_every_value_is_documented_by_a_comment() -> None:
    """Each leaf key of values.yaml, or a mapping above it, has a comment right above it."""
    undocumented: list[str] = []
    # (indent, key, documented) of the mappings the current line is inside.
    stack: list[tuple[int, str, bool]] = []
    previous = ""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):(.*)$", line)
        if match:
            indent, name, rest = len(match[1]), match[2], match[3].strip()
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.lstrip().startswith("#") or any(d for _, _, d in stack)
            following = next((n for n in lines[number + 1 :] if n.strip()), "")
            is_parent = not rest and not following.lstrip().startswith("-")
            if is_parent:
                stack.append((indent, name, documented))
            elif not documented:
                undocumented.append(".".join([*(k for _, k, _ in stack), name]))
        if line.strip():
            previous = line
    assert not undocumented, f"values without a comment: {undocumented}"


def test_templated_crds_are_the_shipped_ones_and_are_kept_on_uninstall() -> None:
    assert not by_kind(render(), "CustomResourceDefinition")
    templated = by_kind(render("--set", "crds.templated=true"), "CustomResourceDefinition")
    shipped = {
        doc["metadata"]["name"]: doc
        for path in sorted((CHART / "crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }
    assert {c["metadata"]["name"] for c in templated} == set(shipped)
    for crd in templated:
        annotations = crd["metadata"].pop("annotations")
        assert annotations == {"helm.sh/resource-policy": "keep"}
        # The release's labels, as on every object of the release.
        assert crd["metadata"].pop("labels") == one(render(), "Deployment")["metadata"]["labels"]
        assert crd == shipped[crd["metadata"]["name"]]


# --------------------------------------------------------------- shared file copies


def _copies() -> list[tuple[Path, Path]]:
    pairs = [
        (REPO / "manifests" / "install" / "clusterrole.yaml", CHART / "files" / "clusterrole.yaml"),
        (
            REPO / "manifests" / "rbac" / "incident-responder.yaml",
            CHART / "files" / "incident-responder.yaml",
        ),
        (
            REPO / "manifests" / "install" / "rollback-clusterrole.yaml",
            CHART / "files" / "rollback-clusterrole.yaml",
        ),
        (
            REPO / "manifests" / "rbac" / "aggregated-roles.yaml",
            CHART / "files" / "aggregated-roles.yaml",
        ),
    ]
    for source in sorted((REPO / "crds").glob("*.yaml")):
        pairs.append((source, CHART / "crds" / source.name))
        pairs.append((source, REPO / "manifests" / "crds" / source.name))
    for source in sorted((REPO / "manifests" / "admission").glob("*.yaml")):
        if source.name != "kustomization.yaml":
            pairs.append((source, CHART / "files" / "admission" / source.name))
    for source in sorted((REPO / "manifests" / "remediations").glob("*/clusterrole.yaml")):
        pairs.append((source, CHART / "files" / "remediations" / f"{source.parent.name}.yaml"))
    return pairs


@pytest.mark.parametrize(("source", "copy"), _copies(), ids=lambda p: str(p.relative_to(REPO)))
def test_shared_files_are_copied_unchanged(source: Path, copy: Path) -> None:
    stale = f"{copy.relative_to(REPO)} is stale: run `make sync-chart`"
    assert copy.exists(), stale
    assert copy.read_text() == source.read_text(), stale


@pytest.mark.parametrize(
    "directory",
    [
        CHART / "crds",
        CHART / "files" / "admission",
        CHART / "files" / "remediations",
        REPO / "manifests" / "crds",
    ],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_copy_is_left_over_from_a_removed_file(directory: Path) -> None:
    sources = {s for s, _ in _copies()}
    copies = {c for _, c in _copies()}
    extra = (
        {p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml"} - copies - sources
    )
    assert not extra, f"{sorted(map(str, extra))}: run `make sync-chart`"


def test_kustomize_crds_list_every_crd() -> None:
    kustomization = yaml.safe_load((REPO / "manifests" / "crds" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )


def test_the_operator_may_read_only_the_prometheus_secrets_it_is_given() -> None:
    manifests = render(
        "--set",
        "prometheus.url=https://prometheus.example",
        "--set",
        "prometheus.auth.basicAuthSecret=prom-login",
        "--set",
        "prometheus.auth.caSecret=prom-login",
        "--set",
        "prometheus.auth.headersSecret=prom-tenant",
    )
    readable = [
        rule["resourceNames"]
        for _, rule in _rules(manifests)
        if "secrets" in rule["resources"] and "prom-login" in rule.get("resourceNames", [])
    ]
    assert readable == [["prom-login", "prom-tenant"]]
    args = operator_container(manifests)["args"]
    assert "--prometheus-basic-auth-secret=incident-operator/prom-login" in args
    assert "--prometheus-headers-secret=incident-operator/prom-tenant" in args
    # Without a URL the values are inert: no flag, no right.
    quiet = render("--set", "prometheus.auth.bearerTokenSecret=prom-token")
    assert not any("prometheus" in a for a in operator_container(quiet)["args"])
    assert not any("prom-token" in str(rule) for _, rule in _rules(quiet))
