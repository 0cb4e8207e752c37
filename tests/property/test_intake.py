"""Alertmanager's intake answers 200 or 400 to any body, never 500.

A 500 makes Alertmanager send the delivery again, forever; only the API server failing
in a way that may pass deserves one. Here the API server is a stub that always writes,
so every 500 would be the intake's own failure. The intake is exercised directly and
through the HTTP receiver on 127.0.0.1.
"""

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import event, given

from incident_operator.adapters.alertmanager_receiver import (
    PATH,
    AlertmanagerReceiver,
    CachedToken,
)
from incident_operator.domain.phases import Phase
from incident_operator.reconcile.detection import DetectionUpdate, NewIncident
from incident_operator.runtime.alert_intake import AlertIntake
from incident_operator.runtime.detection_state import IncidentIndex
from tests.property.strategies import payload_bodies

TOKEN = "property-token"


class _Seeder:
    async def ensure(self, namespaces: Iterable[str]) -> None:
        list(namespaces)


class _Writer:
    """Writes into the index as the API server and the informer would, and never fails."""

    def __init__(self, incidents: IncidentIndex) -> None:
        self._incidents = incidents

    async def open(self, new: NewIncident) -> str | None:
        manifest = new.manifest()
        manifest["metadata"]["uid"] = f"uid-{new.name}"
        manifest["status"] = {"phase": Phase.DETECTED.value, "detection": new.detection.to_wire()}
        # The API server would refuse what the models refuse; the intake must not build it.
        assert self._incidents.put_raw(manifest) is not None, manifest
        return new.name

    async def detection(self, update: DetectionUpdate) -> None:
        return None


def _intake() -> AlertIntake:
    incidents = IncidentIndex()
    return AlertIntake(_Seeder(), _Writer(incidents), incidents, "alerts")  # type: ignore[arg-type]


def _check(status: int, answer: dict[str, Any]) -> None:
    event(f"{status}, {'opened' if answer.get('opened') else 'none opened'}")
    assert status in (200, 400), (status, answer)
    json.dumps(answer)
    if status == 400:
        assert answer["error"]


@given(body=payload_bodies())
def test_the_intake_answers_200_or_400(body: bytes) -> None:
    status, answer = asyncio.run(_intake()(body))
    _check(status, answer)


@pytest.fixture(scope="module")
def receiver_url() -> Iterator[str]:
    """The real HTTP receiver on 127.0.0.1, in a thread with its own event loop."""
    loop = asyncio.new_event_loop()
    receiver = AlertmanagerReceiver("127.0.0.1", 0, CachedToken(lambda: TOKEN), _intake())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(receiver.start(), loop).result(timeout=10)
    try:
        yield f"http://127.0.0.1:{receiver.bound_port}{PATH}"
    finally:
        asyncio.run_coroutine_threadsafe(receiver.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


# No proxy from the environment: the receiver is on the loopback address.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@given(body=payload_bodies())
def test_the_receiver_answers_200_or_400(receiver_url: str, body: bytes) -> None:
    request = urllib.request.Request(
        receiver_url,
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with _OPENER.open(request, timeout=10) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    _check(status, json.loads(text))
