"""The plugin's view of the cluster: the caller's context, namespace and identity.

Requests go through the plugin's own small client (``adapters/kube_http.py``: the
standard library, one kept-alive connection), built from the kubeconfig the plugin has
read; a kubeconfig it does not handle (auth-provider, basic auth, ...) is handed to the
Kubernetes client as before (``client_transport.py``). The Kubernetes client is imported
only by commands that use its generated API classes (``Cluster.api``), so the common
commands start in a fraction of the time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from incident_operator import __version__
from incident_operator.adapters.kube_http import (
    JSON,
    MERGE_PATCH,
    KubeApiError,
    KubeHttp,
    Unsupported,
)
from incident_operator.api import GROUP, VERSION
from incident_operator.cli.common import DEFAULT_TIMEOUT, PluginError, utcnow
from incident_operator.cli.failures import api_message
from incident_operator.cli.kubeconfig import Kubeconfig, read_kubeconfig
from incident_operator.domain.ids import parse_incident_id, parse_incident_reference

if TYPE_CHECKING:
    from kubernetes import client

__all__ = ["DEFAULT_TIMEOUT", "Cluster", "PluginError", "api_message", "utcnow"]

PLURAL = "incidents"
FIELD_MANAGER = "kubectl-incident"
USER_AGENT = f"kubectl-incident/{__version__}"


class _Conflict(Exception):
    """The object changed since it was read."""


class Transport(Protocol):
    """``KubeHttp``, or ``ClientTransport`` (the Kubernetes client) when it cannot be."""

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        *,
        content_type: str = JSON,
        accept: str = JSON,
    ) -> Any: ...

    def stream(
        self,
        path: str,
        query: Mapping[str, str] | None = None,
        *,
        accept: str = JSON,
        connect_timeout: float = 10.0,
    ) -> Iterator[dict[str, Any]]: ...


_ATTEMPTS = 5
# Cluster.api's value until the Kubernetes client is first used (given None stays None).
_ON_FIRST_USE: Any = object()
T = TypeVar("T")


def _incidents(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


@dataclass
class Cluster:
    # The Kubernetes client, for commands that use its generated API classes; made on
    # first use (a property, set below) unless given. Cluster's own methods do not use it.
    api: client.ApiClient
    namespace: str
    source: Kubeconfig  # the kubeconfig and context used, for error messages
    timeout: float | None = DEFAULT_TIMEOUT  # per request, in seconds; None waits forever
    transport: Transport | None = None  # how the methods below send requests
    impersonate: str | None = None  # kubectl's --as, for the client made on first use
    groups: Sequence[str] = ()  # kubectl's --as-group
    _whoami: str | None = field(default=None, init=False, repr=False, compare=False)

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
            from incident_operator.cli.client_transport import ClientTransport

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

        from incident_operator.cli import impersonation

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
            impersonation.impersonate(api, self.impersonate, self.groups)
        return cast("client.ApiClient", api)

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
        """One request to the API server, JSON in and out; KubeApiError for an error answer."""
        return self._transport().request(
            method, path, query, body, content_type=content_type, accept=accept
        )

    def stream(
        self, path: str, query: Mapping[str, str] | None = None, *, accept: str = JSON
    ) -> Iterator[dict[str, Any]]:
        """The events of a watch as they come (``{"type": ..., "object": ...}``)."""
        return self._transport().stream(path, query, accept=accept)

    def _transport(self) -> Transport:
        if self.transport is None:
            from incident_operator.cli.client_transport import ClientTransport

            self.transport = ClientTransport(self.api, self.timeout)
        return self.transport

    @property
    def custom(self) -> client.CustomObjectsApi:
        from kubernetes import client

        return client.CustomObjectsApi(self.api)

    def whoami(self) -> str:
        """The caller's user name as the API server sees it (SelfSubjectReview; asked once)."""
        if self._whoami is None:
            review = self.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            self._whoami = str(review["status"]["userInfo"]["username"])
        return self._whoami

    def list_incidents(self, all_namespaces: bool = False) -> list[dict[str, Any]]:
        path = f"/apis/{GROUP}/{VERSION}/{PLURAL}" if all_namespaces else _incidents(self.namespace)
        return cast(list[dict[str, Any]], self.request("GET", path)["items"])

    def find(self, reference: str) -> dict[str, Any]:
        """An incident by its name or its INC id (INC-0042, inc-42 and 42 work too)."""
        number = parse_incident_reference(reference)
        if number is None:
            try:
                found = self.request("GET", _incidents(self.namespace, reference))
            except KubeApiError as error:
                if error.status != 404:
                    raise PluginError(api_message(error)) from error
                raise PluginError(
                    f"no incident {reference!r} in namespace {self.namespace} "
                    "(see `kubectl incident list`)"
                ) from error
            return cast(dict[str, Any], found)
        for item in self.list_incidents():
            if parse_incident_id((item.get("status") or {}).get("id") or "") == number:
                return item
        raise PluginError(
            f"no incident INC-{number:04d} in namespace {self.namespace} "
            "(see `kubectl incident list`)"
        )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            created = self.request(
                "POST", _incidents(self.namespace), {"fieldManager": FIELD_MANAGER}, body
            )
        except KubeApiError as error:
            raise PluginError(api_message(error)) from error
        return cast(dict[str, Any], created)

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of fields the caller sets outright (last writer wins, as kubectl)."""
        return self._patch(incident["metadata"]["name"], body)

    def patch_from(
        self, incident: dict[str, Any], build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        """A merge patch computed from the incident as it is now (appending to a list, say).

        Guarded by the resourceVersion it was computed from; the operator writes status
        often, so on a conflict it reads the incident again and recomputes, a few times.
        """
        name = incident["metadata"]["name"]
        for _ in range(_ATTEMPTS):
            body = build(incident)
            guarded = {
                **body,
                "metadata": {
                    **body.get("metadata", {}),
                    "resourceVersion": incident["metadata"]["resourceVersion"],
                },
            }
            try:
                return self._patch(name, guarded)
            except _Conflict:
                incident = self.find(name)
        raise PluginError(f"{name} kept changing while this was written; run the command again")

    def _patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            patched = self.request(
                "PATCH",
                _incidents(self.namespace, name),
                {"fieldManager": FIELD_MANAGER},
                body,
                content_type=MERGE_PATCH,
            )
        except KubeApiError as error:
            if error.status == 409:
                raise _Conflict from error
            raise PluginError(api_message(error)) from error
        return cast(dict[str, Any], patched)

    def wait_for_id(self, name: str, timeout: float) -> str | None:
        def assigned(body: dict[str, Any]) -> str | None:
            incident_id = (body.get("status") or {}).get("id")
            return str(incident_id) if incident_id else None

        return self.wait_for(name, assigned, timeout)

    def wait_for(
        self, name: str, decided: Callable[[dict[str, Any]], T | None], timeout: float
    ) -> T | None:
        """What ``decided`` makes of the incident once it says something; None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = decided(self.request("GET", _incidents(self.namespace, name)))
            if found is not None:
                return found
            time.sleep(0.2)
        return None

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
