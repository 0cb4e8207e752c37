"""The grouping gate of the signal router: adds a new signal to the open incident it
groups with (reconcile/grouping.py decides which), instead of opening another.

Joining is two writes, under the incident's lock: spec.affected, spec.severity and the
title in one spec write guarded by resourceVersion (none when nothing changes), then the
signal appended to status.signals (never twice, even after a restart: its fingerprint is
looked up first). Signals of one group (or one workload) are routed one after the other
(``opening``), so twenty breaches in one poll open one incident and join it, not twenty;
signals that find their incident while its last write is on wait and are written with the
next one (``_flush``): a storm of a thousand alerts is a few writes per incident.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from incident_operator.adapters.incident_spec import change_spec
from incident_operator.adapters.revision_times import revision_changed_at
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, SignalStatus, WorkloadReference
from incident_operator.domain.signals import Signal
from incident_operator.reconcile.detection import NewIncident
from incident_operator.reconcile.grouping import (
    affected_full,
    find_duplicate,
    find_group,
    group_candidates,
    signal_group,
    spec_growth,
    workload_key,
)
from incident_operator.reconcile.signals import as_signal, next_signal_id, signals_of
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.keyed_locks import KeyedLocks
from incident_operator.runtime.policies import POLICIES, PolicyRegistry
from incident_operator.runtime.signal_router import Joining

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class _Pending:
    """A signal waiting to be written into its incident."""

    new: NewIncident
    at: datetime
    written: asyncio.Future[None]


def _as_signal(waiting: _Pending, id_: str) -> SignalStatus:
    new = waiting.new
    return as_signal(new.detection, id_, new.spec.source, new.spec.severity, waiting.at)


class StoppingError(RuntimeError):
    """The grouping gate is stopping: a signal was not taken, or not written."""


def _fail(batch: list[_Pending], error: Exception) -> None:
    for waiting in batch:
        if not waiting.written.done():
            waiting.written.set_exception(error)


class Grouper:
    """The router's GroupingGate (runtime/signal_router.py)."""

    def __init__(
        self, writer: Writer, incidents: IncidentIndex, policies: PolicyRegistry = POLICIES
    ) -> None:
        self._writer = writer
        self._incidents = incidents
        self._policies = policies
        self._locks = KeyedLocks()
        # Signals found a target and waiting for its next write, and the incidents whose
        # write is scheduled or on (``_flush``).
        self._pending: dict[tuple[str, str], list[_Pending]] = {}
        self._flushing: dict[tuple[str, str], asyncio.Task[None]] = {}
        # Set by ``stopping``: no new join, no new write.
        self._stopped = False
        self._writing: dict[tuple[str, str], list[_Pending]] = {}

    @asynccontextmanager
    async def opening(self, new: NewIncident) -> AsyncIterator[None]:
        """Held from ``join`` until the signal's own incident is opened: one lock for its
        group and one for its workload (cross-source), always taken in that order."""
        keys: list[tuple[str, ...]] = []
        policy = self._policy(new)
        group = signal_group(new, policy.spec.grouping if policy else None)
        if group is not None:
            keys.append(("group", new.namespace, group))
        if new.detection.workload is not None:
            keys.append(("workload", new.namespace, workload_key(new.detection.workload)))
        async with AsyncExitStack() as stack:
            for key in keys:
                await stack.enter_async_context(self._locks.hold(key))
            yield

    def _policy(self, new: NewIncident) -> EscalationPolicy | None:
        return self._policies.get(new.namespace, new.policy) if new.policy else None

    def _rule_signal(self, namespace: str) -> Callable[[str, str], Signal | None]:
        def rule_signal(policy_name: str, rule_name: str) -> Signal | None:
            policy = self._policies.get(namespace, policy_name)
            rules = policy.spec.detection.rules if policy is not None else []
            return next((r.signal for r in rules if r.name == rule_name), None)

        return rule_signal

    async def join(self, new: NewIncident) -> Joining | None:
        if self._stopped:
            # Not "no group": that would open an incident of its own. The intake answers
            # an error, and the signal comes again (resent, or detected again).
            raise StoppingError("the operator is stopping: the signal was not taken")
        now = clock.now()
        # Signals on their way in count too: for the cap, and so one is never added twice.
        incidents = [self._with_pending(i) for i in self._incidents.open_in(new.namespace)]
        target = find_duplicate(new, incidents, self._rule_signal(new.namespace))
        policy = self._policy(new)
        if target is None and policy is not None and policy.spec.grouping is not None:
            changed = await self._revision_changes(new, policy, incidents, now)
            target = find_group(new, policy, incidents, now, changed)
        if target is None:
            return None
        key = (new.namespace, target.metadata.name)
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(_Pending(new, now, written))
        if key not in self._flushing:
            self._schedule(key)
        return Joining(target.metadata.name, written)

    def _with_pending(self, incident: Incident) -> Incident:
        key = (incident.metadata.namespace, incident.metadata.name)
        waiting_ones = [*self._writing.get(key, ()), *self._pending.get(key, ())]
        if not waiting_ones:
            return incident
        signals = signals_of(incident)
        for waiting in waiting_ones:
            if not any(s.fingerprint == waiting.new.fingerprint for s in signals):
                signals.append(_as_signal(waiting, next_signal_id(signals)))
        status = incident.status.model_copy(update={"signals": signals})
        return incident.model_copy(update={"status": status})

    async def _revision_changes(
        self, new: NewIncident, policy: EscalationPolicy, incidents: list[Incident], now: datetime
    ) -> dict[str, datetime | None]:
        """Revision-change times of the signal's workload and the candidates' (sameRollout
        only; each workload read once)."""
        grouping = policy.spec.grouping
        if grouping is None or not grouping.same_rollout or new.detection.workload is None:
            return {}
        candidates = group_candidates(new, grouping, incidents, now)
        if not candidates:
            return {}
        workloads: dict[str, WorkloadReference] = {
            workload_key(new.detection.workload): new.detection.workload
        }
        for incident in candidates:
            workloads.update((workload_key(w), w) for w in incident.spec.affected)
        changed: dict[str, datetime | None] = {}
        for key, workload in workloads.items():
            changed[key] = await asyncio.to_thread(
                revision_changed_at, new.namespace, workload.kind.value, workload.name
            )
        return changed

    async def _flush(self, key: tuple[str, str]) -> None:
        """Writes every signal waiting for one incident: one status write and at most one
        spec write for all of them, however many joined while the last write was on."""
        batch: list[_Pending] = []
        try:
            async with self._writer.lock(*key):
                batch = self._pending.pop(key, [])
                # Still counted (the cap) and found (no second add) while being written.
                self._writing[key] = batch
                await self._add_signals(key, batch)
        except Exception as error:
            _fail(batch, error)
        except asyncio.CancelledError:
            # Stopping: what was not written is said to be not written (its intake answers
            # an error and the signal comes again); nothing is written after this.
            _fail([*batch, *self._pending.pop(key, [])], StoppingError("the operator is stopping"))
            raise
        else:
            for waiting in batch:
                if not waiting.written.done():
                    waiting.written.set_result(None)
        finally:
            self._writing.pop(key, None)
            del self._flushing[key]
            if self._pending.get(key) and not self._stopped:
                self._schedule(key)

    def stopping(self) -> list[asyncio.Task[None]]:
        """Takes no more joins; the writes in flight, for the caller to cancel and await
        (a write cut between the spec and the signals is completed when the signal
        comes again, as after a restart)."""
        self._stopped = True
        # Joins no write has taken yet (a write cancelled before it starts never runs).
        for key in list(self._pending):
            _fail(self._pending.pop(key), StoppingError("the operator is stopping"))
        return list(self._flushing.values())

    def _schedule(self, key: tuple[str, str]) -> None:
        self._flushing[key] = asyncio.create_task(
            self._flush(key), name=f"grouping {key[0]}/{key[1]}"
        )

    async def _add_signals(self, key: tuple[str, str], batch: list[_Pending]) -> None:
        """Called with the incident's lock held. The spec first, then status.signals: a
        signal listed in status always has its workload in spec.affected (rollbacks and
        remediations read it there), and a restart in between adds the signal when it
        comes again (the spec then needs nothing)."""
        namespace, name = key
        incident = self._incidents.get(namespace, name)
        if incident is None or not batch:
            return
        held = signals_of(incident)

        def grow(spec: dict[str, Any]) -> dict[str, Any] | None:
            patch: dict[str, Any] = {}
            for count, waiting in enumerate(batch, start=len(held)):
                workload = waiting.new.detection.workload
                if affected_full({**spec, **patch}, workload):
                    logger.warning(
                        "%s/%s: spec.affected is full; %s is only in status.signals",
                        namespace,
                        name,
                        workload,
                    )
                growth = spec_growth({**spec, **patch}, workload, waiting.new.spec.severity, count)
                patch.update(growth or {})
            return patch or None

        # Most signals of a storm join with a workload already listed: no spec call.
        if grow(incident.spec.model_dump(mode="json", by_alias=True)) is not None:
            patched = await asyncio.to_thread(change_spec, namespace, name, grow)
            if patched is not None:
                self._incidents.put_raw(patched)
        added: list[SignalStatus] = []
        for waiting in batch:
            signals = [*held, *added]
            if not any(s.fingerprint == waiting.new.fingerprint for s in signals):
                added.append(_as_signal(waiting, next_signal_id(signals)))
        if added:
            await self._writer.signals(namespace, name, [*held, *added])
            logger.info(
                "%d signals (%s) joined %s/%s",
                len(added),
                ", ".join(s.id for s in added),
                namespace,
                name,
            )
