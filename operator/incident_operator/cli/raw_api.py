"""Requests the generated client has no method for: a Table, and a watch read line by line.

Both go through ``Cluster.request`` and ``Cluster.stream``, so they use the same
connection, the same credentials, the same impersonation headers and the same error
(``KubeApiError`` for an error answer) as every other request the plugin makes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from incident_operator.adapters.kube_http import JSON
from incident_operator.api import GROUP, VERSION
from incident_operator.cli.cluster import PLURAL, Cluster

__all__ = ["JSON", "TABLE", "get", "incidents_path", "watch"]

# kubectl's own Accept for `kubectl get`: the server renders the printer columns.
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"


def incidents_path(namespace: str | None) -> str:
    """The incidents collection: one namespace's, or every namespace's (None)."""
    if namespace is None:
        return f"/apis/{GROUP}/{VERSION}/{PLURAL}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def get(cluster: Cluster, path: str, query: Mapping[str, str], accept: str = JSON) -> Any:
    """One GET, decoded from JSON."""
    return cluster.request("GET", path, query, accept=accept)


def watch(
    cluster: Cluster, path: str, query: Mapping[str, str], accept: str = JSON
) -> Iterator[dict[str, Any]]:
    """The events of a watch (``{"type": ..., "object": ...}``), as they come.

    The server ends a watch after ``timeoutSeconds`` (or its own limit); the caller
    decides whether to start another from the last resourceVersion.
    """
    return cluster.stream(path, {**query, "watch": "true"}, accept=accept)
