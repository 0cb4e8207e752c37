"""The remediation kinds' rights on the real API (docs/remediation/rbac.md), checked with
`kubectl auth can-i` as the operator's ServiceAccount:

* `kubectl apply -k` of manifests/ with every kind's Component: each kind's verbs are
  granted and nothing beyond them (no deleting workloads or ConfigMaps, no exec);
* the chart with one kind enabled and remediations.namespaces: that kind's verbs only in
  the listed namespace, and the kinds not enabled nowhere.

Only the RBAC objects are applied (the operator's pods are test_install.py's concern);
what the tests create is deleted afterwards, what was there before is left.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.helm import REPO, Manifest, key, render
from tests.integration.test_install import _can_i, _can_i_table, _namespace

MANIFESTS = REPO / "manifests"
OPERATOR_SA = "system:serviceaccount:incident-operator:incident-operator"
COMPONENTS = ("job", "feature-flag", "config-rollback")
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "RoleBinding")

# Every kind's Component applied; {ns} is the test's namespace.
WITH_COMPONENTS = _can_i_table(
    """
    # job: run the catalog's Job and read its pods' logs; never change or delete them.
    yes create   jobs.batch                           {ns}
    yes get      jobs.batch                           {ns}
    yes list     jobs.batch                           {ns}
    no  delete   jobs.batch                           {ns}
    no  patch    jobs.batch                           {ns}
    no  create   cronjobs.batch                       {ns}
    yes list     pods                                 {ns}
    yes get      pods:log                             {ns}
    no  create   pods                                 {ns}
    no  delete   pods                                 {ns}
    no  create   pods:exec                            {ns}
    # featureFlag: read and patch a FeatureFlag or a flags ConfigMap.
    yes get      featureflags.core.openfeature.dev    {ns}
    yes patch    featureflags.core.openfeature.dev    {ns}
    no  create   featureflags.core.openfeature.dev    {ns}
    no  delete   featureflags.core.openfeature.dev    {ns}
    yes patch    configmaps                           {ns}
    no  delete   configmaps                           {ns}
    # configRollback: follow and restore ConfigMaps and Secrets, keep snapshots.
    no  watch    secrets                              {ns}
    yes list     configmaps                           {ns}
    yes update   secrets                              {ns}
    yes create   secrets                              {ns}
    yes delete   secrets                              {ns}
    no  patch    secrets                              {ns}
    no  deletecollection secrets                      {ns}
    yes create   controllerrevisions.apps             {ns}
    yes delete   controllerrevisions.apps             {ns}
    # Workloads stay the base rules': patched, never created or deleted.
    yes patch    deployments                          {ns}
    no  create   deployments                          {ns}
    no  delete   daemonsets                           {ns}
    no  escalate clusterroles.rbac.authorization.k8s.io *
    no  *        *                                    *
