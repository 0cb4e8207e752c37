"""The snapshots of ConfigMaps and Secrets the operator keeps (domain/config_history.py has
the rules; docs/remediation/config-rollback.md says why they are stored this way).

* A ConfigMap's versions are ControllerRevisions (apps/v1) in its namespace: ``revision``
  is the version number, ``data`` holds ``{"data": ..., "binaryData": ...}``. Whoever may
  read ControllerRevisions there (the built-in ``view`` role may) may read them, which is
  no more than may read the ConfigMap.
* A Secret's versions are Secrets of type ``sre.agentos.io/config-snapshot``, immutable,
  in its namespace: exactly who may read Secrets there may read them. ``view`` cannot.

Both are labelled with the object's kind and (a label-safe form of) its name, and carry
the version, the digest and who changed the data (the field manager of the last change
of ``data``, from managedFields) as annotations. No ownerReference: deleting the object
keeps its history, which is when it is needed most.
"""

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import FIELD_MANAGER, api_client, core, is_not_found
from incident_operator.api.annotations import OPERATOR_PREFIX
from incident_operator.domain.config_history import (
    Snapshot,
    data_of,
    digest,
    key_digests,
    needs_snapshot,
    next_version,
    to_prune,
)

logger = logging.getLogger(__name__)

SNAPSHOT_OF_KIND = f"{OPERATOR_PREFIX}/config-snapshot-of-kind"
SNAPSHOT_OF = f"{OPERATOR_PREFIX}/config-snapshot-of"
SNAPSHOT_OF_NAME = f"{OPERATOR_PREFIX}/config-snapshot-of-name"
SNAPSHOT_VERSION = f"{OPERATOR_PREFIX}/config-snapshot-version"
SNAPSHOT_DIGEST = f"{OPERATOR_PREFIX}/config-snapshot-digest"
SNAPSHOT_CHANGED_BY = f"{OPERATOR_PREFIX}/config-snapshot-changed-by"
# The type of the Secrets holding Secrets' snapshots.
SECRET_SNAPSHOT_TYPE = f"{OPERATOR_PREFIX}/config-snapshot"


def _apps(api: client.ApiClient | None = None) -> client.AppsV1Api:
    return client.AppsV1Api(api or api_client())


def _core(api: client.ApiClient | None = None) -> client.CoreV1Api:
    return client.CoreV1Api(api) if api is not None else core()


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def name_label(name: str) -> str:
    """``name`` as a label value (at most 63 characters; longer names are cut and hashed;
    the full name is in the SNAPSHOT_OF_NAME annotation)."""
    if len(name) <= 63:
        return name
    return f"{name[:52].rstrip('.-')}-{_short_hash(name)}"


def snapshot_name(name: str, version: int) -> str:
    base = name if len(name) <= 230 else f"{name[:219].rstrip('.-')}-{_short_hash(name)}"
    return f"{base}.v{version}"


def _selector(kind: str, name: str) -> str:
    return f"{SNAPSHOT_OF_KIND}={kind},{SNAPSHOT_OF}={name_label(name)}"


def read_config(
    namespace: str, kind: str, name: str, api: client.ApiClient | None = None
) -> dict[str, Any] | None:
    """The ConfigMap or Secret as a raw body; None when it does not exist. ``api``: a
    client with other credentials (the plugin's), else the operator's."""
    calls = _core(api)
    method = (
        calls.read_namespaced_config_map if kind == "ConfigMap" else calls.read_namespaced_secret
    )
    try:
        body: dict[str, Any] = calls.api_client.sanitize_for_serialization(method(name, namespace))
    except client.ApiException as error:
        if is_not_found(error):
            return None
        raise
    return body


def changed_by(body: Mapping[str, Any]) -> str:
    """The field manager that last wrote ``data`` (or ``binaryData``/``stringData``)."""
    latest: tuple[str, str] | None = None
    for managed in (body.get("metadata") or {}).get("managedFields") or []:
        fields = managed.get("fieldsV1") or {}
        if not any(f"f:{part}" in fields for part in ("data", "binaryData", "stringData")):
            continue
        when = str(managed.get("time") or "")
        if latest is None or when >= latest[0]:
            latest = (when, str(managed.get("manager") or ""))
    return latest[1] if latest is not None else ""


