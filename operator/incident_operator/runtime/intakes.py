"""The generic JSON webhook and PagerDuty v3 intakes: a delivery in, incident writes out.

Both make their signals alerts (``reconcile.webhook_intake.signal_item``) and hand them to
an ``AlertIntake`` of their own, so they are deduplicated, decided, suppressed by
maintenance windows and grouped exactly as Alertmanager's alerts; only the incident a
signal opens is shaped as its intake declares it (source, title, summary, link) on its
way to the shared signal router. A PagerDuty acknowledgement sets the incident's
acknowledged-by annotation (docs/intake.md), which the lifecycle reads like a person's.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from incident_operator.adapters.incident_annotations import acknowledge
from incident_operator.adapters.incident_store import read_incident
from incident_operator.api.annotations import ACKNOWLEDGED_BY
from incident_operator.api.incident import Incident, IncidentSource
from incident_operator.reconcile.alerts import AlertItem, PayloadError
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, NewIncident
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.pagerduty_intake import (
    Acknowledge,
    Declare,
    Ignore,
    acknowledger,
    decide,
    incident_summary,
    parse_delivery,
    policy_contacts,
)
from incident_operator.reconcile.signals import signal_detection
from incident_operator.reconcile.webhook_intake import (
    check_webhook,
    parse_webhook,
    shaped_incident,
)
from incident_operator.runtime import clock
from incident_operator.runtime.alert_intake import AlertIntake
from incident_operator.runtime.detection_state import IncidentIndex, Seeder
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.policies import POLICIES, PolicyRegistry
from incident_operator.runtime.signal_router import Routed, SignalRouter

logger = logging.getLogger(__name__)

Shape = Callable[[NewIncident], NewIncident]


class _ShapingRouter(SignalRouter):
    """The shared router, with each new incident shaped by its intake first."""

    def __init__(self, writer: Writer, router: SignalRouter) -> None:
        super().__init__(writer)
        self._router = router
        # (namespace, fingerprint label) -> shape, for the delivery being taken.
        self.shapes: dict[tuple[str, str], Shape] = {}

    async def route(self, new: NewIncident) -> Routed:
        shape = self.shapes.get((new.namespace, new.labels.get(FINGERPRINT_LABEL, "")))
        return await self._router.route(shape(new) if shape else new)


class _SignalTaker:
    """What both intakes share: their alerts taken one delivery at a time."""

    def __init__(
        self,
        seeder: Seeder,
        writer: Writer,
        incidents: IncidentIndex,
        default_namespace: str,
        router: SignalRouter | None,
    ) -> None:
        self._seeder = seeder
        self._incidents = incidents
        self._router = _ShapingRouter(writer, router or SignalRouter(writer))
        self._alerts = AlertIntake(seeder, writer, incidents, default_namespace, self._router)
        self._lock = asyncio.Lock()

    async def take(
        self, items: list[AlertItem], shapes: dict[tuple[str, str], Shape]
    ) -> tuple[int, dict[str, Any]]:
        async with self._lock:
            self._router.shapes = shapes
            status, answer = await self._alerts.take(items, [])
        # Ignored signals are named as the sender wrote them: signals[<index>].
        answer["ignored"] = [
            {
                "signal": entry["alert"].replace("alerts[", "signals["),
                "reason": entry["reason"],
                "message": entry["message"],
            }
            for entry in answer["ignored"]
        ]
        return status, answer

    def started_at(self, namespace: str, fingerprint: str) -> datetime | None:
        incident = self._incidents.open_by_fingerprint(namespace).get(fingerprint)
        detection = signal_detection(incident, fingerprint) if incident else None
        return detection.breach_started_at if detection else None


class WebhookIntake(_SignalTaker):
    """POST /webhook: the generic JSON webhook (reconcile/webhook_intake.py)."""

    def __init__(
        self,
        seeder: Seeder,
        writer: Writer,
        incidents: IncidentIndex,
        default_namespace: str,
        router: SignalRouter | None = None,
    ) -> None:
        super().__init__(seeder, writer, incidents, default_namespace, router)
        self._default_namespace = default_namespace

    async def __call__(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            delivery = parse_webhook(body)
        except PayloadError as error:
            return 400, {"error": str(error)}
        await self._seeder.ensure(
            {signal.namespace or self._default_namespace for signal in delivery.signals}
        )
        items = check_webhook(delivery, self._default_namespace, clock.now(), self.started_at)
        shapes: dict[tuple[str, str], Shape] = {
            (item.namespace, item.fingerprint): partial(
                _shaped,
                source=IncidentSource.WEBHOOK,
                title=signal.title,
                summary=signal.summary or f"Declared by {delivery.source} ({signal.id}).",
                url=signal.url,
            )
            for item, signal in zip(items, delivery.signals, strict=True)
        }
        return await self.take(items, shapes)


def _shaped(
    new: NewIncident, *, source: IncidentSource, title: str, summary: str, url: str | None
) -> NewIncident:
    return shaped_incident(new, source, title, summary, url)


class PagerDutyIntake(_SignalTaker):
    """POST /pagerduty, once its signature is verified (reconcile/pagerduty_intake.py)."""

    def __init__(
        self,
        seeder: Seeder,
        writer: Writer,
        incidents: IncidentIndex,
        namespace: str,
        router: SignalRouter | None = None,
        policies: PolicyRegistry = POLICIES,
    ) -> None:
        super().__init__(seeder, writer, incidents, namespace, router)
        self._namespace = namespace
        self._policies = policies

    async def __call__(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            action = decide(parse_delivery(body), self._namespace, clock.now())
        except PayloadError as error:
            return 400, {"error": str(error)}
        if isinstance(action, Ignore):
            return 200, {"ignored": action.reason}
        if isinstance(action, Declare):
            item, incident = action.item, action.incident
            shape = partial(
                _shaped,
                source=IncidentSource.PAGERDUTY,
                title=item.alert.annotations["summary"],
                summary=incident_summary(incident),
                url=incident.html_url,
            )
            return await self.take([item], {(item.namespace, item.fingerprint): shape})
        return await self._acknowledge(action)

    async def _acknowledge(self, action: Acknowledge) -> tuple[int, dict[str, Any]]:
        incident = await self._find(action)
        if incident is None:
            return 200, {"ignored": "no open Incident here stands for this PagerDuty incident"}
        namespace, name = incident.metadata.namespace, incident.metadata.name
        already = incident.metadata.annotations.get(ACKNOWLEDGED_BY)
        if already:
            return 200, {"unchanged": f"{namespace}/{name}", "acknowledgedBy": already}
        policies = self._policies.in_namespace(namespace)
        governing = governing_policy(incident, policies).policy
        who = acknowledger(action.agent, policy_contacts(governing))
        written = await asyncio.to_thread(acknowledge, namespace, name, incident.metadata.uid, who)
        if not written:
            return 200, {"ignored": f"{namespace}/{name} is gone or was replaced"}
        logger.info("%s/%s acknowledged in PagerDuty by %s", namespace, name, who)
        return 200, {"acknowledged": f"{namespace}/{name}", "acknowledgedBy": who}

    async def _find(self, action: Acknowledge) -> Incident | None:
        """The Incident, read from the API server (the index may lag a fresh one)."""
        if action.own is not None:
            namespace, name, uid = action.own
        else:
            assert action.fingerprint is not None
            await self._seeder.ensure([action.namespace])
            found = self._incidents.open_by_fingerprint(action.namespace).get(action.fingerprint)
            if found is None:
                return None
            namespace, name, uid = action.namespace, found.metadata.name, found.metadata.uid
        raw = await asyncio.to_thread(read_incident, namespace, name)
        if raw is None:
            return None
        incident = Incident.model_validate(raw)
        return incident if incident.metadata.uid == uid else None
