"""Escalation and notifications: decide, record, claim, send, record the outcome.

Level-triggered like the lifecycle handler, and beside it on the same incident events
(kopf runs both). Each pass makes at most one write to the incident's status, guarded by
the resourceVersion it decided from, so a restarted operator, a second replica or the
lifecycle reconciler writing in between can never make a notification go out twice on
the same claim, nor get lost::

    event or wakeup -> plan_escalation -> write the new steps and Pending records
                    (the write brings an event; the next pass starts from it)
    nothing to plan -> a record due? -> a delivery task for the incident:
        read -> claim_due (Sending, lease) -> guarded write  -- lost the race? re-read
             -> send each claimed record (notifier per channel)
             -> apply_outcomes (Sent / retry at / Failed) -> guarded write, re-read on
                conflict until it lands
    operator killed mid-send -> the record stays Sending; its lease runs out and the
                next pass (of this operator or the next) sends it again, same key.

Sending runs in a task per incident, off the event handler, so a slow receiver never
holds up the lifecycle handler's processing of the same incident.

The policy handler here only checks the policy's template overrides and applies the
``TemplatesValid`` condition by server-side apply as its own field manager, so the
policy reconciler's ``Ready`` and detection's ``MetricsAvailable`` stay theirs. Nothing
here writes a policy's spec or metadata, and kopf's event handlers add no finalizer.

Settings (environment): ``INCIDENT_OPERATOR_SEND_TIMEOUT``, seconds one send may take
(default 10); a claim's lease is that plus 5 seconds.
"""

import asyncio
import logging
import os
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import kopf
from pydantic import TypeAdapter, ValidationError

from incident_operator.adapters import kubernetes as k8s
from incident_operator.adapters.events import post_event
from incident_operator.adapters.incident_store import read_incident, write_status
from incident_operator.adapters.notifiers import DeliveryError, build_notifier
from incident_operator.adapters.secrets import SecretError, read_secret_value
from incident_operator.api import GROUP, VERSION
from incident_operator.api.base import SecretKeyReference
from incident_operator.api.escalation_policy import Channel, EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import TIMELINE_LIMIT, Incident, IncidentSpec, IncidentStatus
from incident_operator.domain.conditions import Condition
from incident_operator.domain.notifications import DeliveryState, redact
from incident_operator.domain.reasons import Reason
from incident_operator.domain.timeline import Entry, bound
from incident_operator.handlers import clock
from incident_operator.handlers.governing import resolve_governing
from incident_operator.handlers.wakeups import Key, Wakeups
from incident_operator.reconcile.escalation import (
    DeliveryOutcome,
    apply_outcomes,
    claim_due,
    is_claimable,
    plan_escalation,
)
from incident_operator.reconcile.messages import (
    outgoing_message,
    template_problems,
    templates_condition,
)
from incident_operator.reconcile.status_patch import status_difference

logger = logging.getLogger(__name__)

NOTIFICATIONS_MANAGER = "incident-operator-notifications"
SEND_TIMEOUT = float(os.environ.get("INCIDENT_OPERATOR_SEND_TIMEOUT", "10"))
LEASE = timedelta(seconds=SEND_TIMEOUT + 5)
# How long after a failed pass (an API error, say) the incident is looked at again.
RETRY_AFTER = timedelta(seconds=5)
# Conflicting writes tolerated before a pass gives up (the next event starts afresh).
_WRITE_TRIES = 10
# The status keys escalation writes; the lifecycle reconciler owns the rest.
_OWN_KEYS = ("escalation", "notifications", "timeline")
_ENTRY_TYPES_WARNING = {"NotificationFailed", "NotificationRetrying"}
_CONDITION = TypeAdapter(Condition)

ESCALATION_WAKEUPS = Wakeups()


class _Process:
    """When this process started: a step due before then was due while none ran."""

    started_at: datetime = clock.now()


_senders: dict[Key, "asyncio.Task[None]"] = {}
_tasks: list["asyncio.Task[None]"] = []


def _parse(body: dict[str, Any]) -> Incident | None:
    """The incident, or None while the lifecycle reconciler cannot read it either."""
    try:
        spec = IncidentSpec.model_validate(body.get("spec") or {})
        status = IncidentStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return None
    return Incident.model_validate({"metadata": body["metadata"], "spec": spec, "status": status})


def _own(status: IncidentStatus) -> dict[str, Any]:
    wire = status.to_wire()
    return {key: wire[key] for key in _OWN_KEYS if key in wire}


async def _write(incident: Incident, desired: IncidentStatus) -> bool | None:
    """Writes escalation's part of ``desired``; None when nothing changed, else written."""
    # A merge patch of the changed keys only; removed fields inside objects are sent
    # as null by status_difference, lists are replaced whole.
    difference = status_difference(_own(incident.status), _own(desired))
    if not difference:
        return None
    meta = incident.metadata
    written: bool = await asyncio.to_thread(
        write_status, meta.namespace, meta.name, meta.resource_version, difference
    )
    return written