def _snapshot_of(kind: str, raw: Mapping[str, Any], with_data: bool) -> Snapshot | None:
    metadata = raw.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    version_text = str(annotations.get(SNAPSHOT_VERSION, ""))
    if not version_text.isdigit():
        return None
    # A ControllerRevision holds the parts under its data; a snapshot Secret is the Secret.
    held = data_of(kind, raw.get("data") or {}) if kind == "ConfigMap" else data_of(kind, raw)
    return Snapshot(
        version=int(version_text),
        digest=str(annotations.get(SNAPSHOT_DIGEST) or digest(held)),
        object_name=str(metadata.get("name")),
        created_at=str(metadata.get("creationTimestamp") or ""),
        changed_by=str(annotations.get(SNAPSHOT_CHANGED_BY) or ""),
        keys=key_digests(held),
        # A Secret's values stay in the snapshot object unless the caller restores them.
        data=held if kind == "ConfigMap" or with_data else None,
    )


def list_snapshots(
    namespace: str,
    kind: str,
    name: str,
    with_data: bool = False,
    api: client.ApiClient | None = None,
) -> list[Snapshot]:
    """The versions kept of one object, oldest first (``with_data``: Secrets' data too,
    only for restoring it; ``api`` as for read_config)."""
    selector = _selector(kind, name)
    listed: Any = (
        _apps(api).list_namespaced_controller_revision(namespace, label_selector=selector)
        if kind == "ConfigMap"
        else _core(api).list_namespaced_secret(namespace, label_selector=selector)
    )
    raws = (api or api_client()).sanitize_for_serialization(listed).get("items") or []
    found = []
    for raw in raws:
        annotations = (raw.get("metadata") or {}).get("annotations") or {}
        if annotations.get(SNAPSHOT_OF_NAME, name) != name:
            continue  # another long name with the same label
        snapshot = _snapshot_of(kind, raw, with_data)
        if snapshot is not None:
            found.append(snapshot)
    return sorted(found, key=lambda s: s.version)


def _create(namespace: str, kind: str, name: str, body: Mapping[str, Any], version: int) -> None:
    held = data_of(kind, body)
    metadata = client.V1ObjectMeta(
        name=snapshot_name(name, version),
        namespace=namespace,
        labels={SNAPSHOT_OF_KIND: kind, SNAPSHOT_OF: name_label(name)},
        annotations={
            SNAPSHOT_OF_NAME: name,
            SNAPSHOT_VERSION: str(version),
            SNAPSHOT_DIGEST: digest(held),
            SNAPSHOT_CHANGED_BY: changed_by(body),
        },
    )
    if kind == "ConfigMap":
        _apps().create_namespaced_controller_revision(
            namespace,
            client.V1ControllerRevision(metadata=metadata, revision=version, data=held),
            field_manager=FIELD_MANAGER,
        )
    else:
        _core().create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=metadata,
                type=SECRET_SNAPSHOT_TYPE,
                immutable=True,
                data=held["data"] or None,
            ),
            field_manager=FIELD_MANAGER,
        )


def _delete(namespace: str, kind: str, snapshot: Snapshot) -> None:
    try:
        if kind == "ConfigMap":
            _apps().delete_namespaced_controller_revision(snapshot.object_name, namespace)
        else:
            _core().delete_namespaced_secret(snapshot.object_name, namespace)
    except client.ApiException as error:
        if not is_not_found(error):
            raise


def take_snapshot(
    namespace: str, kind: str, name: str, keep: int, body: Mapping[str, Any] | None = None
) -> Snapshot | None:
    """Records the object's current data as a new version unless it is the newest already,
    then prunes to ``keep``; returns the newest version (None: the object does not exist).
    ``body``: the object as just read (else it is read here)."""
    current = body if body is not None else read_config(namespace, kind, name)
    if current is None:
        return None
    snapshots = list_snapshots(namespace, kind, name)
    if needs_snapshot(snapshots, digest(data_of(kind, current))):
        version = next_version(snapshots)
        try:
            _create(namespace, kind, name, current, version)
            logger.info("%s %s/%s: kept version %d", kind, namespace, name, version)
        except client.ApiException as error:
            if error.status != 409:
                raise
            # Another writer (a replica, the restore) numbered it first: look again.
        snapshots = list_snapshots(namespace, kind, name)
    for old in to_prune(snapshots, keep):
        _delete(namespace, kind, old)
    return snapshots[-1] if snapshots else None
