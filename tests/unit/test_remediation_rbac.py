"""The remediation kinds' rights (docs/remediation/rbac.md): a kustomize Component per kind
under manifests/remediations/ and the chart's `remediations` values render the same
ClusterRoles, only for the kinds enabled, bound cluster-wide or in listed namespaces, and
never with more than the kinds need. The grants themselves are checked with
`kubectl auth can-i` in tests/integration/test_remediation_rbac.py."""

from __future__ import annotations

import pytest
import yaml

from tests.helm import CHART, REPO, Manifest, by_kind, one, render, run_helm

COMPONENTS = REPO / "manifests" / "remediations"
# values key -> the Component's directory (and the ClusterRole's name suffix).
KINDS = {"job": "job", "featureFlag": "feature-flag", "configRollback": "config-rollback"}
ALL_ON = [arg for kind in KINDS for arg in ("--set", f"remediations.{kind}.enabled=true")]
# Objects a kind may delete: its own snapshots (configRollback keeps bounded versions).
DELETABLE = {"secrets", "controllerrevisions"}


def _source(directory: str) -> Manifest:
    loaded: Manifest = yaml.safe_load((COMPONENTS / directory / "clusterrole.yaml").read_text())
    return loaded


def _remediation_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if "-remediation-" in m["metadata"]["name"]]


def test_every_kind_needing_rights_has_a_component_and_nothing_else_does() -> None:
    assert sorted(p.name for p in COMPONENTS.iterdir() if p.is_dir()) == sorted(KINDS.values())


@pytest.mark.parametrize("directory", sorted(KINDS.values()))
def test_each_component_adds_its_cluster_role_and_binds_the_operator(directory: str) -> None:
    kustomization = yaml.safe_load((COMPONENTS / directory / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Component"
    assert kustomization["resources"] == ["clusterrole.yaml", "clusterrolebinding.yaml"]
    role = _source(directory)
    binding = yaml.safe_load((COMPONENTS / directory / "clusterrolebinding.yaml").read_text())
    name = f"incident-operator-remediation-{directory}"
    assert role["metadata"]["name"] == binding["metadata"]["name"] == name
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": name,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "incident-operator", "namespace": "incident-operator"}
    ]


def test_the_default_install_grants_no_remediation_rights() -> None:
    assert not _remediation_objects(render())


@pytest.mark.parametrize(("kind", "directory"), sorted(KINDS.items()))
def test_a_kind_enabled_renders_the_components_rules_bound_cluster_wide(
    kind: str, directory: str
) -> None:
    manifests = _remediation_objects(render("--set", f"remediations.{kind}.enabled=true"))
    name = f"incident-operator-remediation-{directory}"
    assert sorted((m["kind"], m["metadata"]["name"]) for m in manifests) == [
        ("ClusterRole", name),
        ("ClusterRoleBinding", name),
    ]
    assert one(manifests, "ClusterRole")["rules"] == _source(directory)["rules"]
    binding = one(manifests, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == name
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "incident-operator", "namespace": "incident-operator"}
    ]


def test_listed_namespaces_get_a_role_binding_each_and_no_cluster_binding() -> None:
    manifests = _remediation_objects(
        render(*ALL_ON, "--set", "remediations.namespaces={shop,payments}")
    )
    assert not by_kind(manifests, "ClusterRoleBinding")
    bindings = by_kind(manifests, "RoleBinding")
    assert sorted((b["metadata"]["namespace"], b["roleRef"]["name"]) for b in bindings) == sorted(
        (namespace, f"incident-operator-remediation-{directory}")
        for namespace in ("shop", "payments")
        for directory in KINDS.values()
    )


def test_no_remediation_rights_when_rbac_is_left_to_the_user() -> None:
    assert not _remediation_objects(render(*ALL_ON, "--set", "rbac.create=false"))


def test_remediation_rules_are_least_privilege() -> None:
    for role in by_kind(_remediation_objects(render(*ALL_ON)), "ClusterRole"):
        for rule in role["rules"]:
            where = f"{role['metadata']['name']}: {rule}"
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], where
            verbs = set(rule["verbs"])
            assert not {"escalate", "bind", "impersonate", "deletecollection"} & verbs
            # configRollback's restore is a replace guarded by resourceVersion (it must drop
            # keys added since the version); nothing else is replaced.
            if "update" in verbs:
                assert set(rule["resources"]) <= {"configmaps", "secrets"}, where
            if "delete" in verbs:
                assert set(rule["resources"]) <= DELETABLE, where
            # Workloads are the base rules' (patch for rollbacks); never created here.
            assert not {"deployments", "statefulsets", "daemonsets"} & set(rule["resources"])
            assert not {"pods/exec", "pods/attach", "pods/portforward"} & set(rule["resources"])
            if "pods" in rule["resources"]:
                assert verbs == {"get", "list"}, where


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        (["--set", "remediations.job.enabled=maybe"], "enabled"),
        (["--set", "remediations.jobs.enabled=true"], "jobs"),
        (["--set", "remediations.namespaces={Bad_Name}"], "namespaces"),
    ],
    ids=["not-a-boolean", "unknown-kind", "bad-namespace"],
)
def test_values_schema_rejects_bad_remediation_values(values: list[str], complaint: str) -> None:
    result = run_helm("template", "x", str(CHART), *values, check=False)
    assert result.returncode != 0, f"{values} was accepted"
    assert complaint in result.stderr, result.stderr


def test_the_rbac_doc_names_every_kinds_verbs() -> None:
    doc = (REPO / "docs" / "remediation" / "rbac.md").read_text()
    for kind, directory in KINDS.items():
        assert f"remediations.{kind}.enabled" in doc
        assert f"manifests/remediations/{directory}" in doc
        for rule in _source(directory)["rules"]:
            for resource in rule["resources"]:
                assert resource in doc, (kind, resource)
