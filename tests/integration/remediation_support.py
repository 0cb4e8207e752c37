"""Helpers for remediation tests (docs/remediation.md), for every kind.

A test builds the objects its kind acts on, then:

    catalog_policy(kubectl, namespace, [entry, ...])     # the policy, default, Ready
    open_incident(kubectl, namespace, "outage")          # governed by it
    request(kubeconfig, namespace, "outage", "kill-switch", replicas="0")   # the plugin
    approve(alice_kubeconfig, namespace, "outage", "r1")                   # the plugin
    wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)

``approver`` makes a kubeconfig for a user in the approver group (the plugin cannot
impersonate; rollback_support.user_kubeconfig issues a client certificate).
``annotate_request`` writes a request without the plugin (what the operator must check
itself), and ``write_records`` writes status.remediations as a killed operator left it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tests.harness.cluster import ClusterInfo
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.rollback_support import get, let_approve, user_kubeconfig

REMEDIATE = "sre.agentos.io/remediate"
REMEDIATE_BY = "sre.agentos.io/remediate-by"
APPROVE = "sre.agentos.io/approve-remediation"
APPROVE_REQUEST = "sre.agentos.io/approve-remediation-request"
APPROVERS = "incident-approvers"
TIMEOUT = 90.0


def scale_entry(name: str = "kill-switch", workload: str = "web", **extra: Any) -> dict[str, Any]:
    """A `scale` catalog entry: Deployment ``workload`` to the `replicas` parameter (0 or 1)."""
    return {
        "name": name,
        "kind": "scale",
        "approverGroup": APPROVERS,
        "parameters": [{"name": "replicas", "type": "integer", "allowed": ["0", "1"]}],
        "scale": {
            "workload": {"kind": "Deployment", "name": workload},
            "replicas": "{{ params.replicas }}",
        },
        **extra,
    }


def catalog_policy(
    kubectl: Kubectl, namespace: str, remediations: Sequence[dict[str, Any]], **spec: Any
) -> None:
    """The namespace's default EscalationPolicy with ``remediations``; waits until Ready."""
    body = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": {"default": True, "remediations": list(remediations), **spec},
    }
    kubectl("apply", "-f", "-", input=json.dumps(body))

    def ready() -> bool:
        found = get(kubectl, "EscalationPolicy", namespace, "shop")
        conditions = {c["type"]: c for c in found.get("status", {}).get("conditions", [])}
        return conditions.get("Ready", {}).get("status") == "True"

    wait_until(ready, what="the policy to be Ready", timeout=30)


def open_incident(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    severity: str = "P1",
    affected: Sequence[tuple[str, str]] = (("Deployment", "web"),),
) -> dict[str, Any]:
    """An incident governed by the namespace's policy; returns it once the policy is known."""
    body = {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name},
        "spec": {
            "title": f"{name} is failing",
            "severity": severity,
            "affected": [{"kind": k, "name": n} for k, n in affected],
        },
    }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))

    def governed() -> dict[str, Any] | None:
        found = get(kubectl, "Incident", namespace, name)
        status = found.get("status") or {}
        return (
            found if status.get("id") and (status.get("escalation") or {}).get("policy") else None
        )

    found: dict[str, Any] = wait_until(governed, what=f"{name} to be governed", timeout=60)
    return found


def approver(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    directory: Path,
    user: str = "alice",
    groups: Sequence[str] = (APPROVERS,),
) -> Path:
    """A kubeconfig for ``user`` in ``groups``, with the responder role in ``namespace``."""
    let_approve(kubectl, namespace, user)
    return user_kubeconfig(cluster, kubectl, directory, user, groups)


def request(
    kubeconfig: Path,
    namespace: str,
    incident: str,
    remediation: str,
    *extra: str,
    check: bool = True,
    **parameters: str,
) -> subprocess.CompletedProcess[str]:
    """`kubectl incident remediate INCIDENT NAME --param k=v ...` (waits for the record)."""
    params = [f"--param={k}={v}" for k, v in parameters.items()]
    return run_plugin(
        kubeconfig, namespace, "remediate", incident, remediation, *params, *extra, check=check
    )


def approve(
    kubeconfig: Path, namespace: str, incident: str, record_id: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`kubectl incident approve INCIDENT rN` as the kubeconfig's user."""
    return run_plugin(kubeconfig, namespace, "approve", incident, record_id, check=check)


def annotate_request(
    kubectl: Kubectl,
    namespace: str,
    incident: str,
    body: str,
    user: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """A request written with plain `kubectl annotate` (no plugin checks), as ``user``
    (impersonated) or, by default, as the test's own admin user."""
    by = user or kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    return kubectl(
        "annotate",
        "--overwrite",
        "incident",
        incident,
        "-n",
        namespace,
        f"{REMEDIATE}={body}",
        f"{REMEDIATE_BY}={by}",
        as_user=user,
        check=check,
    )


def records(kubectl: Kubectl, namespace: str, incident: str) -> list[dict[str, Any]]:
    status = get(kubectl, "Incident", namespace, incident).get("status") or {}
    found: list[dict[str, Any]] = status.get("remediations") or []
    return found


def record(kubectl: Kubectl, namespace: str, incident: str, record_id: str) -> dict[str, Any]:
    return next((r for r in records(kubectl, namespace, incident) if r["id"] == record_id), {})


def wait_phase(
    kubectl: Kubectl,
    namespace: str,
    incident: str,
    record_id: str,
    phase: str,
    detail: Callable[[], str] | None = None,
    timeout: float = TIMEOUT,
) -> dict[str, Any]:
    """Until record ``record_id`` is in ``phase``; returns it."""

    def reached() -> dict[str, Any] | None:
        found = record(kubectl, namespace, incident, record_id)
        return found if found.get("phase") == phase else None

    found: dict[str, Any] = wait_until(
        reached,
        what=f"remediation {record_id} of {incident} to be {phase}",
        timeout=timeout,
        detail=lambda: (
            f"record: {record(kubectl, namespace, incident, record_id)}\n"
            + (detail() if detail else "")
        ),
    )
    return found


def write_records(
    kubectl: Kubectl, namespace: str, incident: str, remediations: list[dict[str, Any]]
) -> None:
    """Writes status.remediations as given (what a killed operator left behind)."""
    kubectl(
        "patch",
        "incident",
        incident,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"remediations": remediations}}),
    )


def annotations(kubectl: Kubectl, namespace: str, incident: str) -> dict[str, str]:
    found: dict[str, str] = get(kubectl, "Incident", namespace, incident)["metadata"].get(
        "annotations", {}
    )
    return found
