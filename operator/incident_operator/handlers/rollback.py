"""Rollback handler: reads what ``decide_rollback`` needs, performs its one action, repeats.

Level-triggered like the incident handler: every event of an incident, and every
wake-up of this module's own timer (rollout polling, the verification window, open
proposals' re-checks), leads to the same decision from the whole object. One round
performs one decision, in this order, stopping at the first write that is refused:

1. approval annotations already judged (ignored, or recorded in status.rollback) are
   removed, guarded by the resourceVersion decided from;
2. status.rollback and the timeline, guarded by the resourceVersion after step 1;
3. the workload patch, only once step 2 has written the InProgress mark it belongs to
   (or that mark was already written by an earlier round or an earlier process).

Then the incident is read again and the next decision made, so an approval runs to
the patch in one go instead of waiting for the watch to bring each write back.
"""

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Any

import kopf
from pydantic import ValidationError

from incident_operator.adapters import metrics
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.workloads_rollback import (
    PatchConflict,
    PatchRejected,
    patch_workload,
    read_workload,
    remove_incident_annotations,
)
from incident_operator.api import GROUP, VERSION
from incident_operator.api.incident import Incident, RollbackPhase, RollbackStatus
from incident_operator.domain.rollback_plan import Workload
from incident_operator.handlers import clock
from incident_operator.handlers.registry import POLICIES
from incident_operator.handlers.wakeups import Key, Wakeups
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.rollback import (
    APPROVE_ROLLBACK,
    APPROVE_ROLLBACK_REVISION,
    WARNING_ENTRIES,
    RollbackDecision,
    RollbackInputs,
    WorkloadKey,
    decide_rollback,
    key_of,
    rollback_status_patch,
    workloads_to_observe,
)

logger = logging.getLogger(__name__)
ROLLBACK_WAKEUPS = Wakeups()
RETRY_AFTER = timedelta(seconds=5)
# Decisions per call at the most: an approval takes three (approve, mark and patch;
# clear the annotations and record the patch; nothing left), and each write that loses
# a race, or patch conflict, one more.
MAX_ROUNDS = 12
APPROVAL_KEYS = (APPROVE_ROLLBACK, APPROVE_ROLLBACK_REVISION)

# Attempts this process marked or took over; another replica's stay untouched a while.
_own_attempts: set[str] = set()
# Incidents whose automatic planning found nothing, by (uid, generation): the revisions
# that count predate detection, so the answer holds until the spec changes.
_nothing_to_propose: dict[Key, tuple[str, int]] = {}
# One round at a time per incident: the watch and the timer may both call.
_locks: dict[Key, asyncio.Lock] = {}


async def _observe(incident: Incident) -> dict[WorkloadKey, Workload | None]:
    metadata = incident.metadata
    quiet = _nothing_to_propose.get((metadata.namespace, metadata.name))
    automatic = quiet != (metadata.uid, metadata.generation)
    observed: dict[WorkloadKey, Workload | None] = {}
    for need in workloads_to_observe(incident, automatic=automatic):
        reference = need.reference
        observed[key_of(reference)] = await asyncio.to_thread(
            read_workload, metadata.namespace, reference.kind.value, reference.name, need.history
        )
    return observed


_OUTCOMES = {
    RollbackPhase.SUCCEEDED: "succeeded",
    RollbackPhase.FAILED: "failed",
    RollbackPhase.REFUSED: "refused",
}


def _count_outcome(before: RollbackStatus | None, after: RollbackStatus | None) -> None:
    """incident_operator_rollbacks_total, once per rollback reaching an outcome."""
    if after is None or after.phase not in _OUTCOMES:
        return
    if before is not None and before.phase is after.phase:
        return
    metrics.ROLLBACKS.labels(outcome=_OUTCOMES[after.phase]).inc()


# Events being posted; kept so they are not garbage-collected half way.
_posting: set[asyncio.Task[None]] = set()


async def _post_all(body: dict[str, Any], decision: RollbackDecision) -> None:
    for entry in decision.entries:
        kind = "Warning" if entry.type in WARNING_ENTRIES else "Normal"
        try:
            await asyncio.to_thread(post_event, body, kind, entry.type, entry.message)
        except Exception:
            logger.exception("posting the Event %s failed", entry.type)


def _post(body: dict[str, Any], decision: RollbackDecision) -> None:
    """Posts the decision's entries as Events beside the round, not in its way: the
    timeline in the status is the record; the Events tell watchers."""
    if decision.entries:
        task = asyncio.create_task(_post_all(body, decision))
        _posting.add(task)
        task.add_done_callback(_posting.discard)


