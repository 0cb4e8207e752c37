"""Reading and waiting on Incidents with the real kubectl, for the tests and the demo."""

import json
from collections.abc import Callable
from typing import Any

from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until

Body = dict[str, Any]


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


def get_incident(kubectl: Kubectl, namespace: str, name: str) -> Body:
    body: Body = json.loads(kubectl("get", "incident", name, "-n", namespace, "-o", "json").stdout)
    return body


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
) -> Body:
    """The incident's body once ``holds`` is true of it."""

    def check() -> Body | None:
        body = get_incident(kubectl, namespace, name)
        return body if holds(body) else None

    found: Body = wait_until(check, timeout=timeout, what=f"{name}: {what}", detail=detail)
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
        lambda body: (body.get("status") or {}).get("phase") == phase,
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


def event_messages(kubectl: Kubectl, namespace: str, name: str, reason: str) -> list[str]:
    selector = f"involvedObject.name={name},reason={reason}"
    result = kubectl("get", "events", "-n", namespace, "--field-selector", selector, "-o", "json")
    return [event["message"] for event in json.loads(result.stdout)["items"]]


def timeline_types(body: Body) -> list[str]:
    return [entry["type"] for entry in (body.get("status") or {}).get("timeline", [])]
