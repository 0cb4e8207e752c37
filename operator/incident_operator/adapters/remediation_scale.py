"""The ``scale`` remediation kind, I/O half: read a Deployment's or StatefulSet's replicas
and set them with a merge patch guarded by the resourceVersion read
(reconcile/remediation_scale.py has the rules). Verbs: get and patch on deployments and
statefulsets in the incident's namespace."""

from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import FIELD_MANAGER, is_conflict, is_not_found
from incident_operator.adapters.workloads_rollback import _apps, _json, _message
from incident_operator.domain.remediation_action import (
    Action,
    ActionConflict,
    ActionRejected,
    Observation,
    Target,
    observed,
)

_READ = {
    "Deployment": "read_namespaced_deployment",
    "StatefulSet": "read_namespaced_stateful_set",
}
_PATCH = {
    "Deployment": "patch_namespaced_deployment",
    "StatefulSet": "patch_namespaced_stateful_set",
}


class ScaleAdapter:
    """KindAdapter for ``scale`` (reconcile/remediation_kind.py)."""

    def read(self, namespace: str, target: Target) -> Observation:
        method = _READ.get(target.kind)
        if method is None:
            return Observation(target, exists=False)
        try:
            raw = _json(getattr(_apps(), method)(target.name, namespace, _preload_content=False))
        except client.ApiException as error:
            if is_not_found(error):
                return Observation(target, exists=False)
            raise
        metadata: dict[str, Any] = raw.get("metadata") or {}
        return observed(
            target,
            metadata,
            {
                "replicas": (raw.get("spec") or {}).get("replicas"),
                "generation": metadata.get("generation"),
                "observedGeneration": (raw.get("status") or {}).get("observedGeneration"),
            },
        )

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        (target,) = action.targets
        body = {
            "metadata": {"resourceVersion": action.guards.get(target.key)},
            "spec": {"replicas": action.payload["replicas"]},
        }
        try:
            getattr(_apps(), _PATCH[target.kind])(
                target.name,
                namespace,
                body,
                field_manager=FIELD_MANAGER,
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        except client.ApiException as error:
            if is_conflict(error):
                raise ActionConflict(_message(error)) from error
            if error.status in (400, 403, 404, 422):
                raise ActionRejected(_message(error)) from error
            raise
