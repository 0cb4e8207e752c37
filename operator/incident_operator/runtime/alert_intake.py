"""The Alertmanager intake: one webhook delivery in, incident writes out.

The receiver (adapters/alertmanager_receiver.py) checks the bearer token and hands the
body here; ``reconcile.alerts`` decides what each alert means for its incident, and the
detection writer carries it out. Each alert is taken under a lock of its own (its
fingerprint), so two deliveries carrying the same alert cannot both open an incident,
while different alerts, and deliveries of different groups, are taken side by side; the
signal router's locks then put the alerts of one group one after the other.

Each alert is seeded, decided and written on its own, so one that fails never keeps the
others from being written (``reconcile.alerts``, "An alert that cannot be written"): one
that can never be written is answered in ``ignored`` and counted in
``incident_operator_alerts_ignored_total{reason}``; one whose failure may pass makes the
delivery answer 500, after all the others were tried.
"""

import asyncio
import logging
from typing import Any

from incident_operator.adapters.detection_store import call_failure
from incident_operator.adapters.metrics import ALERTS_IGNORED
from incident_operator.domain.detection import WorkloadKey
from incident_operator.reconcile.alerts import (
    AlertItem,
    Ignored,
    IgnoreReason,
    PayloadError,
    alert_policy,
    check_alerts,
    parse_payload,
    plan_alert,
    write_failure,
)
from incident_operator.reconcile.detection import DetectionUpdate, NewIncident
from incident_operator.reconcile.grouping import for_grouping
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import (
    WORKLOADS,
    IncidentIndex,
    Seeder,
    WorkloadIndex,
)
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.keyed_locks import KeyedLocks
from incident_operator.runtime.policies import POLICIES, PolicyRegistry
from incident_operator.runtime.signal_router import SignalRouter

logger = logging.getLogger(__name__)

# Alerts of different incidents taken at once within one delivery (the writer bounds the
# API calls in flight itself).
ALERTS_IN_PARALLEL = 32
# What taking one alert did: opened (the incident's name), updated (its name), or nothing.
_Taken = tuple[str, str] | None


