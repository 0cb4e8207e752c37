"""Requests through the Kubernetes client, for kubeconfigs the plugin's own client
(``adapters/kube_http.py``) does not handle (auth-provider, basic auth, ...).

Same interface as ``KubeHttp`` (``request``, ``stream``) and the same error for an error
answer (``KubeApiError``), so ``Cluster`` does not care which one it has; network errors
stay urllib3's, which ``failures.describe`` knows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.kube_http import JSON, KubeApiError


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
