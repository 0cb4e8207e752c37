"""The incident pipeline: gather once, decide in one pure pass, write once, then act.

One pipeline serves every Incident, whether a watch event or a deadline wakes it::

    event / deadline / policy change / sends finished
      -> wait until the policies are known (POLICIES.ready)
      -> gather: parse once; an ID if it has none; its governing policy (with the affected
                 workloads' labels); the workloads its rollback needs; the objects its
                 open remediations need (each once, through its kind's adapter);
                 finished sends
      -> merge or split people asked for (runtime/merge.py), then read again
      -> decide: reconcile.pipeline.decide_incident (rollback, remediations, lifecycle,
                 escalation, claims, derived conditions on one copy of the status)
      -> write:  approval (and remediation request) annotations already judged are
                 removed, then one merge patch of the status difference, guarded by
                 the resourceVersion decided from
                 (lost the race? read again and decide again)
      -> act:    Events, workload patch, remediation actions, sends of the records just
                 claimed
      -> again from the written object until a pass has nothing to write or do
      -> the next deadline of any of its clocks goes to the one timer

Exactly once and at least once: a workload is patched, and a remediation applied, only
after the InProgress mark it belongs to is written; a notification is sent only after
its claim (Sending, with a lease) is written, and its outcome comes back here to be
written by a later pass. A process killed anywhere loses nothing and repeats at most one
send per record in flight (its lease runs out and it goes out again with the same key).

One pass at a time per incident (the watch, the timer and finished sends may all
call). A watch event whose resourceVersion this process already decided from is skipped:
it is the echo of our own write, or a state the watch delivers after our passes moved
past it (deciding from it again would only lose a write race and, before the ID is
written, waste a number). Wake-ups always read the incident afresh.
"""

import asyncio
import dataclasses
import logging
import random
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from incident_operator.adapters import metrics
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_ids import IdAllocationError, IncidentIdAllocator
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.kubernetes import core
from incident_operator.adapters.postmortem_store import store_draft
from incident_operator.adapters.remediation_adapters import ADAPTERS, read_target
from incident_operator.adapters.workloads import workload_labels
from incident_operator.adapters.workloads_rollback import (
    PatchConflict,
    PatchRejected,
    patch_workload,
    read_workload,
    remove_incident_annotations,
)
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import (
    EscalationStatus,
    NotificationRecord,
    StepCause,
)
from incident_operator.api.incident import (
    Incident,
    IncidentSource,
    IncidentSpec,
    IncidentStatus,
    RollbackPhase,
    RollbackStatus,
)
from incident_operator.api.remediation_status import RemediationPhase, RemediationRecord
from incident_operator.config import Settings
from incident_operator.domain.backoff import RECONCILE_RETRY
from incident_operator.domain.reasons import Reason
from incident_operator.domain.remediation_action import (
    ActionConflict,
    ActionRejected,
    Observation,
)
from incident_operator.domain.rollback_plan import Workload
from incident_operator.reconcile.escalation import DeliveryOutcome
from incident_operator.reconcile.governing_policy import GoverningPolicy, governing_policy
from incident_operator.reconcile.invalid import describe_validation_error, not_ready_conditions
from incident_operator.reconcile.pipeline import IncidentDecision, IncidentInputs, decide_incident
from incident_operator.reconcile.remediation_kind import Observations
from incident_operator.reconcile.remediations import (
    ActOutcome,
    PendingAction,
    remediation_targets,
)
from incident_operator.reconcile.rollback import (
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_PROPOSAL,
    WorkloadKey,
    key_of,
    workloads_to_observe,
)
from incident_operator.reconcile.status_patch import status_difference
from incident_operator.runtime import clock
from incident_operator.runtime.chat import ChatOps
from incident_operator.runtime.delivery import Sender
from incident_operator.runtime.events import EventPoster
from incident_operator.runtime.merge import MergeSplit
from incident_operator.runtime.policies import POLICIES
from incident_operator.runtime.wakeups import Key, Wakeups

logger = logging.getLogger(__name__)
T = TypeVar("T")