class AlertIntake:
    """Turns one webhook delivery into incident writes; answers (HTTP status, body)."""

    def __init__(
        self,
        seeder: Seeder,
        writer: Writer,
        incidents: IncidentIndex,
        default_namespace: str,
        router: SignalRouter | None = None,
        policies: PolicyRegistry = POLICIES,
        workloads: WorkloadIndex = WORKLOADS,
    ) -> None:
        self._seeder = seeder
        self._writer = writer
        # New alerts go through maintenance windows and grouping before they open.
        self._router = router or SignalRouter(writer)
        self._incidents = incidents
        self._policies = policies
        self._workloads = workloads
        # Alerts without a namespace label open their incident here.
        self._default_namespace = default_namespace
        # One alert (by fingerprint) at a time, across deliveries: two deliveries carrying
        # the same alert cannot both open an incident, and different alerts go in parallel.
        self._alert_locks = KeyedLocks()

    async def __call__(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            items, ignored = check_alerts(parse_payload(body), self._default_namespace)
        except PayloadError as error:
            return 400, {"error": str(error)}
        return await self.take(items, ignored)

    async def take(
        self, items: list[AlertItem], ignored: list[Ignored]
    ) -> tuple[int, dict[str, Any]]:
        """Takes checked alerts (the PagerDuty and generic webhook intakes' too); answers
        (HTTP status, body)."""
        opened: list[str] = []
        joined: list[str] = []
        updated: list[str] = []
        unchanged = 0
        # The first failure that may pass: the delivery is answered 500 for it.
        retry: str | None = None
        outcomes = await self._take_all(items)
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Exception):
                failed = self._failed(item, outcome)
                if isinstance(failed, Ignored):
                    ignored.append(failed)
                else:
                    retry = retry or failed
            elif outcome is None:
                unchanged += 1
            elif outcome[0] == "opened":
                opened.append(outcome[1])
            elif outcome[0] == "joined":
                # Added as a signal to an open incident (grouping, or the same breach
                # already detected by polling).
                joined.append(outcome[1])
            else:
                updated.append(outcome[1])
        for entry in ignored:
            ALERTS_IGNORED.labels(entry.reason.value).inc()
        answer = {
            "opened": opened,
            "joined": joined,
            "updated": updated,
            "unchanged": unchanged,
            "ignored": [entry.to_wire() for entry in sorted(ignored, key=lambda i: i.index)],
        }
        if retry is not None:
            # Alertmanager sends the delivery again; what was written stays and is found.
            return 500, {"error": retry, **answer}
        return 200, answer

    async def _take_all(self, items: list[AlertItem]) -> list[_Taken | Exception]:
        """Takes every alert, several at once; alerts of one incident (the same
        fingerprint) one after the other, in the delivery's order."""
        by_incident: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for index, item in enumerate(items):
            by_incident.setdefault((item.namespace, tuple(item.keys)), []).append(index)
        outcomes: list[_Taken | Exception] = [None] * len(items)
        slots = asyncio.Semaphore(ALERTS_IN_PARALLEL)

        async def take_in_order(indexes: list[int]) -> None:
            async with slots:
                for index in indexes:
                    item = items[index]
                    try:
                        async with self._alert_locks.hold((item.namespace, item.fingerprint)):
                            outcomes[index] = await self._take(item)
                    except Exception as error:
                        outcomes[index] = error

        await asyncio.gather(*(take_in_order(indexes) for indexes in by_incident.values()))
        return outcomes

    def _as_signal(self, new: NewIncident) -> NewIncident:
        """``new`` with the policy governing its alert, for grouping."""
        workload = new.detection.workload
        workload_labels = [
            labels
            for key, labels in self._workloads.in_namespace(new.namespace)
            if workload is not None and key == WorkloadKey(workload.kind.value, workload.name)
        ]
        policy = alert_policy(new, self._policies.in_namespace(new.namespace), workload_labels)
        return for_grouping(new, new.signal_labels, policy)

    async def _take(self, item: AlertItem) -> _Taken:
        """Decides and writes one alert; raises what the API raised."""
        await self._seeder.ensure([item.namespace])
        found = self._incidents.open_by_fingerprint(item.namespace)
        current = next((found[key] for key in item.keys if key in found), None)
        decision = plan_alert(item, current, clock.now())
        if isinstance(decision, NewIncident):
            routed = await self._router.route(self._as_signal(decision))
            if routed.incident is None:
                return None
            taken = "joined" if routed.joined else "opened"
            return taken, f"{item.namespace}/{routed.incident}"
        if isinstance(decision, DetectionUpdate):
            await self._writer.detection(decision)
            return "updated", f"{decision.namespace}/{decision.name}"
        if current is None and item.alert.status == "resolved":
            # A window holding it must not open it at its end.
            await self._router.maintenance.resolved(item.namespace, item.fingerprint)
        return None

    def _failed(self, item: AlertItem, error: Exception) -> Ignored | str:
        """The alert as ignored for good, or the message of a failure that may pass."""
        failure = call_failure(error)
        reason: IgnoreReason | None
        if failure is None:
            logger.error(
                "the Alertmanager alert %s (alerts[%d]) could not be taken",
                item.alertname,
                item.index,
                exc_info=error,
            )
            reason, message = IgnoreReason.FAILED, f"{type(error).__name__}: {error}"
        else:
            reason, message = write_failure(failure.status, failure.kind), failure.message
        if reason is None:
            logger.warning(
                "alert %s in %s: %s; the delivery is answered 500 to be sent again",
                item.alertname,
                item.namespace,
                message,
            )
            return f"Kubernetes API: {message}"
        logger.warning(
            "alert %s in %s ignored (%s): %s", item.alertname, item.namespace, reason, message
        )
        return Ignored(
            item.index, item.alertname, item.alert.fingerprint.lower(), reason, message[:500]
        )
