"""Merge-patching an Incident's spec, guarded by resourceVersion: the fields a merge or a
split changes (spec.affected, spec.severity), which people asked for with the plugin."""

from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    GROUP,
    VERSION,
    custom_objects,
    is_conflict,
    is_not_found,
)


def patch_incident_spec(
    namespace: str, name: str, resource_version: str, spec: dict[str, Any]
) -> dict[str, Any] | None:
    """The incident as written, or None when it moved on (or is gone)."""
    body = {"metadata": {"resourceVersion": resource_version}, "spec": spec}
    try:
        written = custom_objects().patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "incidents", name, body, field_manager=FIELD_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error) or is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], written)
