"""Planning a rollback the way ``kubectl rollout undo`` does, as pure functions over dicts.

The workload and its revision history arrive as the API server's JSON (dicts); nothing
here talks to it. kubectl's algorithm (``pkg/polymorphichelpers/rollback.go``), which
the operator must reproduce exactly so a rollback it makes equals one a person makes:

Deployment
    The history is the ReplicaSets the Deployment controls; a ReplicaSet's revision is
    its ``deployment.kubernetes.io/revision`` annotation. "Previous" is the second
    highest revision number (not "the one before the current"). The rollback replaces
    ``spec.template`` with the ReplicaSet's template minus its ``pod-template-hash``
    label, and ``metadata.annotations`` with the *annotations rule*: the Deployment keeps
    its own values of the skipped keys (``annotationsToSkip``) and takes every other
    annotation from the ReplicaSet. It is a JSON patch.

StatefulSet, DaemonSet
    The history is the ControllerRevisions the workload controls; ``revision`` is a field.
    "Previous" is again the second highest. The rollback is the ControllerRevision's
    ``data`` (``{"spec": {"template": {..., "$patch": "replace"}}}``) sent as a strategic
    merge patch.

Both: a template that already equals the target is not patched; a missing revision is
an error. Templates are compared without ``pod-template-hash``, ``$patch`` and null or
empty values, which the API server treats as absent.

Our patches add one operation kubectl does not have: the ``resourceVersion`` of the
object the plan was made from, so the API server refuses the patch (409) when the
workload changed in between, instead of overwriting that change.
"""

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incident_operator.domain.reasons import Reason

JSON = dict[str, Any]

DEPLOYMENT = "Deployment"
STATEFUL_SET = "StatefulSet"
DAEMON_SET = "DaemonSet"
KINDS = (DEPLOYMENT, STATEFUL_SET, DAEMON_SET)

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
# kubectl's annotationsToSkip: kept from the Deployment, never copied from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
# The most diff lines kept; a template rewrite should not fill the status.
DIFF_LINE_LIMIT = 60


@dataclass(frozen=True)
class Revision:
    """One entry of a workload's revision history."""

    # The number `kubectl rollout history` shows.
    number: int
    # The pod template it records, normalised (see ``normalise_template``).
    template: JSON
    # What a rollback sends: the ReplicaSet's spec.template, or the ControllerRevision's data.
    stored: JSON
    # The ReplicaSet's annotations (Deployments only; the annotations rule reads them).
    annotations: Mapping[str, str]
    # When this revision became the current one, as far as the object tells (see below).
    rolled_out_at: datetime | None
    # The ReplicaSet's or ControllerRevision's name.
    name: str


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or DaemonSet and its revision history."""

    kind: str
    name: str
    # What the patch is guarded by.
    resource_version: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    # spec.template as served.
    template: JSON
    paused: bool
    # The whole object, for the rollout's progress.
    raw: JSON
    # Oldest first; empty when the history was not read.
    history: tuple[Revision, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Refusal:
    """Why there is nothing to roll back."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class Plan:
    # The revision the workload runs now; None when the controller has not recorded it yet.
    current: Revision | None
    current_digest: str
    target: Revision
    # For people: what the rollback changes, one line each.
    diff: str


# ------------------------------------------------------------------ templates