# resourceVersions remembered per incident as decided from.
DECIDED_KEPT = 8
# Passes in one go at the most: an approval takes three (approve, mark and patch; record
# the patch; nothing left), and each write that loses a race one more.
MAX_ROUNDS = 12
APPROVAL_KEYS = (APPROVE_ROLLBACK, APPROVE_ROLLBACK_PROPOSAL)
# How long the affected workloads' labels, read to choose the governing policy, are
# reused; a policy change re-reads them at once.
LABELS_REUSED_FOR = timedelta(seconds=30)
# How long "nothing to propose" spares an incident's passes the reads of its workloads:
# a fix rolled out after detection is noticed within this long.
WORKLOADS_RECHECKED_EVERY = timedelta(seconds=30)
# How long a new incident opened by detection or Alertmanager waits for detection's
# first status write (status.detection, written right after the create), so the first
# decision sees it instead of racing it into a write conflict.
DETECTION_WRITE_GRACE = timedelta(seconds=10)
# The soonest a pass asks to be woken again for its own deadlines.
MIN_WAKE_AFTER = timedelta(milliseconds=200)
# How long stopping waits for sends still in flight.
SENDS_FLUSH_SECONDS = 2.0
# A claim's lease outlasts the send's own timeout by this much.
LEASE_MARGIN = timedelta(seconds=5)

_ROLLBACK_OUTCOMES = {
    RollbackPhase.SUCCEEDED: "succeeded",
    RollbackPhase.FAILED: "failed",
    RollbackPhase.REFUSED: "refused",
}
_REMEDIATION_OUTCOMES = {
    RemediationPhase.SUCCEEDED: "succeeded",
    RemediationPhase.FAILED: "failed",
    RemediationPhase.REFUSED: "refused",
    RemediationPhase.WITHDRAWN: "withdrawn",
}