"""
)


# A group this cluster does not serve (no OpenFeature CRD here): `kubectl auth can-i`
# cannot name its resources (it needs discovery), so the same question goes to the API
# server as a SubjectAccessReview.
UNSERVED_GROUP = "core.openfeature.dev"


def _allowed(
    kubectl: Kubectl,
    api: k8s.ApiClient,
    verb: str,
    resource: str,
    namespace: str | None,
    user: str,
) -> bool:
    plural, _, group = resource.partition(".")
    if group != UNSERVED_GROUP:
        return _can_i(kubectl, verb, resource, namespace, user)
    review = k8s.V1SubjectAccessReview(
        spec=k8s.V1SubjectAccessReviewSpec(
            user=user,
            groups=["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}"],
            resource_attributes=k8s.V1ResourceAttributes(
                verb=verb, group=group, resource=plural, namespace=namespace
            ),
        )
    )
    answer = k8s.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(answer.status.allowed)


def _rbac_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["kind"] in RBAC_KINDS]


@contextmanager
def _applied(kubectl: Kubectl, objects: list[Manifest], path: Path) -> Iterator[None]:
    """Applies ``objects``; afterwards deletes the ones that were not there before."""
    path.write_text(yaml.safe_dump_all(objects))
    existing = json.loads(
        kubectl("get", "-f", str(path), "--ignore-not-found", "-o", "json").stdout or "{}"
    )
    before = {key(item) for item in existing.get("items", [])}
    kubectl("apply", "-f", str(path))
    yield
    created = [m for m in objects if key(m) not in before]
    if created:
        kubectl("delete", "-f", "-", "--ignore-not-found", input=yaml.safe_dump_all(created))


@pytest.fixture(scope="module")
def with_components(
    cluster: ClusterInfo, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """manifests/ with every kind's Component, as a user's kustomization would add them."""
    root = tmp_path_factory.mktemp("with-components")
    base = os.path.relpath(MANIFESTS, root)  # kustomize takes no absolute roots
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/remediations/{c}" for c in COMPONENTS],
            }
        )
    )
    built = [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(root)).stdout) if doc]
    plain = [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(MANIFESTS)).stdout) if doc]
    added = {key(m) for m in built} - {key(m) for m in plain}
    assert added == {
        (kind, "", f"incident-operator-remediation-{c}")
        for c in COMPONENTS
        for kind in ("ClusterRole", "ClusterRoleBinding")
    }, "each Component adds its ClusterRole and binding, nothing else"
    # The cluster-wide grants only: the Roles in the operator's namespace are not needed.
    # The base's (incident-responder and the rest) are applied and left in place: other
    # tests of the session share them. Only what the Components add is removed afterwards.
    cluster_wide = [m for m in built if m["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    base = root / "base.yaml"
    base.write_text(yaml.safe_dump_all([m for m in cluster_wide if key(m) not in added]))
    kubectl("apply", "-f", str(base))
    components = [m for m in cluster_wide if key(m) in added]
    with _applied(kubectl, components, root / "rbac.yaml"):
        wait_until(
            lambda: _can_i(kubectl, "create", "jobs.batch", "default", OPERATOR_SA),
            what="the Components' grants to take effect",
            timeout=30,
        )
        yield


@pytest.mark.usefixtures("with_components")
@pytest.mark.parametrize(
    ("verb", "resource", "where", "expected"),
    WITH_COMPONENTS,
    ids=[f"{'' if e else 'not-'}{v}-{r}" for v, r, _, e in WITH_COMPONENTS],
)
def test_each_kinds_component_grants_its_verbs_and_no_more(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    verb: str,
    resource: str,
    where: str,
    expected: bool,
) -> None:
    target = _namespace(where, ns=namespace)
    assert _allowed(kubectl, k8s_api, verb, resource, target, OPERATOR_SA) is expected


@pytest.fixture
def other_namespace(k8s_api: k8s.ApiClient, namespace: str) -> Iterator[str]:
    core = k8s.CoreV1Api(k8s_api)
    name = f"{namespace[:50]}-other"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


# The chart with job enabled in {ns} only: featureFlag and configRollback not enabled.
CHART_JOB_ONLY = _can_i_table(
    """
    yes create   jobs.batch                           {ns}
    yes get      pods:log                             {ns}
    no  create   jobs.batch                           {other}
    no  get      pods:log                             {other}
    no  patch    featureflags.core.openfeature.dev    {ns}
    no  list     secrets                              {ns}
    no  create   controllerrevisions.apps             {ns}
    no  patch    configmaps                           {ns}
"""
)


def test_the_chart_grants_only_enabled_kinds_only_in_listed_namespaces(
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    other_namespace: str,
    tmp_path: Path,
) -> None:
    release = "rem-scoped"
    rendered = render(
        "--set", "remediations.job.enabled=true",
        "--set", f"remediations.namespaces={{{namespace}}}",
        release=release, namespace=namespace,
    )  # fmt: skip
    objects = [m for m in _rbac_objects(rendered) if "-remediation-" in m["metadata"]["name"]]
    assert sorted((m["kind"], m["metadata"].get("namespace")) for m in objects) == [
        ("ClusterRole", None),
        ("RoleBinding", namespace),
    ]
    user = f"system:serviceaccount:{namespace}:{release}-incident-operator"
    with _applied(kubectl, objects, tmp_path / "rbac.yaml"):
        wait_until(
            lambda: _can_i(kubectl, "create", "jobs.batch", namespace, user),
            what="the chart's grant to take effect",
            timeout=30,
        )
        for verb, resource, where, expected in CHART_JOB_ONLY:
            target = _namespace(where, ns=namespace, other=other_namespace)
            allowed = _allowed(kubectl, k8s_api, verb, resource, target, user)
            assert allowed is expected, f"{verb} {resource} in {where}"
