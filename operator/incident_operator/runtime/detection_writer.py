"""Carries out detection's decisions against the API: incidents opened, their severity,
status.detection and status.metrics, and the policy's detection status.

Shared by the polling loop and the Alertmanager intake, so both keep the incident index
current from their own write responses (an incident just opened is known at once).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from incident_operator.adapters import detection_store as store
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.kubernetes import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, MetricReading, SignalStatus
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.detection import (
    FINGERPRINT_LABEL,
    DetectionUpdate,
    NewIncident,
    detection_wire,
    is_open,
)
from incident_operator.reconcile.signals import aggregate, signals_wire, updated_signals
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.keyed_locks import KeyedLocks

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Writes in flight at once, so a thousand breaches do not queue a thousand threads.
_WRITES_IN_PARALLEL = 8
# One lock per incident for every Writer of the process (detection, the intakes, merges
# and splits): whoever rewrites an incident's status.signals holds it.
_INCIDENT_LOCKS = KeyedLocks()
# Names tried when a deterministic name is taken by a closed incident of an earlier breach.
_NAME_ATTEMPTS = 5


class Writer:
    """Carries out decisions, a few at a time, keeping the incident index current."""

    def __init__(self, incidents: IncidentIndex) -> None:
        self._incidents = incidents
        self._slots = asyncio.Semaphore(_WRITES_IN_PARALLEL)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        async with self._slots:
            return await asyncio.to_thread(function, *args)

    async def open(self, new: NewIncident) -> str | None:
        """Creates the incident (or adopts the same breach's), then its status.detection."""
        manifest = new.manifest()
        for attempt in range(1, _NAME_ATTEMPTS + 1):
            name = new.name if attempt == 1 else f"{new.name}-{attempt}"
            manifest["metadata"]["name"] = name
            try:
                created = await self._call(store.create_incident, manifest)
            except store.AlreadyExists:
                existing = await self._call(read_incident, new.namespace, name)
                incident = self._incidents.put_raw(existing) if existing else None
                fingerprint = new.labels[FINGERPRINT_LABEL]
                if incident is None or incident.metadata.labels.get(FINGERPRINT_LABEL) != (
                    fingerprint
                ):
                    continue
                if not is_open(incident):
                    continue
                if incident.status.detection is not None:
                    return name
            else:
                self._incidents.put_raw(created)
                logger.info("opened incident %s/%s: %s", new.namespace, name, new.spec.title)
            await self.detection(DetectionUpdate(new.namespace, name, new.detection))
            return name
        logger.error("could not find a free name for %s/%s", new.namespace, new.name)
        return None

    def lock(self, namespace: str, name: str) -> AbstractAsyncContextManager[None]:
        """Held while one incident's signals are read and written back: status.signals is
        written whole, so two writers of one incident must not interleave."""
        return _INCIDENT_LOCKS.hold((namespace, name))

    async def detection(self, update: DetectionUpdate) -> None:
        """Writes one signal's detection status, and the aggregate in status.detection."""
        async with self.lock(update.namespace, update.name):
            incident = self._incidents.get(update.namespace, update.name)
            signals = updated_signals(incident, update.detection, clock.now())
            await self.signals(update.namespace, update.name, signals)

    async def signals(self, namespace: str, name: str, signals: list[SignalStatus]) -> None:
        """Writes status.signals and their aggregate (call with ``lock`` held)."""
        aggregated = aggregate(signals)
        patched = await self._call(
            store.patch_incident_status_fields,
            namespace,
            name,
            {
                "detection": detection_wire(aggregated) if aggregated else None,
                "signals": signals_wire(signals),
            },
        )
        if patched is not None:
            self._incidents.put_raw(patched)

    async def severity(self, namespace: str, name: str, severity: Severity) -> None:
        patched = await self._call(store.raise_severity, namespace, name, severity)
        if patched is not None:
            self._incidents.put_raw(patched)
            logger.info("raised %s/%s to %s", namespace, name, severity.value)

    async def metrics(self, incident: Incident, readings: list[MetricReading]) -> None:
        wire = [reading.to_wire() for reading in readings]
        patched = await self._call(
            store.patch_incident_status,
            incident.metadata.namespace,
            incident.metadata.name,
            "metrics",
            wire,
        )
        if patched is not None:
            self._incidents.put_raw(patched)

    async def policy_status(self, policy: EscalationPolicy, status: dict[str, Any]) -> None:
        meta = policy.metadata
        await self._call(store.apply_policy_status, meta.namespace, meta.name, status)

    async def policy_event(
        self, policy: EscalationPolicy, type_: str, reason: str, message: str
    ) -> None:
        """An Event about the policy (``kubectl describe escalationpolicy``)."""
        meta = policy.metadata
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "EscalationPolicy",
            "metadata": {"name": meta.name, "namespace": meta.namespace, "uid": meta.uid or None},
        }
        await self._call(post_event, body, type_, reason, message)


async def gather_logged(what: str, calls: Iterable[Awaitable[Any]]) -> None:
    """Runs ``calls`` together; one failing is logged and does not stop the others."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            logger.error("%s failed: %s", what, result, exc_info=result)
