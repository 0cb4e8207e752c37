"""The chart's RBAC by mode (cluster-wide, namespaced), its optional rights, its labels and
the pod's extra env/volumes: `helm template` only, no cluster.

The rights are computed as the API server would grant them to the operator's
ServiceAccount: a ClusterRoleBinding grants its role's rules in every namespace, a
RoleBinding its role's rules in its own namespace. tests/integration/test_install.py
asks the real API server (`kubectl auth can-i`) about an installed namespaced release.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helm import CHART, Manifest, by_kind, one, operator_container, render, run_helm

RELEASE_NAMESPACE = "incident-operator"
OPERATOR_SA = ("incident-operator", RELEASE_NAMESPACE)
CLUSTER_SCOPED = {"customresourcedefinitions", "namespaces"}
ALL_REMEDIATIONS = [
    "--set", "remediations.job.enabled=true",
    "--set", "remediations.featureFlag.enabled=true",
    "--set", "remediations.configRollback.enabled=true",
]  # fmt: skip
NAMESPACED = ["--set", "watchNamespaces={shop,payments}"]

# (apiGroup, resource, verb): one right.
Right = tuple[str, str, str]


def _binds_operator(binding: Manifest) -> bool:
    return any(
        (s["kind"], s["name"], s.get("namespace")) == ("ServiceAccount", *OPERATOR_SA)
        for s in binding["subjects"]
    )


def _role_rights(manifests: list[Manifest], kind: str, name: str, namespace: str) -> set[Right]:
    roles = [
        m
        for m in by_kind(manifests, kind)
        if m["metadata"]["name"] == name and m["metadata"].get("namespace", "") == namespace
    ]
    assert len(roles) == 1, f"{kind} {namespace}/{name} is bound but rendered {len(roles)} times"
    return {
        (group, resource, verb)
        for rule in roles[0]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def cluster_wide_rights(manifests: list[Manifest]) -> set[Right]:
    """What the operator may do in every namespace (and on cluster-scoped resources)."""
    rights: set[Right] = set()
    for binding in by_kind(manifests, "ClusterRoleBinding"):
        if _binds_operator(binding):
            rights |= _role_rights(manifests, "ClusterRole", binding["roleRef"]["name"], "")
    return rights


def rights_in(manifests: list[Manifest], namespace: str) -> set[Right]:
    """What the operator may do in ``namespace``: cluster-wide rights and its RoleBindings'."""
    rights = cluster_wide_rights(manifests)
    for binding in by_kind(manifests, "RoleBinding"):
        if binding["metadata"]["namespace"] == namespace and _binds_operator(binding):
            ref = binding["roleRef"]
            where = namespace if ref["kind"] == "Role" else ""
            rights |= _role_rights(manifests, ref["kind"], ref["name"], where)
    return rights


WATCHED_NEEDS = {
    ("sre.agentos.io", "incidents", "watch"),
    ("sre.agentos.io", "incidents", "create"),
    ("sre.agentos.io", "incidents/status", "patch"),
    ("sre.agentos.io", "escalationpolicies", "watch"),
    ("sre.agentos.io", "escalationpolicies/status", "patch"),
    ("sre.agentos.io", "maintenancewindows/status", "patch"),
    ("", "configmaps", "update"),
    ("", "events", "create"),
    ("apps", "deployments", "watch"),
}
ROLLBACK = {
    ("apps", "deployments", "patch"),
    ("apps", "statefulsets", "patch"),
    ("apps", "daemonsets", "patch"),
    ("apps", "replicasets", "list"),
    ("apps", "controllerrevisions", "list"),
}


# ------------------------------------------------------------------ namespaced mode


@pytest.mark.parametrize("extra", [[], ALL_REMEDIATIONS], ids=["default", "all-remediations"])
def test_namespaced_mode_grants_only_cluster_scoped_reads_cluster_wide(extra: list[str]) -> None:
    rights = cluster_wide_rights(render(*NAMESPACED, *extra))
    assert {resource for _, resource, _ in rights} <= CLUSTER_SCOPED, rights
    assert {verb for _, _, verb in rights} <= {"list", "watch"}, rights


def test_namespaced_mode_has_no_cluster_role_writing_configmaps_or_workloads() -> None:
    for role in by_kind(render(*NAMESPACED), "ClusterRole"):
        for rule in role["rules"]:
            where = f"{role['metadata']['name']}: {rule}"
            if {"configmaps", "daemonsets", "deployments", "statefulsets"} & set(rule["resources"]):
                assert not {"create", "update", "patch", "delete"} & set(rule["verbs"]), where


