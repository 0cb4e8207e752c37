"""Reading and waiting on Incidents (and EscalationPolicies) with the real kubectl, for the
tests and the demo."""

import json
from collections.abc import Callable
from subprocess import CompletedProcess
from typing import Any

from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

Body = dict[str, Any]
# The runbook's required checklist items that people tick when the operator cannot (nothing
# monitors the incident, no customer message was sent): an incident needs them to close.
REQUIRED_BY_PEOPLE = (
    "rootCauseIdentified",
    "fixVerified",
    "systemsRecovered",
    "metricsNormal",
    "customerCommunicationSent",
    "lessonsLearned",
)
# The runbook's pre-resolution verification as people tick it for an incident nothing
# monitors: a Resolved set by people waits for it (docs/resolution.md).
PRE_RESOLUTION_BY_PEOPLE = (
    "rootCauseDocumented",
    "fixInProduction",
    "normalMetrics",
    "errorRatesAtBaseline",
    "noNewAlerts",
    "manualVerification",
    "customerImpactResolved",
)
PRE_RESOLUTION_TICKED = {key: True for key in PRE_RESOLUTION_BY_PEOPLE}


def incident_manifest(name: str, **spec: Any) -> str:
    """An Incident as JSON for `kubectl create -f -`; title and severity may be overridden."""
    return json.dumps(
        {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name},
            "spec": {"title": f"{name} is down", "severity": "P1", **spec},
        }
    )


def policy_manifest(name: str, **spec: Any) -> str:
    """An EscalationPolicy as JSON for `kubectl apply -f -`."""
    return json.dumps(
        {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "EscalationPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def create_incident(
    kubectl: Kubectl, namespace: str, name: str, check: bool = True, **spec: Any
) -> CompletedProcess[str]:
    """Creates ``incident_manifest(name, **spec)`` in ``namespace``."""
    manifest = incident_manifest(name, **spec)
    return kubectl("create", "-n", namespace, "-f", "-", input=manifest, check=check)


def patch_incident(kubectl: Kubectl, namespace: str, name: str, **spec: Any) -> None:
    """Merge-patches the incident's spec with ``spec``."""
    patch = json.dumps({"spec": spec})
    kubectl("patch", "incident", name, "-n", namespace, "--type=merge", "-p", patch)


def get_object(kubectl: Kubectl, namespace: str, kind: str, name: str) -> Body:
    body: Body = json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return body


def get_incident(kubectl: Kubectl, namespace: str, name: str) -> Body:
    return get_object(kubectl, namespace, "incident", name)


def list_incidents(kubectl: Kubectl, namespace: str, selector: str | None = None) -> list[Body]:
    """The namespace's incidents; with ``selector``, those its label selector matches."""
    where = ("-l", selector) if selector else ()
    listed = kubectl("get", "incidents", "-n", namespace, *where, "-o", "json").stdout
    items: list[Body] = json.loads(listed)["items"]
    return items


def phase_of(body: Body) -> str | None:
    found: str | None = (body.get("status") or {}).get("phase")
    return found


def conditions(body: Body) -> dict[str, Body]:
    return {c["type"]: c for c in (body.get("status") or {}).get("conditions", [])}


def wait_for_incident(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    holds: Callable[[Body], bool],
    what: str,
    timeout: float = 30,
    detail: Callable[[], str] | None = None,
    *,
    kind: str = "incident",
) -> Body:
    """The incident's body (or, with ``kind``, another object's) once ``holds`` is true of it."""

    def check() -> Body | None:
        body = get_object(kubectl, namespace, kind, name)
        return body if holds(body) else None

    found: Body = wait_until(check, timeout=timeout, what=f"{name}: {what}", detail=detail)
    return found


def wait_for_only_incident(
    kubectl: Kubectl,
    namespace: str,
    holds: Callable[[Body], bool],
    what: str,
    timeout: float = 30,
    detail: Callable[[], str] | None = None,
    selector: str | None = None,
) -> Body:
    """The namespace's only incident (of ``selector``) once ``holds`` is true of it.

    A second incident fails the wait: for tests of what must open exactly one.
    """

    def check() -> Body | None:
        items = list_incidents(kubectl, namespace, selector)
        assert len(items) <= 1, f"more than one incident: {[i['metadata']['name'] for i in items]}"
        return items[0] if items and holds(items[0]) else None

    found: Body = wait_until(check, timeout=timeout, what=what, detail=detail)
    return found


def wait_for_phase(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    phase: str,
    detail: Callable[[], str] | None = None,
    timeout: float = 30,
) -> Body:
    return wait_for_incident(
        kubectl,
        namespace,
        name,
        lambda body: phase_of(body) == phase,
        f"phase {phase}",
        timeout=timeout,
        detail=detail,
    )


def wait_for_status_field(
    kubectl: Kubectl, namespace: str, name: str, key: str, detail: Callable[[], str] | None = None
) -> Body:
    return wait_for_incident(
        kubectl,
        namespace,
        name,
        lambda body: bool((body.get("status") or {}).get(key)),
        f"status.{key}",
        detail=detail,
    )


def wait_for_condition(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    type_: str,
    status: str = "True",
    *,
    kind: str = "incident",
    timeout: float = 30,
    detail: Callable[[], str] | None = None,
) -> Body:
    """The object's body once its condition ``type_`` has ``status``."""
    return wait_for_incident(
        kubectl,
        namespace,
        name,
        lambda body: conditions(body).get(type_, {}).get("status") == status,
        f"condition {type_}={status}",
        timeout=timeout,
        detail=detail,
        kind=kind,
    )


def events(kubectl: Kubectl, namespace: str, name: str, reason: str | None = None) -> list[Body]:
    """The Events about ``name`` (of ``reason``, when given)."""
    selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    result = kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json")
    items: list[Body] = json.loads(result.stdout)["items"]
    return items


def event_messages(
    kubectl: Kubectl, namespace: str, name: str, reason: str | None = None
) -> list[str]:
    return [event.get("message", "") for event in events(kubectl, namespace, name, reason)]


def timeline_types(body: Body) -> list[str]:
    return [entry["type"] for entry in (body.get("status") or {}).get("timeline", [])]
