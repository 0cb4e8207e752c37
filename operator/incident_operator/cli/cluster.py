"""The plugin's view of the cluster: the caller's context, namespace and identity."""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from kubernetes import client, config

from incident_operator.adapters.incident_actions import PLURAL, IncidentClient
from incident_operator.api import GROUP, VERSION
from incident_operator.cli import impersonation
from incident_operator.cli.common import DEFAULT_TIMEOUT, PluginError, utcnow
from incident_operator.cli.failures import api_message
from incident_operator.cli.kubeconfig import Kubeconfig, read_kubeconfig

__all__ = ["DEFAULT_TIMEOUT", "PLURAL", "Cluster", "PluginError", "api_message", "utcnow"]

FIELD_MANAGER = "kubectl-incident"


@dataclass
class Cluster(IncidentClient):
    """The caller's own kubeconfig; reads and writes as in adapters/incident_actions.py."""

    api: client.ApiClient
    namespace: str
    source: Kubeconfig  # the kubeconfig and context used, for error messages
    timeout: float | None = DEFAULT_TIMEOUT  # per request, in seconds; None waits forever
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
