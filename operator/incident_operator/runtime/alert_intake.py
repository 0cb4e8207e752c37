"""The Alertmanager intake: one webhook delivery in, incident writes out.

The receiver (adapters/alertmanager_receiver.py) checks the bearer token and hands the
body here; ``reconcile.alerts`` decides what each alert means for its incident, and the
detection writer carries it out. Deliveries are taken one at a time, so two carrying the
same alert cannot both open an incident.
"""

import asyncio
from typing import Any

from kubernetes import client

from incident_operator.reconcile.alerts import PayloadError, check_alerts, parse_payload, plan_alert
from incident_operator.reconcile.detection import DetectionUpdate, NewIncident
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import IncidentIndex, Seeder
from incident_operator.runtime.detection_writer import Writer


class AlertIntake:
    """Turns one webhook delivery into incident writes; answers (HTTP status, body)."""

    def __init__(
        self, seeder: Seeder, writer: Writer, incidents: IncidentIndex, default_namespace: str
    ) -> None:
        self._seeder = seeder
        self._writer = writer
        self._incidents = incidents
        # Alerts without a namespace label open their incident here.
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
                    current = self._incidents.open_by_fingerprint(item.namespace).get(
                        item.fingerprint
                    )
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
