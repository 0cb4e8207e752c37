"""The detection scheduler: one policy that cannot be evaluated is reported and skipped,
every other keeps its cadence, and stopping takes a bounded time whatever the tasks do."""

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from incident_operator.api.escalation_policy import Detection, EscalationPolicy
from incident_operator.domain.detection import InstantVector, vector_of
from incident_operator.runtime.detection import DetectionService, Detector, stop_tasks
from incident_operator.runtime.detection_state import IncidentIndex, WorkloadIndex
from incident_operator.runtime.policies import PolicyRegistry

DEADLINE = 10.0
HUGE = "9999999999999h"


def _policy(namespace: str, interval: str = "1s") -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "runbook", "namespace": namespace, "generation": 2},
            "spec": {
                "selector": {"matchLabels": {"tier": "api"}},
                "detection": {
                    "interval": interval,
                    "rules": [{"name": "cpu", "signal": "cpuUsage"}],
                },
            },
        }
    )


def _with_interval(policy: EscalationPolicy, interval: str) -> EscalationPolicy:
    """``policy`` with an interval the schema refuses: built without validation, as an
    object the API server accepted before its bounds were added would be read."""
    detection = Detection.model_construct(**{**dict(policy.spec.detection), "interval": interval})
    spec = policy.spec.model_construct(**{**dict(policy.spec), "detection": detection})
    return EscalationPolicy.model_construct(**{**dict(policy), "spec": spec})


class FakePrometheus:
    """Counts queries per namespace; a namespace in ``stuck`` never answers and ignores
    cancellation until ``release`` is set."""

    def __init__(self, stuck: Iterable[str] = ()) -> None:
        self.queries: dict[str, int] = {}
        self.polled = asyncio.Event()
        self.stuck = set(stuck)
        self.release = asyncio.Event()

    async def query(self, promql: str, previous: InstantVector | None = None) -> InstantVector:
        namespace = promql.split('namespace="', 1)[1].split('"', 1)[0]
        self.queries[namespace] = self.queries.get(namespace, 0) + 1
        self.polled.set()
        while namespace in self.stuck and not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                continue  # a task that does not stop when told to
        return vector_of([])


class FakeSeeder:
    async def ensure(self, namespaces: Iterable[str]) -> None:
        list(namespaces)


class FakeWriter:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, str, str, str]] = []

    async def policy_status(self, policy: EscalationPolicy, status: dict[str, Any]) -> None:
        self.statuses.append((policy.metadata.namespace, status))

    async def policy_event(
        self, policy: EscalationPolicy, type_: str, reason: str, message: str
    ) -> None:
        self.events.append((policy.metadata.namespace, type_, reason, message))

    async def open(self, *_: Any) -> None:
        raise AssertionError("nothing is opened here")

    async def detection(self, *_: Any) -> None:
        raise AssertionError("nothing is updated here")


def _detector(
    prometheus: FakePrometheus,
    writer: FakeWriter,
    *policies: EscalationPolicy,
    registry: PolicyRegistry | None = None,
) -> Detector:
    registry = registry or PolicyRegistry()
    registry.seed(policies)
    return Detector(
        prometheus,  # type: ignore[arg-type]
        FakeSeeder(),  # type: ignore[arg-type]
        writer,  # type: ignore[arg-type]
        registry,
        WorkloadIndex(),
        IncidentIndex(),
    )


