"""The post-mortem draft as a ConfigMap owned by its Incident (deleted with it)."""

from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import FIELD_MANAGER, core, is_conflict

DRAFT_KEY = "postmortem.md"


def store_draft(incident: dict[str, Any], configmap_name: str, markdown: str) -> None:
    """Creates or replaces the ConfigMap with the draft. Blocking."""
    metadata = incident["metadata"]
    namespace = metadata["namespace"]
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name=configmap_name,
            namespace=namespace,
            labels={
                "app.kubernetes.io/managed-by": "incident-operator",
                "sre.agentos.io/incident": metadata["name"],
            },
            owner_references=[
                client.V1OwnerReference(
                    api_version=incident["apiVersion"],
                    kind=incident["kind"],
                    name=metadata["name"],
                    uid=metadata["uid"],
                    controller=True,
                    block_owner_deletion=False,
                )
            ],
        ),
        data={DRAFT_KEY: markdown},
    )
    try:
        core().create_namespaced_config_map(namespace, body, field_manager=FIELD_MANAGER)
    except client.ApiException as error:
        if not is_conflict(error):
            raise
        core().replace_namespaced_config_map(
            configmap_name, namespace, body, field_manager=FIELD_MANAGER
        )