def _without_empty(value: Any) -> Any:
    """Drops nulls and empty objects, recursively: the API server reads them as absent."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v != {}}
    if isinstance(value, list):
        return [_without_empty(item) for item in value]
    return value


def normalise_template(template: Mapping[str, Any]) -> JSON:
    """The template without what kubectl ignores when comparing: pod-template-hash and
    the ``$patch`` directive, and without null or empty values."""
    cleaned: JSON = copy.deepcopy(dict(template))
    cleaned.pop("$patch", None)
    labels = (cleaned.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    normalised: JSON = _without_empty(cleaned)
    return normalised


def template_digest(template: Mapping[str, Any]) -> str:
    """A short, stable name for a template's content (after normalising it)."""
    text = json.dumps(normalise_template(template), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# ------------------------------------------------------------------ reading objects


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _controlled_by(item: Mapping[str, Any], uid: str) -> bool:
    owners = (item.get("metadata") or {}).get("ownerReferences") or []
    return any(o.get("controller") and o.get("uid") == uid for o in owners)


def _rolled_out_at(metadata: Mapping[str, Any], renumbered: bool) -> datetime | None:
    """When a history entry became current.

    Its creation, unless a rollback reused it: kubectl renumbers the old entry instead of
    creating one, and then the last update the object recorded (managedFields) is the
    closest time known; it may be later than the renumbering, never earlier.
    """
    created = _time(metadata.get("creationTimestamp"))
    if not renumbered:
        return created
    times = [_time(entry.get("time")) for entry in metadata.get("managedFields") or []]
    known = [t for t in (created, *times) if t is not None]
    return max(known, default=None)


def _revision_from_replica_set(item: Mapping[str, Any]) -> Revision | None:
    metadata = item.get("metadata") or {}
    annotations = dict(metadata.get("annotations") or {})
    try:
        # kubectl: an absent annotation is revision 0; an unparsable one is skipped.
        number = int(annotations.get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return None
    template = dict((item.get("spec") or {}).get("template") or {})
    return Revision(
        number=number,
        template=normalise_template(template),
        stored=template,
        annotations=annotations,
        rolled_out_at=_rolled_out_at(metadata, REVISION_HISTORY_ANNOTATION in annotations),
        name=str(metadata.get("name", "")),
    )


def _revision_from_controller_revision(item: Mapping[str, Any]) -> Revision | None:
    metadata = item.get("metadata") or {}
    data = item.get("data")
    template = ((data or {}).get("spec") or {}).get("template") if isinstance(data, dict) else None
    if not isinstance(template, dict) or not isinstance(item.get("revision"), int):
        return None
    return Revision(
        number=int(item["revision"]),
        template=normalise_template(template),
        stored=dict(data) if isinstance(data, dict) else {},
        annotations={},
        # A ControllerRevision is changed only when a rollback renumbers it.
        rolled_out_at=_rolled_out_at(metadata, renumbered=True),
        name=str(metadata.get("name", "")),
    )


def workload_from_objects(
    kind: str, raw: Mapping[str, Any], history: Iterable[Mapping[str, Any]] = ()
) -> Workload:
    """A Workload from the workload's JSON and the ReplicaSets or ControllerRevisions in
    its namespace; only the ones it controls count, as in kubectl."""
    if kind not in KINDS:
        raise ValueError(f"cannot roll back a {kind}: only {', '.join(KINDS)}")
    metadata = raw.get("metadata") or {}
    spec = raw.get("spec") or {}
    uid = str(metadata.get("uid", ""))
    parse = _revision_from_replica_set if kind == DEPLOYMENT else _revision_from_controller_revision
    revisions = [parse(item) for item in history if _controlled_by(item, uid)]
    return Workload(
        kind=kind,
        name=str(metadata.get("name", "")),
        resource_version=str(metadata.get("resourceVersion", "")),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        template=dict(spec.get("template") or {}),
        paused=bool(spec.get("paused")) if kind == DEPLOYMENT else False,
        raw=dict(raw),
        history=tuple(sorted((r for r in revisions if r is not None), key=lambda r: r.number)),
    )


# ------------------------------------------------------------------ choosing


def current_revision(workload: Workload) -> Revision | None:
    """The history entry whose template the workload runs (the newest, if several)."""
    running = normalise_template(workload.template)
    matching = [r for r in workload.history if r.template == running]
    return matching[-1] if matching else None


def find_target(workload: Workload, to_revision: int | None) -> Revision | Refusal:
    """kubectl's choice: the revision asked for, or the second highest."""
    history = workload.history
    if to_revision is not None:
        found = [r for r in history if r.number == to_revision]
        if found:
            return found[0]
        known = ", ".join(str(r.number) for r in history) or "none"
        return Refusal(
            Reason.REVISION_NOT_FOUND,
            f"{workload.reference} has no revision {to_revision} (revisions: {known})",
        )
    if len(history) < 2:
        return Refusal(
            Reason.REVISION_NOT_FOUND,
            f"{workload.reference} has no earlier revision to roll back to",
        )
    return history[-2]


def plan_rollback(workload: Workload, to_revision: int | None) -> Plan | Refusal:
    """What rolling ``workload`` back to ``to_revision`` (None: the previous) would do."""
    target = find_target(workload, to_revision)
    if isinstance(target, Refusal):
        return target
    if target.template == normalise_template(workload.template):
        return Refusal(
            Reason.ALREADY_AT_TARGET,
            f"{workload.reference} already runs the template of revision {target.number}: "
            "nothing to roll back",
        )
    current = current_revision(workload)
    return Plan(
        current=current,
        current_digest=template_digest(workload.template),
        target=target,
        diff=template_diff(normalise_template(workload.template), target.template),
    )


def rollback_annotations(
    workload_annotations: Mapping[str, str], revision_annotations: Mapping[str, str]
) -> dict[str, str]:
    """kubectl's annotations rule for a Deployment rolled back to a ReplicaSet."""
    kept = {k: v for k, v in workload_annotations.items() if k in ANNOTATIONS_TO_SKIP}
    copied = {k: v for k, v in revision_annotations.items() if k not in ANNOTATIONS_TO_SKIP}
    return {**kept, **copied}


# ------------------------------------------------------------------ patches

JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


@dataclass(frozen=True)
class WorkloadPatch:
    """The request that rolls ``kind/name`` back; ``content_type`` names the patch kind."""

    kind: str
    name: str
    content_type: str
    body: Any


def rollback_patch(workload: Workload, target: Revision) -> WorkloadPatch:
    """kubectl's patch for ``target``, guarded by the workload's resourceVersion."""
    if workload.kind == DEPLOYMENT:
        template = copy.deepcopy(target.stored)
        labels = (template.get("metadata") or {}).get("labels")
        if isinstance(labels, dict):
            labels.pop(HASH_LABEL, None)
        operations = [
            # Not in kubectl: the precondition. A stale resourceVersion makes it a 409.
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": workload.resource_version,
            },
            {"op": "replace", "path": "/spec/template", "value": template},
            # "add" sets the member whether or not it exists; kubectl's "replace" fails on a
            # Deployment without annotations, which the controller never leaves.
            {
                "op": "add",
                "path": "/metadata/annotations",
                "value": rollback_annotations(workload.annotations, target.annotations),
            },
        ]
        return WorkloadPatch(workload.kind, workload.name, JSON_PATCH, operations)
    body = copy.deepcopy(target.stored)
    body["metadata"] = {"resourceVersion": workload.resource_version}
    return WorkloadPatch(workload.kind, workload.name, STRATEGIC_MERGE_PATCH, body)


# ------------------------------------------------------------------ diff


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _quoted(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, sort_keys=True)


def _env_value(entry: Mapping[str, Any]) -> Any:
    return entry.get("value", "") if "valueFrom" not in entry else {"from": entry["valueFrom"]}


def _by_name(items: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item.get("name")): item for item in items}


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(f"{prefix}.{key}", inner))
        return flat
    return {prefix: value}


