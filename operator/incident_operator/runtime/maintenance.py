"""Maintenance windows at run time: the registry the window watch keeps, the gate the
signal router asks, and the task that writes each window's status and opens what it held
when it ends.

The registry starts unseeded, as the policy registry does (runtime/policies.py): the gate
waits for one complete listing before it lets any signal through, so a restarted operator
never pages for a breach a window covers because it had not read the window yet. It waits
at most ``READY_WAIT``, and a missing MaintenanceWindow CRD counts as no windows: an
incident tool fails open, paging during maintenance rather than staying silent.

The gate (``Maintenance.suppress``) records a held signal in the window's
status.suppressed before it answers, once per signal and then its lastSeen at most every
minute; if that write fails the signal goes on (a page rather than silence). The end task
runs every ``TICK``: it writes ``active``/``currentStart``/``currentEnd``/``nextStart`` when
they change, starts a schedule's new occurrence with an empty list, and when an
occurrence ends it hands the inbound alerts still firing back to the router. Polling
signals need nothing: detection decides them again every cycle. All of it runs only where
detection runs (the leader).
"""

import asyncio
import logging
import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, Final

from pydantic import ValidationError

from incident_operator.adapters.events import post_event
from incident_operator.adapters.kubernetes import CALL_ERRORS, call_error_reason, is_not_found
from incident_operator.adapters.maintenance_store import (
    list_maintenance_windows,
    write_window_status,
)
from incident_operator.api.incident import IncidentSource
from incident_operator.api.maintenance import DEFAULT_MAXIMUM, MaintenanceWindow
from incident_operator.domain.backoff import RECONCILE_RETRY
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.reasons import EventType, Reason
from incident_operator.reconcile.detection import NewIncident
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.maintenance import (
    current_span,
    matches,
    recorded,
    resolved,
    status_wire,
    to_open,
    too_long,
    window_status,
)
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import WORKLOADS, WorkloadIndex
from incident_operator.runtime.policies import POLICIES, PolicyRegistry
from incident_operator.runtime.signal_router import SignalRouter

logger = logging.getLogger(__name__)

WindowKey = tuple[str, str]
# The longest a signal waits for the first listing of windows before it goes on: an API
# server that cannot list them must not keep incidents from opening.
READY_WAIT: Final = timedelta(seconds=30)
# How often the end task looks at the windows: the most an opening waits past an end.
TICK: Final = timedelta(seconds=1)


def _parse(body: dict[str, Any]) -> MaintenanceWindow | ValidationError:
    try:
        return MaintenanceWindow.model_validate(body)
    except ValidationError as error:
        return error


class WindowRegistry:
    """The MaintenanceWindows that parsed, by (namespace, name)."""

    def __init__(self) -> None:
        self._windows: dict[WindowKey, MaintenanceWindow] = {}
        self._ready: asyncio.Event | None = None

    @property
    def ready(self) -> asyncio.Event:
        """Set once ``seed`` has run."""
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    def seed(self, windows: Iterable[MaintenanceWindow]) -> None:
        for window in windows:
            self._windows.setdefault(_key(window), window)
        self.ready.set()

    def put(self, window: MaintenanceWindow) -> None:
        """Keeps ``window`` unless the registry holds a newer version of it (the operator's
        own status write may be kept before the watch delivers an older event)."""
        old = self._windows.get(_key(window))
        if old is not None and _version(old) > _version(window):
            return
        self._windows[_key(window)] = window

    def remove(self, namespace: str, name: str) -> None:
        self._windows.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> MaintenanceWindow | None:
        return self._windows.get((namespace, name))

    def in_namespace(self, namespace: str) -> list[MaintenanceWindow]:
        return [w for (ns, _), w in sorted(self._windows.items()) if ns == namespace]

    def window_keys(self) -> list[WindowKey]:
        return sorted(self._windows)


def _key(window: MaintenanceWindow) -> WindowKey:
    return window.metadata.namespace, window.metadata.name


def _version(window: MaintenanceWindow) -> int:
    """The resourceVersion as a number where it is one (etcd's revision), else 0."""
    version = window.metadata.resource_version
    return int(version) if version.isdigit() else 0


WINDOWS = WindowRegistry()


