"""Detection as a service: one polling task for every policy's rules, and the Alertmanager
receiver. Started and stopped by handlers/detection.py; imports nothing of kopf.

Not a kopf daemon or timer on EscalationPolicy: kopf would add finalizers to policies
that GitOps tools own. One operator-level task reads policies from the registry
(runtime/policies.py), once it has been seeded from a full listing, and runs each
policy's rules on its interval. Workloads and incidents come from watches too
(runtime/detection_state.py), so a cycle costs one PromQL query per rule and no list
call, for 10 workloads or 1,000.

A cycle is: send the rules' queries together, decide with ``reconcile.detection``, then
write what changed (new incidents, severities, status.detection, status.metrics, the
policy's MetricsAvailable and breaches).

What a cycle does not do again
==============================
20 rules polled every second over 1,000 workloads receive 20,000 series a second, so a
cycle repeats nothing that did not change since the previous one: rules are compiled
when the policy's spec changes, the workloads each rule watches are selected when a
workload or the spec changes, an answer identical to the previous one but for its time
is not decoded (adapters/prometheus.py), and a rule whose values, workloads and
thresholds did not change keeps its observations (``domain.detection.Evaluation``). Only
workloads that breach, hold a breach or have an open incident are then looked at one by one.

One policy never stops the others
=================================
Whatever one policy makes raise (an interval no clock can hold, a bug in a decision, an
API error while writing) is caught at that policy: its MetricsAvailable condition says
DetectionFailed with what was raised, a Warning Event says it once, and it is skipped:
until its spec changes when its interval cannot be scheduled, until its next cycle
otherwise. The scheduler itself never raises out of its loop, so every other policy
keeps its cadence.

Stopping
========
``DetectionService.stop`` cancels the scheduler and every cycle, and waits for them at
most ``STOP_SECONDS`` in all, whatever they are doing (a call to the API server in a
thread cannot be interrupted: it is left to finish on its own, its result unused). It
never raises: what a task raised is logged.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incident_operator.adapters.alertmanager_receiver import (
    AlertmanagerReceiver,
    CachedToken,
    SignedIntake,
    SlackSignedIntake,
)
from incident_operator.adapters.prometheus import (
    Prometheus,
    PrometheusQueryError,
    PrometheusUnreachable,
)
from incident_operator.adapters.prometheus_auth import PrometheusAccess
from incident_operator.adapters.prometheus_auth import access as prometheus_access
from incident_operator.adapters.secrets import secret_reader
from incident_operator.adapters.slack_signature import SIGNING_SECRET_KEY
from incident_operator.api.escalation_policy import EscalationPolicy, EscalationPolicySpec
from incident_operator.api.incident import Incident
from incident_operator.config import Settings
from incident_operator.domain.conditions import Condition
from incident_operator.domain.detection import (
    Evaluation,
    Hold,
    InstantVector,
    WorkloadKey,
    gap_fingerprint,
)
from incident_operator.domain.detection_gaps import DataGaps
from incident_operator.domain.reasons import ConditionType, EventType, Reason
from incident_operator.reconcile.detection import (
    CompiledRule,
    HoldKey,
    NewIncident,
    QueryFailure,
    RulePlan,
    RuleReadings,
    RuleResult,
    breach_records,
    compile_rule,
    conditions_wire,
    failure_condition,
    holds_from_status,
    interval_seconds,
    metric_readings,
    metrics_available,
    plan_gap,
    plan_rule,
    policy_workloads,
    rule_workloads,
)
from incident_operator.reconcile.grouping import for_grouping
from incident_operator.reconcile.pagerduty_intake import signatures_match
from incident_operator.runtime import clock
from incident_operator.runtime.alert_intake import AlertIntake
from incident_operator.runtime.chat_log import ChatLogIntake
from incident_operator.runtime.detection_state import (
    INCIDENTS,
    WORKLOADS,
    IncidentIndex,
    Seeder,
    WorkloadIndex,
)
from incident_operator.runtime.detection_writer import Writer, gather_logged
from incident_operator.runtime.grouping import Grouper
from incident_operator.runtime.intakes import PagerDutyIntake, WebhookIntake
from incident_operator.runtime.maintenance import MAINTENANCE
from incident_operator.runtime.policies import POLICIES, PolicyKey, PolicyRegistry
from incident_operator.runtime.signal_router import SignalRouter
from incident_operator.runtime.slack_actions import SlackActions

logger = logging.getLogger(__name__)

# The longest the scheduler sleeps, so a new policy starts within this.
_TICK = 0.25
_MIN_SLEEP = 0.005
# The longest stopping detection takes: the scheduler and its cycles, the receiver, the
# Prometheus client, each given what is left of it (see "Stopping").
STOP_SECONDS = 5.0


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
    # The rules compiled from ``spec``; compiled again when the spec changes.
    spec: EscalationPolicySpec | None = None
    rules: list[CompiledRule] = field(default_factory=list)
    # The workloads each rule watches, and the workload index version they were selected at.
    selected_at: int | None = None
    selected: dict[str, list[WorkloadKey]] = field(default_factory=dict)
    selected_total: int = 0
    # Each rule's last answer and how it was judged, reused while they still hold.
    answers: dict[str, InstantVector] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    # Each rule's gaps in the data, kept across spec changes (they are about the data).
    gaps: dict[str, DataGaps] = field(default_factory=dict)
    # The failure last reported on the policy (condition and Event); None once it works.
    failure: str | None = None

    def compiled(self, policy: EscalationPolicy) -> list[CompiledRule]:
        if self.spec is None or not (policy.spec is self.spec or policy.spec == self.spec):
            namespace = policy.metadata.namespace
            self.rules = [compile_rule(namespace, rule) for rule in policy.spec.detection.rules]
            self.spec, self.selected_at = policy.spec, None
            self.answers, self.evaluations = {}, {}
        return self.rules

    def watched(
        self, policy: EscalationPolicy, rules: Sequence[CompiledRule], workloads: WorkloadIndex
    ) -> Mapping[str, list[WorkloadKey]]:
        """Each rule's workloads; the same lists while no workload or spec changed, so a
        rule's evaluation can tell its workloads did not change at a glance."""
        namespace = policy.metadata.namespace
        version = workloads.version(namespace)
        if self.selected_at != version:
            governed = policy_workloads(policy, workloads.in_namespace(namespace))
            self.selected = {rule.name: rule_workloads(rule.rule, governed) for rule in rules}
            self.selected_total = len({w for keys in self.selected.values() for w in keys})
            self.selected_at = version
        return self.selected


