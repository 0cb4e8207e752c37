"""Workloads for rollbacks: read them with their revision history, patch them, and
clear an Incident's approval annotations.

Objects are read as the API server's raw JSON (``_preload_content=False``), not through
the client's models: those drop fields they do not know, and a template compared or
written back must be exactly what the server holds.
"""

import json
from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    GROUP,
    VERSION,
    api_client,
    custom_objects,
    is_conflict,
    is_not_found,
)
from incident_operator.domain.rollback_plan import (
    DEPLOYMENT,
    Workload,
    WorkloadPatch,
    workload_from_objects,
)

_READ = {
    "Deployment": "read_namespaced_deployment",
    "StatefulSet": "read_namespaced_stateful_set",
    "DaemonSet": "read_namespaced_daemon_set",
}
_PATCH = {
    "Deployment": "patch_namespaced_deployment",
    "StatefulSet": "patch_namespaced_stateful_set",
    "DaemonSet": "patch_namespaced_daemon_set",
}


class PatchConflict(Exception):
    """The workload changed since it was read (409): the patch was not applied."""


class PatchRejected(Exception):
    """The API server refused the patch for good (invalid, forbidden); the message says why."""


def _apps() -> client.AppsV1Api:
    return client.AppsV1Api(api_client())


def _json(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.data)
    return body


def _message(error: client.ApiException) -> str:
    try:
        return str(json.loads(error.body or "")["message"])
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"


def label_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector as the ``labelSelector`` query string."""
    parts = [f"{key}={value}" for key, value in (selector.get("matchLabels") or {}).items()]
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement["key"], requirement["operator"]
        values = ",".join(requirement.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(parts)


def read_workload(namespace: str, kind: str, name: str, history: bool) -> Workload | None:
    """The workload (and, with ``history``, the revisions it controls); None if absent."""
    api = _apps()
    try:
        raw = _json(getattr(api, _READ[kind])(name, namespace, _preload_content=False))
    except client.ApiException as error:
        if is_not_found(error):
            return None
        raise
    items: list[dict[str, Any]] = []
    if history:
        selector = label_selector((raw.get("spec") or {}).get("selector") or {})
        lister = (
            api.list_namespaced_replica_set
            if kind == DEPLOYMENT
            else api.list_namespaced_controller_revision
        )
        items = _json(lister(namespace, label_selector=selector, _preload_content=False))["items"]
    return workload_from_objects(kind, raw, items)


def patch_workload(namespace: str, patch: WorkloadPatch) -> None:
    """Sends the rollback patch as the operator's field manager.

    Raises PatchConflict when its resourceVersion guard fails, PatchRejected when the API
    server refuses it for another reason a retry will not fix.
    """
    method = getattr(_apps(), _PATCH[patch.kind])
    try:
        method(
            patch.name,
            namespace,
            patch.body,
            field_manager=FIELD_MANAGER,
            _content_type=patch.content_type,
            _preload_content=False,
        )
    except client.ApiException as error:
        if is_conflict(error):
            raise PatchConflict(_message(error)) from error
        if error.status in (400, 403, 404, 422):
            raise PatchRejected(_message(error)) from error
        raise


def remove_incident_annotations(
    namespace: str, name: str, resource_version: str, keys: tuple[str, ...]
) -> str | None:
    """Removes ``keys`` from an Incident's annotations, guarded by ``resource_version``;
    the new resourceVersion, or None when the incident moved on (or is gone)."""
    body = {
        "metadata": {
            "resourceVersion": resource_version,
            "annotations": {key: None for key in keys},
        }
    }
    try:
        patched: Any = custom_objects().patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "incidents", name, body, field_manager=FIELD_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error) or is_not_found(error):
            return None
        raise
    return str(patched["metadata"]["resourceVersion"])
