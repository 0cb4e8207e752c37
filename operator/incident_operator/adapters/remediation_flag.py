"""The ``featureFlag`` remediation kind, I/O half: read a flag from an OpenFeature
FeatureFlag (core.openfeature.dev/v1beta1) or a flagd flag file in a ConfigMap, and set
its state or default variant with a merge patch guarded by the resourceVersion read
(reconcile/remediation_flag.py has the rules; domain/feature_flags.py the file format).

Verbs: get and patch on featureflags.core.openfeature.dev and on configmaps in the
incident's namespace (manifests/remediations/feature-flag/).
"""

import json
from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    api_client,
    custom_objects,
    is_conflict,
    is_not_found,
)
from incident_operator.adapters.workloads_rollback import _json, _message
from incident_operator.domain.feature_flags import (
    FlagFileError,
    data_key,
    parse_flag_file,
    summaries,
    with_flag_set,
)
from incident_operator.domain.remediation_action import (
    Action,
    ActionConflict,
    ActionRejected,
    Observation,
    Target,
    observed,
)

GROUP = "core.openfeature.dev"
VERSION = "v1beta1"
PLURAL = "featureflags"
MERGE_PATCH = "application/merge-patch+json"


def _object_missing(error: client.ApiException, target: Target) -> bool:
    """A 404 for the object itself (its kind is served), not for an unserved kind: the API
    server names the object in the Status details only in the first case."""
    if not is_not_found(error):
        return False
    try:
        details = json.loads(error.body or "").get("details") or {}
    except (TypeError, ValueError, AttributeError):
        return False
    return bool(details.get("name") == target.name)


def _core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def _read_raw(namespace: str, target: Target) -> dict[str, Any]:
    if target.kind == "ConfigMap":
        return _json(
            _core().read_namespaced_config_map(target.name, namespace, _preload_content=False)
        )
    return _json(
        custom_objects().get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, target.name, _preload_content=False
        )
    )


class FeatureFlagAdapter:
    """KindAdapter for ``featureFlag`` (reconcile/remediation_kind.py)."""

    def read(self, namespace: str, target: Target) -> Observation:
        try:
            raw = _read_raw(namespace, target)
        except client.ApiException as error:
            if _object_missing(error, target):
                return Observation(target, exists=False)
            raise
        metadata: dict[str, Any] = raw.get("metadata") or {}
        key = data_key(target)
        state: dict[str, Any] = {"invalid": None}
        if key is None:
            flag_spec = (raw.get("spec") or {}).get("flagSpec") or {}
            state["flags"] = summaries(flag_spec.get("flags"))
        else:
            try:
                state["flags"] = summaries(
                    parse_flag_file((raw.get("data") or {}).get(key))["flags"]
                )
            except FlagFileError as error:
                state["flags"] = {}
                state["invalid"] = f"data[{key}] {error}"
        return observed(target, metadata, state)

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        (target,) = action.targets
        guard = action.guards.get(target.key)
        flag: str = action.payload["flag"]
        fields: dict[str, Any] = action.payload["set"]
        try:
            key = data_key(target)
            if key is None:
                body = {
                    "metadata": {"resourceVersion": guard},
                    "spec": {"flagSpec": {"flags": {flag: fields}}},
                }
                custom_objects().patch_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    PLURAL,
                    target.name,
                    body,
                    field_manager=FIELD_MANAGER,
                    _content_type=MERGE_PATCH,
                    _preload_content=False,
                )
                return
            # The file is one string: rewrite it from the version the guard names, so a
            # newer version is never overwritten (the patch fails with 409 instead).
            raw = _read_raw(namespace, target)
            if (raw.get("metadata") or {}).get("resourceVersion") != guard:
                raise ActionConflict(f"ConfigMap/{target.name} changed since it was read")
            try:
                text = with_flag_set((raw.get("data") or {}).get(key) or "", flag, fields)
            except FlagFileError as error:
                raise ActionRejected(f"ConfigMap/{target.name} data[{key}] {error}") from error
            _core().patch_namespaced_config_map(
                target.name,
                namespace,
                {"metadata": {"resourceVersion": guard}, "data": {key: text}},
                field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH,
                _preload_content=False,
            )
        except client.ApiException as error:
            if is_conflict(error):
                raise ActionConflict(_message(error)) from error
            if error.status in (400, 403, 404, 422):
                raise ActionRejected(_message(error)) from error
            raise