async def _post_events(body: dict[str, Any], entries: list[Entry]) -> None:
    for entry in entries:
        type_ = "Warning" if entry.type in _ENTRY_TYPES_WARNING else "Normal"
        await asyncio.to_thread(post_event, body, type_, entry.type, entry.message)


async def escalate(body: dict[str, Any], key: Key) -> None:
    """One pass: plan and record, or start delivering what is due."""
    incident = _parse(body)
    if incident is None:
        return
    governing = await resolve_governing(incident)
    now = clock.now()
    plan = plan_escalation(incident, governing.policy, now, _Process.started_at)
    timeline = bound([*incident.status.timeline, *plan.entries], TIMELINE_LIMIT)
    desired = incident.status.model_copy(
        update={
            "escalation": plan.escalation,
            "notifications": plan.notifications,
            "timeline": timeline,
        }
    )
    written = await _write(incident, desired)
    if written:
        await _post_events(body, plan.entries)
    if written is None and any(is_claimable(r, now) for r in plan.notifications):
        _start_delivery(key)
    if _delivering(key):
        # The delivery looks again when it is done; a wake-up for its records now would
        # only spin until its claim is written.
        ESCALATION_WAKEUPS.forget(key)
    else:
        ESCALATION_WAKEUPS.schedule(key, plan.wake_at)


async def _escalate_with_retry(body: dict[str, Any], key: Key) -> None:
    try:
        await escalate(body, key)
    except Exception:
        logger.exception("escalating incident %s/%s failed; retrying", *key)
        ESCALATION_WAKEUPS.schedule(key, clock.now() + RETRY_AFTER)


@kopf.on.event(GROUP, VERSION, "incidents")
async def escalate_incident(body: kopf.Body, type: str | None, **_: Any) -> None:
    key: Key = (str(body.meta.namespace), str(body.meta.name))
    if type == "DELETED":
        ESCALATION_WAKEUPS.forget(key)
        return
    await _escalate_with_retry(dict(body), key)


async def _wake(key: Key) -> None:
    body = await asyncio.to_thread(read_incident, *key)
    if body is not None:
        await _escalate_with_retry(body, key)


# ---------------------------------------------------------------------------- delivery


def _delivering(key: Key) -> bool:
    running = _senders.get(key)
    return running is not None and not running.done()


def _start_delivery(key: Key) -> None:
    if _delivering(key):
        return
    _senders[key] = asyncio.create_task(_deliver(key), name=f"notify {key[0]}/{key[1]}")


async def _deliver(key: Key) -> None:
    try:
        await _deliver_due(key)
    except Exception:
        logger.exception("delivering notifications of %s/%s failed", *key)
    finally:
        _senders.pop(key, None)
        # Look again: more may have fallen due while this batch was out.
        ESCALATION_WAKEUPS.schedule(key, clock.now())


async def _claim(key: Key) -> tuple[Incident, list[NotificationRecord]] | None:
    """Marks the due records Sending with a guarded write; what was claimed, if anything."""
    for _ in range(_WRITE_TRIES):
        body = await asyncio.to_thread(read_incident, *key)
        incident = _parse(body) if body is not None else None
        if incident is None:
            return None
        records, claimed = claim_due(incident.status.notifications, clock.now(), LEASE)
        if not claimed:
            return None
        desired = incident.status.model_copy(update={"notifications": records})
        if await _write(incident, desired):
            return incident, claimed
    return None


async def _deliver_due(key: Key) -> None:
    claim = await _claim(key)
    if claim is None:
        return
    incident, claimed = claim
    governing = await resolve_governing(incident)
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        outcomes = await asyncio.gather(
            *(_send(session, incident, governing.policy, record) for record in claimed)
        )
    await _record_outcomes(key, list(outcomes))


def _channel(policy: EscalationPolicy | None, name: str) -> Channel:
    if policy is None:
        raise DeliveryError(f"channel {name}: no policy governs the incident now", False)
    channel = next((c for c in policy.spec.channels if c.name == name), None)
    if channel is None:
        raise DeliveryError(f"channel {name} is not in policy {policy.metadata.name}", False)
    return channel


async def _secret_value(incident: Incident, ref: SecretKeyReference) -> str:
    """A channel's Secret value; a missing one is a retryable failure naming the Secret."""
    try:
        return await asyncio.to_thread(read_secret_value, incident.metadata.namespace, ref)
    except SecretError as error:
        raise DeliveryError(str(error), retryable=True) from None


