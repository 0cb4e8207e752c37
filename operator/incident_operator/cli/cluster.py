"""The plugin's view of the cluster: the caller's context, namespace and identity."""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from kubernetes import client, config

from incident_operator.api import GROUP, VERSION
from incident_operator.cli import impersonation
from incident_operator.cli.common import DEFAULT_TIMEOUT, PluginError, utcnow
from incident_operator.cli.failures import api_message
from incident_operator.cli.kubeconfig import Kubeconfig, read_kubeconfig
from incident_operator.domain.ids import parse_incident_id, parse_incident_reference

__all__ = ["DEFAULT_TIMEOUT", "Cluster", "PluginError", "api_message", "utcnow"]

PLURAL = "incidents"
FIELD_MANAGER = "kubectl-incident"


class _Conflict(Exception):
    """The object changed since it was read."""


_ATTEMPTS = 5
T = TypeVar("T")


@dataclass
class Cluster:
    api: client.ApiClient
    namespace: str
    source: Kubeconfig  # the kubeconfig and context used, for error messages
    timeout: float | None = DEFAULT_TIMEOUT  # per request, in seconds; None waits forever

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None,
        context: str | None,
        namespace: str | None,
        timeout: float | None = DEFAULT_TIMEOUT,
        impersonate: str | None = None,
        groups: Sequence[str] = (),
    ) -> "Cluster":
        """``impersonate`` and ``groups`` act as another user (kubectl's --as, --as-group)."""
        source = read_kubeconfig(kubeconfig, os.environ, context)
        try:
            api = config.new_client_from_config(
                config_file=os.pathsep.join(str(path) for path in source.paths),
                context=source.context,
            )
        # The client's loader is untyped and raises whatever a malformed entry leads to.
        except (config.ConfigException, OSError, ValueError, TypeError, KeyError) as error:
            raise PluginError(f"kubeconfig {source.where}: {error}") from error
        if impersonate or groups:
            impersonation.impersonate(api, impersonate, groups)
        return cls(api, namespace or source.namespace or "default", source, timeout or None)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def whoami(self) -> str:
        """The caller's user name as the API server sees it (SelfSubjectReview)."""
        review: Any = client.AuthenticationV1Api(self.api).create_self_subject_review(
            client.V1SelfSubjectReview(
                api_version="authentication.k8s.io/v1", kind="SelfSubjectReview"
            ),
            _request_timeout=self.timeout,
        )
        return str(review.status.user_info.username)

    def list_incidents(self, all_namespaces: bool = False) -> list[dict[str, Any]]:
        result: Any
        if all_namespaces:
            result = self.custom.list_cluster_custom_object(
                GROUP, VERSION, PLURAL, _request_timeout=self.timeout
            )
        else:
            result = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, _request_timeout=self.timeout
            )
        return cast(list[dict[str, Any]], result["items"])

    def find(self, reference: str) -> dict[str, Any]:
        """An incident by its name or its INC id (INC-0042, inc-42 and 42 work too)."""
        number = parse_incident_reference(reference)
        if number is None:
            try:
                return cast(
                    dict[str, Any],
                    self.custom.get_namespaced_custom_object(
                        GROUP,
                        VERSION,
                        self.namespace,
                        PLURAL,
                        reference,
                        _request_timeout=self.timeout,
                    ),
                )
            except client.ApiException as error:
                if error.status != 404:
                    raise PluginError(api_message(error)) from error
                raise PluginError(
                    f"no incident {reference!r} in namespace {self.namespace} "
                    "(see `kubectl incident list`)"
                ) from error
        for item in self.list_incidents():
            if parse_incident_id((item.get("status") or {}).get("id") or "") == number:
                return item
        raise PluginError(
            f"no incident INC-{number:04d} in namespace {self.namespace} "
            "(see `kubectl incident list`)"
        )

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            created = self.custom.create_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=self.timeout,
            )
        except client.ApiException as error:
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
            patched = self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                PLURAL,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _request_timeout=self.timeout,
            )
        except client.ApiException as error:
            if error.status == 409:
                raise _Conflict from error
            raise PluginError(api_message(error)) from error
        return cast(dict[str, Any], patched)

    def wait_for_id(self, name: str, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.timeout
            )
            incident_id = (body.get("status") or {}).get("id")
            if incident_id:
                return str(incident_id)
            time.sleep(0.2)
        return None

    def wait_for(
        self, name: str, decided: Callable[[dict[str, Any]], T | None], timeout: float
    ) -> T | None:
        """What ``decided`` makes of the incident once it says something; None on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: Any = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, _request_timeout=self.timeout
            )
            found = decided(body)
            if found is not None:
                return found
            time.sleep(0.2)
        return None

    def read_configmap(self, name: str) -> dict[str, str] | None:
        try:
            found = client.CoreV1Api(self.api).read_namespaced_config_map(
                name, self.namespace, _request_timeout=self.timeout
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise PluginError(api_message(error)) from error
        return dict(found.data or {})

    def read_policy(self, name: str) -> dict[str, Any] | None:
        """The EscalationPolicy ``name`` in the namespace; None when it is gone."""
        try:
            found = self.custom.get_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                "escalationpolicies",
                name,
                _request_timeout=self.timeout,
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise PluginError(api_message(error)) from error
        return cast(dict[str, Any], found)
