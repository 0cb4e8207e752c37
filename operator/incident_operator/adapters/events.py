"""Kubernetes Events about our objects, posted with our own client.

kopf's ``kopf.event`` works only inside its handlers' context; the operator also posts
from its own scheduler (deadlines falling due), so one way serves both.
"""

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import core

REPORTING_COMPONENT = "incident-operator"
_MESSAGE_LIMIT = 1024


def post_event(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """Blocking; ``type_`` is Normal or Warning, ``reason`` a CamelCase constant."""
    metadata = body["metadata"]
    now = datetime.now(UTC)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(
            generate_name=f"{metadata['name']}.", namespace=metadata["namespace"]
        ),
        involved_object=client.V1ObjectReference(
            api_version=body["apiVersion"],
            kind=body["kind"],
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata.get("uid"),
            resource_version=metadata.get("resourceVersion"),
        ),
        type=type_,
        reason=reason,
        message=message[:_MESSAGE_LIMIT],
        first_timestamp=now,
        last_timestamp=now,
        count=1,
        source=client.V1EventSource(component=REPORTING_COMPONENT),
        reporting_component=REPORTING_COMPONENT,
        reporting_instance=REPORTING_COMPONENT,
    )
    core().create_namespaced_event(metadata["namespace"], event)