async def _until(check: Any, what: str) -> None:
    """Waits for ``check()`` to hold, at most DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def test_a_policy_whose_interval_overflows_is_reported_and_the_others_keep_polling() -> None:
    good = _policy("good")
    bad = _with_interval(_policy("bad"), HUGE)
    prometheus, writer = FakePrometheus(), FakeWriter()

    async def scenario() -> None:
        service = DetectionService.polling(_detector(prometheus, writer, bad, good))
        started = time.monotonic()
        try:
            # The good policy keeps its 1 s cadence: three cycles in about two seconds.
            await _until(lambda: prometheus.queries.get("good", 0) >= 3, "three good cycles")
            assert time.monotonic() - started < 4.0
            await _until(lambda: writer.events, "the bad policy's Event")
        finally:
            await service.stop()
        assert "bad" not in prometheus.queries

    asyncio.run(scenario())

    bad_statuses = [status for namespace, status in writer.statuses if namespace == "bad"]
    [status] = bad_statuses  # written once, not on every tick
    [condition] = status["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "MetricsAvailable",
        "False",
        "DetectionFailed",
    )
    assert f"spec.detection.interval '{HUGE}' cannot be scheduled" in condition["message"]
    assert condition["observedGeneration"] == 2
    [event] = writer.events  # one Event, however many ticks passed
    assert event[:3] == ("bad", "Warning", "DetectionFailed")
    assert event[3] == condition["message"]
    # The good policy's own condition is about its metrics, never about the bad one.
    good_reasons = {
        c["reason"] for ns, status in writer.statuses if ns == "good" for c in status["conditions"]
    }
    assert good_reasons == {"NoWorkloadsSelected"}


def test_a_policy_is_tried_again_once_its_spec_changes() -> None:
    registry_policy = _with_interval(_policy("fixed"), "0s")
    prometheus, writer = FakePrometheus(), FakeWriter()

    async def scenario() -> None:
        registry = PolicyRegistry()
        service = DetectionService.polling(
            _detector(prometheus, writer, registry_policy, registry=registry)
        )
        try:
            await _until(lambda: writer.events, "the Event about the zero interval")
            assert "fixed" not in prometheus.queries
            registry.put(_policy("fixed", "1s"))
            await _until(lambda: prometheus.queries.get("fixed", 0) >= 1, "a cycle once fixed")
            await _until(
                lambda: writer.statuses[-1][1]["conditions"][0]["reason"] != "DetectionFailed",
                "MetricsAvailable to leave DetectionFailed",
            )
        finally:
            await service.stop()

    asyncio.run(scenario())
    assert "must be more than 0" in writer.events[0][3]


def test_a_cycle_that_raises_is_reported_on_its_policy_only() -> None:
    class Exploding(FakePrometheus):
        async def query(self, promql: str, previous: InstantVector | None = None) -> Any:
            if 'namespace="broken"' in promql:
                raise ZeroDivisionError("a bug in one policy's evaluation")
            return await super().query(promql, previous)

    prometheus, writer = Exploding(), FakeWriter()

    async def scenario() -> None:
        service = DetectionService.polling(
            _detector(prometheus, writer, _policy("broken"), _policy("fine"))
        )
        try:
            await _until(lambda: prometheus.queries.get("fine", 0) >= 2, "two cycles of fine")
            await _until(lambda: writer.events, "the broken policy's Event")
        finally:
            await service.stop()

    asyncio.run(scenario())
    [event] = writer.events
    assert event[:3] == ("broken", "Warning", "DetectionFailed")
    assert "ZeroDivisionError: a bug in one policy's evaluation" in event[3]


def test_stopping_takes_a_bounded_time_whatever_the_cycles_do() -> None:
    prometheus, writer = FakePrometheus(stuck=["stuck"]), FakeWriter()
    bound = 0.5

    async def scenario() -> float:
        service = DetectionService.polling(
            _detector(prometheus, writer, _policy("stuck"), _with_interval(_policy("x"), HUGE))
        )
        await asyncio.wait_for(prometheus.polled.wait(), DEADLINE)
        started = time.monotonic()
        await service.stop(seconds=bound)  # returns, and raises nothing
        elapsed = time.monotonic() - started
        prometheus.release.set()  # let the stubborn cycle end, so the loop can close
        return elapsed

    elapsed = asyncio.run(scenario())
    assert bound <= elapsed < bound + 1.0


def test_stopping_logs_what_a_task_raised_instead_of_raising_it() -> None:
    async def scenario() -> None:
        async def fails() -> None:
            raise OverflowError("Python int too large to convert to C int")

        task = asyncio.create_task(fails())
        await asyncio.wait([task])
        await stop_tasks("detection", [task], 1.0)  # must not raise

    asyncio.run(scenario())
