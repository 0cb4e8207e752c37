"""Detection: one polling task for every policy's rules, and the Alertmanager intake.

Not a kopf daemon or timer on EscalationPolicy: kopf would add finalizers to policies
that GitOps tools own. One operator-level task, started at start-up, reads policies
from the registry the policy watch keeps, and runs each policy's rules on its interval.
Workloads and incidents come from watches too (the handlers below only read), so a
cycle costs one PromQL query per rule and no list call, for 10 workloads or 1,000.

A cycle is: compile the rules, send their queries together, decide with
``reconcile.detection``, then write what changed (new incidents, severities,
status.detection, status.metrics, the policy's MetricsAvailable and breaches).
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import kopf
from kubernetes import client

from incident_operator.adapters import detection_store as store
from incident_operator.adapters.alertmanager_receiver import AlertmanagerReceiver, CachedToken
from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.prometheus import (
    Prometheus,
    PrometheusQueryError,
    PrometheusUnreachable,
)
from incident_operator.adapters.secrets import read_secret_value
from incident_operator.adapters.workloads import list_workloads
from incident_operator.api import GROUP, VERSION
from incident_operator.api.base import SecretKeyReference
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, MetricReading
from incident_operator.domain.conditions import Condition
from incident_operator.domain.detection import Hold, MetricsReason, WorkloadKey, gap_fingerprint
from incident_operator.domain.severity import Severity
from incident_operator.handlers import clock
from incident_operator.handlers.registry import POLICIES, PolicyKey
from incident_operator.reconcile.alerts import PayloadError, check_alerts, parse_payload, plan_alert
from incident_operator.reconcile.detection import (
    FINGERPRINT_LABEL,
    CompiledRule,
    DetectionUpdate,
    HoldKey,
    NewIncident,
    QueryFailure,
    RulePlan,
    RuleReadings,
    RuleResult,
    breach_records,
    compile_rule,
    conditions_wire,
    detection_wire,
    holds_from_status,
    interval_of,
    is_open,
    metric_readings,
    metrics_available,
    plan_gap,
    plan_rule,
    policy_workloads,
    rule_workloads,
)
from incident_operator.reconcile.detection_state import IncidentIndex, WorkloadIndex

logger = logging.getLogger(__name__)
T = TypeVar("T")

WORKLOADS = WorkloadIndex()
INCIDENTS = IncidentIndex()
# Writes in flight at once, so a thousand breaches do not queue a thousand threads.
_WRITES_IN_PARALLEL = 8
# The longest the scheduler sleeps, so a new policy starts within this.
_TICK = 0.25
_MIN_SLEEP = 0.005
# Names tried when a deterministic name is taken by a closed incident of an earlier breach.
_NAME_ATTEMPTS = 5


@dataclass(frozen=True)
class DetectionOptions:
    """Operator-wide settings, from ``incident-operator run``'s flags."""

    prometheus_url: str | None = None
    prometheus_timeout: float = 5.0
    alertmanager_host: str = "127.0.0.1"
    alertmanager_port: int = 9095
    # (namespace, name) of the Secret whose key ``token`` Alertmanager must present.
    alertmanager_token_secret: tuple[str, str] | None = None
    alertmanager_token_key: str = "token"

    @classmethod
    def parse(
        cls, prometheus_url: str | None, listen: str, token_secret: str | None
    ) -> "DetectionOptions":
        """From the flags' text; ValueError names a malformed one."""
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"--alertmanager-listen {listen!r}: expected HOST:PORT")
        secret = None
        if token_secret:
            namespace, _, name = token_secret.partition("/")
            if not namespace or not name or "/" in name:
                raise ValueError(
                    f"--alertmanager-token-secret {token_secret!r}: expected NAMESPACE/NAME"
                )
            secret = (namespace, name)
        if prometheus_url and not prometheus_url.startswith(("http://", "https://")):
            raise ValueError(f"--prometheus-url {prometheus_url!r}: expected an http(s) URL")
        return cls(prometheus_url or None, 5.0, host, int(port), secret)


