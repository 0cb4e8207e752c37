"""Helpers for the rollback tests: workloads with a revision history, incidents, users.

Histories are built through the API and each revision is waited for, so the same steps
give the same revision numbers in two namespaces (the equivalence tests compare
`kubectl rollout undo` in one with the operator in the other).
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from tests.harness.cluster import ClusterInfo
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

HASH_LABEL = "pod-template-hash"
APPROVE = "sre.agentos.io/approve-rollback"
APPROVE_PROPOSAL = "sre.agentos.io/approve-rollback-proposal"
# approve()'s default: name the proposal the incident's status shows now, as the plugin does.
CURRENT_PROPOSAL = "<current>"
APPROVERS = "incident-approvers"
PLUGIN = Path(sys.executable).parent / "kubectl-incident"
TIMEOUT = 90.0
_PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}

# The pod templates of revisions 1, 2 and 3: an image, then env and resources change.
REVISIONS: list[dict[str, Any]] = [
    {"image": "registry.invalid/shop:1.0.0", "env": [{"name": "FLAG", "value": "off"}]},
    {"image": "registry.invalid/shop:1.1.0", "env": [{"name": "FLAG", "value": "off"}]},
    {
        "image": "registry.invalid/shop:1.1.0",
        "env": [{"name": "FLAG", "value": "on"}],
        "args": ["--fast"],
        "resources": {"limits": {"cpu": "500m"}},
    },
]


def manifest(kind: str, name: str, revision: int = 1, replicas: int = 2) -> dict[str, Any]:
    """The workload at ``revision`` (1-based) of REVISIONS."""
    labels = {"app": name}
    container = {"name": "app", **copy.deepcopy(REVISIONS[revision - 1])}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
    }
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        # An annotation the Deployment copies to each ReplicaSet: the annotations rule
        # decides what a rollback does with it.
        "metadata": {"name": name, "labels": labels, "annotations": {"note": f"r{revision}"}},
        "spec": spec,
    }


def get(kubectl: Kubectl, kind: str, namespace: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        kubectl("get", kind.lower(), name, "-n", namespace, "-o", "json").stdout
    )
    return body


def _history_size(kubectl: Kubectl, kind: str, namespace: str, name: str) -> int:
    resource = "replicasets" if kind == "Deployment" else "controllerrevisions"
    items = json.loads(
        kubectl("get", resource, "-n", namespace, "-l", f"app={name}", "-o", "json").stdout
    )["items"]
    return len(items)


def wait_rollout(kubectl: Kubectl, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """Until the real kubectl says the rollout is complete; returns the workload."""
    kubectl(
        "rollout",
        "status",
        f"{kind.lower()}/{name}",
        "-n",
        namespace,
        f"--timeout={TIMEOUT:.0f}s",
        timeout=TIMEOUT + 10,
    )
    return get(kubectl, kind, namespace, name)


def build_history(
    kubectl: Kubectl, api: k8s.ApiClient, kind: str, namespace: str, name: str, revisions: int = 3
) -> dict[str, Any]:
    """Creates the workload and rolls it through REVISIONS[:revisions], one recorded
    revision at a time; returns it rolled out at the last."""
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest(kind, name)))
    for revision in range(1, revisions + 1):
        if revision > 1:
            body = manifest(kind, name, revision)
            patch = {"metadata": {"annotations": body["metadata"]["annotations"]}, "spec": {}}
            patch["spec"]["template"] = body["spec"]["template"]
            k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
                "apps", "v1", namespace, _PLURAL[kind], name, patch
            )
        wait_until(
            lambda r=revision: _history_size(kubectl, kind, namespace, name) >= r,
            what=f"revision {revision} of {kind}/{name} to be recorded",
            timeout=TIMEOUT,
        )
        workload = wait_rollout(kubectl, kind, namespace, name)
    return workload


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(template)
    labels = template.get("metadata", {}).get("labels", {})
    labels.pop(HASH_LABEL, None)
    return template


def incident(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    target: tuple[str, str] | None = None,
    to_revision: int | None = None,
    affected: Sequence[tuple[str, str]] = (),
    severity: str = "P1",
) -> None:
    spec: dict[str, Any] = {"title": f"{name} is failing", "severity": severity}
    workloads = list(affected) or ([target] if target else [])
    if workloads:
        spec["affected"] = [{"kind": k, "name": n} for k, n in workloads]
    if target is not None:
        request: dict[str, Any] = {"target": {"kind": target[0], "name": target[1]}}
        if to_revision is not None:
            request["toRevision"] = to_revision
        spec["rollback"] = request
    body = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name},
        "spec": spec,
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))


def rollback_of(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    status = get(kubectl, "Incident", namespace, name).get("status") or {}
    rollback: dict[str, Any] = status.get("rollback") or {}
    return rollback


def wait_rollback(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    phase: str,
    detail: Any = None,
    timeout: float = TIMEOUT,
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        rollback = rollback_of(kubectl, namespace, name)
        return rollback if rollback.get("phase") == phase else None

    found: dict[str, Any] = wait_until(
        reached,
        what=f"the rollback of {name} to be {phase}",
        timeout=timeout,
        detail=lambda: (
            f"rollback: {rollback_of(kubectl, namespace, name)}\n" + (detail() if detail else "")
        ),
    )
    return found


def let_approve(kubectl: Kubectl, namespace: str, *users: str) -> None:
    """Gives ``users`` the incident-responder role in ``namespace``."""
    kubectl(
        "create",
        "rolebinding",
        f"responders-{secrets.token_hex(2)}",
        "-n",
        namespace,
        "--clusterrole=incident-responder",
        *(f"--user={u}" for u in users),
    )


def approve(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    user: str = "alice",
    as_user: str | None = None,
    groups: Sequence[str] = (APPROVERS,),
    proposal: str | None = CURRENT_PROPOSAL,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Approves with ``kubectl annotate``, naming ``proposal`` (None: naming none; with
    no proposal in the status, the default names "none")."""
    annotations = [f"{APPROVE}={user}"]
    if proposal == CURRENT_PROPOSAL:
        proposal = str(rollback_of(kubectl, namespace, name).get("proposal", "none"))
    if proposal is not None:
        annotations.append(f"{APPROVE_PROPOSAL}={proposal}")
    return kubectl(
        "annotate",
        "incident",
        name,
        "-n",
        namespace,
        *annotations,
        as_user=as_user or user,
        as_groups=groups,
        check=check,
    )