async def _blocking(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


@dataclass(slots=True)
class _Memory:
    """What this process keeps of one incident between passes (nothing it must not lose:
    that lives in the status)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # resourceVersions this process already decided from (the last few): a watch event
    # bringing one of them again (the echo of our own write, or an event delayed behind
    # our passes) has nothing new; deciding from it again would only lose a write race.
    decided: deque[str] = field(default_factory=lambda: deque(maxlen=DECIDED_KEPT))
    # Outcomes of finished sends, waiting for a pass to write them.
    outcomes: list[DeliveryOutcome] = field(default_factory=list)
    # Passes that raised in a row, for the backoff.
    failures: int = 0
    # (uid, generation, when) at which automatic rollback planning found nothing to propose;
    # the workloads are not read again for it until the spec changes or
    # WORKLOADS_RECHECKED_EVERY passes (a fix may be rolled out after detection at any time).
    nothing_to_propose: tuple[str, int, datetime] | None = None
    # (uid, ID) allocated and not yet seen written: asked again after losing a race, the
    # incident keeps its number instead of leaving a gap.
    allocated: tuple[str, str] | None = None
    # The affected workloads' labels for choosing the policy: (generation, read at, labels).
    workload_labels: tuple[int, datetime, list[dict[str, str]]] | None = None


@dataclass
class _Round:
    """What one pass hands the next within the same call."""

    patched_now: bool = False
    patch_error: str | None = None
    # What became of the remediation actions applied after the last write, by record id.
    acted: dict[str, ActOutcome] = field(default_factory=dict)


class IncidentPipeline:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lease = timedelta(seconds=settings.send_timeout) + LEASE_MARGIN
        self.wakeups = Wakeups()
        self.started_at = clock.now()
        self._memory: dict[Key, _Memory] = {}
        # Rollback attempts this process marked or took over; another replica's stay
        # untouched a while.
        self._own_attempts: set[str] = set()
        # One allocation at a time per namespace: the counter is a compare-and-swap, so
        # racing our own passes would only buy conflicts.
        self._id_locks: dict[str, asyncio.Lock] = {}
        self._allocator: IncidentIdAllocator | None = None
        self._events = EventPoster()
        self._merges = MergeSplit(self._events)
        self._chat = ChatOps(settings)
        self._sender = Sender(settings.send_timeout, self._chat.app)
        self._senders: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Starts the deadline timer; incidents are decided once POLICIES.ready is set."""
        self.started_at = clock.now()
        self._timer = asyncio.create_task(self.wakeups.run(self._wake), name="incident-deadlines")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        # Sends in flight get a little time (kopf gave them 5 s already); one cut short is
        # resent after its lease. Kept short so the whole stop fits lifetime.STOP_SECONDS.
        senders = [task for task in self._senders if not task.done()]
        if senders:
            await asyncio.wait(senders, timeout=SENDS_FLUSH_SECONDS)
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        if self._timer is not None:
            await asyncio.gather(self._timer, return_exceptions=True)
        await self._events.close()
        await self._sender.close()

    # ------------------------------------------------------------------ entry points

    async def on_event(self, body: dict[str, Any]) -> None:
        """A watch event (ADDED, MODIFIED or the initial listing) of one incident."""
        metadata = body["metadata"]
        key: Key = (metadata["namespace"], metadata["name"])
        memory = self._memory.setdefault(key, _Memory())
        if metadata.get("resourceVersion") in memory.decided:
            return  # decided from already: our own write's echo, or an older state
        await self._run(key, body)

    def on_deleted(self, key: Key) -> None:
        self.wakeups.forget(key)
        self._memory.pop(key, None)
        self._chat.forget(key)
        metrics.INCIDENTS.forget(*key)

    def replan_namespace(self, namespace: str) -> None:
        """A policy of ``namespace`` appeared, changed or went: decide its incidents again."""
        now = clock.now()
        for key, memory in self._memory.items():
            if key[0] == namespace:
                memory.decided.clear()
                memory.workload_labels = None
                self.wakeups.schedule(key, now)

    async def _wake(self, key: Key) -> None:
        """A deadline: the incident is read afresh inside the pass, so a read that fails
        (the API server down) is retried with backoff like any other failure."""
        await self._run(key, None)

    # ------------------------------------------------------------------ one call

    async def _run(self, key: Key, body: dict[str, Any] | None) -> None:
        """One call: ``body`` as the watch delivered it, or None to read it first."""
        memory = self._memory.setdefault(key, _Memory())
        async with memory.lock:
            with metrics.RECONCILE_SECONDS.labels("Incident").time():
                try:
                    if body is None:
                        body = await _blocking(read_incident, *key)
                        if body is None:
                            self.on_deleted(key)
                            return
                    await POLICIES.ready.wait()
                    await self._passes(key, body, memory)
                    memory.failures = 0
                except Exception as error:
                    memory.failures += 1
                    delay = RECONCILE_RETRY.delay(memory.failures, random.random())
                    logger.exception(
                        "deciding incident %s/%s failed; retrying in %.1f s",
                        *key,
                        delay.total_seconds(),
                    )
                    memory.decided.clear()
                    self.wakeups.schedule(key, clock.now() + delay)
                    if memory.failures == 1 and body is not None:
                        await self._report_failure(body, error, delay)

    async def _passes(self, key: Key, body: dict[str, Any], memory: _Memory) -> None:
        carried = _Round()
        decision: IncidentDecision | None = None
        chat_wake_at: datetime | None = None
        for _ in range(MAX_ROUNDS):
            memory.decided.append(body["metadata"]["resourceVersion"])
            incident = await self._parse(body)
            if incident is None:
                return
            if await self._merges.act(incident):
                # A merge or split was carried out (or refused): decide from what it wrote.
                fresh = await _blocking(read_incident, *key)
                if fresh is None:
                    return
                body, carried = fresh, _Round()
                continue
            waiting = _awaiting_detection(incident, clock.now())
            if waiting is not None:
                # Detection writes what it saw right after creating the incident; that
                # write brings the first decision (or this deadline, if it never comes).
                self.wakeups.schedule(key, waiting)
                return
            incident_id = None
            if incident.status.id is None:
                try:
                    incident_id = await self._allocate_id(incident, memory)
                except IdAllocationError as error:
                    await self._not_ready(body, Reason.ID_ALLOCATION_FAILED, str(error))
                    raise
            else:
                memory.allocated = None
            outcomes = list(memory.outcomes)
            inputs = await self._gather(incident, memory, incident_id, outcomes, carried)
            decision = decide_incident(inputs)
            if decision.nothing_to_propose:
                if not self._settled(incident, memory):
                    memory.nothing_to_propose = (
                        incident.metadata.uid,
                        incident.metadata.generation,
                        clock.now(),
                    )
            else:
                memory.nothing_to_propose = None
            written = await self._write(body, incident, decision, incident_id)
            if written is None:
                # Lost a race (people, detection): decide again from what is there now.
                fresh = await _blocking(read_incident, *key)
                if fresh is None:
                    return
                body, carried = fresh, _Round()
                continue
            del memory.outcomes[: len(outcomes)]
            # Slack before the sends: a slackApp notification goes in its card's thread.
            chatted, chat_wake_at = await self._chat.sync(written, inputs.governing.policy)
            if chatted is not written:
                chat = IncidentStatus.model_validate(chatted.get("status") or {}).chat
                status = decision.status.model_copy(update={"chat": chat})
                decision, written = dataclasses.replace(decision, status=status), chatted
            self._after_write(written, incident.status, inputs, decision)
            carried = await self._patch(incident, decision)
            carried.acted = await self._remediate(incident, decision.remediation_actions)
            if written is body and decision.patch is None and not decision.remediation_actions:
                break
            body = written
        if decision is not None:
            now = clock.now()
            wake_at = decision.wake_at
            if chat_wake_at is not None:
                wake_at = min(wake_at or chat_wake_at, chat_wake_at)
            if wake_at is not None:
                # A deadline that fell due was acted on in this pass; never spin on one.
                wake_at = max(wake_at, now + MIN_WAKE_AFTER)
            if memory.outcomes:
                wake_at = now  # sends finished during this pass: write them next
            self.wakeups.schedule(key, wake_at)
            status, spec = decision.status, body.get("spec") or {}
            phase = status.phase.value if status.phase else "Unknown"
            metrics.INCIDENTS.record(*key, str(spec.get("severity", "")), phase)

    # ------------------------------------------------------------------ gather

    async def _parse(self, body: dict[str, Any]) -> Incident | None:
        """The incident, or None when its spec or status cannot be read (reported on it)."""
        try:
            spec = IncidentSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            message = describe_validation_error(error, "spec")
            await self._not_ready(body, Reason.INVALID_SPEC, message)
            return None
        try:
            status = IncidentStatus.model_validate(body.get("status") or {})
        except ValidationError as error:
            message = describe_validation_error(error, "status")
            await self._not_ready(body, Reason.INVALID_STATUS, message)
            return None
        return Incident.model_validate(
            {"metadata": body["metadata"], "spec": spec, "status": status}
        )

    async def _gather(
        self,
        incident: Incident,
        memory: _Memory,
        incident_id: str | None,
        outcomes: list[DeliveryOutcome],
        carried: _Round,
    ) -> IncidentInputs:
        governing = await self._governing(incident, memory)
        return IncidentInputs(
            incident=incident,
            governing=governing,
            now=clock.now(),
            started_at=self.started_at,
            lease=self._lease,
            incident_id=incident_id,
            workloads=await self._workloads(incident, memory),
            attempt_id=secrets.token_hex(4),
            own_attempts=frozenset(self._own_attempts),
            patch_error=carried.patch_error,
            patched_now=carried.patched_now,
            outcomes=outcomes,
            remediation_observations=await self._remediation_objects(incident, governing),
            remediation_acted=carried.acted,
        )

    async def _remediation_objects(
        self, incident: Incident, governing: GoverningPolicy
    ) -> dict[str, Observations]:
        """The objects each open remediation record (and a new request) needs, each read
        once per pass through its kind's adapter."""
        wanted = remediation_targets(incident, governing.policy)
        namespace = incident.metadata.namespace
        read: dict[tuple[str, str, str], Observation] = {}
        observed: dict[str, Observations] = {}
        for record_id, targets in wanted.items():
            seen: dict[tuple[str, str], Observation] = {}
            for kind, target in targets:
                if kind not in ADAPTERS:
                    continue
                once = (kind.value, *target.key)
                if once not in read:
                    read[once] = await _blocking(read_target, kind, namespace, target)
                seen[target.key] = read[once]
            observed[record_id] = seen
        return observed

    async def _allocate_id(self, incident: Incident, memory: _Memory) -> str:
        namespace, uid = incident.metadata.namespace, incident.metadata.uid
        if memory.allocated is not None and memory.allocated[0] == uid:
            return memory.allocated[1]
        if self._allocator is None:
            self._allocator = IncidentIdAllocator(core())
        async with self._id_locks.setdefault(namespace, asyncio.Lock()):
            allocated = await _blocking(self._allocator.allocate, namespace, uid)
        memory.allocated = (uid, allocated)
        return allocated

    async def _governing(self, incident: Incident, memory: _Memory) -> GoverningPolicy:
        """The governing policy; the affected workloads' labels are read only when a
        selector could make a difference (no policyRef, some workloads, a selector), and
        reused for LABELS_REUSED_FOR while the spec stays the same."""
        namespace = incident.metadata.namespace
        policies = POLICIES.in_namespace(namespace)
        affected = [(w.kind.value, w.name) for w in incident.spec.affected]
        selectors = any(
            p.spec.selector.match_labels or p.spec.selector.match_expressions for p in policies
        )
        labels: list[dict[str, str]] = []
        if incident.spec.policy_ref is None and affected and selectors:
            now, generation = clock.now(), incident.metadata.generation
            known = memory.workload_labels
            if known is not None and known[0] == generation and now - known[1] < LABELS_REUSED_FOR:
                labels = known[2]
            else:
                found = await _blocking(workload_labels, namespace, affected)
                labels = list(found.values())
                memory.workload_labels = (generation, now, labels)
        return governing_policy(incident, policies, labels)

    @staticmethod
    def _settled(incident: Incident, memory: _Memory) -> bool:
        """Rollback planning found nothing to propose for this spec, recently enough that
        the candidate workloads need not be read again."""
        settled = memory.nothing_to_propose
        return (
            settled is not None
            and settled[:2] == (incident.metadata.uid, incident.metadata.generation)
            and clock.now() - settled[2] < WORKLOADS_RECHECKED_EVERY
        )

    async def _workloads(
        self, incident: Incident, memory: _Memory
    ) -> dict[WorkloadKey, Workload | None]:
        metadata = incident.metadata
        automatic = not self._settled(incident, memory)
        observed: dict[WorkloadKey, Workload | None] = {}
        for need in workloads_to_observe(incident, automatic=automatic):
            reference = need.reference
            observed[key_of(reference)] = await _blocking(
                read_workload,
                metadata.namespace,
                reference.kind.value,
                reference.name,
                need.history,
            )
        return observed

    # ------------------------------------------------------------------ write

    async def _write(
        self,
        body: dict[str, Any],
        incident: Incident,
        decision: IncidentDecision,
        incident_id: str | None,
    ) -> dict[str, Any] | None:
        """The incident after the write (``body`` itself when nothing needed writing), or
        None when a guarded write lost a race."""
        metadata = incident.metadata
        namespace, name = metadata.namespace, metadata.name
        resource_version = metadata.resource_version
        removing = (APPROVAL_KEYS if decision.remove_approval is not None else ()) + (
            decision.remove_annotations
        )
        if removing:
            removed = await _blocking(
                remove_incident_annotations, namespace, name, resource_version, removing
            )
            if removed is None:
                return None
            resource_version = removed
        difference = status_difference(incident.status.to_wire(), decision.status.to_wire())
        if difference:
            written = await _blocking(write_status, namespace, name, resource_version, difference)
            if written is None and incident_id is not None:
                logger.info("%s/%s: ID %s left unused (lost a race)", namespace, name, incident_id)
            return written
        if removing:
            return await _blocking(read_incident, namespace, name)
        return body

    # ------------------------------------------------------------------ act

    def _after_write(
        self,
        written: dict[str, Any],
        before: IncidentStatus,
        inputs: IncidentInputs,
        decision: IncidentDecision,
    ) -> None:
        """What follows a written decision without waiting for it: Events, sends, metrics."""
        for entry in [*decision.entries, *decision.events_only]:
            self._events.post(written, entry)
        if decision.claimed:
            self._start_sending(inputs.incident, inputs.governing.policy, decision)
        after = decision.status
        attempt = after.rollback.attempt if after.rollback is not None else None
        # Ours: the attempt this pass marked, or one it is patching (taken over).
        if attempt is not None and (attempt == inputs.attempt_id or decision.patch is not None):
            self._own_attempts.add(attempt)
        for action in decision.remediation_actions:
            record = next(r for r in after.remediations if r.id == action.record_id)
            if record.attempt is not None:
                self._own_attempts.add(record.attempt)
        _count_escalations(before.escalation, after.escalation)
        _count_rollback(before.rollback, after.rollback)
        _count_remediations(before.remediations, after.remediations)
        severity = str((written.get("spec") or {}).get("severity"))
        _observe_response_times(before, after, severity)
        if decision.postmortem_draft is not None and after.post_mortem is not None:
            self._store_draft(written, after, decision.postmortem_draft)

    def _store_draft(self, body: dict[str, Any], status: IncidentStatus, draft: str) -> None:
        assert status.post_mortem is not None
        configmap = status.post_mortem.config_map or f"{body['metadata']['name']}-postmortem"
        # The digest written with the status says which draft is current; a draft not
        # stored (a crash, an API error) is stored by the next change of the incident.
        task = asyncio.create_task(_blocking(store_draft, body, configmap, draft))
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)
        task.add_done_callback(_log_failure("storing the post-mortem draft"))

    async def _patch(self, incident: Incident, decision: IncidentDecision) -> _Round:
        """The workload patch of a rollback whose InProgress mark is written."""
        if decision.patch is None:
            return _Round()
        namespace = incident.metadata.namespace
        try:
            await _blocking(patch_workload, namespace, decision.patch)
        except PatchConflict:
            logger.info(
                "rollback %s/%s: the workload changed; deciding again",
                namespace,
                incident.metadata.name,
            )
            return _Round()
        except PatchRejected as error:
            return _Round(patch_error=str(error))
        return _Round(patched_now=True)

    async def _remediate(
        self, incident: Incident, actions: tuple[PendingAction, ...]
    ) -> dict[str, ActOutcome]:
        """The remediation actions whose InProgress marks are written, each through its
        kind's adapter; what became of them goes to the next pass."""
        acted: dict[str, ActOutcome] = {}
        metadata = incident.metadata
        for pending in actions:
            try:
                await _blocking(
                    ADAPTERS[pending.kind].apply,
                    metadata.namespace,
                    metadata.name,
                    pending.record_id,
                    pending.action,
                )
            except ActionConflict:
                logger.info(
                    "remediation %s of %s/%s: the object changed; deciding again",
                    pending.record_id,
                    metadata.namespace,
                    metadata.name,
                )
                acted[pending.record_id] = ActOutcome(conflict=True)
            except ActionRejected as error:
                acted[pending.record_id] = ActOutcome(rejected=str(error))
            else:
                acted[pending.record_id] = ActOutcome()
        return acted

    def _start_sending(
        self, incident: Incident, policy: EscalationPolicy | None, decision: IncidentDecision
    ) -> None:
        key: Key = (incident.metadata.namespace, incident.metadata.name)
        # The parsed incident with the status just written: what the messages render.
        incident = incident.model_copy(update={"status": decision.status})
        task = asyncio.create_task(
            self._send(key, incident, policy, decision.claimed), name=f"notify {key}"
        )
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)

    async def _send(
        self,
        key: Key,
        incident: Incident,
        policy: EscalationPolicy | None,
        claimed: list[NotificationRecord],
    ) -> None:
        try:
            outcomes = await self._sender.send_all(incident, policy, claimed)
        except Exception:
            logger.exception("sending notifications of %s/%s failed", *key)
            return  # the claims' leases run out and the records are sent again
        memory = self._memory.get(key)
        if memory is None:
            return
        memory.outcomes += outcomes
        memory.decided.clear()
        self.wakeups.schedule(key, clock.now())

    async def _report_failure(
        self, body: dict[str, Any], error: Exception, delay: timedelta
    ) -> None:
        """Ready=False on the incident itself, once per run of failures; the others go on."""
        first_line = (str(error).splitlines() or [""])[0][:300]
        message = (
            f"deciding this incident failed ({type(error).__name__}: {first_line}); "
            f"retrying with backoff, first in {delay.total_seconds():.0f} s"
        )
        try:
            await self._not_ready(body, Reason.RECONCILE_FAILED, message)
        except Exception as reporting:  # the API server may be what failed
            logger.warning("could not report the failure on the incident: %s", reporting)

    async def _not_ready(self, body: dict[str, Any], reason: Reason, message: str) -> None:
        metadata = body["metadata"]
        raw_status = dict(body.get("status") or {})
        conditions = not_ready_conditions(
            raw_status, reason, message, clock.now(), metadata.get("generation")
        )
        if conditions == raw_status.get("conditions"):
            return
        written = await _blocking(
            write_status,
            metadata["namespace"],
            metadata["name"],
            metadata["resourceVersion"],
            {"conditions": conditions},
        )
        if written is not None:
            await _blocking(post_event, written, "Warning", reason, message)


