"""Carries out merges and splits people asked for (docs/merge-split.md); the decisions
are reconcile/merge.py's.

The incident pipeline calls ``MergeSplit.act`` at the start of each pass of an incident
with a merge or split annotation. Every write is guarded by the resourceVersion it was
decided from and made under the incidents' signal locks (runtime/detection_writer.py), so
detection writing a signal at the same time can neither lose a moved signal nor be lost.

Merge: INTO is written first (spec, then signals, mergedFrom and its entry), then FROM
(closed, mergedInto). A restart in between finds the signals in INTO by fingerprint and
only closes FROM. Split: the new incident is created (a deterministic name) and given the
signal, then the signal leaves INC and the annotation goes; a restart finds the new
incident, or INC's timeline entry of the split.
"""

import asyncio
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, TypeVar

from incident_operator.adapters import detection_store as store
from incident_operator.adapters.incident_spec import patch_incident_spec
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.workloads_rollback import remove_incident_annotations
from incident_operator.api.annotations import MERGE_BY, MERGE_INTO, SPLIT, SPLIT_BY
from incident_operator.api.incident import TIMELINE_LIMIT, Incident, WorkloadReference
from incident_operator.domain.reasons import EntryType
from incident_operator.domain.timeline import Entry, bound
from incident_operator.reconcile.detection import detection_wire
from incident_operator.reconcile.merge import (
    already_split,
    merge_into_target,
    merge_refusal,
    merge_request,
    merged_source_status,
    split_child_status,
    split_from_source,
    split_manifest,
    split_refusal,
    split_request,
)
from incident_operator.reconcile.signals import aggregate, signals_of, signals_wire
from incident_operator.reconcile.status_patch import status_difference
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import INCIDENTS
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.events import EventPoster

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Guarded writes retried this often when someone else wrote in between.
_ATTEMPTS = 8


class MergeError(RuntimeError):
    """A write kept losing races; the pass fails and is retried with backoff."""


