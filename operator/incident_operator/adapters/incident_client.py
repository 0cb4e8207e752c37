"""Incidents of one namespace, read and written as whoever a transport authenticates as:
the person's own kubeconfig (the plugin's ``Cluster``), or the operator impersonating the
person a Slack member is mapped to (runtime/slack_actions.py).

The transport is the plugin's small client (``kube_http.KubeHttp``) or the Kubernetes
client (``client_transport.ClientTransport``); both answer JSON and raise
``KubeApiError`` for an error answer, so this module imports neither client. Refusals are
``ActionRefused`` with the API server's own message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, cast

from incident_operator.adapters.kube_http import JSON, MERGE_PATCH, KubeApiError, api_message
from incident_operator.adapters.refusals import ActionRefused
from incident_operator.api import GROUP, VERSION
from incident_operator.domain.ids import parse_incident_id, parse_incident_reference

PLURAL = "incidents"
_ATTEMPTS = 5
T = TypeVar("T")
Build = Callable[[dict[str, Any]], dict[str, Any]]


class Transport(Protocol):
    """``KubeHttp``, or ``ClientTransport`` (the Kubernetes client)."""

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


class _Conflict(Exception):
    """The object changed since it was read."""


def incidents_path(namespace: str, name: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
    return f"{path}/{name}" if name else path


class IncidentClient:
    """Incidents of ``namespace`` through ``_transport()``.

    Subclasses give ``namespace`` and ``_transport()``; ``field_manager`` names the writer
    in managedFields. Who the caller is is asked once (a SelfSubjectReview).
    """

    namespace: str
    field_manager: ClassVar[str] = "kubectl-incident"
    _who: tuple[str, list[str]] | None = None

    def _transport(self) -> Transport:
        raise NotImplementedError

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

    def whoami(self) -> str:
        """The caller's user name as the API server sees it."""
        return self.who()[0]

    def who(self) -> tuple[str, list[str]]:
        """The caller's user name and groups as the API server sees them (asked once)."""
        if self._who is None:
            review = self.request(
                "POST",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            )
            info = review["status"]["userInfo"]
            self._who = str(info["username"]), list(info.get("groups") or [])
        return self._who

    def list_incidents(self, all_namespaces: bool = False) -> list[dict[str, Any]]:
        path = f"/apis/{GROUP}/{VERSION}/{PLURAL}" if all_namespaces else None
        found = self.request("GET", path or incidents_path(self.namespace))
        return cast(list[dict[str, Any]], found["items"])

    def find(self, reference: str) -> dict[str, Any]:
        """An incident by its name or its INC id (INC-0042, inc-42 and 42 work too)."""
        number = parse_incident_reference(reference)
        if number is None:
            try:
                found = self.request("GET", incidents_path(self.namespace, reference))
            except KubeApiError as error:
                if error.status != 404:
                    raise ActionRefused(api_message(error)) from error
                raise ActionRefused(
                    f"no incident {reference!r} in namespace {self.namespace} "
                    "(see `kubectl incident list`)"
                ) from error
            return cast(dict[str, Any], found)
        for item in self.list_incidents():
            if parse_incident_id((item.get("status") or {}).get("id") or "") == number:
                return item
        raise ActionRefused(
            f"no incident INC-{number:04d} in namespace {self.namespace} "
            "(see `kubectl incident list`)"
        )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            created = self.request(
                "POST", incidents_path(self.namespace), {"fieldManager": self.field_manager}, body
            )
        except KubeApiError as error:
            raise ActionRefused(api_message(error)) from error
        return cast(dict[str, Any], created)

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of fields the caller sets outright (last writer wins, as kubectl)."""
        return self._patch(incident["metadata"]["name"], body)

    def patch_from(self, incident: dict[str, Any], build: Build) -> dict[str, Any]:
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
        raise ActionRefused(f"{name} kept changing while this was written; run the command again")

    def _patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            patched = self.request(
                "PATCH",
                incidents_path(self.namespace, name),
                {"fieldManager": self.field_manager},
                body,
                content_type=MERGE_PATCH,
            )
        except KubeApiError as error:
            if error.status == 409:
                raise _Conflict from error
            raise ActionRefused(api_message(error)) from error
        return cast(dict[str, Any], patched)

    def wait_for(
        self, name: str, decided: Callable[[dict[str, Any]], T | None], timeout: float
    ) -> T | None:
        """What ``decided`` makes of the incident once it says something; None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = decided(self.request("GET", incidents_path(self.namespace, name)))
            if found is not None:
                return found
            time.sleep(0.2)
        return None