def timeline_types(kubectl: Kubectl, namespace: str, name: str) -> list[str]:
    status = get(kubectl, "Incident", namespace, name).get("status") or {}
    return [entry["type"] for entry in status.get("timeline") or []]


def plugin(
    kubeconfig: Path, namespace: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_plugin(kubeconfig, namespace, *args, check=check)


def user_kubeconfig(
    cluster: ClusterInfo, kubectl: Kubectl, directory: Path, user: str, groups: Sequence[str]
) -> Path:
    """A kubeconfig for ``user`` in ``groups``: a client certificate the cluster's own
    signer issues through a CertificateSigningRequest (the plugin cannot impersonate)."""
    key, request = directory / f"{user}.key", directory / f"{user}.csr"
    subject = f"/CN={user}" + "".join(f"/O={group}" for group in groups)
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(request),
            "-subj",
            subject,
        ],
        check=True,
        capture_output=True,
    )
    name = f"{user}-{secrets.token_hex(3)}"
    csr = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(request.read_bytes()).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 3600,
        },
    }
    kubectl("create", "-f", "-", input=json.dumps(csr))
    kubectl("certificate", "approve", name)

    def issued() -> str | None:
        found = json.loads(kubectl("get", "csr", name, "-o", "json").stdout)
        certificate: str | None = (found.get("status") or {}).get("certificate")
        return certificate

    certificate = wait_until(issued, what=f"the certificate for {user}", timeout=30)
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"] = [
        {
            "name": user,
            "user": {
                "client-certificate-data": certificate,
                "client-key-data": base64.b64encode(key.read_bytes()).decode(),
            },
        }
    ]
    for context in config["contexts"]:
        context["context"]["user"] = user
    path = directory / f"{user}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path