async def _blocking(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


async def _read(namespace: str, name: str) -> Incident | None:
    body = await _blocking(read_incident, namespace, name)
    return Incident.model_validate(body) if body is not None else None


def _with_entries(incident: Incident, entries: list[Entry]) -> list[dict[str, Any]]:
    timeline = bound([*incident.status.timeline, *entries], TIMELINE_LIMIT)
    wire: list[dict[str, Any]] = incident.status.model_copy(
        update={"timeline": timeline}
    ).to_wire()["timeline"]
    return wire


def _workloads_wire(workloads: list[WorkloadReference]) -> list[dict[str, Any]]:
    return [w.model_dump(mode="json", by_alias=True) for w in workloads]


class MergeSplit:
    def __init__(self, events: EventPoster) -> None:
        self._events = events
        self._writer = Writer(INCIDENTS)

    async def act(self, incident: Incident) -> bool:
        """Carries out (or refuses) the merge or split ``incident`` asks for; True when
        it wrote something (the pass reads the incident again)."""
        if merge_request(incident) is not None:
            await self._merge(incident)
            return True
        if split_request(incident) is not None:
            await self._split(incident)
            return True
        return False

    # ------------------------------------------------------------------ shared

    async def _refuse(
        self, incident: Incident, keys: tuple[str, ...], type_: EntryType, by: str, why: str
    ) -> None:
        """A Warning Event on the incident, and the request's annotations removed."""
        meta = incident.metadata
        logger.info("%s/%s: %s refused: %s", meta.namespace, meta.name, type_.value, why)
        removed = await _blocking(
            remove_incident_annotations, meta.namespace, meta.name, meta.resource_version, keys
        )
        body = await _blocking(read_incident, meta.namespace, meta.name)
        if removed is None or body is None:
            return  # it changed: the next pass decides again
        self._events.post(body, Entry(clock.now(), type_, by, why))

    async def _write_status(
        self, namespace: str, name: str, fields: Callable[[Incident], dict[str, Any] | None]
    ) -> tuple[Incident, dict[str, Any] | None]:
        """Writes what ``fields`` decides from the incident as it is now (None: nothing),
        guarded, again from a fresh read after each lost race."""
        for _ in range(_ATTEMPTS):
            current = await _read(namespace, name)
            if current is None:
                raise MergeError(f"{namespace}/{name} is gone")
            wanted = fields(current)
            if not wanted:
                return current, None
            written = await _blocking(
                write_status, namespace, name, current.metadata.resource_version, wanted
            )
            if written is not None:
                INCIDENTS.put_raw(written)
                return Incident.model_validate(written), written
        raise MergeError(f"{namespace}/{name}: kept losing write races")

    async def _write_spec(
        self, namespace: str, name: str, incident: Incident, spec: dict[str, Any]
    ) -> None:
        for _ in range(_ATTEMPTS):
            written = await _blocking(
                patch_incident_spec, namespace, name, incident.metadata.resource_version, spec
            )
            if written is not None:
                INCIDENTS.put_raw(written)
                return
            fresh = await _read(namespace, name)
            if fresh is None:
                raise MergeError(f"{namespace}/{name} is gone")
            incident = fresh
        raise MergeError(f"{namespace}/{name}: kept losing write races")

    # ------------------------------------------------------------------ merge

    async def _merge(self, source: Incident) -> None:
        request = merge_request(source)
        assert request is not None
        namespace, name = source.metadata.namespace, source.metadata.name
        into = request.into
        local = "/" not in into and into != name
        target = await _read(namespace, into) if local else None
        refusal = merge_refusal(source, into, target)
        if refusal is not None or target is None:
            await self._refuse(
                source,
                (MERGE_INTO, MERGE_BY),
                EntryType.MERGE_REFUSED,
                request.by,
                refusal or f"no incident {into}",
            )
            return
        # Both signal locks, in name order so two merges never wait on each other.
        async with AsyncExitStack() as stack:
            for locked in sorted({name, into}):
                await stack.enter_async_context(self._writer.lock(namespace, locked))
            fresh = await _read(namespace, name)
            if fresh is None or merge_request(fresh) is None:
                return
            source = fresh
            target = await _read(namespace, into)
            if target is None:
                raise MergeError(f"{namespace}/{into} is gone")
            now = clock.now()
            change = merge_into_target(target, source, request.by, now)
            if change.spec_changed:
                await self._write_spec(
                    namespace,
                    into,
                    target,
                    {
                        "affected": _workloads_wire(change.affected),
                        "severity": change.severity.value,
                    },
                )

            def target_fields(current: Incident) -> dict[str, Any] | None:
                merged = merge_into_target(current, source, request.by, now)
                if not merged.changed:
                    return None
                aggregated = aggregate(merged.signals)
                return {
                    "signals": signals_wire(merged.signals),
                    "detection": detection_wire(aggregated) if aggregated else None,
                    "mergedFrom": merged.merged_from,
                    "timeline": _with_entries(current, merged.entries),
                }

            merged_target, written = await self._write_status(namespace, into, target_fields)
            if written is not None:
                for entry in change.entries:
                    self._events.post(written, entry)

            entry_holder: list[Entry] = []

            def source_fields(current: Incident) -> dict[str, Any] | None:
                if current.status.merged_into is not None:
                    return None
                status, entry = merged_source_status(current, merged_target, request.by, now)
                entry_holder[:] = [entry]
                return status_difference(current.status.to_wire(), status.to_wire())

            _, written = await self._write_status(namespace, name, source_fields)
            if written is not None:
                for entry in entry_holder:
                    self._events.post(written, entry)
            logger.info("merged %s/%s into %s", namespace, name, into)

    # ------------------------------------------------------------------ split

    async def _split(self, source: Incident) -> None:
        request = split_request(source)
        assert request is not None
        namespace, name = source.metadata.namespace, source.metadata.name
        keys = (SPLIT, SPLIT_BY)
        async with self._writer.lock(namespace, name):
            fresh = await _read(namespace, name)
            if fresh is None or split_request(fresh) is None:
                return
            source = fresh
            signal = next((s for s in signals_of(source) if s.id == request.signal_id), None)
            if signal is None and already_split(source, request.signal_id):
                await _blocking(
                    remove_incident_annotations,
                    namespace,
                    name,
                    source.metadata.resource_version,
                    keys,
                )
                return
            refusal = split_refusal(source, request.signal_id)
            if refusal is not None or signal is None:
                await self._refuse(
                    source, keys, EntryType.SPLIT_REFUSED, request.by, refusal or "no such signal"
                )
                return
            now = clock.now()
            manifest = split_manifest(source, signal, request.by)
            child_name = manifest["metadata"]["name"]
            try:
                created = await _blocking(store.create_incident, manifest)
                INCIDENTS.put_raw(created)
                logger.info("split %s out of %s/%s into %s", signal.id, namespace, name, child_name)
            except store.AlreadyExists:
                pass  # a restart: it was created before

            async with self._writer.lock(namespace, child_name):
                told: list[Entry] = []

                def child_fields(current: Incident) -> dict[str, Any] | None:
                    decided = split_child_status(current, signal, source, request.by, now)
                    if decided is None:
                        return None
                    told[:] = [decided[1]]
                    return decided[0]

                _, written = await self._write_status(namespace, child_name, child_fields)
                if written is not None:
                    for entry in told:
                        self._events.post(written, entry)

            change = split_from_source(source, signal, child_name, request.by, now)
            if change.affected != source.spec.affected:
                await self._write_spec(
                    namespace,
                    name,
                    source,
                    {"affected": _workloads_wire(change.affected)},
                )

            def source_fields(current: Incident) -> dict[str, Any] | None:
                if already_split(current, request.signal_id):
                    return None
                remaining = [s for s in signals_of(current) if s.fingerprint != signal.fingerprint]
                aggregated = aggregate(remaining)
                return {
                    "signals": signals_wire(remaining),
                    "detection": detection_wire(aggregated) if aggregated else None,
                    "timeline": _with_entries(current, [change.entry]),
                }

            after, written = await self._write_status(namespace, name, source_fields)
            if written is not None:
                self._events.post(written, change.entry)
            await _blocking(
                remove_incident_annotations, namespace, name, after.metadata.resource_version, keys
            )