def test_namespaced_mode_grants_the_operator_what_it_needs_in_each_watched_namespace() -> None:
    manifests = render(*NAMESPACED)
    for namespace in ("shop", "payments"):
        rights = rights_in(manifests, namespace)
        assert rights >= WATCHED_NEEDS | ROLLBACK, (WATCHED_NEEDS | ROLLBACK) - rights
        assert ("", "secrets", "get") in rights  # incident-channels only (resourceNames)
    # Nothing at all in a namespace not watched, kube-system included; its own namespace
    # only has the Lease, its token Secret and its Pod's label.
    for namespace in ("kube-system", "default", "other"):
        assert rights_in(manifests, namespace) == cluster_wide_rights(manifests), namespace
    own = rights_in(manifests, RELEASE_NAMESPACE) - cluster_wide_rights(manifests)
    assert {resource for _, resource, _ in own} == {"leases", "secrets", "pods"}, own
    namespaces = {m["metadata"].get("namespace") for m in manifests} - {None}
    assert namespaces == {"shop", "payments", RELEASE_NAMESPACE}


def test_cluster_wide_mode_grants_the_same_in_every_namespace() -> None:
    rights = cluster_wide_rights(render())
    assert rights >= WATCHED_NEEDS | ROLLBACK
    # The namespaced mode's rules are the cluster-wide ones, split: none lost or added.
    namespaced = render(*NAMESPACED)
    assert rights_in(namespaced, "shop") == rights


