"""The plugin's view of the cluster: the caller's context, namespace and identity.

Requests go through the plugin's own small client (``adapters/kube_http.py``: the
standard library, one kept-alive connection), built from the kubeconfig the plugin has
read; a kubeconfig it does not handle (auth-provider, basic auth, ...) is handed to the
Kubernetes client as before (``adapters/client_transport.py``). The Kubernetes client is imported
only by commands that use its generated API classes (``Cluster.api``), so the common
commands start in a fraction of the time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, cast

from incident_operator import __version__
from incident_operator.adapters.incident_client import PLURAL, IncidentClient, Transport
from incident_operator.adapters.kube_http import JSON, KubeApiError, KubeHttp, Unsupported
from incident_operator.api import GROUP, VERSION
from incident_operator.cli.common import DEFAULT_TIMEOUT, PluginError, utcnow
from incident_operator.cli.failures import api_message
from incident_operator.cli.kubeconfig import Kubeconfig, read_kubeconfig

if TYPE_CHECKING:
    from kubernetes import client

__all__ = ["DEFAULT_TIMEOUT", "PLURAL", "Cluster", "PluginError", "api_message", "utcnow"]

FIELD_MANAGER = "kubectl-incident"
USER_AGENT = f"kubectl-incident/{__version__}"


# Cluster.api's value until the Kubernetes client is first used (given None stays None).
_ON_FIRST_USE: Any = object()


@dataclass
class Cluster(IncidentClient):
    """The caller's own kubeconfig; reads and writes as adapters/incident_client.py."""

    # The Kubernetes client, for commands that use its generated API classes; made on
    # first use (a property, set below) unless given. Cluster's own methods do not use it.
    api: client.ApiClient
    namespace: str
    source: Kubeconfig  # the kubeconfig and context used, for error messages
    timeout: float | None = DEFAULT_TIMEOUT  # per request, in seconds; None waits forever
    transport: Transport | None = None  # how the methods below send requests
    impersonate: str | None = None  # kubectl's --as, for the client made on first use
    groups: Sequence[str] = ()  # kubectl's --as-group
    field_manager: ClassVar[str] = FIELD_MANAGER

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None,
        context: str | None,
        namespace: str | None,
        timeout: float | None = DEFAULT_TIMEOUT,
        impersonate: str | None = None,
        groups: Sequence[str] = (),
    ) -> Cluster:
        """``impersonate`` and ``groups`` act as another user (kubectl's --as, --as-group)."""
        source = read_kubeconfig(kubeconfig, os.environ, context)
        found = cls(
            cast(Any, _ON_FIRST_USE),
            namespace or source.namespace or "default",
            source,
            timeout or None,
            impersonate=impersonate,
            groups=tuple(groups),
        )
        try:
            found.transport = found._own_transport()
        except Unsupported:
            from incident_operator.adapters.client_transport import ClientTransport

            found.transport = ClientTransport(found.api, found.timeout)
        return found

    def _own_transport(self) -> KubeHttp:
        source = self.source
        if source.user_entry is None or source.cluster_file is None or source.user_file is None:
            raise Unsupported("the context names no user defined in the kubeconfig")
        return KubeHttp.from_entries(
            source.cluster_entry,
            source.user_entry,
            source.cluster_file.parent,
            source.user_file.parent,
            timeout=self.timeout,
            impersonate_user=self.impersonate,
            impersonate_groups=self.groups,
            user_agent=USER_AGENT,
        )

    def _client(self) -> client.ApiClient:
        """The Kubernetes client for the same kubeconfig, context and impersonation."""
        from kubernetes import config

        from incident_operator.adapters.client_transport import impersonating

        source = self.source
        try:
            api = config.new_client_from_config(
                config_file=os.pathsep.join(str(path) for path in source.paths),
                context=source.context,
            )
        # The client's loader is untyped and raises whatever a malformed entry leads to.
        except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as error:
            raise PluginError(f"kubeconfig {source.where}: {error}") from error
        if self.impersonate or self.groups:
            api = impersonating(api, self.impersonate, self.groups)
        return cast("client.ApiClient", api)

    def stream(
        self, path: str, query: Mapping[str, str] | None = None, *, accept: str = JSON
    ) -> Iterator[dict[str, Any]]:
        """The events of a watch as they come (``{"type": ..., "object": ...}``)."""
        return self._transport().stream(path, query, accept=accept)

    def _transport(self) -> Transport:
        if self.transport is None:
            from incident_operator.adapters.client_transport import ClientTransport

            self.transport = ClientTransport(self.api, self.timeout)
        return self.transport

    @property
    def custom(self) -> client.CustomObjectsApi:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def wait_for_id(self, name: str, timeout: float) -> str | None:
        def assigned(body: dict[str, Any]) -> str | None:
            incident_id = (body.get("status") or {}).get("id")
            return str(incident_id) if incident_id else None

        return self.wait_for(name, assigned, timeout)

    def read_configmap(self, name: str) -> dict[str, str] | None:
        try:
            found = self.request("GET", f"/api/v1/namespaces/{self.namespace}/configmaps/{name}")
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise PluginError(api_message(error)) from error
        return dict(found.get("data") or {})

    def read_policy(self, name: str) -> dict[str, Any] | None:
        """The EscalationPolicy ``name`` in the namespace; None when it is gone."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{self.namespace}/escalationpolicies/{name}"
        try:
            found = self.request("GET", path)
        except KubeApiError as error:
            if error.status == 404:
                return None
            raise PluginError(api_message(error)) from error
        return cast(dict[str, Any], found)


def _api(cluster: Cluster) -> client.ApiClient:
    made = cluster.__dict__.get("_api", _ON_FIRST_USE)
    if made is _ON_FIRST_USE:
        made = cluster.__dict__["_api"] = cluster._client()
    return cast("client.ApiClient", made)


def _set_api(cluster: Cluster, api: client.ApiClient | None) -> None:
    cluster.__dict__["_api"] = api


# After @dataclass, which made ``api`` an argument: reading it makes the client on first use.
Cluster.api = property(_api, _set_api)  # type: ignore[assignment]
