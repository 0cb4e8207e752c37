"""The Kubernetes API client the operator's own calls use (kopf has its own for watches)."""

from functools import cache

from kubernetes import client, config

from incident_operator.api import GROUP, VERSION

FIELD_MANAGER = "incident-operator"


@cache
def api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the current kubeconfig."""
    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()
    return client.ApiClient()


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def custom_objects() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def is_conflict(error: Exception) -> bool:
    return isinstance(error, client.ApiException) and error.status == 409


def is_not_found(error: Exception) -> bool:
    return isinstance(error, client.ApiException) and error.status == 404


__all__ = ["FIELD_MANAGER", "GROUP", "VERSION", "api_client", "core", "custom_objects"]
