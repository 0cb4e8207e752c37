"""The metrics the operator's alerts and dashboard read are counted where things happen:
deadlines woken late, intake refusals, notification outcomes, escalation steps, queries."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from prometheus_client import REGISTRY

from incident_operator.adapters.alertmanager_receiver import PATH, AlertmanagerReceiver, CachedToken
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import EscalationStatus, NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.notifications import NotificationKind
from incident_operator.runtime import clock
from incident_operator.runtime.delivery import Sender
from incident_operator.runtime.incidents import _count_escalations
from incident_operator.runtime.wakeups import Wakeups

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextmanager
def _change(name: str, **labels: str) -> Iterator[list[float]]:
    """How much the sample ``name{labels}`` grew inside the block, in the list it yields."""
    grown: list[float] = []
    before = _value(name, **labels)
    yield grown
    grown.append(_value(name, **labels) - before)


def test_a_deadline_woken_late_is_observed_with_its_lateness() -> None:
    async def scenario() -> None:
        done = asyncio.Event()
        wakeups = Wakeups()

        async def wake(key: tuple[str, str]) -> None:
            done.set()

        wakeups.schedule(("ns", "late"), clock.now() - timedelta(seconds=90))
        runner = asyncio.create_task(wakeups.run(wake))
        await asyncio.wait_for(done.wait(), timeout=10)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)

    with (
        _change("incident_operator_deadline_lateness_seconds_sum") as lateness,
        _change("incident_operator_deadline_lateness_seconds_bucket", le="60.0") as under_a_minute,
        _change("incident_operator_deadline_lateness_seconds_count") as count,
    ):
        asyncio.run(scenario())
    assert count == [1]
    assert 90 <= lateness[0] < 100
    assert under_a_minute == [0]


def test_intake_deliveries_are_counted_by_path_and_code() -> None:
    async def accept(body: bytes) -> tuple[int, dict[str, Any]]:
        return 200, {}

    async def scenario() -> list[int]:
        receiver = AlertmanagerReceiver("127.0.0.1", 0, CachedToken(lambda: "s3cret"), accept)
        await receiver.start()
        base = f"http://127.0.0.1:{receiver.bound_port}"
        statuses = []
        try:
            async with aiohttp.ClientSession() as session:
                for path, token in ((PATH, "s3cret"), (PATH, "wrong"), ("/wp-login.php", "x")):
                    headers = {"Authorization": f"Bearer {token}"}
                    async with session.post(base + path, data=b"{}", headers=headers) as answer:
                        statuses.append(answer.status)
        finally:
            await receiver.stop()
        return statuses

    metric = "incident_operator_intake_requests_total"
    with (
        _change(metric, path=PATH, code="200") as accepted,
        _change(metric, path=PATH, code="401") as refused,
        _change(metric, path="other", code="404") as unknown,
    ):
        assert asyncio.run(scenario()) == [200, 401, 404]
    assert (accepted, refused, unknown) == ([1], [1], [1])


def test_a_failed_notification_is_counted_with_its_channel_type() -> None:
    incident = Incident.model_validate(
        {
            "metadata": {"name": "api", "namespace": "shop", "uid": "uid-1"},
            "spec": {"title": "Checkout errors", "severity": "P1"},
            "status": {"id": "INC-0042", "phase": "Detected", "detectedAt": T0.isoformat()},
        }
    )
    policy = EscalationPolicy.model_validate(
        {
            "metadata": {"name": "team", "namespace": "shop"},
            "spec": {"channels": [{"name": "app", "type": "slackApp", "chatChannel": "#inc"}]},
        }
    )
    record = NotificationRecord(
        key="declaration/app",
        kind=NotificationKind.DECLARATION,
        channel="app",
        due_at=T0,
        created_at=T0,
    )

    async def send() -> None:
        sender = Sender(send_seconds=5)
        try:
            (outcome,) = await sender.send_all(incident, policy, [record])
        finally:
            await sender.close()
        # The operator runs without its Slack app here: the send cannot succeed.
        assert outcome.error is not None

    metric = "incident_operator_notifications_total"
    with (
        _change(metric, channel="slackApp", outcome="failed") as failed,
        _change(metric, channel="slackApp", outcome="sent") as sent,
    ):
        asyncio.run(send())
    assert (failed, sent) == ([1], [0])


def _step(key: str, cause: str) -> dict[str, Any]:
    return {
        "key": key,
        "severity": key.split("-")[0],
        "ordinal": int(key.split("-")[1]),
        "after": "15m",
        "dueAt": T0.isoformat(),
        "reachedAt": T0.isoformat(),
        "cause": cause,
        "reason": "test",
    }


def test_each_escalation_step_is_counted_once_with_what_escalated_it() -> None:
    before = EscalationStatus.model_validate({"steps": [_step("P1-0", "Schedule")]})
    after = EscalationStatus.model_validate(
        {
            "steps": [
                _step("P1-0", "Schedule"),
                _step("P1-1", "Trigger"),
                _step("P2-1", "Superseded"),
            ],
            "triggers": [
                {
                    "name": "dataAtRisk",
                    "instance": "x",
                    "firedAt": T0.isoformat(),
                    "message": "m",
                    "step": "P1-1",
                }
            ],
        }
    )
    metric = "incident_operator_escalations_total"
    with (
        _change(metric, severity="P1", trigger="dataAtRisk") as triggered,
        _change(metric, severity="P1", trigger="Schedule") as scheduled,
        _change(metric, severity="P2", trigger="Superseded") as superseded,
    ):
        _count_escalations(before, after)
        _count_escalations(after, after)
    assert (triggered, scheduled, superseded) == ([1], [0], [0])