async def _write(
    body: dict[str, Any], incident: Incident, decision: RollbackDecision, attempt: str
) -> bool | None:
    """Steps 1 and 2 of a round: True when something was written, False when there was
    nothing to write, None when a guarded write lost a race."""
    metadata = incident.metadata
    namespace, name = metadata.namespace, metadata.name
    resource_version = metadata.resource_version
    if decision.remove_approval is not None:
        removed = await asyncio.to_thread(
            remove_incident_annotations, namespace, name, resource_version, APPROVAL_KEYS
        )
        if removed is None:
            return None
        resource_version = removed
    difference = rollback_status_patch(incident.status, decision)
    if difference:
        if not await asyncio.to_thread(write_status, namespace, name, resource_version, difference):
            return None
        if decision.rollback is not None and decision.rollback.attempt == attempt:
            _own_attempts.add(attempt)
        _count_outcome(incident.status.rollback, decision.rollback)
        _post(body, decision)
    return bool(difference) or decision.remove_approval is not None


async def reconcile_rollback(body: dict[str, Any]) -> None:
    """Runs decisions for one incident until one has nothing to do or a write loses a race."""
    patched_now, patch_error = False, None
    wake_at = None
    for _ in range(MAX_ROUNDS):
        try:
            incident = Incident.model_validate(body)
        except ValidationError:
            return  # the incident handler reports an unreadable incident
        metadata = incident.metadata
        namespace, name = metadata.namespace, metadata.name
        attempt = secrets.token_hex(4)
        decision = decide_rollback(
            RollbackInputs(
                incident=incident,
                policy=governing_policy(incident, POLICIES.in_namespace(namespace)).policy,
                workloads=await _observe(incident),
                now=clock.now(),
                attempt_id=attempt,
                own_attempts=frozenset(_own_attempts),
                patch_error=patch_error,
                patched_now=patched_now,
            )
        )
        patched_now, patch_error, wake_at = False, None, decision.wake_at
        if decision.nothing_to_propose:
            _nothing_to_propose[(namespace, name)] = (metadata.uid, metadata.generation)
        written = await _write(body, incident, decision, attempt)
        if written is not None and decision.patch is not None:
            if decision.rollback is not None and decision.rollback.attempt is not None:
                _own_attempts.add(decision.rollback.attempt)
            try:
                await asyncio.to_thread(patch_workload, namespace, decision.patch)
                patched_now = True
            except PatchConflict:
                logger.info("rollback %s/%s: the workload changed; deciding again", namespace, name)
            except PatchRejected as error:
                patch_error = str(error)
        elif written is False:
            break
        # Decided again from a fresh read: after our own writes, and after losing a race
        # (other handlers write the same status between our events; while this one runs
        # they wait, so the next attempt is not raced by them).
        fresh = await asyncio.to_thread(read_incident, namespace, name)
        if fresh is None:
            return
        body = fresh
    ROLLBACK_WAKEUPS.schedule((body["metadata"]["namespace"], body["metadata"]["name"]), wake_at)


async def _reconcile_locked(key: Key, body: dict[str, Any]) -> None:
    async with _locks.setdefault(key, asyncio.Lock()):
        try:
            await reconcile_rollback(body)
        except Exception:
            logger.exception("rollback of incident %s/%s failed; retrying", *key)
            ROLLBACK_WAKEUPS.schedule(key, clock.now() + RETRY_AFTER)


@kopf.on.event(GROUP, VERSION, "incidents")
async def on_incident_for_rollback(body: kopf.Body, type: str | None, **_: Any) -> None:
    key: Key = (str(body.meta.namespace), str(body.meta.name))
    if type == "DELETED":
        ROLLBACK_WAKEUPS.forget(key)
        _nothing_to_propose.pop(key, None)
        _locks.pop(key, None)
        return
    await _reconcile_locked(key, dict(body))


async def _wake(key: Key) -> None:
    body = await asyncio.to_thread(read_incident, *key)
    if body is not None:
        await _reconcile_locked(key, body)


_tasks: list[asyncio.Task[None]] = []


@kopf.on.startup()
async def start_rollback_timer(**_: Any) -> None:
    _tasks.append(asyncio.create_task(ROLLBACK_WAKEUPS.run(_wake), name="rollback-timer"))


@kopf.on.cleanup()
async def stop_rollback_timer(**_: Any) -> None:
    for task in _tasks:
        task.cancel()
    await asyncio.gather(*_tasks, return_exceptions=True)
    _tasks.clear()
