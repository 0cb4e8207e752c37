"""PagerDuty Events API v2: trigger, acknowledge and resolve, one dedup key per alert.

Messages to a channel's own routing key carry the incident's dedup key, so a resend
after a crash, or the next escalation step on the same routing key, updates the one
alert instead of opening another. A contact of spec.contacts is paged on its own
service (its own routing key, read by the sender) with a dedup key of its own, so each
step opens a new alert for new people. Acknowledge and resolve close each loop.
"""

from typing import Any

import aiohttp

from incident_operator.adapters.notifiers.base import IDEMPOTENCY_HEADER
from incident_operator.adapters.notifiers.http import post_json
from incident_operator.domain.notifications import (
    PAGERDUTY_SEVERITY,
    NotificationKind,
    OutgoingMessage,
)

DEFAULT_BASE_URL = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"
_SUMMARY_LIMIT = 1024

_ACTION = {
    NotificationKind.ACKNOWLEDGEMENT: "acknowledge",
    NotificationKind.RESOLUTION: "resolve",
}


def pagerduty_body(message: OutgoingMessage, routing_key: str) -> dict[str, Any]:
    action = _ACTION.get(message.kind, "trigger")
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": message.dedup_key,
    }
    if action == "trigger":
        late = " (late)" if message.late else ""
        body["payload"] = {
            "summary": f"{message.subject}{late}"[:_SUMMARY_LIMIT],
            "source": f"{message.namespace}/{message.name}",
            "severity": message.pagerduty_severity or PAGERDUTY_SEVERITY[message.severity],
            "timestamp": message.timestamp.isoformat(),
            "component": message.name,
            "group": message.namespace,
            "class": message.kind.value,
            "custom_details": {
                "incident": message.incident_id,
                "severity": message.severity.value,
                "phase": message.phase,
                "targets": list(message.targets),
                "notification": message.key,
                "late": message.late,
                "text": message.text,
            },
        }
    return body


class PagerDutyNotifier:
    def __init__(self, session: aiohttp.ClientSession, routing_key: str, base_url: str) -> None:
        self._session = session
        self._routing_key = routing_key
        self._url = base_url.rstrip("/") + ENQUEUE_PATH

    async def send(self, message: OutgoingMessage) -> None:
        await post_json(
            self._session,
            self._url,
            pagerduty_body(message, self._routing_key),
            {IDEMPOTENCY_HEADER: message.idempotency_key},
            [self._routing_key],
            "PagerDuty",
        )
