"""Detection's calls to the Kubernetes API. All blocking; callers run them in threads.

Detection owns little on the objects it touches, and writes only that:

- the Incidents it opens (created whole, once);
- on those, ``spec.severity`` when it raises it, guarded by the resourceVersion the
  decision was made from, so a severity people raised meanwhile is never lowered;
- ``status.detection`` and ``status.metrics`` of Incidents, each as a JSON merge patch
  of that one key, leaving the lifecycle's keys alone;
- an EscalationPolicy's MetricsAvailable condition and ``status.breaches``, by
  server-side apply under its own field manager, so the policy reconciler's Ready stays.
"""

import json
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client

from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.kubernetes import (
    GROUP,
    VERSION,
    apply_status,
    custom_objects,
    is_conflict,
    is_not_found,
)
from incident_operator.domain.severity import Severity

DETECTION_MANAGER = "incident-operator-detection"
_ATTEMPTS = 5
INCIDENTS = "incidents"
_MERGE_PATCH = "application/merge-patch+json"


class AlreadyExists(Exception):
    """An object of that name is already there."""


def create_incident(manifest: dict[str, Any]) -> dict[str, Any]:
    namespace = manifest["metadata"]["namespace"]
    try:
        created = custom_objects().create_namespaced_custom_object(
            GROUP, VERSION, namespace, INCIDENTS, manifest, field_manager=DETECTION_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error):
            raise AlreadyExists(f"{namespace}/{manifest['metadata']['name']}") from error
        raise
    return cast(dict[str, Any], created)


def patch_incident_status(namespace: str, name: str, key: str, value: Any) -> dict[str, Any] | None:
    """Merge-patches ``status.<key>``; None when the incident is gone."""
    return patch_incident_status_fields(namespace, name, {key: value})


def patch_incident_status_fields(
    namespace: str, name: str, fields: dict[str, Any]
) -> dict[str, Any] | None:
    """Merge-patches several fields of ``status`` at once; None when the incident is gone."""
    try:
        patched = custom_objects().patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            INCIDENTS,
            name,
            {"status": fields},
            field_manager=DETECTION_MANAGER,
            _content_type=_MERGE_PATCH,
        )
    except client.ApiException as error:
        if is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], patched)


def raise_severity(namespace: str, name: str, severity: Severity) -> dict[str, Any] | None:
    """Sets spec.severity to ``severity`` unless it is already as severe; None when gone.

    Each attempt is guarded by the resourceVersion just read, so a severity people
    raised in the meantime is seen, and never lowered.
    """
    for _ in range(_ATTEMPTS):
        current = read_incident(namespace, name)
        if current is None:
            return None
        if not severity.is_more_severe_than(Severity(current["spec"]["severity"])):
            return current
        body = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "spec": {"severity": severity.value},
        }
        try:
            patched = custom_objects().patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                INCIDENTS,
                name,
                body,
                field_manager=DETECTION_MANAGER,
                _content_type=_MERGE_PATCH,
            )
        except client.ApiException as error:
            if is_conflict(error):
                continue
            if is_not_found(error):
                return None
            raise
        return cast(dict[str, Any], patched)
    return None


def list_incidents(namespace: str) -> list[dict[str, Any]]:
    listed = cast(
        dict[str, Any],
        custom_objects().list_namespaced_custom_object(GROUP, VERSION, namespace, INCIDENTS),
    )
    return cast(list[dict[str, Any]], listed.get("items", []))


def apply_policy_status(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Applies detection's part of the policy's status; nothing when the policy is gone."""
    try:
        apply_status(
            "EscalationPolicy", "escalationpolicies", namespace, name, status, DETECTION_MANAGER
        )
    except client.ApiException as error:
        if not is_not_found(error):
            raise


@dataclass(frozen=True)
class CallFailure:
    """What a failed API call says."""

    # The API server's HTTP status; None when it was not reached.
    status: int | None
    # The kind its Status details name ("namespaces" for a missing namespace).
    kind: str | None
    # ``404 Not Found: namespaces "x" not found``, or what kept the call from arriving.
    message: str


def call_failure(error: BaseException) -> CallFailure | None:
    """``error`` as a failed API call; None when it is something else."""
    if isinstance(error, client.ApiException):
        try:
            status_body = json.loads(error.body or "{}")
        except (ValueError, TypeError):
            status_body = {}
        if not isinstance(status_body, dict):
            status_body = {}
        details = status_body.get("details")
        kind = details.get("kind") if isinstance(details, dict) else None
        detail = status_body.get("message")
        status = error.status if isinstance(error.status, int) and error.status > 0 else None
        message = f"{error.status} {error.reason}" + (
            f": {detail}" if isinstance(detail, str) and detail else ""
        )
        return CallFailure(status, kind if isinstance(kind, str) else None, message)
    if isinstance(error, (urllib3.exceptions.HTTPError, OSError)):
        return CallFailure(None, None, f"not reached: {type(error).__name__}: {error}")
    return None