def _ordered_union(first: Iterable[str], second: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _container_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    lines = []
    if before.get("image") != after.get("image"):
        lines.append(f"image {_show(before.get('image'))} -> {_show(after.get('image'))}")
    for key in ("command", "args"):
        if before.get(key) != after.get(key):
            lines.append(f"{key} {_show(before.get(key))} -> {_show(after.get(key))}")
    env_b, env_a = _by_name(before.get("env") or []), _by_name(after.get("env") or [])
    for name in _ordered_union(env_b, env_a):
        value_b = _env_value(env_b[name]) if name in env_b else None
        value_a = _env_value(env_a[name]) if name in env_a else None
        if value_b != value_a:
            lines.append(f"env {name} {_quoted(value_b)} -> {_quoted(value_a)}")
    if before.get("envFrom") != after.get("envFrom"):
        lines.append(f"envFrom {_show(before.get('envFrom'))} -> {_show(after.get('envFrom'))}")
    res_b = _flatten("resources", before.get("resources") or {})
    res_a = _flatten("resources", after.get("resources") or {})
    for key in sorted(set(res_b) | set(res_a)):
        if res_b.get(key) != res_a.get(key):
            lines.append(f"{key} {_show(res_b.get(key))} -> {_show(res_a.get(key))}")
    shown = {"name", "image", "command", "args", "env", "envFrom", "resources"}
    others = sorted((set(before) | set(after)) - shown)
    lines += [f"{key} changed" for key in others if before.get(key) != after.get(key)]
    return lines


def template_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """What changes from ``before`` to ``after`` (normalised templates), for people:
    images, env, resources, command and args per container, then anything else by name."""
    lines: list[str] = []
    spec_b, spec_a = before.get("spec") or {}, after.get("spec") or {}
    for field, label in (("initContainers", "init container"), ("containers", "container")):
        b, a = _by_name(spec_b.get(field) or []), _by_name(spec_a.get(field) or [])
        for name in _ordered_union(b, a):
            if name not in a:
                lines.append(f"{label} {name}: removed (image {_show(b[name].get('image'))})")
            elif name not in b:
                lines.append(f"{label} {name}: added (image {_show(a[name].get('image'))})")
            else:
                lines += [f"{label} {name}: {line}" for line in _container_diff(b[name], a[name])]
    for key in sorted((set(spec_b) | set(spec_a)) - {"containers", "initContainers"}):
        old, new = spec_b.get(key), spec_a.get(key)
        if old == new:
            continue
        scalar = not isinstance(old, dict | list) and not isinstance(new, dict | list)
        lines.append(f"pod {key} {_show(old)} -> {_show(new)}" if scalar else f"pod {key} changed")
    meta_b, meta_a = before.get("metadata") or {}, after.get("metadata") or {}
    for field, label in (("labels", "pod label"), ("annotations", "pod annotation")):
        b, a = meta_b.get(field) or {}, meta_a.get(field) or {}
        for key in _ordered_union(b, a):
            if b.get(key) != a.get(key):
                lines.append(f"{label} {key} {_quoted(b.get(key))} -> {_quoted(a.get(key))}")
    if not lines:
        return "no difference in the pod template"
    if len(lines) > DIFF_LINE_LIMIT:
        hidden = len(lines) - DIFF_LINE_LIMIT
        lines = [*lines[:DIFF_LINE_LIMIT], f"... and {hidden} more"]
    return "\n".join(lines)
