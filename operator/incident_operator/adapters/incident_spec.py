"""Guarded changes to an Incident's spec by detection (grouping grows a grouped incident's
spec.affected, severity and title).

Each attempt is guarded by the resourceVersion just read, so what people wrote in the
meantime is read again and decided on, never overwritten: ``change`` sees the spec as it
is and returns the merge patch to apply, or None for nothing.
"""

from collections.abc import Callable
from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.detection_store import DETECTION_MANAGER, INCIDENTS
from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.kubernetes import (
    GROUP,
    VERSION,
    custom_objects,
    is_conflict,
    is_not_found,
)

_ATTEMPTS = 5
_MERGE_PATCH = "application/merge-patch+json"


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
        body = {
            "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
            "spec": patch,
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
