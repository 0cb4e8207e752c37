"""Requests through the Kubernetes client: the operator's own (its in-cluster identity,
impersonating a person for the Slack actions), and the plugin's for kubeconfigs its own
small client (``adapters/kube_http.py``) does not handle (auth-provider, basic auth, ...).

Same interface as ``KubeHttp`` (``request``, ``stream``) and the same error for an error
answer (``KubeApiError``), so ``IncidentClient`` does not care which one it has; network
errors stay urllib3's, which the plugin's ``failures.describe`` knows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client
from urllib3 import HTTPHeaderDict

from incident_operator.adapters.kube_http import (
    IMPERSONATE_GROUP,
    IMPERSONATE_USER,
    JSON,
    KubeApiError,
)


@dataclass
class ClientTransport:
    api: client.ApiClient
    timeout: float | None

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any:
        response = self._send(method, path, query, body, content_type, accept, self.timeout)
        data = response.read()
        return json.loads(data) if data else None

    def stream(
        self,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        accept: str = JSON,
        connect_timeout: float = 10.0,
    ) -> Iterator[dict[str, Any]]:
        timeout = (connect_timeout, None)  # then read for as long as the watch lasts
        response = self._send("GET", path, query, None, JSON, accept, timeout)
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

    def close(self) -> None:
        """The client's pool closes itself."""

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: Any,
        content_type: str,
        accept: str,
        timeout: Any,
    ) -> Any:
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, serialized, _ = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(
            method, url, header_params=headers, body=serialized, _request_timeout=timeout
        )
        if not 200 <= response.status < 300:
            text = response.read().decode(errors="replace")
            raise KubeApiError(response.status, response.reason, text, response.getheaders())
        return response


class ImpersonatingApiClient(client.ApiClient):
    """An ApiClient sending ``Impersonate-User`` and one ``Impersonate-Group`` header per
    group with every request (the client's default headers are a plain dict: one value a
    name, and the API server reads each group from a header of its own)."""

    def __init__(
        self, configuration: client.Configuration, user: str | None, groups: Sequence[str]
    ) -> None:
        super().__init__(configuration)
        self.user = user
        self.groups = list(groups)

    def call_api(  # type: ignore[no-untyped-def]
        self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None
    ):
        headers = HTTPHeaderDict(header_params or {})
        if self.user:
            headers[IMPERSONATE_USER] = self.user
        for group in self.groups:
            headers.add(IMPERSONATE_GROUP, group)
        return super().call_api(method, url, headers, body, post_params, _request_timeout)


def impersonating(
    api: client.ApiClient, user: str | None, groups: Sequence[str]
) -> client.ApiClient:
    """A client with ``api``'s configuration (server, credentials) that acts as ``user``
    in ``groups``: the API server checks that ``api``'s own identity may impersonate them
    (RBAC verb impersonate on users and groups), then authorizes the request as them."""
    return ImpersonatingApiClient(api.configuration, user, groups)