def _awaiting_detection(incident: Incident, now: datetime) -> datetime | None:
    """Until when to wait for detection's first write to a new incident it opened; None
    when there is nothing to wait for."""
    status, created = incident.status, incident.metadata.creation_timestamp
    if status.phase is not None or status.detection is not None or created is None:
        return None
    if incident.spec.source not in (IncidentSource.PROMETHEUS, IncidentSource.ALERTMANAGER):
        return None
    until = created + DETECTION_WRITE_GRACE
    return until if now < until else None


def _count_escalations(before: EscalationStatus | None, after: EscalationStatus | None) -> None:
    """incident_operator_escalations_total, once per step reached (a superseded step is
    recorded, not taken); ``trigger`` is the trigger that escalated, else Schedule."""
    if after is None:
        return
    reached = {step.key for step in before.steps} if before is not None else set()
    for step in after.steps:
        if step.key in reached or step.cause is StepCause.SUPERSEDED:
            continue
        trigger = next((t.name.value for t in after.triggers if t.step == step.key), None)
        metrics.ESCALATIONS.labels(
            severity=step.severity.value,
            trigger=trigger if step.cause is StepCause.TRIGGER and trigger else step.cause.value,
        ).inc()


def _count_rollback(before: RollbackStatus | None, after: RollbackStatus | None) -> None:
    """incident_operator_rollbacks_total, once per rollback reaching an outcome."""
    if after is None or after.phase not in _ROLLBACK_OUTCOMES:
        return
    if before is not None and before.phase is after.phase:
        return
    metrics.ROLLBACKS.labels(outcome=_ROLLBACK_OUTCOMES[after.phase]).inc()


