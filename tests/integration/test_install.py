"""Installing the operator: `kubectl apply -k manifests/` and the Helm chart, on the real API.

The kustomize install must be the chart's default install as plain YAML; once applied,
`kubectl auth can-i` as the operator's ServiceAccount shows what it may and may not do.
The chart is also installed with `helm install` (a second release, with Secrets limited
to one namespace). Objects these tests create are deleted afterwards; ones that were
there before (the CRDs, the admission policies) are left as they were.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, wait_for_incident
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.helm import CHART, REPO, Manifest, key, render, run_helm, without_helm_labels

MANIFESTS = REPO / "manifests"
OPERATOR_NS = "incident-operator"
OPERATOR_SA = f"system:serviceaccount:{OPERATOR_NS}:incident-operator"


def _service_account_groups(namespace: str) -> tuple[str, ...]:
    # What the API server gives a real ServiceAccount token, so group grants count too.
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


def _normalized(value: Any) -> Any:
    """Whitespace in strings collapsed: kustomize re-folds long CEL expressions."""
    if isinstance(value, dict):
        return {k: _normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    if isinstance(value, str):
        return " ".join(value.split())
    return value


@pytest.fixture(scope="module")
def kustomize_build(cluster: ClusterInfo) -> list[Manifest]:
    """`kubectl kustomize manifests/`, with the kustomize built into the cluster's kubectl."""
    text = cluster.kubectl("kustomize", str(MANIFESTS)).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


# --------------------------------------------------------- the two installs agree


def test_kustomize_install_is_the_chart_default_install(kustomize_build: list[Manifest]) -> None:
    chart = {key(m): _normalized(without_helm_labels(m)) for m in render("--include-crds")}
    plain = {key(m): _normalized(m) for m in kustomize_build}
    # helm does not create its release namespace; kustomize does.
    assert set(plain) - set(chart) == {("Namespace", "", OPERATOR_NS)}
    assert not set(chart) - set(plain), f"only in the chart: {set(chart) - set(plain)}"
    differing = [k for k in chart if chart[k] != plain[k]]
    assert not differing, f"the chart and manifests/ differ in {differing}"


def test_kustomize_and_chart_grant_the_same_rules(kustomize_build: list[Manifest]) -> None:
    def rules(manifests: list[Manifest]) -> dict[tuple[str, str, str], Any]:
        return {key(m): m["rules"] for m in manifests if m["kind"] in ("ClusterRole", "Role")}

    assert rules(render()) == rules(kustomize_build)


def test_kustomize_namespaced_overlay_is_the_chart_namespaced_install(
    cluster: ClusterInfo,
) -> None:
    # manifests/namespaced watches `production`: the chart with watchNamespaces={production}.
    text = cluster.kubectl("kustomize", str(MANIFESTS / "namespaced")).stdout
    plain = {key(m): _normalized(m) for m in yaml.safe_load_all(text) if m}
    values = ("--include-crds", "--set", "watchNamespaces={production}")
    chart = {key(m): _normalized(without_helm_labels(m)) for m in render(*values)}
    assert set(plain) - set(chart) == {("Namespace", "", OPERATOR_NS)}
    assert not set(chart) - set(plain), f"only in the chart: {set(chart) - set(plain)}"
    differing = [k for k in chart if chart[k] != plain[k]]
    assert not differing, f"the chart and manifests/namespaced differ in {differing}"
    assert not [k for k in plain if k[0] == "ClusterRoleBinding" and "rollback" in k[2]]


def test_samples_are_not_part_of_the_install(kustomize_build: list[Manifest]) -> None:
    kinds = {m["kind"] for m in kustomize_build}
    assert not {"EscalationPolicy", "Incident", "Secret"} & kinds


# ------------------------------------------------------- kubectl apply -k manifests/


def test_server_accepts_the_kustomize_install(
    kubectl: Kubectl, kustomize_build: list[Manifest]
) -> None:
    result = kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server", check=False)
    accepted = result.stdout.count("(server dry run)")
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    missing_namespace = f'namespaces "{OPERATOR_NS}" not found'
    in_namespace = [m for m in kustomize_build if m["metadata"].get("namespace") == OPERATOR_NS]
    if errors:
        # A dry run creates no namespace, so on a cluster without one the objects in it
        # cannot be checked: the only errors allowed are those, one per such object.
        assert all(missing_namespace in line for line in errors), result.stderr
        assert len(errors) == len(in_namespace), result.stderr
        assert accepted == len(kustomize_build) - len(in_namespace), result.stdout
    else:
        assert accepted == len(kustomize_build), result.stdout


