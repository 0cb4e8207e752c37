"""The per-namespace ID counter: a compare-and-swap that starts from what it last wrote."""

import copy
from typing import Any

import pytest
from kubernetes import client

from incident_operator.adapters.incident_ids import (
    COUNTER_CONFIGMAP,
    IdAllocationError,
    IncidentIdAllocator,
)


class FakeCore:
    """ConfigMaps with resourceVersions and the API server's compare-and-swap."""

    def __init__(self) -> None:
        self.stored: dict[str, client.V1ConfigMap] = {}
        self.calls: list[str] = []
        self._version = 0

    def _bump(self, configmap: client.V1ConfigMap) -> client.V1ConfigMap:
        self._version += 1
        configmap.metadata.resource_version = str(self._version)
        return copy.deepcopy(configmap)

    def read_namespaced_config_map(self, name: str, namespace: str) -> client.V1ConfigMap:
        self.calls.append("read")
        if namespace not in self.stored:
            raise client.ApiException(status=404)
        return copy.deepcopy(self.stored[namespace])

    def create_namespaced_config_map(self, namespace: str, body: Any, **_: Any) -> Any:
        self.calls.append("create")
        if namespace in self.stored:
            raise client.ApiException(status=409)
        self.stored[namespace] = self._bump(copy.deepcopy(body))
        return copy.deepcopy(self.stored[namespace])

    def replace_namespaced_config_map(self, name: str, namespace: str, body: Any, **_: Any) -> Any:
        self.calls.append("replace")
        current = self.stored[namespace]
        if body.metadata.resource_version != current.metadata.resource_version:
            raise client.ApiException(status=409)
        self.stored[namespace] = self._bump(copy.deepcopy(body))
        return copy.deepcopy(self.stored[namespace])

    def someone_else_takes(self, namespace: str, number: int) -> None:
        """Another writer (a replica that led before) moved the counter on."""
        current = self.stored[namespace]
        current.data = {"lastNumber": str(number), "lastAssignedTo": "other"}
        self._bump(current)


def test_ids_count_up_with_one_call_each_once_the_counter_is_known() -> None:
    core = FakeCore()
    allocator = IncidentIdAllocator(core)  # type: ignore[arg-type]
    ids = [allocator.allocate("shop", f"uid-{n}") for n in range(4)]
    assert ids == ["INC-0001", "INC-0002", "INC-0003", "INC-0004"]
    assert core.calls == ["read", "create", "replace", "replace", "replace"]
    assert core.stored["shop"].metadata.name == COUNTER_CONFIGMAP


def test_the_same_incident_asking_again_gets_the_same_id() -> None:
    core = FakeCore()
    allocator = IncidentIdAllocator(core)  # type: ignore[arg-type]
    first = allocator.allocate("shop", "uid-a")
    assert allocator.allocate("shop", "uid-a") == first
    # A fresh allocator (a restarted operator) reads the counter and reuses it too.
    assert IncidentIdAllocator(core).allocate("shop", "uid-a") == first  # type: ignore[arg-type]


def test_a_counter_moved_on_by_someone_else_is_read_again_never_reused() -> None:
    core = FakeCore()
    allocator = IncidentIdAllocator(core)  # type: ignore[arg-type]
    allocator.allocate("shop", "uid-a")
    core.someone_else_takes("shop", 7)
    assert allocator.allocate("shop", "uid-b") == "INC-0008"
    assert core.calls[-3:] == ["replace", "read", "replace"]


def test_namespaces_count_apart() -> None:
    core = FakeCore()
    allocator = IncidentIdAllocator(core)  # type: ignore[arg-type]
    assert allocator.allocate("shop", "a") == allocator.allocate("search", "b") == "INC-0001"


def test_endless_conflicts_give_up_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FakeCore()
    allocator = IncidentIdAllocator(core)  # type: ignore[arg-type]
    allocator.allocate("shop", "a")

    def always_conflict(*_: Any, **__: Any) -> Any:
        raise client.ApiException(status=409)

    monkeypatch.setattr(core, "replace_namespaced_config_map", always_conflict)
    with pytest.raises(IdAllocationError, match="could not allocate an incident number in shop"):
        allocator.allocate("shop", "b")