class Detector:
    """Runs every policy's detection cycle on its interval."""

    def __init__(
        self,
        prometheus: Prometheus,
        seeder: Seeder,
        writer: Writer,
        policies: PolicyRegistry = POLICIES,
        workloads: WorkloadIndex = WORKLOADS,
        incidents: IncidentIndex = INCIDENTS,
        router: SignalRouter | None = None,
    ) -> None:
        self._prometheus = prometheus
        self._seeder = seeder
        self._writer = writer
        # New breaches go through maintenance windows and grouping before they open.
        self._router = router or SignalRouter(writer)
        self._policies = policies
        self._workloads = workloads
        self._incidents = incidents
        self._memory: dict[PolicyKey, PolicyMemory] = {}
        self._due: dict[PolicyKey, float] = {}
        self._running: dict[PolicyKey, asyncio.Task[None]] = {}
        # Policies whose interval cannot be scheduled, with the spec that said so.
        self._unschedulable: dict[PolicyKey, EscalationPolicySpec] = {}

    async def run(self) -> None:
        """Runs every policy's cycle on its interval until cancelled; never raises else."""
        # Before the first listing of policies, "no rules" would only mean "not read yet".
        await self._policies.ready.wait()
        loop = asyncio.get_running_loop()
        try:
            while True:
                waits = [_TICK]
                try:
                    waits += self._start_due(loop.time())
                except Exception:
                    logger.exception("the detection scheduler failed; it goes on")
                await asyncio.sleep(max(min(waits), _MIN_SLEEP))
        finally:
            for task in self._running.values():
                task.cancel()

    def tasks(self) -> list[asyncio.Task[None]]:
        """The cycles (and failure reports) under way, for stopping to wait on."""
        return [task for task in self._running.values() if not task.done()]

    def _start_due(self, now: float) -> list[float]:
        """Starts the cycles that are due; returns how long until each next one is."""
        policies = {
            (p.metadata.namespace, p.metadata.name): p
            for p in self._policies.all()
            if p.spec.detection.rules
        }
        self._forget(set(policies))
        waits = []
        for key, policy in policies.items():
            if self._is_running(key):
                continue  # an overrunning cycle is waited for, not stacked
            try:
                wait = self._schedule(key, policy, now)
            except Exception as error:
                # Only this policy is skipped, until its spec changes.
                self._unschedulable[key] = policy.spec
                self._due.pop(key, None)
                self._running[key] = asyncio.create_task(self._report_failure(policy, error))
                continue
            if wait is not None:
                waits.append(wait)
        return waits

    def _schedule(self, key: PolicyKey, policy: EscalationPolicy, now: float) -> float | None:
        """Starts the policy's cycle if it is due; how long until the next one (None: never,
        its interval cannot be scheduled and its spec did not change)."""
        refused = self._unschedulable.get(key)
        if refused is not None:
            if refused is policy.spec or refused == policy.spec:
                return None
            del self._unschedulable[key]
        due = self._due.get(key, now)
        if due <= now:
            interval = interval_seconds(policy)
            # A fixed cadence; ticks missed while a cycle overran are skipped.
            due = self._due[key] = max(due + interval, now)
            self._running[key] = asyncio.create_task(self._cycle_logged(policy))
        return due - now

    def _is_running(self, key: PolicyKey) -> bool:
        task = self._running.get(key)
        return task is not None and not task.done()

    def _forget(self, current: set[PolicyKey]) -> None:
        """Drops what is remembered of policies that are gone or have no rules left."""
        for table in (self._memory, self._due, self._running, self._unschedulable):
            for key in set(table) - current:
                if not self._is_running(key):
                    table.pop(key, None)

    async def _cycle_logged(self, policy: EscalationPolicy) -> None:
        try:
            await self.cycle(policy)
        except Exception as error:
            await self._report_failure(policy, error)

    async def _report_failure(self, policy: EscalationPolicy, error: Exception) -> None:
        """The policy's MetricsAvailable=False (DetectionFailed) and, when the failure is a
        new one, a Warning Event; never raises (a write that fails is logged)."""
        namespace, name = policy.metadata.namespace, policy.metadata.name
        message = f"detection of this policy is skipped: {_describe(error)}"
        try:
            memory = self._memory.setdefault(
                (namespace, name), PolicyMemory(holds=holds_from_status(policy))
            )
            new = memory.failure != message
            if new:
                logger.error(
                    "detection of %s/%s failed: %s", namespace, name, message, exc_info=error
                )
            else:
                logger.debug("detection of %s/%s failed again: %s", namespace, name, message)
            current = policy.status.conditions if memory.condition is None else [memory.condition]
            condition = failure_condition(
                current, message, policy.metadata.generation or None, clock.now()
            )
            await self._apply_status(policy, memory, condition)
            memory.failure = message
            if new:
                await self._writer.policy_event(
                    policy, EventType.WARNING, Reason.DETECTION_FAILED, message
                )
        except Exception:
            logger.exception("reporting the failed detection of %s/%s failed", namespace, name)

    async def _result(
        self, compiled: CompiledRule, previous: InstantVector | None
    ) -> RuleResult | None:
        if compiled.query is None:
            return None
        try:
            return await self._prometheus.query(compiled.query, previous)
        except PrometheusUnreachable as error:
            return QueryFailure(Reason.PROMETHEUS_UNREACHABLE, str(error))
        except PrometheusQueryError as error:
            return QueryFailure(Reason.QUERY_FAILED, str(error))

    async def cycle(self, policy: EscalationPolicy) -> None:
        namespace, name = policy.metadata.namespace, policy.metadata.name
        key = (namespace, name)
        await self._seeder.ensure([namespace])
        memory = self._memory.setdefault(key, PolicyMemory(holds=holds_from_status(policy)))
        compiled = memory.compiled(policy)
        results = await asyncio.gather(
            *(self._result(rule, memory.answers.get(rule.name)) for rule in compiled)
        )
        now = clock.now()
        selected = memory.watched(policy, compiled, self._workloads)
        open_incidents = self._incidents.open_by_fingerprint(namespace)
        holds_by_rule: dict[str, dict[WorkloadKey, Hold]] = {}
        for (rule_name, workload), hold in memory.holds.items():
            holds_by_rule.setdefault(rule_name, {})[workload] = hold
        plans: dict[str, RulePlan] = {}
        for rule, result in zip(compiled, results, strict=True):
            plan = plan_rule(
                policy,
                rule,
                selected[rule.name],
                result,
                open_incidents,
                holds_by_rule.get(rule.name, {}),
                now,
                memory.evaluations.get(rule.name),
                memory.gaps.get(rule.name),
            )
            plans[rule.name] = plan
            _remember(
                memory.answers, rule.name, result if isinstance(result, InstantVector) else None
            )
            _remember(memory.evaluations, rule.name, plan.evaluation)
        memory.gaps = {name: plan.gaps for name, plan in plans.items()}
        logger.debug(
            "detection cycle %s/%s: %d queries, %d workloads",
            namespace,
            name,
            sum(1 for rule in compiled if rule.query is not None),
            memory.selected_total,
        )
        memory.holds = {(r, w): h for r, plan in plans.items() for w, h in plan.holds.items()}
        memory.readings = [
            RuleReadings(name, rule.name, rule.thresholds, plans[rule.name].observations, now)
            for rule in compiled
            if rule.thresholds is not None
        ]
        await self._write_incidents(plans)
        await self._monitoring_gap(policy, memory, plans, open_incidents, now)
        await self._policy_status(policy, memory, plans, memory.selected_total, now)
        await self._hand_declared(namespace)
        memory.failure = None

    def _as_signal(self, new: NewIncident) -> NewIncident:
        """``new`` with its workload's labels and its rule's policy, for grouping."""
        workload = new.detection.workload
        labels: dict[str, str] = {}
        if workload is not None:
            wanted = WorkloadKey(workload.kind.value, workload.name)
            found = self._workloads.in_namespace(new.namespace)
            labels = next((dict(labels) for key, labels in found if key == wanted), {})
        policy = self._policies.get(new.namespace, new.detection.policy)
        return for_grouping(new, labels, policy)

    async def _write_incidents(self, plans: dict[str, RulePlan]) -> None:
        writer = self._writer
        first: list[Awaitable[Any]] = []
        for plan in plans.values():
            first += [self._router.route(self._as_signal(new)) for new in plan.opens]
            first += [writer.detection(update) for update in plan.updates]
        await gather_logged("writing an incident", first)
        # After status.detection, so the lifecycle's timeline entry for the raise can say
        # which threshold caused it.
        raises = [
            writer.severity(up.namespace, up.name, up.severity)
            for plan in plans.values()
            for up in plan.raises
        ]
        await gather_logged("raising a severity", raises)

    async def _monitoring_gap(
        self,
        policy: EscalationPolicy,
        memory: PolicyMemory,
        plans: dict[str, RulePlan],
        open_incidents: dict[str, Incident],
        now: datetime,
    ) -> None:
        blind = any(plan.blind for plan in plans.values())
        # Readings Unknown after a gap neither count towards a gap incident nor end one.
        settling = not blind and any(plan.settling for plan in plans.values())
        if not settling:
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
        await self._apply_status(policy, memory, condition)

    async def _apply_status(
        self, policy: EscalationPolicy, memory: PolicyMemory, condition: Condition
    ) -> None:
        """Detection's part of the policy's status (MetricsAvailable and the breaches being
        timed), written only when it differs from what was last applied."""
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
        for incident in self._incidents.wanting_readings(namespace):
            desired = metric_readings(incident, readings)
            if [r.to_wire() for r in desired] != [r.to_wire() for r in incident.status.metrics]:
                calls.append(self._writer.metrics(incident, desired))
        await gather_logged("writing status.metrics", calls)


