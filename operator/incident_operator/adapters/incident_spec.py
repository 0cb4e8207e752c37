"""Guarded merge patches of an Incident's spec by the operator: grouping grows a grouped
incident's spec.affected, severity and title; a merge or a split (asked for with the
plugin) moves affected workloads and severity.

Each write is guarded by the resourceVersion it was decided from, so what people wrote in
the meantime is read again and decided on, never overwritten.
"""

from collections.abc import Callable
from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.detection_store import DETECTION_MANAGER, INCIDENTS
from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    GROUP,
    VERSION,
    custom_objects,
    is_conflict,
    is_not_found,
)

_ATTEMPTS = 5
_MERGE_PATCH = "application/merge-patch+json"


class _Conflict(Exception):
    """The incident moved on since ``resourceVersion``."""


def _guarded_patch(
    namespace: str, name: str, resource_version: str, spec: dict[str, Any], manager: str
) -> dict[str, Any] | None:
    """The incident as written; None when it is gone; _Conflict when it moved on."""
    body = {"metadata": {"resourceVersion": resource_version}, "spec": spec}
    try:
        written = custom_objects().patch_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            INCIDENTS,
            name,
            body,
            field_manager=manager,
            _content_type=_MERGE_PATCH,
        )
    except client.ApiException as error:
        if is_conflict(error):
            raise _Conflict from error
        if is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], written)


def patch_incident_spec(
    namespace: str, name: str, resource_version: str, spec: dict[str, Any]
) -> dict[str, Any] | None:
    """One guarded attempt (a merge or a split decides again on a conflict): the incident
    as written, or None when it moved on (or is gone)."""
    try:
        return _guarded_patch(namespace, name, resource_version, spec, FIELD_MANAGER)
    except _Conflict:
        return None


def change_spec(
    namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> dict[str, Any] | None:
    """Applies ``change(spec)`` guarded by resourceVersion, retrying on conflicts; the
    incident as written (or as read when nothing changes); None when it is gone."""
    for _ in range(_ATTEMPTS):
        current = read_incident(namespace, name)
        if current is None:
            return None
        patch = change(current.get("spec") or {})
        if not patch:
            return current
        version = current["metadata"]["resourceVersion"]
        try:
            return _guarded_patch(namespace, name, version, patch, DETECTION_MANAGER)
        except _Conflict:
            continue
    return None