async def _send(
    session: aiohttp.ClientSession,
    incident: Incident,
    policy: EscalationPolicy | None,
    record: NotificationRecord,
) -> DeliveryOutcome:
    """One attempt; every failure becomes an outcome whose text holds no secret."""
    secrets: list[str] = []
    try:
        channel = _channel(policy, record.channel)
        secret = ca = None
        if channel.secret_ref is not None:
            secret = await _secret_value(incident, channel.secret_ref)
            secrets.append(secret)
        if channel.email is not None and channel.email.ca_secret_ref is not None:
            ca = await _secret_value(incident, channel.email.ca_secret_ref)
            secrets.append(ca)
        message, problem = outgoing_message(incident, policy, record, clock.now())
        if problem is not None:
            logger.warning("%s; the built-in template was used", problem.describe())
        notifier = build_notifier(channel, secret, session, SEND_TIMEOUT, ca)
        await asyncio.wait_for(notifier.send(message), SEND_TIMEOUT)
    except DeliveryError as error:
        return DeliveryOutcome(
            record.key,
            record.attempts,
            clock.now(),
            redact(error.message, secrets),
            error.retryable,
        )
    except TimeoutError:
        return DeliveryOutcome(record.key, record.attempts, clock.now(), "timed out")
    except Exception as error:  # a bug must not stop the other sends; no text: it may hold a secret
        logger.error("sending %s failed unexpectedly: %s", record.key, type(error).__name__)
        return DeliveryOutcome(
            record.key, record.attempts, clock.now(), f"unexpected error ({type(error).__name__})"
        )
    return DeliveryOutcome(record.key, record.attempts, clock.now())


async def _record_outcomes(key: Key, outcomes: list[DeliveryOutcome]) -> None:
    """Applies the outcomes to the freshest status; re-reads on every conflict."""
    for _ in range(_WRITE_TRIES):
        body = await asyncio.to_thread(read_incident, *key)
        incident = _parse(body) if body is not None else None
        if body is None or incident is None:
            return
        records, entries = apply_outcomes(incident.status.notifications, outcomes, clock.now())
        failed = {o.key for o in outcomes if o.error is not None}
        retrying = [
            Entry(
                clock.now(),
                "NotificationRetrying",
                "incident-operator",
                f"{r.key} attempt {r.attempts} failed: {r.error}; next attempt at "
                f"{r.next_attempt_at.isoformat() if r.next_attempt_at else '-'}",
            )
            for r in records
            if r.key in failed and r.state is DeliveryState.PENDING
        ]
        timeline = bound([*incident.status.timeline, *entries], TIMELINE_LIMIT)
        desired = incident.status.model_copy(
            update={"notifications": records, "timeline": timeline}
        )
        written = await _write(incident, desired)
        if written is None:
            return
        if written:
            # Retries are Events only: the timeline keeps what was sent or given up.
            await _post_events(body, [*entries, *retrying])
            return
    logger.error(
        "could not record delivery outcomes of %s/%s; they stay Sending and are sent "
        "again when their lease runs out",
        *key,
    )


# ---------------------------------------------------------------------------- policies


@kopf.on.event(GROUP, VERSION, "escalationpolicies")
async def check_policy_templates(body: kopf.Body, type: str | None, **_: Any) -> None:
    """TemplatesValid on the policy: its overrides rendered against sample incidents."""
    if type == "DELETED":
        return
    try:
        policy = EscalationPolicy.model_validate(dict(body))
    except ValidationError:
        return  # the policy reconciler reports it (Ready=False)
    problems = template_problems(policy.spec.communication.templates)
    generation = policy.metadata.generation or None
    condition = templates_condition(policy.status.conditions, problems, clock.now(), generation)
    if condition is None:
        return
    wire = _CONDITION.dump_python(condition, mode="json", by_alias=True, exclude_none=True)
    await asyncio.to_thread(
        k8s.apply_status,
        "EscalationPolicy",
        "escalationpolicies",
        policy.metadata.namespace,
        policy.metadata.name,
        {"conditions": [wire]},
        NOTIFICATIONS_MANAGER,
    )
    if problems:
        await asyncio.to_thread(
            post_event, dict(body), "Warning", Reason.TEMPLATE_ERROR, condition.message
        )


# ---------------------------------------------------------------------------- lifetime


@kopf.on.startup()
async def start_escalation_timer(**_: Any) -> None:
    _Process.started_at = clock.now()
    _tasks.append(asyncio.create_task(ESCALATION_WAKEUPS.run(_wake), name="escalation-timer"))


@kopf.on.cleanup()
async def stop_escalation_timer(**_: Any) -> None:
    for task in _tasks:
        task.cancel()
    # Sends in flight get their time; one cut short is resent after its lease.
    senders = [task for task in _senders.values() if not task.done()]
    if senders:
        await asyncio.wait(senders, timeout=SEND_TIMEOUT)
    for task in senders:
        task.cancel()
    await asyncio.gather(*_tasks, *senders, return_exceptions=True)
    _tasks.clear()