@pytest.fixture(scope="module")
def kustomize_installed(
    kubectl: Kubectl, kustomize_build: list[Manifest], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """`kubectl apply -k manifests/`; afterwards, delete what the apply created."""
    build = tmp_path_factory.mktemp("kustomize") / "install.yaml"
    build.write_text(yaml.safe_dump_all(kustomize_build))
    existing = json.loads(
        kubectl("get", "-f", str(build), "--ignore-not-found", "-o", "json").stdout or "{}"
    )
    before = {key(item) for item in existing.get("items", [])}
    kubectl("apply", "-k", str(MANIFESTS))
    yield
    created = [m for m in kustomize_build if key(m) not in before]
    kubectl(
        "delete", "-f", "-", "--ignore-not-found", "--wait=false", input=yaml.safe_dump_all(created)
    )

    def namespace_gone() -> bool:
        found = kubectl("get", "namespace", OPERATOR_NS, "--ignore-not-found", "-o", "name")
        return not found.stdout.strip()

    if ("Namespace", "", OPERATOR_NS) not in before:
        # Later tests (or a rerun) may install into the same namespace.
        wait_until(namespace_gone, what=f"namespace {OPERATOR_NS} to be deleted", timeout=90)


@pytest.mark.usefixtures("kustomize_installed")
def test_installed_operator_pods_pass_the_restricted_pod_security_standard(
    kubectl: Kubectl,
) -> None:
    labels = json.loads(kubectl("get", "namespace", OPERATOR_NS, "-o", "json").stdout)
    assert labels["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    def pods() -> list[dict[str, Any]] | None:
        found = json.loads(
            kubectl(
                "get",
                "pods",
                "-n",
                OPERATOR_NS,
                "-l",
                "app.kubernetes.io/name=incident-operator",
                "-o",
                "json",
            ).stdout
        )["items"]
        return found if len(found) == 2 else None

    def refusal() -> str | None:
        events = kubectl(
            "get",
            "events",
            "-n",
            OPERATOR_NS,
            "--field-selector",
            "reason=FailedCreate",
            "-o",
            "jsonpath={.items[*].message}",
        ).stdout
        return f"the ReplicaSet could not create pods: {events}" if events.strip() else None

    # PodSecurity admission refuses a pod that breaks the standard: the ReplicaSet then
    # reports FailedCreate instead of making two pods.
    created = wait_until(pods, what="two operator pods", timeout=60, abort=refusal)
    for pod in created:
        assert pod["spec"]["serviceAccountName"] == "incident-operator"


def _can_i(kubectl: Kubectl, verb: str, resource: str, namespace: str | None, user: str) -> bool:
    """``resource`` is RESOURCE[/NAME] or RESOURCE:SUBRESOURCE."""
    service_account_namespace = user.split(":")[2]
    resource, _, subresource = resource.partition(":")
    args = ["auth", "can-i", verb, resource]
    args += [f"--subresource={subresource}"] if subresource else []
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    result = kubectl(
        *args,
        check=False,
        as_user=user,
        as_groups=_service_account_groups(service_account_namespace),
    )
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), f"kubectl {' '.join(args)}: {result.stderr}"
    return answer == "yes"


def _can_i_table(text: str) -> list[tuple[str, str, str, bool]]:
    """(verb, resource, where, expected) of each ``yes|no VERB RESOURCE WHERE`` line.

    RESOURCE is RESOURCE[/NAME] or RESOURCE:SUBRESOURCE; WHERE a namespace, ``*`` for all of
    them, or a ``{placeholder}`` the test fills in (``{ns}``: the test's namespace,
    ``{operator}``: the operator's own). ``#`` starts a comment.
    """
    rows = []
    for line in text.splitlines():
        words = line.partition("#")[0].split()
        if words:
            answer, verb, resource, where = words
            rows.append((verb, resource, where, answer == "yes"))
    return rows


def _namespace(where: str, **placeholders: str) -> str | None:
    """A table's WHERE as ``_can_i`` takes it: None for all namespaces."""
    return None if where == "*" else where.format(operator=OPERATOR_NS, **placeholders)


CAN_I = _can_i_table(
    """
    # Workloads: patched for rollbacks, never created or deleted.
    yes patch    deployments                                    {ns}
    yes watch    deployments                                    *
    no  delete   deployments                                    {ns}
    no  create   deployments                                    {ns}
    yes patch    statefulsets                                   {ns}
    no  delete   statefulsets                                   {ns}
    yes patch    daemonsets                                     {ns}
    yes list     replicasets                                    {ns}
    yes list     controllerrevisions                            {ns}
    no  delete   replicasets                                    {ns}
    no  delete   pods                                           {ns}
    no  create   pods:exec                                      {ns}
    # Incidents: watched, opened, patched; never deleted.
    yes watch    incidents.sre.agentos.io                       *
    yes create   incidents.sre.agentos.io                       {ns}
    yes patch    incidents.sre.agentos.io                       {ns}
    yes patch    incidents.sre.agentos.io:status                {ns}
    no  delete   incidents.sre.agentos.io                       {ns}
    # EscalationPolicies: read; only the status is written.
    yes list     escalationpolicies.sre.agentos.io              *
    yes patch    escalationpolicies.sre.agentos.io:status       {ns}
    yes get      escalationpolicies.sre.agentos.io:status       {ns}
    no  create   escalationpolicies.sre.agentos.io              {ns}
    no  update   escalationpolicies.sre.agentos.io              {ns}
    no  patch    escalationpolicies.sre.agentos.io              {ns}
    no  delete   escalationpolicies.sre.agentos.io              {ns}
    no  update   escalationpolicies.sre.agentos.io:status       {ns}
    # MaintenanceWindows: read and watched; only the status is written.
    yes watch    maintenancewindows.sre.agentos.io              *
    yes get      maintenancewindows.sre.agentos.io              {ns}
    yes patch    maintenancewindows.sre.agentos.io:status       {ns}
    no  create   maintenancewindows.sre.agentos.io              {ns}
    no  patch    maintenancewindows.sre.agentos.io              {ns}
    no  delete   maintenancewindows.sre.agentos.io              {ns}
    # Secrets: only the channel Secret's name (any namespace) and Alertmanager's token.
    yes get      secrets/incident-channels                      {ns}
    yes get      secrets/incident-channels                      default
    no  get      secrets/another-teams-secret                   {ns}
    no  get      secrets                                        {ns}
    no  list     secrets                                        {ns}
    no  watch    secrets                                        *
    no  update   secrets/incident-channels                      {ns}
    yes get      secrets/incident-operator-alertmanager         {operator}
    no  get      secrets/incident-operator-alertmanager         {ns}
    # ID counter and post-mortem drafts.
    yes create   configmaps                                     {ns}
    yes update   configmaps/incident-operator-ids               {ns}
    no  delete   configmaps                                     {ns}
    yes create   events                                         {ns}
    # Leader election: its own Lease, in its own namespace.
    yes create   leases.coordination.k8s.io                     {operator}
    yes update   leases.coordination.k8s.io/incident-operator   {operator}
    no  update   leases.coordination.k8s.io/kube-scheduler      {operator}
    no  create   leases.coordination.k8s.io                     {ns}
    # The leader label on its own Pod: get and patch pods in its own namespace only.
    yes get      pods                                           {operator}
    yes patch    pods                                           {operator}
    no  patch    pods                                           {ns}
    no  patch    pods                                           default
    no  delete   pods                                           {operator}
    no  create   pods                                           {operator}
    # kopf's cluster-wide discovery, and nothing cluster-admin-like.
    yes watch    customresourcedefinitions.apiextensions.k8s.io *
    no  create   customresourcedefinitions.apiextensions.k8s.io *
    yes list     namespaces                                     *
    no  delete   namespaces                                     *
    no  create   clusterrolebindings.rbac.authorization.k8s.io  *
    no  escalate clusterroles.rbac.authorization.k8s.io         *
    no  *        *                                              *
"""
)


@pytest.mark.usefixtures("kustomize_installed")
@pytest.mark.parametrize(
    ("verb", "resource", "where", "expected"),
    CAN_I,
    ids=[
        f"{'' if e else 'not-'}{v}-{r}-{_namespace(w, ns='{ns}') or 'all'}" for v, r, w, e in CAN_I
    ],
)
def test_operator_service_account_may_do_what_it_needs_and_no_more(
    kubectl: Kubectl, namespace: str, verb: str, resource: str, where: str, expected: bool
) -> None:
    target = _namespace(where, ns=namespace)
    assert _can_i(kubectl, verb, resource, target, OPERATOR_SA) is expected


# ---------------------------------------------------------------- helm install


@pytest.fixture
def other_namespace(k8s_api: k8s.ApiClient) -> Iterator[str]:
    core = k8s.CoreV1Api(k8s_api)
    name = f"t-channels-{secrets.token_hex(3)}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


# The release's ServiceAccount: channel Secrets only in the listed ({other}) namespace.
SCOPED_CAN_I = _can_i_table(
    """
    yes get    secrets/incident-channels                        {other}
    no  get    secrets/incident-channels                        {ns}
    no  get    secrets/incident-channels                        default
    yes get    secrets/{release}-incident-operator-alertmanager {ns}
    yes update leases/{release}-incident-operator               {ns}
    yes patch  pods                                             {ns}
    no  patch  pods                                             {other}
    no  delete deployments                                      {other}
"""
)


def test_helm_install_limits_channel_secrets_to_the_listed_namespaces(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    other_namespace: str,
    tmp_path: Path,
) -> None:
    release = "scoped"
    helm_env = ("--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace)
    run_helm(
        "install", release, str(CHART), *helm_env,
        # Cluster-wide objects another release (or the harness) already owns.
        "--skip-crds", "--set", "admissionPolicies=false", "--set", "rbac.responderRole=false",
        "--set", f"secretAccess.namespaces={{{other_namespace}}}",
        "--set", f"watchNamespaces={{{other_namespace}}}",
        home=tmp_path,
    )  # fmt: skip
    try:
        listed = json.loads(run_helm("list", *helm_env, "-o", "json", home=tmp_path).stdout)
        assert [(r["name"], r["status"]) for r in listed] == [(release, "deployed")]
        user = f"system:serviceaccount:{namespace}:{release}-incident-operator"
        for verb, resource, where, expected in SCOPED_CAN_I:
            target = _namespace(where, ns=namespace, other=other_namespace)
            allowed = _can_i(kubectl, verb, resource.format(release=release), target, user)
            assert allowed is expected, f"{verb} {resource} in {where}"

        def two_pods() -> bool:
            pods = kubectl(
                "get",
                "pods",
                "-n",
                namespace,
                "-l",
                f"app.kubernetes.io/instance={release}",
                "-o",
                "name",
            ).stdout.split()
            return len(pods) == 2

        wait_until(two_pods, what="the release's two pods", timeout=60)
    finally:
        run_helm("uninstall", release, *helm_env, "--wait", home=tmp_path)
    gone = kubectl(
        "get", "clusterrole", f"{release}-incident-operator", "--ignore-not-found", "-o", "name"
    )
    assert not gone.stdout.strip(), "helm uninstall left the ClusterRole"


# ------------------------------------------------------ helm install, namespaced mode


# The release's ServiceAccount with watchNamespaces={{other}}: its rights are Roles there;
# nothing in the release namespace ({ns}) beyond its Lease, token and Pod label, nothing in
# kube-system, and only kopf's reads of CRDs and namespace names cluster-wide.
NAMESPACED_CAN_I = _can_i_table(
    """
    yes update configmaps/incident-operator-ids                {other}
    yes patch  daemonsets.apps                                 {other}
    yes list   replicasets.apps                                {other}
    yes watch  deployments.apps                                {other}
    yes patch  incidents.sre.agentos.io:status                 {other}
    yes create events                                          {other}
    yes get    secrets/incident-channels                       {other}
    no  delete deployments.apps                                {other}
    no  update configmaps/incident-operator-ids                {ns}
    no  patch  daemonsets.apps                                 {ns}
    no  patch  incidents.sre.agentos.io:status                 {ns}
    no  get    secrets/incident-channels                       {ns}
    yes update leases.coordination.k8s.io/{release}-incident-operator {ns}
    yes patch  pods                                            {ns}
    no  update configmaps                                      kube-system
    no  patch  daemonsets.apps                                 kube-system
    no  list   deployments.apps                                kube-system
    no  create events                                          kube-system
    no  get    secrets/incident-channels                       kube-system
    no  watch  deployments.apps                                *
    no  list   incidents.sre.agentos.io                        *
    yes watch  customresourcedefinitions.apiextensions.k8s.io  *
    yes list   namespaces                                      *
    no  update namespaces                                      *
"""
)
# People in the watched namespace, by the built-in roles the chart's roles aggregate into.
PEOPLE_CAN_I = _can_i_table(
    """
    yes list   incidents.sre.agentos.io                        view
    yes get    escalationpolicies.sre.agentos.io               view
    no  patch  incidents.sre.agentos.io                        view
    yes patch  incidents.sre.agentos.io                        edit
    yes create maintenancewindows.sre.agentos.io               edit
    no  patch  incidents.sre.agentos.io:status                 edit
    no  delete incidents.sre.agentos.io                        edit
"""
)


def test_helm_install_in_namespaced_mode_binds_roles_in_the_watched_namespace_only(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    other_namespace: str,
    tmp_path: Path,
) -> None:
    release = "watching"
    helm_env = ("--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace)
    run_helm(
        "install", release, str(CHART), *helm_env,
        "--skip-crds", "--set", "admissionPolicies=false", "--set", "rbac.responderRole=false",
        "--set", f"watchNamespaces={{{other_namespace}}}", "--set", "replicaCount=1",
        home=tmp_path,
    )  # fmt: skip
    try:
        user = f"system:serviceaccount:{namespace}:{release}-incident-operator"
        for verb, resource, where, expected in NAMESPACED_CAN_I:
            target = _namespace(where, ns=namespace, other=other_namespace)
            allowed = _can_i(kubectl, verb, resource.format(release=release), target, user)
            assert allowed is expected, f"{verb} {resource} in {where}"
        people = {role: f"{role}-{secrets.token_hex(3)}" for role in ("view", "edit")}
        for role, person in people.items():
            kubectl(
                "create", "rolebinding", person, f"--clusterrole={role}", f"--user={person}",
                "-n", other_namespace,
            )  # fmt: skip
        for verb, resource, role, expected in PEOPLE_CAN_I:

            def answer(
                person: str = people[role], verb: str = verb, resource: str = resource
            ) -> bool:
                name, _, subresource = resource.partition(":")
                args = ["auth", "can-i", verb, name, "-n", other_namespace]
                args += [f"--subresource={subresource}"] if subresource else []
                result = kubectl(
                    *args, check=False, as_user=person, as_groups=("system:authenticated",)
                )
                return result.stdout.strip() == "yes"

            if expected:
                # The controller manager aggregates the chart's roles into view and edit.
                wait_until(answer, what=f"{role} to {verb} {resource}", timeout=30)
            else:
                assert not answer(), f"{role} may {verb} {resource}"
        _operator_works_with_only_these_rights(
            cluster, kubectl, namespace, f"{release}-incident-operator", other_namespace, tmp_path
        )
    finally:
        run_helm("uninstall", release, *helm_env, "--wait", home=tmp_path)
    gone = kubectl(
        "get", "role", f"{release}-incident-operator-watched", "-n", other_namespace,
        "--ignore-not-found", "-o", "name",
    )  # fmt: skip
    assert not gone.stdout.strip(), "helm uninstall left the watched namespace's Role"


def _operator_works_with_only_these_rights(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    account_namespace: str,
    account: str,
    watched: str,
    tmp_path: Path,
) -> None:
    """The operator, run with the ServiceAccount's own token and --namespace ``watched``,
    becomes ready (kopf's watches, the readiness probe's API check) and gives an incident
    its ID (ConfigMap counter, status, events) without one request refused."""
    token = kubectl(
        "create", "token", account, "-n", account_namespace, "--duration=10m"
    ).stdout.strip()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
    kubeconfig = tmp_path / "operator.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    log = tmp_path / "operator.log"
    with OperatorProcess(kubeconfig, log, extra_args=("--namespace", watched)) as operator:
        create_incident(kubectl, watched, "checkout-down")
        wait_for_incident(
            kubectl,
            watched,
            "checkout-down",
            lambda body: bool(body.get("status", {}).get("id")),
            "an ID from the operator running as its ServiceAccount",
            detail=operator.log_tail,
        )
    refused = [line for line in log.read_text().splitlines() if "forbidden" in line.lower()]
    assert not refused, "\n".join(refused)


# -------------------------------------------------------------------------- samples


def test_samples_are_valid_against_the_crds_and_admission(kubectl: Kubectl, namespace: str) -> None:
    documents = [
        doc
        for path in sorted((MANIFESTS / "samples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds.count("EscalationPolicy") == 1, kinds
    assert kinds.count("Incident") >= 2, kinds
    for doc in documents:
        doc["metadata"]["namespace"] = namespace
    result = kubectl(
        "apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(documents), check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(documents), result.stdout


def test_kubectl_apply_k_needs_no_file_outside_manifests() -> None:
    # kubectl's kustomize refuses files outside the kustomization root: keep it that way.
    for kustomization in MANIFESTS.rglob("kustomization.yaml"):
        for resource in yaml.safe_load(kustomization.read_text()).get("resources", []):
            resolved = (kustomization.parent / resource).resolve()
            assert MANIFESTS.resolve() in resolved.parents, f"{kustomization}: {resource}"
            assert resolved.exists(), f"{kustomization}: {resource} does not exist"
