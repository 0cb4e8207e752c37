"""Reading Incidents and writing their status, guarded by resourceVersion; listing policies.

A status write carries the resourceVersion the decision was made from. If the object
changed in between, the write is refused (409) rather than overwriting a newer status
with one decided from older facts; the change that got in first brings its own event
and the decision is made again from it.
"""

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

PLURAL = "incidents"


def read_incident(namespace: str, name: str) -> dict[str, Any] | None:
    try:
        body = custom_objects().get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except client.ApiException as error:
        if is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], body)


def write_status(
    namespace: str, name: str, resource_version: str, difference: dict[str, Any]
) -> dict[str, Any] | None:
    """Merge-patches ``difference`` into status; the incident as written, or None when the
    object moved on (or is gone) and nothing was written."""
    body = {"metadata": {"resourceVersion": resource_version}, "status": difference}
    try:
        written = custom_objects().patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body, field_manager=FIELD_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error) or is_not_found(error):
            return None
        raise
    return cast(dict[str, Any], written)


def list_escalation_policies(namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every EscalationPolicy in ``namespaces`` (all namespaces when empty). Blocking."""
    api = custom_objects()
    if not namespaces:
        listed: Any = api.list_cluster_custom_object(GROUP, VERSION, "escalationpolicies")
        return cast(list[dict[str, Any]], listed["items"])
    items: list[dict[str, Any]] = []
    for namespace in namespaces:
        listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "escalationpolicies")
        items += listed["items"]
    return items