def _describe(error: BaseException) -> str:
    """``RuleError: spec.detection.interval ...``: stable (no addresses), one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _remember(table: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


def _applied_from(policy: EscalationPolicy) -> dict[str, Any]:
    """What the policy's status already says in detection's fields."""
    mine = [c for c in policy.status.conditions if c.type == ConditionType.METRICS_AVAILABLE]
    return {
        "conditions": conditions_wire(mine),
        "breaches": [record.to_wire() for record in policy.status.breaches],
    }


# ------------------------------------------------------------------------ start, stop


class DetectionService:
    """What detection runs: the polling task when a Prometheus URL is set, and the
    Alertmanager receiver when its token Secret is."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._detector: Detector | None = None
        self._prometheus: Prometheus | None = None
        self._receiver: AlertmanagerReceiver | None = None
        self._grouper: Grouper | None = None

    @classmethod
    def polling(cls, detector: Detector) -> "DetectionService":
        """A service running ``detector`` (and no receiver)."""
        service = cls()
        service._detector = detector
        service._task = asyncio.create_task(detector.run(), name="detection")
        return service

    @classmethod
    async def start(cls, settings: Settings) -> "DetectionService":
        service = cls()
        seeder, writer = Seeder(WORKLOADS, INCIDENTS), Writer(INCIDENTS)
        router = SignalRouter(writer)
        router.maintenance = MAINTENANCE.serving(router)
        grouper = router.grouping = Grouper(writer, INCIDENTS)
        if settings.prometheus_url:
            prometheus = Prometheus(
                settings.prometheus_url, settings.prometheus_timeout, access=_access(settings)
            )
            service = cls.polling(Detector(prometheus, seeder, writer, router=router))
            service._prometheus = prometheus
            logger.info("detection polls Prometheus at %s", settings.prometheus_url)
        else:
            logger.info("no --prometheus-url: threshold detection is off")
        service._grouper = grouper
        if (
            settings.alertmanager_token_secret
            or settings.pagerduty_webhook_secret
            or settings.slack_app_secret
        ):
            service._receiver = await _start_receiver(settings, seeder, writer, router)
        else:
            logger.info(
                "no --alertmanager-token-secret, --pagerduty-webhook-secret nor "
                "--slack-app-secret: "
                "the intake receiver is off"
            )
        return service

    async def stop(self, seconds: float = STOP_SECONDS) -> None:
        """Stops everything within ``seconds``, whatever it is doing; never raises."""
        deadline = time.monotonic() + seconds
        tasks = [] if self._detector is None else self._detector.tasks()
        if self._task is not None:
            tasks.append(self._task)
        if self._grouper is not None:
            # Joins being written: none may write after the operator stopped leading.
            tasks += self._grouper.stopping()
        await stop_tasks("detection", tasks, seconds)
        if self._receiver is not None:
            await _within("the Alertmanager receiver", self._receiver.stop(), deadline)
        if self._prometheus is not None:
            await _within("the Prometheus client", self._prometheus.close(), deadline)


