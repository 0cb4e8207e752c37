"""One Alertmanager delivery through the intake, with the API faked: an alert that cannot
be written never blocks the others, and is answered for."""

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
import urllib3
from kubernetes import client
from prometheus_client import REGISTRY

from incident_operator.reconcile.detection import DetectionUpdate, NewIncident
from incident_operator.runtime.alert_intake import AlertIntake
from incident_operator.runtime.detection_state import IncidentIndex
from tests.unit.test_alerts import alert, payload


def _api_error(status: int, reason: str, **status_body: Any) -> client.ApiException:
    error = client.ApiException(status=status, reason=reason)
    error.body = json.dumps({"kind": "Status", "code": status, **status_body})
    return error


MISSING_NAMESPACE = _api_error(
    404,
    "Not Found",
    message='namespaces "gone" not found',
    details={"name": "gone", "kind": "namespaces"},
)


class FakeSeeder:
    async def ensure(self, namespaces: Iterable[str]) -> None:
        list(namespaces)


class FakeWriter:
    """Creates incidents in ``index``; raises ``failures[namespace]`` for that namespace."""

    def __init__(self, index: IncidentIndex, failures: dict[str, Exception]) -> None:
        self.index = index
        self.failures = failures
        self.created: list[str] = []

    async def open(self, new: NewIncident) -> str | None:
        if new.namespace in self.failures:
            raise self.failures[new.namespace]
        manifest = new.manifest()
        manifest["status"] = {"phase": "Detected", "detection": new.detection.to_wire()}
        self.index.put_raw(manifest)
        self.created.append(f"{new.namespace}/{new.name}")
        return new.name

    async def detection(self, update: DetectionUpdate) -> None:
        if update.namespace in self.failures:
            raise self.failures[update.namespace]


def _intake(failures: dict[str, Exception]) -> tuple[AlertIntake, FakeWriter]:
    index = IncidentIndex()
    writer = FakeWriter(index, failures)
    return AlertIntake(FakeSeeder(), writer, index, "ops"), writer  # type: ignore[arg-type]


def _deliver(intake: AlertIntake, body: bytes) -> tuple[int, dict[str, Any]]:
    return asyncio.run(intake(body))


def _ignored_count(reason: str) -> float:
    value = REGISTRY.get_sample_value("incident_operator_alerts_ignored_total", {"reason": reason})
    return value or 0.0


def _delivery() -> bytes:
    """Two good alerts around one whose namespace does not exist, in every order."""
    return payload(
        alert(namespace="shop", fingerprint="aa01"),
        alert(namespace="gone", fingerprint="bb02"),
        alert(namespace="shop", fingerprint="cc03", deployment="web"),
    )


@pytest.mark.parametrize("first", [0, 1, 2])
def test_an_alert_in_a_missing_namespace_is_ignored_and_the_others_are_written(
    first: int,
) -> None:
    alerts = json.loads(_delivery())["alerts"]
    body = payload(*(alerts[first:] + alerts[:first]))
    intake, writer = _intake({"gone": MISSING_NAMESPACE})
    before = _ignored_count("NamespaceNotFound")

    status, answer = _deliver(intake, body)

    assert status == 200, answer
    assert len(answer["opened"]) == 2
    assert all(name.startswith("shop/") for name in answer["opened"])
    assert answer["opened"] == writer.created
    [ignored] = answer["ignored"]
    assert ignored["fingerprint"] == "bb02"
    assert ignored["reason"] == "NamespaceNotFound"
    assert ignored["message"] == '404 Not Found: namespaces "gone" not found'
    assert ignored["alert"] == f"alerts[{(1 - first) % 3}]"
    assert _ignored_count("NamespaceNotFound") == before + 1
    # Alertmanager's next repetition changes nothing and answers the same way.
    status, again = _deliver(intake, body)
    assert (status, again["opened"], again["unchanged"]) == (200, [], 2)
    assert [i["reason"] for i in again["ignored"]] == ["NamespaceNotFound"]


@pytest.mark.parametrize(
    "error",
    [
        _api_error(503, "Service Unavailable"),
        _api_error(429, "Too Many Requests"),
        urllib3.exceptions.MaxRetryError(None, "/apis", "connection refused"),  # type: ignore[arg-type]
    ],
    ids=["503", "429", "not-reached"],
)
def test_a_failure_that_may_pass_answers_500_after_every_other_alert_was_written(
    error: Exception,
) -> None:
    failures: dict[str, Exception] = {"gone": error}
    intake, writer = _intake(failures)

    status, answer = _deliver(intake, _delivery())

    assert status == 500
    assert answer["error"].startswith("Kubernetes API: ")
    assert len(answer["opened"]) == 2
    assert len(writer.created) == 2
    assert answer["ignored"] == []
    # Sent again once the API server is back: only the missing incident is opened.
    del failures["gone"]
    status, again = _deliver(intake, _delivery())
    assert status == 200
    assert [name.split("/")[0] for name in again["opened"]] == ["gone"]
    assert again["unchanged"] == 2


def test_an_alert_the_api_server_refuses_for_good_is_ignored() -> None:
    forbidden = _api_error(403, "Forbidden", message="incidents is forbidden")
    intake, _ = _intake({"gone": forbidden})
    status, answer = _deliver(intake, _delivery())
    assert status == 200
    assert [(i["fingerprint"], i["reason"]) for i in answer["ignored"]] == [("bb02", "Refused")]
    assert len(answer["opened"]) == 2


def test_an_unexpected_error_is_ignored_with_its_reason_not_retried_forever() -> None:
    before = _ignored_count("Failed")
    intake, _ = _intake({"gone": RuntimeError("a bug")})
    status, answer = _deliver(intake, _delivery())
    assert status == 200
    [ignored] = answer["ignored"]
    assert (ignored["reason"], ignored["message"]) == ("Failed", "RuntimeError: a bug")
    assert len(answer["opened"]) == 2
    assert _ignored_count("Failed") == before + 1


def test_alerts_meant_for_nobody_are_listed_and_counted() -> None:
    before = _ignored_count("SeverityNone")
    intake, _ = _intake({})
    status, answer = _deliver(
        intake, payload(alert(severity="none", fingerprint="dd"), alert(namespace="shop"))
    )
    assert status == 200
    assert [(i["alert"], i["reason"]) for i in answer["ignored"]] == [("alerts[0]", "SeverityNone")]
    assert len(answer["opened"]) == 1
    assert _ignored_count("SeverityNone") == before + 1
