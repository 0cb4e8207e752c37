"""Requests the generated client has no method for: a Table, and a watch read line by line.

Both go through the client's own ApiClient, so they use the same connection, the same
credentials, the same impersonation headers and the same error handling
(``ApiException``) as every other request the plugin makes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, cast

from kubernetes import client

from incident_operator.api import GROUP, VERSION
from incident_operator.cli.cluster import PLURAL, Cluster

# kubectl's own Accept for `kubectl get`: the server renders the printer columns.
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
JSON = "application/json"
# How long a watch may take to connect; reading it then waits as long as it must.
_CONNECT = 10.0


def incidents_path(namespace: str | None) -> str:
    """The incidents collection: one namespace's, or every namespace's (None)."""
    if namespace is None:
        return f"/apis/{GROUP}/{VERSION}/{PLURAL}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"


def _send(cluster: Cluster, path: str, query: Mapping[str, str], accept: str, timeout: Any) -> Any:
    method, url, headers, _, _ = cluster.api.param_serialize(
        "GET",
        path,
        query_params=list(query.items()),
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    response = cluster.api.call_api(method, url, header_params=headers, _request_timeout=timeout)
    if not 200 <= response.status < 300:
        response.read()
        raise client.ApiException(http_resp=response)
    return response


def get(cluster: Cluster, path: str, query: Mapping[str, str], accept: str = JSON) -> Any:
    """One GET, decoded from JSON."""
    response = _send(cluster, path, query, accept, cluster.timeout)
    return json.loads(response.read())


def watch(
    cluster: Cluster, path: str, query: Mapping[str, str], accept: str = JSON
) -> Iterator[dict[str, Any]]:
    """The events of a watch (``{"type": ..., "object": ...}``), as they come.

    The server ends a watch after ``timeoutSeconds`` (or its own limit); the caller
    decides whether to start another from the last resourceVersion.
    """
    response = _send(cluster, path, {**query, "watch": "true"}, accept, (_CONNECT, None))
    pending = b""
    try:
        for chunk in response.response.stream(amt=None, decode_content=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield cast(dict[str, Any], json.loads(line))
    finally:
        response.response.release_conn()
