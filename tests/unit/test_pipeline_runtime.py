"""The incident pipeline's runtime with the API calls replaced by an in-memory store.

What is checked here is the I/O order and isolation, not the decision (test_pipeline.py):
one incident whose decision raises is reported on that incident and retried with backoff
while the others are decided; one status write a pass; the echo of our own write is not
decided again.
"""

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.config import Settings
from incident_operator.reconcile import pipeline as decisions
from incident_operator.runtime import events as runtime_events
from incident_operator.runtime import incidents as runtime
from incident_operator.runtime import policies
from incident_operator.runtime.policies import PolicyRegistry


class Store:
    """Incidents by name, with resourceVersions, as the API server keeps them."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, str, str]] = []
        self._version = 0

    def create(self, name: str, severity: str = "P3") -> dict[str, Any]:
        self._version += 1
        body = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {
                "name": name,
                "namespace": "shop",
                "uid": f"uid-{name}",
                "generation": 1,
                "resourceVersion": str(self._version),
            },
            "spec": {"title": f"{name} is slow", "severity": severity},
        }
        self.objects[name] = body
        return copy.deepcopy(body)

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get(name)
        return copy.deepcopy(found) if found else None

    def write_status(
        self, namespace: str, name: str, resource_version: str, difference: dict[str, Any]
    ) -> dict[str, Any] | None:
        body = self.objects[name]
        if body["metadata"]["resourceVersion"] != resource_version:
            return None
        self.writes.append((name, difference))
        status = body.setdefault("status", {})
        for key, value in difference.items():
            if value is None:
                status.pop(key, None)
            elif isinstance(value, dict) and isinstance(status.get(key), dict):
                status[key] = {**status[key], **value}
            else:
                status[key] = value
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        return copy.deepcopy(body)

    def post_event(self, body: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.events.append((body["metadata"]["name"], type_, reason))


class Allocator:
    def __init__(self, core: object) -> None:
        self.next = 0

    def allocate(self, namespace: str, uid: str) -> str:
        self.next += 1
        return f"INC-{self.next:04d}"


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    found = Store()
    registry = PolicyRegistry()
    registry.seed([])
    monkeypatch.setattr(runtime, "POLICIES", registry)
    monkeypatch.setattr(policies, "POLICIES", registry)
    monkeypatch.setattr(runtime, "read_incident", found.read)
    monkeypatch.setattr(runtime, "write_status", found.write_status)
    monkeypatch.setattr(runtime, "post_event", found.post_event)
    monkeypatch.setattr(runtime_events, "post_event", found.post_event)
    monkeypatch.setattr(runtime, "IncidentIdAllocator", Allocator)
    monkeypatch.setattr(runtime, "core", lambda: None)
    return found


def _failing_for(name: str) -> Any:
    real = decisions.decide_incident

    def decide(inputs: decisions.IncidentInputs) -> decisions.IncidentDecision:
        if inputs.incident.metadata.name == name:
            raise RuntimeError("a bug that only this incident meets")
        return real(inputs)

    return decide


def test_one_incident_that_fails_is_reported_and_retried_while_the_others_go_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "decide_incident", _failing_for("broken"))

    async def scenario() -> runtime.IncidentPipeline:
        pipeline = runtime.IncidentPipeline(Settings())
        await asyncio.gather(
            pipeline.on_event(store.create("broken")),
            pipeline.on_event(store.create("fine-1")),
            pipeline.on_event(store.create("fine-2")),
        )
        await pipeline.stop()
        return pipeline

    pipeline = asyncio.run(scenario())
    for name in ("fine-1", "fine-2"):
        status = store.objects[name]["status"]
        assert status["phase"] == "Detected"
        assert status["id"].startswith("INC-")
    broken = store.objects["broken"]["status"]
    assert "phase" not in broken
    (ready,) = [c for c in broken["conditions"] if c["type"] == "Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileFailed")
    assert "a bug that only this incident meets" in ready["message"]
    assert ("broken", "Warning", "ReconcileFailed") in store.events
    # Retried with backoff: woken again later, not at once and not never.
    due = pipeline.wakeups.due_at(("shop", "broken"))
    assert due is not None
    failed_at = datetime.fromisoformat(ready["lastTransitionTime"].replace("Z", "+00:00"))
    assert due > failed_at + timedelta(milliseconds=400)


def test_a_new_incident_takes_one_status_write_and_its_echo_is_not_decided_again(
    store: Store,
) -> None:
    async def scenario() -> None:
        pipeline = runtime.IncidentPipeline(Settings())
        await pipeline.on_event(store.create("api", severity="P3"))
        written = len(store.writes)
        # The watch brings our own write back: nothing to decide from it.
        await pipeline.on_event(store.read("shop", "api") or {})
        assert len(store.writes) == written
        await pipeline.stop()

    asyncio.run(scenario())
    # ID, phase, clocks, conditions and timeline in one write.
    assert [name for name, _ in store.writes] == ["api"]
    (difference,) = [d for _, d in store.writes]
    assert {"id", "phase", "detectedAt", "conditions", "timeline"} <= set(difference)


def test_a_deadline_whose_read_fails_is_retried_with_backoff(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API server is down when the deadline comes: the incident must not be dropped.
    store.create("api")
    reads = {"failures": 1}
    real_read = store.read

    def read(namespace: str, name: str) -> dict[str, Any] | None:
        if reads["failures"]:
            reads["failures"] -= 1
            raise ConnectionError("the API server is restarting")
        return real_read(namespace, name)

    monkeypatch.setattr(runtime, "read_incident", read)

    async def scenario() -> runtime.IncidentPipeline:
        pipeline = runtime.IncidentPipeline(Settings())
        await pipeline._wake(("shop", "api"))
        due = pipeline.wakeups.due_at(("shop", "api"))
        assert due is not None, "dropped after a failed read"
        assert "status" not in store.objects["api"]
        await pipeline._wake(("shop", "api"))
        await pipeline.stop()
        return pipeline

    asyncio.run(scenario())
    assert store.objects["api"]["status"]["phase"] == "Detected"


def _policy(name: str, group: str) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": name, "namespace": "shop", "generation": 1},
            "spec": {"default": True, "rollback": {"approverGroup": group}},
        }
    )


def _policy_resolved(store: Store, name: str) -> dict[str, Any]:
    conditions = store.objects[name]["status"]["conditions"]
    found: dict[str, Any] = next(c for c in conditions if c["type"] == "PolicyResolved")
    return found


def test_no_incident_is_decided_before_the_policies_are_listed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = PolicyRegistry()
    monkeypatch.setattr(runtime, "POLICIES", registry)

    async def at_once(function: Any, *args: Any) -> Any:
        return function(*args)

    # The store's calls without threads: unless it waits for the policies, a pass writes
    # within the few turns of the loop given below.
    monkeypatch.setattr(runtime, "_blocking", at_once)

    async def scenario() -> None:
        pipeline = runtime.IncidentPipeline(Settings())
        deciding = asyncio.create_task(pipeline.on_event(store.create("api")))
        for _ in range(20):
            await asyncio.sleep(0)  # let the pass run as far as it can
        assert not deciding.done()
        assert store.writes == [], "decided before the policies were known"
        registry.seed([_policy("shop", "sre")])
        await asyncio.wait_for(deciding, timeout=10)
        await pipeline.stop()

    asyncio.run(scenario())
    resolved = _policy_resolved(store, "api")
    assert (resolved["status"], resolved["reason"]) == ("True", "NamespaceDefault")


def test_a_policy_change_replans_the_incidents_of_its_namespace_at_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> runtime.IncidentPipeline:
        pipeline = runtime.IncidentPipeline(Settings())
        await pipeline.on_event(store.create("api"))
        assert _policy_resolved(store, "api")["reason"] == "NoPolicy"
        assert runtime.POLICIES.put(_policy("shop", "sre"))
        pipeline.replan_namespace("shop")
        due = pipeline.wakeups.due_at(("shop", "api"))
        assert due is not None
        assert due <= datetime.now(UTC)
        await pipeline._wake(("shop", "api"))
        await pipeline.stop()
        return pipeline

    asyncio.run(scenario())
    assert _policy_resolved(store, "api")["reason"] == "NamespaceDefault"


def test_an_incident_opened_by_detection_waits_for_detections_first_write(
    store: Store,
) -> None:
    body = store.create("breach")
    created = datetime.now(UTC)
    for stored in (store.objects["breach"], body):
        stored["metadata"]["creationTimestamp"] = created.isoformat()
        stored["spec"]["source"] = "alertmanager"

    async def scenario() -> runtime.IncidentPipeline:
        pipeline = runtime.IncidentPipeline(Settings())
        await pipeline.on_event(body)
        await pipeline.stop()
        return pipeline

    pipeline = asyncio.run(scenario())
    assert store.writes == [], "raced detection's write of status.detection"
    # Decided at the latest when the grace ends, should detection's write never come.
    assert pipeline.wakeups.due_at(("shop", "breach")) == created + runtime.DETECTION_WRITE_GRACE


def test_nothing_to_propose_spares_workload_reads_for_30_seconds_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docs/rollback.md: a fix rolled out after detection is seen within about 30 s.
    incident = Incident.model_validate(
        {
            "metadata": {"name": "web", "namespace": "n", "uid": "u-1", "generation": 3},
            "spec": {"title": "Web down", "severity": "P1"},
        }
    )
    settled_at = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    memory = runtime._Memory()
    memory.nothing_to_propose = ("u-1", 3, settled_at)
    now = settled_at + timedelta(seconds=29)
    monkeypatch.setattr(runtime.clock, "now", lambda: now)
    assert runtime.IncidentPipeline._settled(incident, memory)
    now = settled_at + runtime.WORKLOADS_RECHECKED_EVERY
    assert not runtime.IncidentPipeline._settled(incident, memory)
    # A changed spec (another generation) is never settled by an older answer.
    now = settled_at
    memory.nothing_to_propose = ("u-1", 2, settled_at)
    assert not runtime.IncidentPipeline._settled(incident, memory)
