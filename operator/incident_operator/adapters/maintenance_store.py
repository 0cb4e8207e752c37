"""Listing MaintenanceWindows and writing their status. Blocking calls."""

from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    GROUP,
    VERSION,
    custom_objects,
    is_not_found,
)

PLURAL = "maintenancewindows"


def list_maintenance_windows(namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every MaintenanceWindow in ``namespaces`` (all namespaces when empty)."""
    api = custom_objects()
    if not namespaces:
        listed: Any = api.list_cluster_custom_object(GROUP, VERSION, PLURAL)
        return cast(list[dict[str, Any]], listed["items"])
    items: list[dict[str, Any]] = []
    for namespace in namespaces:
        listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        items += listed["items"]
    return items


def write_window_status(namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any] | None:
    """Merge-patches ``status`` (lists are replaced whole); the window as written, or None
    when it is gone. Only the operator writes a window's status, one window at a time."""
    try:
        written = custom_objects().patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            field_manager=FIELD_MANAGER,
        )
    except client.ApiException as error:
        if is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], written)