def _count_remediations(before: list[RemediationRecord], after: list[RemediationRecord]) -> None:
    """incident_operator_remediations_total, once per record reaching an outcome."""
    was = {r.id: r.phase for r in before}
    for record in after:
        outcome = _REMEDIATION_OUTCOMES.get(record.phase)
        if outcome is None or was.get(record.id) is record.phase:
            continue
        kind = record.kind.value if record.kind is not None else "unknown"
        metrics.REMEDIATIONS.labels(kind=kind, outcome=outcome).inc()


def _observe_response_times(before: IncidentStatus, after: IncidentStatus, severity: str) -> None:
    """Response-time histograms, observed once: when the written status first has them."""
    if after.detected_at is None:
        return
    if before.acknowledged_at is None and after.acknowledged_at is not None:
        waited = after.acknowledged_at - after.detected_at
        metrics.TIME_TO_ACKNOWLEDGE.labels(severity).observe(waited.total_seconds())
    if before.resolved_at is None and after.resolved_at is not None:
        lasted = after.resolved_at - after.detected_at
        metrics.TIME_TO_RESOLVE.labels(severity).observe(lasted.total_seconds())


def _log_failure(what: str) -> Callable[["asyncio.Task[Any]"], None]:
    def check(task: "asyncio.Task[Any]") -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed: %s", what, task.exception())

    return check
