"""The grouping gate of the signal router: adds a new signal to the open incident it
groups with (reconcile/grouping.py decides which), instead of opening another.

Joining is two writes: the signal appended to status.signals (under the incident's
lock, so it is never added twice, even after a restart: the signal's fingerprint is
looked up first), then spec.affected, spec.severity and the title in one spec write
guarded by resourceVersion. Signals of one group (or one workload) that arrive together
are routed one after the other (``opening``), so twenty breaches in one poll open one
incident and join it, not twenty.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from incident_operator.adapters.incident_spec import change_spec
from incident_operator.adapters.revision_times import revision_changed_at
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, WorkloadReference
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
from incident_operator.reconcile.signals import as_signal, find_signal, next_signal_id, signals_of
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.policies import POLICIES, PolicyRegistry

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Grouper:
    """The router's GroupingGate (runtime/signal_router.py)."""

    def __init__(
        self, writer: Writer, incidents: IncidentIndex, policies: PolicyRegistry = POLICIES
    ) -> None:
        self._writer = writer
        self._incidents = incidents
        self._policies = policies
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

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
                await stack.enter_async_context(self._locks.setdefault(key, asyncio.Lock()))
            yield

    def _policy(self, new: NewIncident) -> EscalationPolicy | None:
        return self._policies.get(new.namespace, new.policy) if new.policy else None

    def _rule_signal(self, namespace: str) -> Callable[[str, str], Signal | None]:
        def rule_signal(policy_name: str, rule_name: str) -> Signal | None:
            policy = self._policies.get(namespace, policy_name)
            rules = policy.spec.detection.rules if policy is not None else []
            return next((r.signal for r in rules if r.name == rule_name), None)

        return rule_signal

    async def join(self, new: NewIncident) -> str | None:
        now = clock.now()
        incidents = self._incidents.open_in(new.namespace)
        target = find_duplicate(new, incidents, self._rule_signal(new.namespace))
        policy = self._policy(new)
        if target is None and policy is not None and policy.spec.grouping is not None:
            changed = await self._revision_changes(new, policy, incidents, now)
            target = find_group(new, policy, incidents, now, changed)
        if target is None:
            return None
        name = target.metadata.name
        await self._add_signal(new, name, now)
        return name

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

    async def _add_signal(self, new: NewIncident, name: str, now: datetime) -> None:
        namespace = new.namespace
        async with self._writer.lock(namespace, name):
            incident = self._incidents.get(namespace, name)
            if incident is None:
                return
            held = signals_of(incident)
            if find_signal(incident, new.fingerprint) is None:
                signal = as_signal(
                    new.detection, next_signal_id(held), new.spec.source, new.spec.severity, now
                )
                await self._writer.signals(namespace, name, [*held, signal])
                logger.info(
                    "signal %s (%s) joined %s/%s", signal.id, new.spec.title, namespace, name
                )

        def grow(spec: dict[str, Any]) -> dict[str, Any] | None:
            if affected_full(spec, new.detection.workload):
                logger.warning(
                    "%s/%s: spec.affected is full; %s is only in status.signals",
                    namespace,
                    name,
                    new.detection.workload,
                )
            return spec_growth(spec, new.detection.workload, new.spec.severity, len(held))

        patched = await asyncio.to_thread(change_spec, namespace, name, grow)
        if patched is not None:
            self._incidents.put_raw(patched)