@pytest.mark.parametrize("mode", [[], NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_remediation_rights_only_for_enabled_kinds_and_where_watched(mode: list[str]) -> None:
    where = "shop" if mode else "any"
    jobs = ("batch", "jobs", "create")
    flags = ("core.openfeature.dev", "featureflags", "patch")
    assert not {jobs, flags} & rights_in(render(*mode), where)
    enabled = render(*mode, "--set", "remediations.job.enabled=true")
    assert jobs in rights_in(enabled, where)
    assert flags not in rights_in(enabled, where)
    if mode:
        assert jobs not in rights_in(enabled, "kube-system")


@pytest.mark.parametrize("mode", [[], NAMESPACED], ids=["cluster-wide", "namespaced"])
def test_rollback_rights_only_when_enabled(mode: list[str]) -> None:
    where = "shop" if mode else "any"
    manifests = render(*mode, "--set", "rollback.enabled=false")
    rights = rights_in(manifests, where)
    assert not ROLLBACK & rights, ROLLBACK & rights
    # Detection still reads workloads.
    assert {("apps", "deployments", "get"), ("apps", "deployments", "watch")} <= rights
    assert not [m for m in manifests if m["metadata"]["name"].endswith("-rollback")]


def test_listed_secret_and_remediation_namespaces_win_over_the_watched_ones() -> None:
    manifests = render(
        *NAMESPACED, *ALL_REMEDIATIONS,
        "--set", "secretAccess.namespaces={vault}", "--set", "remediations.namespaces={ops}",
    )  # fmt: skip
    assert ("", "secrets", "get") in rights_in(manifests, "vault")
    assert ("batch", "jobs", "create") in rights_in(manifests, "ops")
    assert ("", "secrets", "get") not in rights_in(manifests, "shop")
    assert ("batch", "jobs", "create") not in rights_in(manifests, "shop")


def test_watched_release_namespace_keeps_both_roles() -> None:
    # The release namespace's own Role (Lease, Pod label) and the watched one differ in name.
    manifests = render("--set", f"watchNamespaces={{{RELEASE_NAMESPACE}}}")
    roles = {m["metadata"]["name"] for m in by_kind(manifests, "Role")}
    assert {"incident-operator", "incident-operator-watched", "incident-operator-rollback"} <= roles
    assert rights_in(manifests, RELEASE_NAMESPACE) >= WATCHED_NEEDS


# ------------------------------------------------------------------ aggregated roles


def test_aggregated_roles_let_namespace_viewers_read_and_editors_write_the_spec() -> None:
    manifests = render("--set", "fullnameOverride=io")
    view = one(manifests, "ClusterRole", "io-view")
    edit = one(manifests, "ClusterRole", "io-edit")
    view_labels = view["metadata"]["labels"]
    for role in ("view", "edit", "admin"):
        assert view_labels[f"rbac.authorization.k8s.io/aggregate-to-{role}"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in view["rules"])
    viewed = {r for rule in view["rules"] for r in rule["resources"]}
    assert {"incidents", "escalationpolicies", "maintenancewindows"} <= viewed
    edited = {(r, v) for rule in edit["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert ("incidents", "patch") in edited
    # Status is the operator's; an incident is a record, never deleted.
    assert not {r for r, _ in edited if r.endswith("/status")}
    assert ("incidents", "delete") not in edited
    off = render("--set", "rbac.aggregatedRoles=false")
    assert not [m for m in off if m["metadata"]["name"].endswith(("-view", "-edit"))]


# ------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "values",
    [
        [],
        [
            *NAMESPACED, *ALL_REMEDIATIONS,
            "--set", "crds.templated=true", "--set", "serviceMonitor.enabled=true",
            "--set", "statusPage.enabled=true", "--set", "intake.pagerduty.enabled=true",
            "--set", "monitoring.prometheusRule.enabled=true",
            "--set", "monitoring.dashboards.enabled=true",
            "--set", "slackApp.secretName=slack-app",
            "--set", "slackApp.impersonate.users={dana@example.com}",
            "--set", "slackApp.impersonate.groups={incident-approvers}",
            "--set", "prometheus.url=https://prometheus.example",
            "--set", "prometheus.auth.bearerTokenSecret=prometheus-token",
        ],
    ],
    ids=["default", "everything"],
)  # fmt: skip
def test_every_object_carries_the_release_labels(values: list[str]) -> None:
    manifests = render(*values, release="shop-ops")
    assert manifests
    for manifest in manifests:
        labels = manifest["metadata"].get("labels", {})
        where = f"{manifest['kind']} {manifest['metadata']['name']}: {labels}"
        assert labels.get("app.kubernetes.io/instance") == "shop-ops", where
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", where
        assert labels.get("app.kubernetes.io/part-of") == "incident-operator", where
        assert labels.get("helm.sh/chart", "").startswith("incident-operator-"), where


# --------------------------------------------------------- extra env and volumes


def test_extra_env_volumes_and_mounts_land_in_the_pod_spec(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "extraEnv": [
                    {"name": "HTTPS_PROXY", "value": "http://127.0.0.1:3128"},
                    {
                        "name": "TENANT",
                        "valueFrom": {"secretKeyRef": {"name": "prom", "key": "tenant"}},
                    },
                ],
                "extraVolumes": [{"name": "ca", "configMap": {"name": "corp-ca"}}],
                "extraVolumeMounts": [
                    {"name": "ca", "mountPath": "/etc/incident-operator/ca", "readOnly": True}
                ],
            }
        )
    )
    manifests = render("-f", str(values))
    container = operator_container(manifests)
    env = {e["name"]: e for e in container["env"]}
    assert {"POD_NAME", "POD_NAMESPACE", "HTTPS_PROXY", "TENANT"} == set(env)
    assert env["HTTPS_PROXY"]["value"] == "http://127.0.0.1:3128"
    assert env["TENANT"]["valueFrom"]["secretKeyRef"] == {"name": "prom", "key": "tenant"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["ca"] == {
        "name": "ca",
        "mountPath": "/etc/incident-operator/ca",
        "readOnly": True,
    }
    assert "tmp" in mounts
    volumes = {
        v["name"]: v for v in one(manifests, "Deployment")["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["ca"] == {"name": "ca", "configMap": {"name": "corp-ca"}}
    assert "emptyDir" in volumes["tmp"]


def test_extra_volume_mounts_need_a_mount_path() -> None:
    result = run_helm(
        "template", "x", str(CHART), "--set", "extraVolumeMounts[0].name=ca", check=False
    )
    assert result.returncode != 0
    assert "mountPath" in result.stderr


# ------------------------------------------------------------- admission identity


@pytest.mark.parametrize(
    ("release", "namespace", "service_account"),
    [
        ("incident-operator", "incident-operator", "incident-operator"),
        ("shop", "ops", "shop-incident-operator"),
    ],
)
def test_only_this_releases_service_account_may_record_a_pagerduty_acknowledgement(
    release: str, namespace: str, service_account: str
) -> None:
    """The identity policy's one exception names the release's own service account exactly
    (a look-alike ServiceAccount named *incident-operator elsewhere is not the operator)."""
    manifests = render(release=release, namespace=namespace)
    policy = one(manifests, "ValidatingAdmissionPolicy", "incident-operator-identity")
    assert {v["name"]: v["expression"] for v in policy["spec"]["variables"]}["isOperator"] == (
        f"request.userInfo.username == 'system:serviceaccount:{namespace}:{service_account}'"
    )
