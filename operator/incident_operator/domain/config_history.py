"""The history the operator keeps of a ConfigMap's or Secret's data (Kubernetes keeps
none): pure rules for versions, digests, pruning and diffs.

A *snapshot* is one version of the object's data, numbered 1, 2, 3... per object; the
adapter (adapters/config_snapshots.py) stores it next to the object, and the snapshot
keeper (runtime/config_history.py) takes one whenever the data's digest differs from
the newest snapshot's. ``keep`` bounds how many stay: the oldest go first.

Secrets: their values never leave the objects that hold them. Only keys and digests are
compared here (``key_digests``), and a Secret's diff names keys added, removed or
changed, never a value.
"""

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# What a snapshot's data holds: the object's ``data`` and (ConfigMaps) ``binaryData``.
ConfigData = Mapping[str, Mapping[str, str]]
# Lines of a ConfigMap diff kept (the whole diff goes to the terminal, a bounded one to status).
DIFF_LINES = 200


def data_of(kind: str, body: Mapping[str, object]) -> dict[str, dict[str, str]]:
    """The parts of a ConfigMap or Secret (a raw API body) a snapshot keeps and a restore
    sets: ``data`` and ``binaryData`` (ConfigMaps); ``data`` (Secrets; base64 as served)."""
    parts = ("data", "binaryData") if kind == "ConfigMap" else ("data",)
    kept: dict[str, dict[str, str]] = {}
    for part in parts:
        value = body.get(part)
        kept[part] = {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
    return kept


def digest(data: ConfigData) -> str:
    """A short digest of ``data``: equal data, equal digest, whatever the key order."""
    canonical = json.dumps(
        {part: dict(values) for part, values in data.items() if values}, sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def key_digests(data: ConfigData) -> dict[str, str]:
    """A digest per key (``binaryData`` keys prefixed ``binaryData.``): what a Secret's
    diff compares, so that its values are never compared, shown or stored elsewhere."""
    digests: dict[str, str] = {}
    for part, values in data.items():
        prefix = "" if part == "data" else f"{part}."
        for key, value in values.items():
            digests[prefix + key] = hashlib.sha256(value.encode()).hexdigest()[:16]
    return digests


@dataclass(frozen=True)
class Snapshot:
    """One version as kept (the adapter's view of a snapshot object)."""

    version: int
    digest: str
    # The snapshot object's name (to read or delete it).
    object_name: str
    created_at: str = ""
    # The field manager that last changed the object's data, when known.
    changed_by: str = ""
    # The per-key digests (for Secrets' diffs) and, for ConfigMaps only, the data.
    keys: Mapping[str, str] = field(default_factory=dict)
    data: ConfigData | None = None


def newest(snapshots: Sequence[Snapshot]) -> Snapshot | None:
    return max(snapshots, key=lambda s: s.version, default=None)


def needs_snapshot(snapshots: Sequence[Snapshot], current_digest: str) -> bool:
    """True when the current data is not the newest version kept."""
    latest = newest(snapshots)
    return latest is None or latest.digest != current_digest


def next_version(snapshots: Sequence[Snapshot]) -> int:
    latest = newest(snapshots)
    return 1 if latest is None else latest.version + 1


def to_prune(snapshots: Sequence[Snapshot], keep: int) -> list[Snapshot]:
    """The oldest snapshots beyond ``keep`` (never the newest)."""
    ordered = sorted(snapshots, key=lambda s: s.version, reverse=True)
    return ordered[max(keep, 1) :]


def resolve_version(
    text: str, snapshots: Sequence[Snapshot], current_digest: str
) -> Snapshot | str:
    """The snapshot ``text`` names (a number, or ``previous``: the version before what is
    there now: the one before the newest, or the newest when the data changed since it
    was kept), or why there is none (listing the versions kept)."""
    kept = sorted(snapshots, key=lambda s: s.version)
    listed = ", ".join(str(s.version) for s in kept) or "none yet"
    wanted = text.strip()
    if wanted == "previous":
        if kept and kept[-1].digest != current_digest:
            return kept[-1]
        if len(kept) < 2:
            return f"there is no version before the current one; versions kept: {listed}"
        return kept[-2]
    if not wanted.isdigit():
        return f"version {wanted!r} is not a number or `previous`; versions kept: {listed}"
    found = next((s for s in kept if s.version == int(wanted)), None)
    if found is None:
        return f"version {wanted} is not kept; versions kept: {listed}"
    return found


def keys_diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """A Secret's diff from per-key digests: keys added, removed, changed; never values."""
    lines = [f"+ {key} (added)" for key in sorted(after.keys() - before.keys())]
    lines += [f"- {key} (removed)" for key in sorted(before.keys() - after.keys())]
    lines += [
        f"~ {key} (changed)"
        for key in sorted(before.keys() & after.keys())
        if before[key] != after[key]
    ]
    return lines


def _lines(data: ConfigData) -> list[str]:
    lines: list[str] = []
    for part in sorted(data):
        for key in sorted(data[part]):
            name = key if part == "data" else f"{part}.{key}"
            value = data[part][key]
            value_lines = value.splitlines() or [""]
            lines.append(f"{name}: {value_lines[0]}")
            lines += [f"{' ' * len(name)}  {line}" for line in value_lines[1:]]
    return lines


def values_diff(
    before: ConfigData, after: ConfigData, before_name: str, after_name: str
) -> list[str]:
    """A ConfigMap's unified diff of its keys and values."""
    return list(
        difflib.unified_diff(
            _lines(before), _lines(after), before_name, after_name, lineterm="", n=1
        )
    )


def diff(
    kind: str, before: Snapshot | None, after: Snapshot, before_name: str, after_name: str
) -> list[str]:
    """What changed from ``before`` to ``after``: values for a ConfigMap (when both carry
    data), keys only for a Secret."""
    if kind == "ConfigMap" and after.data is not None:
        old = before.data if before is not None and before.data is not None else {}
        return values_diff(old, after.data, before_name, after_name)
    return keys_diff(before.keys if before is not None else {}, after.keys)
