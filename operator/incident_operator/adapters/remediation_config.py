"""The ``configRollback`` remediation kind, I/O half (reconcile/remediation_config.py has
the rules): read a ConfigMap or Secret with its snapshots (adapters/config_snapshots.py)
and the workloads to restart; apply a restore (a replace of the object's data guarded by
the resourceVersion read, after keeping the data it replaces as a version) and the
restarts (the pod template's ``kubectl.kubernetes.io/restartedAt``, as ``kubectl rollout
restart`` sets it).

A Secret's values are read only to compute digests and, on restore, to copy them from
its snapshot Secret into the Secret; they never reach an Observation, a record or a log.
"""

from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from incident_operator.adapters.config_snapshots import (
    changed_by,
    list_snapshots,
    read_config,
    take_snapshot,
)
from incident_operator.adapters.kubernetes import FIELD_MANAGER, core, is_conflict, is_not_found
from incident_operator.adapters.workloads_rollback import _apps, _json, _message
from incident_operator.domain.config_history import data_of, digest, key_digests
from incident_operator.domain.remediation_action import (
    Action,
    ActionConflict,
    ActionRejected,
    Observation,
    Target,
    observed,
)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
CONFIG_KINDS = ("ConfigMap", "Secret")
_WORKLOAD = {
    "Deployment": ("read_namespaced_deployment", "patch_namespaced_deployment"),
    "StatefulSet": ("read_namespaced_stateful_set", "patch_namespaced_stateful_set"),
    "DaemonSet": ("read_namespaced_daemon_set", "patch_namespaced_daemon_set"),
}
# Versions kept when an action does not say (ConfigRollbackSettings.keep's default).
DEFAULT_KEEP = 10


def _rejected(error: client.ApiException) -> Exception:
    if is_conflict(error):
        return ActionConflict(_message(error))
    if error.status in (400, 403, 404, 422):
        return ActionRejected(_message(error))
    return error


def _guarded(metadata: client.V1ObjectMeta | None, guard: str | None) -> client.V1ObjectMeta:
    """``metadata`` for a replace guarded by ``guard`` (managedFields left to the server)."""
    guarded = metadata or client.V1ObjectMeta()
    guarded.resource_version = guard
    guarded.managed_fields = None
    return guarded


class ConfigRollbackAdapter:
    """KindAdapter for ``configRollback`` (reconcile/remediation_kind.py)."""

    def read(self, namespace: str, target: Target) -> Observation:
        if target.kind in CONFIG_KINDS:
            return self._read_config(namespace, target)
        return self._read_workload(namespace, target)

    def _read_config(self, namespace: str, target: Target) -> Observation:
        body = read_config(namespace, target.kind, target.name)
        if body is None:
            return Observation(target, exists=False)
        metadata: dict[str, Any] = body.get("metadata") or {}
        held = data_of(target.kind, body)
        state: dict[str, Any] = {
            "digest": digest(held),
            "keys": key_digests(held),
            "data": held if target.kind == "ConfigMap" else None,
            "changedBy": changed_by(body),
        }
        if "snapshots" in target.extras:
            state["snapshots"] = [
                {
                    "version": s.version,
                    "digest": s.digest,
                    "keys": dict(s.keys),
                    "data": s.data if target.kind == "ConfigMap" else None,
                    "objectName": s.object_name,
                    "createdAt": s.created_at,
                    "changedBy": s.changed_by,
                }
                for s in list_snapshots(namespace, target.kind, target.name)
            ]
        return observed(
            target,
            metadata,
            state,
        )

    def _read_workload(self, namespace: str, target: Target) -> Observation:
        methods = _WORKLOAD.get(target.kind)
        if methods is None:
            return Observation(target, exists=False)
        try:
            raw = _json(
                getattr(_apps(), methods[0])(target.name, namespace, _preload_content=False)
            )
        except client.ApiException as error:
            if is_not_found(error):
                return Observation(target, exists=False)
            raise
        metadata: dict[str, Any] = raw.get("metadata") or {}
        template = ((raw.get("spec") or {}).get("template") or {}).get("metadata") or {}
        return observed(
            target,
            metadata,
            {
                "restartedAt": (template.get("annotations") or {}).get(RESTARTED_AT),
                "generation": metadata.get("generation"),
                "observedGeneration": (raw.get("status") or {}).get("observedGeneration"),
            },
        )

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        config = next(t for t in action.targets if t.kind in CONFIG_KINDS)
        restore = action.payload.get("restore")
        if restore is not None:
            self._restore(
                namespace,
                config,
                int(restore["version"]),
                action.guards.get(config.key),
                int(action.payload.get("keep") or DEFAULT_KEEP),
            )
        for workload in action.payload.get("restart") or []:
            self._restart(namespace, str(workload["kind"]), str(workload["name"]))

    def _restore(
        self, namespace: str, target: Target, version: int, guard: str | None, keep: int
    ) -> None:
        body = read_config(namespace, target.kind, target.name)
        if body is None:
            raise ActionRejected(f"{target.kind}/{target.name} does not exist")
        if guard is not None and body["metadata"].get("resourceVersion") != guard:
            raise ActionConflict(f"{target.kind}/{target.name} changed since it was read")
        # What is replaced becomes a version first (unless it is the newest already), so
        # the restore loses nothing and can itself be rolled back.
        take_snapshot(namespace, target.kind, target.name, keep + 1, body=body)
        kept = next(
            (
                s
                for s in list_snapshots(namespace, target.kind, target.name, with_data=True)
                if s.version == version
            ),
            None,
        )
        if kept is None or kept.data is None:
            raise ActionRejected(f"version {version} of {target.kind}/{target.name} is not kept")
        api = core()
        try:
            # The object with the resourceVersion read: a change since is a 409.
            if target.kind == "ConfigMap":
                config_map = api.read_namespaced_config_map(target.name, namespace)
                config_map.metadata = _guarded(config_map.metadata, guard)
                config_map.data = dict(kept.data.get("data") or {}) or None
                config_map.binary_data = dict(kept.data.get("binaryData") or {}) or None
                api.replace_namespaced_config_map(
                    target.name, namespace, config_map, field_manager=FIELD_MANAGER
                )
            else:
                secret = api.read_namespaced_secret(target.name, namespace)
                secret.metadata = _guarded(secret.metadata, guard)
                secret.data = dict(kept.data.get("data") or {}) or None
                secret.string_data = None
                api.replace_namespaced_secret(
                    target.name, namespace, secret, field_manager=FIELD_MANAGER
                )
        except client.ApiException as error:
            raise _rejected(error) from error
        take_snapshot(namespace, target.kind, target.name, keep)

    def _restart(self, namespace: str, kind: str, name: str) -> None:
        methods = _WORKLOAD.get(kind)
        if methods is None:
            raise ActionRejected(f"{kind}/{name} cannot be restarted")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        try:
            getattr(_apps(), methods[1])(
                name,
                namespace,
                body,
                field_manager=FIELD_MANAGER,
                _content_type="application/merge-patch+json",
                _preload_content=False,
            )
        except client.ApiException as error:
            raise _rejected(error) from error