async def seed_windows(registry: WindowRegistry, namespaces: tuple[str, ...]) -> None:
    """Fills ``registry`` from one complete listing, retrying until the API server
    answers; then ``registry.ready`` is set."""
    failures = 0
    while True:
        try:
            bodies = await asyncio.to_thread(list_maintenance_windows, namespaces)
            break
        except Exception as error:  # anything: the gate waits for this listing
            if is_not_found(error):
                # The MaintenanceWindow CRD is not installed (an upgrade that skipped
                # CRDs): no window can apply, and detection must not stall behind it.
                logger.error(
                    "the MaintenanceWindow CRD is not installed; no maintenance window "
                    "holds signals back until it is and the operator restarts"
                )
                bodies = []
                break
            failures += 1
            delay = RECONCILE_RETRY.delay(failures, random.random()).total_seconds()
            reason = call_error_reason(error) if isinstance(error, CALL_ERRORS) else repr(error)
            logger.warning(
                "listing MaintenanceWindows failed (%s); signals wait; again in %.1f s",
                reason,
                delay,
            )
            await asyncio.sleep(delay)
    registry.seed(w for w in map(_parse, bodies) if isinstance(w, MaintenanceWindow))


def window_event(registry: WindowRegistry, body: dict[str, Any], deleted: bool) -> None:
    """What the window watch delivers: kept, replaced or forgotten."""
    metadata = body.get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    parsed = None if deleted else _parse(body)
    if isinstance(parsed, MaintenanceWindow):
        registry.put(parsed)
    else:
        registry.remove(namespace, name)


async def write_invalid(body: dict[str, Any]) -> None:
    """Ready=False, InvalidSchedule on a window the model refuses (a cron or time zone the
    schema could not check); it holds nothing."""
    parsed = _parse(body)
    if not isinstance(parsed, ValidationError):
        return
    status = dict(body.get("status") or {})
    generation = body.get("metadata", {}).get("generation")
    message = describe_validation_error(parsed, "")
    conditions = not_ready_conditions(
        status, Reason.INVALID_SCHEDULE, message, clock.now(), generation
    )
    if status.get("conditions") == conditions and status.get("active") is False:
        return
    metadata = body["metadata"]
    desired = {"observedGeneration": generation, "active": False, "conditions": conditions}
    await asyncio.to_thread(write_window_status, metadata["namespace"], metadata["name"], desired)
    await asyncio.to_thread(post_event, body, EventType.WARNING, Reason.INVALID_SCHEDULE, message)