async def stop_tasks(what: str, tasks: Sequence[asyncio.Task[Any]], seconds: float) -> None:
    """Cancels ``tasks`` and waits for them at most ``seconds``; logs what they raised or
    that they did not finish, never raises."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=max(seconds, 0.0))
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            logger.error("%s: a task had failed: %s", what, _describe(error))
    if pending:
        logger.warning("%s: %d tasks did not stop within %.1f s; left", what, len(pending), seconds)


async def _within(what: str, stopping: Coroutine[Any, Any, None], deadline: float) -> None:
    """Runs ``stopping`` until ``deadline`` at most (cancelled, not waited for, after it)."""
    task = asyncio.create_task(stopping)
    done, _ = await asyncio.wait([task], timeout=max(deadline - time.monotonic(), 0.01))
    if not done:
        task.cancel()
        logger.warning("stopping %s took too long; left unfinished", what)
    elif not task.cancelled() and (error := task.exception()) is not None:
        logger.error("stopping %s failed: %s", what, _describe(error))


def _access(settings: Settings) -> PrometheusAccess:
    """The credentials, TLS trust and headers of --prometheus-url."""
    if settings.prometheus_insecure_skip_verify:
        logger.warning("--prometheus-insecure-skip-verify: no certificate of Prometheus is checked")
    return prometheus_access(
        bearer_token=settings.prometheus_bearer_token_secret,
        basic_auth=settings.prometheus_basic_auth_secret,
        ca_file=settings.prometheus_ca_file,
        ca_secret=settings.prometheus_ca_secret,
        insecure_skip_verify=settings.prometheus_insecure_skip_verify,
        headers=dict(settings.prometheus_headers),
        headers_secret=settings.prometheus_headers_secret,
    )


async def _start_receiver(
    settings: Settings, seeder: Seeder, writer: Writer, router: SignalRouter
) -> AlertmanagerReceiver | None:
    token, alerts, webhook = None, None, None
    if settings.alertmanager_token_secret is not None:
        namespace, name = settings.alertmanager_token_secret
        key = settings.alertmanager_token_key
        # An empty value is no token; a Secret that cannot be read is logged by CachedToken.
        token = CachedToken(secret_reader(namespace, name, key))
        alerts = AlertIntake(seeder, writer, INCIDENTS, default_namespace=namespace, router=router)
        webhook = WebhookIntake(seeder, writer, INCIDENTS, namespace, router)
    pagerduty = None
    if settings.pagerduty_webhook_secret is not None:
        namespace, name = settings.pagerduty_webhook_secret
        secret = CachedToken(
            secret_reader(namespace, name, settings.pagerduty_webhook_secret_key),
            what="the PagerDuty webhook secret",
        )
        declared_in = settings.pagerduty_namespace or namespace
        pagerduty = SignedIntake(
            secret,
            signatures_match,
            PagerDutyIntake(seeder, writer, INCIDENTS, declared_in, router),
        )
    slack_events = slack_interactions = slack_commands = None
    if settings.slack_app_secret is not None:
        namespace, name = settings.slack_app_secret
        signing_secret = CachedToken(
            secret_reader(namespace, name, SIGNING_SECRET_KEY),
            what="the Slack signing secret",
        )
        slack_events = SlackSignedIntake(signing_secret, ChatLogIntake(writer, INCIDENTS))
        # Acting from Slack: the card's buttons and /incident (runtime/slack_actions.py).
        slack_actions = SlackActions(INCIDENTS, declare_in=namespace)
        slack_interactions = SlackSignedIntake(signing_secret, slack_actions.interactions)
        slack_commands = SlackSignedIntake(signing_secret, slack_actions.commands)
    receiver = AlertmanagerReceiver(
        settings.alertmanager_host,
        settings.alertmanager_port,
        token,
        alerts,
        webhook=webhook,
        pagerduty=pagerduty,
        slack_events=slack_events,
        slack_interactions=slack_interactions,
        slack_commands=slack_commands,
    )
    try:
        await receiver.start()
    except OSError as error:
        # A taken port must not stop the rest of the operator; the log says why.
        logger.error("the Alertmanager receiver could not start: %s", error)
        return None
    return receiver
