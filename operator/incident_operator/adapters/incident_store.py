"""Reading Incidents and writing their status, guarded by resourceVersion.

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
) -> bool:
    """Merge-patches ``difference`` into status; False when the object moved on."""
    body = {"metadata": {"resourceVersion": resource_version}, "status": difference}
    try:
        custom_objects().patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body, field_manager=FIELD_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error) or is_not_found(error):
            return False
        raise
    return True