class Maintenance:
    """The signal router's MaintenanceGate, and the task that ends windows."""

    def __init__(
        self,
        registry: WindowRegistry,
        policies: PolicyRegistry = POLICIES,
        workloads: WorkloadIndex = WORKLOADS,
    ) -> None:
        self._registry = registry
        self._policies = policies
        self._workloads = workloads
        self._locks: dict[WindowKey, asyncio.Lock] = {}
        self._router: SignalRouter | None = None
        self._task: asyncio.Task[None] | None = None
        # Windows refused as too long, and what the refusal said (one Event each).
        self._refused: dict[WindowKey, str] = {}

    # ----------------------------------------------------------------- start, stop

    def serving(self, router: SignalRouter) -> "Maintenance":
        """Starts the end task, opening through ``router``; returns the gate."""
        self._router = router
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="maintenance-windows")
        return self

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ------------------------------------------------------------------------ gate

    async def suppress(self, new: NewIncident) -> str | None:
        try:
            await asyncio.wait_for(self._registry.ready.wait(), READY_WAIT.total_seconds())
        except TimeoutError:
            # Windows still unread: a page during maintenance rather than silence.
            logger.warning(
                "maintenance windows not listed yet after %s; %s is not held back",
                READY_WAIT,
                new.fingerprint,
            )
            return None
        windows = self._registry.in_namespace(new.namespace)
        if not windows:
            return None
        source = new.spec.source or IncidentSource.PROMETHEUS
        labels = dict(new.signal_labels) or self._labels_of(new)
        now = clock.now()
        for window in windows:
            if self._too_long(window) is not None or current_span(window.spec, now) is None:
                continue
            if not matches(window.spec, source, labels):
                continue
            try:
                await self._record(_key(window), new)
            except Exception as error:  # recording failed: the signal goes on, paged
                logger.error(
                    "maintenance window %s/%s matched %s but could not record it (%s); "
                    "it is not held back",
                    *_key(window),
                    new.fingerprint,
                    error,
                )
                return None
            logger.info("maintenance window %s/%s holds back %s", *_key(window), new.spec.title)
            return window.metadata.name
        return None

    async def resolved(self, namespace: str, fingerprint: str) -> None:
        """An alert resolved with no open incident: a window holding it opens nothing for
        it at its end."""
        for window in self._registry.in_namespace(namespace):
            key = _key(window)
            async with self._lock(key):
                current = self._registry.get(*key)
                if current is None:
                    continue
                updated = resolved(current.status.suppressed, fingerprint, clock.now())
                if updated is not None:
                    status = current.status.model_copy(update={"suppressed": updated})
                    await self._write(current, status_wire(status))

    def _labels_of(self, new: NewIncident) -> dict[str, str]:
        """The signal's labels when its intake gave none: a polling signal's workload
        labels from the workload index, and its namespace."""
        labels = {"namespace": new.namespace}
        if new.spec.affected:
            workload = new.spec.affected[0]
            for (kind, name), found in self._workloads.in_namespace(new.namespace):
                if kind == workload.kind and name == workload.name:
                    labels = {**found, **labels}
        return labels

    async def _record(self, key: WindowKey, new: NewIncident) -> None:
        async with self._lock(key):
            window = self._registry.get(*key)
            if window is None:
                raise LookupError("the window is gone")
            now = clock.now()
            status = window_status(window, now)
            updated = recorded(status.suppressed, new, now)
            if updated is not None:
                status = status.model_copy(update={"suppressed": updated})
            desired = status_wire(status)
            if desired != status_wire(window.status):
                await self._write(window, desired)

    # ------------------------------------------------------------------- end task

    async def _run(self) -> None:
        await self._registry.ready.wait()
        while True:
            for key in self._registry.window_keys():
                try:
                    await self._tick(key)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # one window must not stop the others
                    reason = (
                        call_error_reason(error) if isinstance(error, CALL_ERRORS) else repr(error)
                    )
                    logger.warning("maintenance window %s/%s: %s; again soon", *key, reason)
            await asyncio.sleep(TICK.total_seconds())

    async def _tick(self, key: WindowKey) -> None:
        async with self._lock(key):
            window = self._registry.get(*key)
            if window is None:
                return
            refused = self._too_long(window)
            if refused is not None and self._refused.get(key) != refused:
                self._refused[key] = refused
                await asyncio.to_thread(
                    post_event,
                    window.model_dump(mode="json", by_alias=True),
                    EventType.WARNING,
                    Reason.WINDOW_TOO_LONG,
                    refused,
                )
            elif refused is None:
                self._refused.pop(key, None)
            now = clock.now()
            status = window_status(window, now, refused)
            # Over, or (after a restart) already followed by the schedule's next occurrence.
            ended = bool(window.status.active) and (
                not status.active or status.current_start != window.status.current_start
            )
            if ended and self._router is not None:
                for new in to_open(window):
                    routed = await self._router.route(new)
                    logger.info(
                        "maintenance window %s/%s ended; %s is still firing: %s",
                        *key,
                        new.spec.title,
                        routed.incident or routed.suppressed_by,
                    )
            desired = status_wire(status)
            if desired != status_wire(window.status):
                await self._write(window, desired)

    # ------------------------------------------------------------------- helpers

    def _too_long(self, window: MaintenanceWindow) -> str | None:
        policies = self._policies.in_namespace(window.metadata.namespace)
        limits = [parse_duration(p.spec.maintenance.max_window) for p in policies]
        return too_long(window.spec, min(limits, default=parse_duration(DEFAULT_MAXIMUM)))

    def _lock(self, key: WindowKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _write(self, window: MaintenanceWindow, desired: dict[str, Any]) -> None:
        """Writes the status (fields now unset are removed) and keeps what was written."""
        old = status_wire(window.status)
        patch: dict[str, Any] = {key: None for key in old if key not in desired}
        patch.update(desired)
        namespace, name = _key(window)
        written = await asyncio.to_thread(write_window_status, namespace, name, patch)
        if written is None:
            self._registry.remove(namespace, name)
            return
        parsed = _parse(written)
        if isinstance(parsed, MaintenanceWindow):
            self._registry.put(parsed)


MAINTENANCE = Maintenance(WINDOWS)
