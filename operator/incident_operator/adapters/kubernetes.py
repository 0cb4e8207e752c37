"""The Kubernetes API client the operator's own calls use (kopf has its own for watches)."""

import threading
from functools import cache
from typing import Any

import urllib3
from kubernetes import client, config

from incident_operator.api import GROUP, VERSION

FIELD_MANAGER = "incident-operator"
# Blocking API calls in flight at once (the event loop's thread pool has as many threads):
# asyncio's default of cores + 4 would leave a burst of incidents queueing for a thread
# while the API server, not this process, is what they wait on.
CALLS_IN_PARALLEL = 32

# What a call can fail with: an answer that is an error, or no answer at all (a refused
# or dropped connection, a timeout).
CALL_ERRORS = (client.ApiException, urllib3.exceptions.HTTPError)


def call_error_reason(error: Exception) -> str:
    """The API server's reason, or what went wrong on the way to it."""
    return str(error.reason) if isinstance(error, client.ApiException) else repr(error)


# Loading a kubeconfig is not thread-safe in the kubernetes client: it records the temp
# file holding certificate-authority-data before writing it, so a second loader at the
# same moment (kopf's login, the readiness probe's thread) can read an empty CA file and
# fail TLS with "no certificate or crl found". One load at a time (the entrypoint loads
# it once before starting any thread).
_LOADING = threading.Lock()


@cache
def api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the current kubeconfig."""
    with _LOADING:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    # One connection per thread that may call at once, so none waits for a connection.
    configuration.connection_pool_maxsize = CALLS_IN_PARALLEL
    return client.ApiClient(configuration)


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def custom_objects() -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client())


def apply_status(
    kind: str, plural: str, namespace: str, name: str, status: dict[str, Any], manager: str
) -> None:
    """Server-side apply of ``status`` as ``manager``.

    Conditions are a list-map keyed by type, so each manager owns only the conditions it
    applies: the policy reconciler's Ready and detection's MetricsAvailable live side by
    side without either overwriting the other.
    """
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "status": status,
    }
    custom_objects().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        plural,
        name,
        body,
        field_manager=manager,
        force=True,
        _content_type="application/apply-patch+yaml",
    )


def read_status(plural: str, namespace: str, name: str) -> dict[str, Any]:
    """The object's status as stored now; a watch event's body may predate our last write."""
    body: Any = custom_objects().get_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name
    )
    return dict(body.get("status") or {})


def is_conflict(error: Exception) -> bool:
    return isinstance(error, client.ApiException) and error.status == 409


def is_not_found(error: Exception) -> bool:
    return isinstance(error, client.ApiException) and error.status == 404


__all__ = [
    "FIELD_MANAGER",
    "GROUP",
    "VERSION",
    "api_client",
    "apply_status",
    "core",
    "custom_objects",
]
