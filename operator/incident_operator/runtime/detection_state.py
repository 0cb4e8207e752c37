"""What detection keeps in memory between cycles: workloads and incidents, per namespace.

Both are fed by watches (handlers/detection.py) and seeded by one listing per namespace
before detection first acts there (``Seeder``), so a cycle makes no list call whatever the
number of workloads. The incident index is also updated from detection's own write
responses, so an incident it has just opened is known before the watch delivers it and
is never opened twice.
"""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from incident_operator.adapters import detection_store as store
from incident_operator.adapters.workloads import list_workloads
from incident_operator.api.incident import Incident
from incident_operator.domain.detection import WorkloadKey
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, is_open, wants_readings


class WorkloadIndex:
    def __init__(self) -> None:
        self._by_namespace: dict[str, dict[WorkloadKey, dict[str, str]]] = {}
        self._versions: dict[str, int] = {}

    def put(self, namespace: str, kind: str, name: str, labels: Mapping[str, str]) -> None:
        workloads = self._by_namespace.setdefault(namespace, {})
        key, labels = WorkloadKey(kind, name), dict(labels)
        # Most events are status changes: only a new workload or new labels is a change.
        if workloads.get(key) != labels:
            workloads[key] = labels
            self._versions[namespace] = self._versions.get(namespace, 0) + 1

    def remove(self, namespace: str, kind: str, name: str) -> None:
        if self._by_namespace.get(namespace, {}).pop(WorkloadKey(kind, name), None) is not None:
            self._versions[namespace] = self._versions.get(namespace, 0) + 1

    def version(self, namespace: str) -> int:
        """Changes whenever a workload of the namespace appears, goes or is relabelled, so
        what was derived from its workloads can be kept until then."""
        return self._versions.get(namespace, 0)

    def in_namespace(self, namespace: str) -> list[tuple[WorkloadKey, dict[str, str]]]:
        return list(self._by_namespace.get(namespace, {}).items())

    def labels(self, namespace: str, kind: str, name: str) -> dict[str, str] | None:
        """The workload's labels; None when it is not known."""
        return self._by_namespace.get(namespace, {}).get(WorkloadKey(kind, name))


def _age_key(incident: Incident) -> tuple[datetime, str]:
    created = incident.metadata.creation_timestamp or datetime.max.replace(tzinfo=UTC)
    return created, incident.metadata.name


# What detection never reads of an incident, and what it does read of its status.
_UNREAD_SPEC = frozenset({"updates", "actionItems", "postMortem", "checklist", "summary", "impact"})
_READ_STATUS = frozenset(
    {"id", "phase", "detection", "signals", "metrics", "detectedAt", "resolvedAt", "mergedInto"}
)


def _slim_status(status: Mapping[str, object]) -> dict[str, object]:
    slim = {k: v for k, v in status.items() if k in _READ_STATUS}
    chat = status.get("chat")
    if isinstance(chat, Mapping) and chat.get("channel"):
        # Only the channel: the chat log finds its incident by it (runtime/chat_log.py).
        slim["chat"] = {"channel": chat["channel"]}
    return slim


def _older(resource_version: str, held: Incident) -> bool:
    """Whether ``resource_version`` is older than the held copy's. Opaque by contract,
    but the API server's are etcd revisions: compared as numbers when both are."""
    current = held.metadata.resource_version
    if not (resource_version.isdigit() and current.isdigit()):
        return False
    return int(resource_version) < int(current)


class IncidentIndex:
    def __init__(self) -> None:
        self._by_namespace: dict[str, dict[str, Incident]] = {}

    def put_raw(self, body: Mapping[str, object]) -> Incident | None:
        """Parses and keeps what detection reads of ``body``; an unreadable incident is
        forgotten (and None).

        Only that part is kept: thousands of incidents' timelines, notification records and
        escalation steps would otherwise sit in memory here for nothing.
        """
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            return None
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        held = self.get(namespace, name)
        if held is not None and _older(str(metadata.get("resourceVersion", "")), held):
            # A watch event or a write response overtaken by a later write: keeping it
            # would make the next status.signals write drop what the later one added.
            return held
        spec, status = body.get("spec"), body.get("status")
        slim = {
            "metadata": metadata,
            "spec": {k: v for k, v in spec.items() if k not in _UNREAD_SPEC}
            if isinstance(spec, Mapping)
            else spec,
            "status": _slim_status(status) if isinstance(status, Mapping) else {},
        }
        try:
            incident = Incident.model_validate(slim)
        except ValidationError:
            self.remove(namespace, name)
            return None
        self._by_namespace.setdefault(namespace, {})[name] = incident
        return incident

    def remove(self, namespace: str, name: str) -> None:
        self._by_namespace.get(namespace, {}).pop(name, None)

    def get(self, namespace: str, name: str) -> Incident | None:
        return self._by_namespace.get(namespace, {}).get(name)

    def open_in(self, namespace: str) -> list[Incident]:
        """The namespace's open incidents, oldest first."""
        incidents = self._by_namespace.get(namespace, {}).values()
        return sorted((i for i in incidents if is_open(i)), key=_age_key)

    def open_by_fingerprint(self, namespace: str) -> dict[str, Incident]:
        """Open incidents by their fingerprint label and by the fingerprints of their
        signals (a grouped incident is found by any of them); the oldest wins if two
        share one."""
        found: dict[str, Incident] = {}
        for incident in reversed(self.open_in(namespace)):
            fingerprint = incident.metadata.labels.get(FINGERPRINT_LABEL)
            if fingerprint:
                found[fingerprint] = incident
            for signal in incident.status.signals:
                found[signal.fingerprint] = incident
        return found

    def by_chat_channel(self, channel_id: str) -> Incident | None:
        """The incident whose own Slack channel (status.chat.channel) is ``channel_id``;
        an open one before a closed one, the oldest first."""
        held = [
            i
            for i in self.all()
            if i.status.chat is not None
            and i.status.chat.channel is not None
            and i.status.chat.channel.id == channel_id
        ]
        held.sort(key=lambda i: (not is_open(i), _age_key(i)))
        return held[0] if held else None

    def all(self) -> list[Incident]:
        """Every incident held, open or not (the status page lists resolved ones too)."""
        return [i for held in self._by_namespace.values() for i in held.values()]

    def wanting_readings(self, namespace: str) -> list[Incident]:
        return [i for i in self._by_namespace.get(namespace, {}).values() if wants_readings(i)]


WORKLOADS = WorkloadIndex()
INCIDENTS = IncidentIndex()


class Seeder:
    """Lists a namespace's workloads and incidents once, before detection first acts there,
    so a cycle right after start-up neither misses workloads nor reopens incidents."""

    def __init__(self, workloads: WorkloadIndex, incidents: IncidentIndex) -> None:
        self._workloads = workloads
        self._incidents = incidents
        self._seeded: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, namespaces: Iterable[str]) -> None:
        async with self._lock:
            for namespace in sorted(set(namespaces) - self._seeded):
                for kind, name, labels in await asyncio.to_thread(list_workloads, namespace):
                    self._workloads.put(namespace, kind, name, labels)
                for body in await asyncio.to_thread(store.list_incidents, namespace):
                    self._incidents.put_raw(body)
                self._seeded.add(namespace)