async def _blocking(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(function, *args)


# ------------------------------------------------------------------------ watches


def _workload_event(kind: str, body: kopf.Body, event_type: str | None) -> None:
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    if event_type == "DELETED":
        WORKLOADS.remove(namespace, kind, name)
    else:
        WORKLOADS.put(namespace, kind, name, dict(body.meta.labels))


@kopf.on.event("apps", "v1", "deployments")
async def deployment_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("Deployment", body, type)


@kopf.on.event("apps", "v1", "statefulsets")
async def statefulset_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("StatefulSet", body, type)


@kopf.on.event("apps", "v1", "daemonsets")
async def daemonset_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    _workload_event("DaemonSet", body, type)


@kopf.on.event(GROUP, VERSION, "incidents")
async def incident_seen(body: kopf.Body, type: str | None, **_: Any) -> None:
    if type == "DELETED":
        INCIDENTS.remove(str(body.meta.namespace), str(body.meta.name))
    else:
        INCIDENTS.put_raw(dict(body))


class Seeder:
    """Lists a namespace's workloads and incidents once, before detection first acts there,
    so a cycle right after start-up neither misses workloads nor reopens incidents."""

    def __init__(self) -> None:
        self._seeded: set[str] = set()
        self._lock = asyncio.Lock()

    async def ensure(self, namespaces: Iterable[str]) -> None:
        async with self._lock:
            for namespace in sorted(set(namespaces) - self._seeded):
                for kind, name, labels in await _blocking(list_workloads, namespace):
                    WORKLOADS.put(namespace, kind, name, labels)
                for body in await _blocking(store.list_incidents, namespace):
                    INCIDENTS.put_raw(body)
                self._seeded.add(namespace)


# ------------------------------------------------------------------------- writes


class Writer:
    """Carries out decisions, a few at a time, keeping the incident index current."""

    def __init__(self) -> None:
        self._slots = asyncio.Semaphore(_WRITES_IN_PARALLEL)

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        async with self._slots:
            return await _blocking(function, *args)

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
                incident = INCIDENTS.put_raw(existing) if existing else None
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
                INCIDENTS.put_raw(created)
                logger.info("opened incident %s/%s: %s", new.namespace, name, new.spec.title)
            await self.detection(DetectionUpdate(new.namespace, name, new.detection))
            return name
        logger.error("could not find a free name for %s/%s", new.namespace, new.name)
        return None

    async def detection(self, update: DetectionUpdate) -> None:
        patched = await self._call(
            store.patch_incident_status,
            update.namespace,
            update.name,
            "detection",
            detection_wire(update.detection),
        )
        if patched is not None:
            INCIDENTS.put_raw(patched)

    async def severity(self, namespace: str, name: str, severity: Severity) -> None:
        patched = await self._call(store.raise_severity, namespace, name, severity)
        if patched is not None:
            INCIDENTS.put_raw(patched)
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
            INCIDENTS.put_raw(patched)

    async def policy_status(self, policy: EscalationPolicy, status: dict[str, Any]) -> None:
        meta = policy.metadata
        await self._call(store.apply_policy_status, meta.namespace, meta.name, status)


async def _gather_logged(what: str, calls: Iterable[Awaitable[Any]]) -> None:
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            logger.error("%s failed: %s", what, result, exc_info=result)


# ---------------------------------------------------------------------- detection


@dataclass
class PolicyMemory:
    """What detection remembers of one policy between its cycles."""

    holds: dict[HoldKey, Hold]
    # The status detection last applied (wire form), and its condition as a model.
    applied: dict[str, Any] | None = None
    condition: Condition | None = None
    # Cycles in a row without any usable metrics, and since when.
    blind_cycles: int = 0
    blind_since: datetime | None = None
    readings: list[RuleReadings] = field(default_factory=list)


class Detector:
    def __init__(self, prometheus: Prometheus, seeder: Seeder, writer: Writer) -> None:
        self._prometheus = prometheus
        self._seeder = seeder
        self._writer = writer
        self._memory: dict[PolicyKey, PolicyMemory] = {}
        self._due: dict[PolicyKey, float] = {}
        self._running: dict[PolicyKey, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Runs every policy's cycle on its interval until cancelled."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                policies = {
                    (p.metadata.namespace, p.metadata.name): p
                    for p in POLICIES.all()
                    if p.spec.detection.rules
                }
                self._forget(set(policies))
                now = loop.time()
                waits = [_TICK]
                for key, policy in policies.items():
                    if self._is_running(key):
                        continue  # an overrunning cycle is waited for, not stacked
                    due = self._due.get(key, now)
                    if due <= now:
                        interval = interval_of(policy).total_seconds()
                        # A fixed cadence; ticks missed while a cycle overran are skipped.
                        due = self._due[key] = max(due + interval, now)
                        self._running[key] = asyncio.create_task(self._cycle_logged(policy))
                    waits.append(due - now)
                await asyncio.sleep(max(min(waits), _MIN_SLEEP))
        finally:
            for task in self._running.values():
                task.cancel()

    def _is_running(self, key: PolicyKey) -> bool:
        task = self._running.get(key)
        return task is not None and not task.done()

    def _forget(self, current: set[PolicyKey]) -> None:
        """Drops what is remembered of policies that are gone or have no rules left."""
        for table in (self._memory, self._due, self._running):
            for key in set(table) - current:
                if not self._is_running(key):
                    table.pop(key, None)

    async def _cycle_logged(self, policy: EscalationPolicy) -> None:
        try:
            await self.cycle(policy)
        except Exception:
            logger.exception(
                "detection cycle of %s/%s failed", policy.metadata.namespace, policy.metadata.name
            )

    async def _result(self, compiled: CompiledRule) -> RuleResult | None:
        if compiled.query is None:
            return None
        try:
            return await self._prometheus.query(compiled.query)
        except PrometheusUnreachable as error:
            return QueryFailure(MetricsReason.UNREACHABLE, str(error))
        except PrometheusQueryError as error:
            return QueryFailure(MetricsReason.QUERY_FAILED, str(error))

    async def cycle(self, policy: EscalationPolicy) -> None:
        namespace, name = policy.metadata.namespace, policy.metadata.name
        key = (namespace, name)
        await self._seeder.ensure([namespace])
        memory = self._memory.setdefault(key, PolicyMemory(holds=holds_from_status(policy)))
        compiled = [compile_rule(namespace, rule) for rule in policy.spec.detection.rules]
        results = await asyncio.gather(*(self._result(rule) for rule in compiled))
        now = clock.now()
        governed = policy_workloads(policy, WORKLOADS.in_namespace(namespace))
        open_incidents = INCIDENTS.open_by_fingerprint(namespace)
        plans: dict[str, RulePlan] = {}
        selected_total: set[WorkloadKey] = set()
        for rule, result in zip(compiled, results, strict=True):
            selected = rule_workloads(rule.rule, governed)
            selected_total.update(selected)
            holds = {w: h for (r, w), h in memory.holds.items() if r == rule.name}
            plans[rule.name] = plan_rule(policy, rule, selected, result, open_incidents, holds, now)
        logger.debug(
            "detection cycle %s/%s: %d queries, %d workloads",
            namespace,
            name,
            sum(1 for rule in compiled if rule.query is not None),
            len(selected_total),
        )
        memory.holds = {(r, w): h for r, plan in plans.items() for w, h in plan.holds.items()}
        memory.readings = [
            RuleReadings(name, rule.name, rule.thresholds, plans[rule.name].observations, now)
            for rule in compiled
            if rule.thresholds is not None
        ]
        await self._write_incidents(plans)
        await self._monitoring_gap(policy, memory, plans, open_incidents, now)
        await self._policy_status(policy, memory, plans, len(selected_total), now)
        await self._hand_declared(namespace)

    async def _write_incidents(self, plans: dict[str, RulePlan]) -> None:
        writer = self._writer
        first: list[Awaitable[Any]] = []
        for plan in plans.values():
            first += [writer.open(new) for new in plan.opens]
            first += [writer.detection(update) for update in plan.updates]
        await _gather_logged("writing an incident", first)
        # After status.detection, so the lifecycle's timeline entry for the raise can say
        # which threshold caused it.
        raises = [
            writer.severity(up.namespace, up.name, up.severity)
            for plan in plans.values()
            for up in plan.raises
        ]
        await _gather_logged("raising a severity", raises)

    async def _monitoring_gap(
        self,
        policy: EscalationPolicy,
        memory: PolicyMemory,
        plans: dict[str, RulePlan],
        open_incidents: dict[str, Incident],
        now: datetime,
    ) -> None:
        blind = any(plan.blind for plan in plans.values())
        memory.blind_cycles = memory.blind_cycles + 1 if blind else 0
        memory.blind_since = (memory.blind_since or now) if blind else None
        problem = "; ".join(p.problem[1] for p in plans.values() if p.problem) or "none"
        fingerprint = gap_fingerprint(policy.metadata.namespace, policy.metadata.name)
        gap = plan_gap(
            policy,
            memory.blind_cycles,
            memory.blind_since,
            problem,
            open_incidents.get(fingerprint),
            now,
        )
        if gap.open is not None:
            await self._writer.open(gap.open)
        if gap.update is not None:
            await self._writer.detection(gap.update)

    async def _policy_status(
        self,
        policy: EscalationPolicy,
        memory: PolicyMemory,
        plans: dict[str, RulePlan],
        workload_count: int,
        now: datetime,
    ) -> None:
        current = policy.status.conditions if memory.condition is None else [memory.condition]
        condition = metrics_available(
            current, plans, workload_count, policy.metadata.generation or None, now
        )
        desired = {
            "conditions": conditions_wire([condition]),
            "breaches": breach_records(memory.holds),
        }
        previous = memory.applied if memory.applied is not None else _applied_from(policy)
        if desired != previous:
            await self._writer.policy_status(policy, desired)
        memory.applied, memory.condition = desired, condition

    async def _hand_declared(self, namespace: str) -> None:
        readings = [
            reading
            for (ns, _), memory in self._memory.items()
            if ns == namespace
            for reading in memory.readings
        ]
        calls = []
        for incident in INCIDENTS.wanting_readings(namespace):
            desired = metric_readings(incident, readings)
            if [r.to_wire() for r in desired] != [r.to_wire() for r in incident.status.metrics]:
                calls.append(self._writer.metrics(incident, desired))
        await _gather_logged("writing status.metrics", calls)


def _applied_from(policy: EscalationPolicy) -> dict[str, Any]:
    """What the policy's status already says in detection's fields."""
    mine = [c for c in policy.status.conditions if c.type == MetricsReason.CONDITION_TYPE]
    return {
        "conditions": conditions_wire(mine),
        "breaches": [record.to_wire() for record in policy.status.breaches],
    }


# ------------------------------------------------------------------- alertmanager


class AlertIntake:
    """Turns one webhook delivery into incident writes; deliveries are taken one at a time
    so two carrying the same alert cannot both open an incident."""

    def __init__(self, seeder: Seeder, writer: Writer, default_namespace: str) -> None:
        self._seeder = seeder
        self._writer = writer
        self._default_namespace = default_namespace
        self._lock = asyncio.Lock()

    async def __call__(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            items, ignored = check_alerts(parse_payload(body), self._default_namespace)
        except PayloadError as error:
            return 400, {"error": str(error)}
        opened: list[str] = []
        updated: list[str] = []
        async with self._lock:
            try:
                await self._seeder.ensure(item.namespace for item in items)
                for item in items:
                    current = INCIDENTS.open_by_fingerprint(item.namespace).get(item.fingerprint)
                    decision = plan_alert(item, current, clock.now())
                    if isinstance(decision, NewIncident):
                        name = await self._writer.open(decision)
                        opened += [f"{item.namespace}/{name}"] if name else []
                    elif isinstance(decision, DetectionUpdate):
                        await self._writer.detection(decision)
                        updated.append(f"{decision.namespace}/{decision.name}")
            except client.ApiException as error:
                # Alertmanager retries the delivery; what was written stays and is found.
                return 500, {"error": f"Kubernetes API: {error.status} {error.reason}"}
        unchanged = len(items) - len(opened) - len(updated)
        return 200, {
            "opened": opened,
            "updated": updated,
            "unchanged": unchanged,
            "ignored": ignored,
        }


# ------------------------------------------------------------------------ start, stop


@kopf.on.startup()
async def start_detection(memo: kopf.Memo, **_: Any) -> None:
    options = memo.get("detection") or DetectionOptions()
    seeder, writer = Seeder(), Writer()
    if options.prometheus_url:
        prometheus = Prometheus(options.prometheus_url, options.prometheus_timeout)
        detector = Detector(prometheus, seeder, writer)
        memo["detection_prometheus"] = prometheus
        memo["detection_task"] = asyncio.create_task(detector.run(), name="detection")
        logger.info("detection polls Prometheus at %s", options.prometheus_url)
    else:
        logger.info("no --prometheus-url: threshold detection is off")
    if options.alertmanager_token_secret:
        namespace, name = options.alertmanager_token_secret
        key = options.alertmanager_token_key
        # An empty value is no token; a Secret that cannot be read is logged by CachedToken.
        token = CachedToken(
            lambda: read_secret_value(namespace, SecretKeyReference(name=name, key=key)) or None
        )
        receiver = AlertmanagerReceiver(
            options.alertmanager_host,
            options.alertmanager_port,
            token,
            AlertIntake(seeder, writer, default_namespace=namespace),
        )
        try:
            await receiver.start()
        except OSError as error:
            # A taken port must not stop the rest of the operator; the log says why.
            logger.error("the Alertmanager receiver could not start: %s", error)
        else:
            memo["detection_receiver"] = receiver
    else:
        logger.info("no --alertmanager-token-secret: the Alertmanager receiver is off")


@kopf.on.cleanup()
async def stop_detection(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("detection_task")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    receiver = memo.get("detection_receiver")
    if receiver is not None:
        await receiver.stop()
    prometheus = memo.get("detection_prometheus")
    if prometheus is not None:
        prometheus.close()
