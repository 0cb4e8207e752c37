"""The acknowledged-by annotation, set by the operator for an acknowledgement made in
PagerDuty (runtime/intakes.py).

The patch carries the incident's uid, so an incident deleted and created again under
the same name is never acknowledged by an event about the old one (the API server
refuses the mismatch), and it only adds the annotation: a person who acknowledged first
keeps their name (the admission identity policy lets the operator set it only when it
is not set yet).
"""

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    GROUP,
    VERSION,
    custom_objects,
    is_conflict,
    is_not_found,
)
from incident_operator.api.annotations import ACKNOWLEDGED_BY


def acknowledge(namespace: str, name: str, uid: str, who: str) -> bool:
    """Sets acknowledged-by to ``who``; False when the incident is gone or was replaced."""
    body = {"metadata": {"uid": uid, "annotations": {ACKNOWLEDGED_BY: who}}}
    try:
        custom_objects().patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "incidents", name, body, field_manager=FIELD_MANAGER
        )
    except client.ApiException as error:
        if is_conflict(error) or is_not_found(error):
            return False
        raise
    return True
