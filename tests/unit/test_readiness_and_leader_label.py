"""Readiness by role (standby, leader, stopping), /readyz's answer, and the leader label.

A standby that can reach the API server is ready, so Kubernetes counts it available; the
leader is ready once its watches run. The leader label on the Pod is what routes
Alertmanager's webhooks, written only when it differs and never fatal when it fails.
"""

import argparse
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from kubernetes import client

from incident_operator.adapters import health_server, leader_election
from incident_operator.adapters.health_server import API_FRESHNESS_SECONDS, Readiness, Role
from incident_operator.adapters.leader_election import LeaderElector, LeaseSettings
from incident_operator.adapters.leader_label import LeaderLabel
from incident_operator.api.annotations import LEADER_LABEL
from incident_operator.config import Settings, add_run_arguments

NO_API = "the API server has not answered recently"
NO_WATCHES = "the watches have not started"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _readiness(
    role: Role, *, watching: bool, answered_ago: float | None, clock: FakeClock
) -> Readiness:
    readiness = Readiness(clock=clock)
    readiness.role = role
    if watching:
        readiness.watching.set()
    if answered_ago is not None:
        clock.now -= answered_ago
        readiness.api_ok()
        clock.now += answered_ago
    return readiness


# ---------------------------------------------------------------- readiness by role


@pytest.mark.parametrize(
    ("role", "watching", "answered_ago", "problems"),
    [
        # A standby waiting for the Lease: ready while the API server answers.
        (Role.STANDBY, False, 2.0, []),
        (Role.STANDBY, False, API_FRESHNESS_SECONDS, []),
        (Role.STANDBY, False, API_FRESHNESS_SECONDS + 1, [NO_API]),
        (Role.STANDBY, False, None, [NO_API]),
        # The leader: ready once kopf watches and the API server answered recently.
        (Role.LEADER, True, 5.0, []),
        (Role.LEADER, False, 5.0, [NO_WATCHES]),
        (Role.LEADER, True, API_FRESHNESS_SECONDS + 1, [NO_API]),
        (Role.LEADER, False, None, [NO_WATCHES, NO_API]),
        # Stopped leading: on its way out, whatever else holds.
        (Role.STOPPING, True, 1.0, ["stopping: this replica no longer leads"]),
    ],
    ids=[
        "standby-answered",
        "standby-at-the-freshness-limit",
        "standby-stale",
        "standby-never-answered",
        "leader-ready",
        "leader-before-watches",
        "leader-stale",
        "leader-nothing-yet",
        "stopping",
    ],
)
def test_readiness_depends_on_the_role(
    role: Role, watching: bool, answered_ago: float | None, problems: list[str]
) -> None:
    readiness = _readiness(role, watching=watching, answered_ago=answered_ago, clock=FakeClock())
    assert readiness.problems() == problems


def test_an_answer_long_ago_stops_counting_as_time_passes() -> None:
    clock = FakeClock()
    readiness = _readiness(Role.STANDBY, watching=False, answered_ago=0.0, clock=clock)
    assert readiness.problems() == []
    clock.now += API_FRESHNESS_SECONDS + 0.5
    assert readiness.problems() == [NO_API]
    readiness.api_ok()
    assert readiness.problems() == []


@pytest.mark.parametrize(
    ("role", "watching", "answered_ago", "expected"),
    [
        (Role.STANDBY, False, 1.0, (True, "ready (standby)\n")),
        (Role.LEADER, True, 1.0, (True, "ready (leader)\n")),
        (Role.LEADER, False, 1.0, (False, f"not ready (leader)\n{NO_WATCHES}\n")),
        (Role.STANDBY, False, None, (False, f"not ready (standby)\n{NO_API}\n")),
    ],
    ids=["standby", "leader", "leader-not-watching", "standby-no-api"],
)
def test_report_names_the_role_and_the_problems(
    role: Role, watching: bool, answered_ago: float | None, expected: tuple[bool, str]
) -> None:
    readiness = _readiness(role, watching=watching, answered_ago=answered_ago, clock=FakeClock())
    assert readiness.report() == expected


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Readiness]]:
    """The health server on a free port, answering from a fresh Readiness."""
    readiness = Readiness()
    monkeypatch.setattr(health_server, "READINESS", readiness)
    server = health_server.serve("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", readiness
    finally:
        server.shutdown()
        server.server_close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_readyz_answers_200_on_a_standby_and_503_with_reasons_otherwise(
    served: tuple[str, Readiness],
) -> None:
    url, readiness = served
    assert _get(f"{url}/readyz") == (503, f"not ready (standby)\n{NO_API}\n")
    readiness.api_ok()
    assert _get(f"{url}/readyz") == (200, "ready (standby)\n")
    readiness.role = Role.LEADER
    assert _get(f"{url}/readyz") == (503, f"not ready (leader)\n{NO_WATCHES}\n")
    readiness.watching.set()
    assert _get(f"{url}/readyz") == (200, "ready (leader)\n")
    assert _get(f"{url}/healthz") == (200, "ok\n")


# ------------------------------------------------------ the elector's callbacks


def _scripted(outcomes: list[bool | Exception]) -> Callable[[], bool]:
    """try_acquire_or_renew answering from ``outcomes`` in turn, raising the exceptions."""

    def attempt() -> bool:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return attempt


def test_the_standby_hears_of_every_answered_lease_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leader_election, "api_client", lambda: None)
    elector = LeaderElector(LeaseSettings("ns", "lease", "me", retry_every=0.0))
    # Two answers saying another replica leads, a failed call, then the Lease.
    outcomes: list[bool | Exception] = [
        False,
        False,
        client.ApiException(status=500, reason="etcd is sad"),
        True,
    ]
    monkeypatch.setattr(elector, "try_acquire_or_renew", _scripted(outcomes))
    answered: list[None] = []
    assert elector.wait_until_leader(threading.Event(), answered=lambda: answered.append(None))
    assert len(answered) == 3
    assert not outcomes


def test_every_renewal_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leader_election, "api_client", lambda: None)
    elector = LeaderElector(LeaseSettings("ns", "lease", "me", renew_every=0.0))
    stop, lost = threading.Event(), threading.Event()
    renewals: list[None] = []

    def renewed() -> None:
        renewals.append(None)
        if len(renewals) == 3:
            stop.set()

    monkeypatch.setattr(elector, "try_acquire_or_renew", lambda: True)
    elector.keep_leading(stop, lost, renewed=renewed)
    assert len(renewals) == 3
    assert not lost.is_set()


# ------------------------------------------------------------------ the leader label


class FakePods:
    """read_namespaced_pod and patch_namespaced_pod of one Pod, failing when told to."""

    def __init__(self, labels: dict[str, str] | None = None) -> None:
        self.labels = dict(labels or {})
        self.patches: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.reads = 0

    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> Any:
        assert (namespace, name) == ("ops", "operator-0")
        self.reads += 1
        if self.fail is not None:
            raise self.fail
        return SimpleNamespace(metadata=SimpleNamespace(labels=dict(self.labels) or None))

    def patch_namespaced_pod(self, name: str, namespace: str, body: Any, **kwargs: Any) -> None:
        assert kwargs["_content_type"] == "application/merge-patch+json"
        self.patches.append(body)
        for key, value in body["metadata"]["labels"].items():
            if value is None:
                self.labels.pop(key, None)
            else:
                self.labels[key] = value


def _label(pods: FakePods) -> LeaderLabel:
    return LeaderLabel("ops", "operator-0", api=pods)


def test_mark_sets_the_label_once_and_clear_removes_it() -> None:
    pods = FakePods({"app": "x"})
    label = _label(pods)
    assert label.mark()
    assert label.mark()  # already set: no call at all
    assert pods.labels == {"app": "x", LEADER_LABEL: "true"}
    assert pods.reads == 1
    assert label.clear()
    assert pods.labels == {"app": "x"}
    assert pods.patches == [
        {"metadata": {"labels": {LEADER_LABEL: "true"}}},
        {"metadata": {"labels": {LEADER_LABEL: None}}},
    ]


def test_nothing_is_written_when_the_pod_already_says_so() -> None:
    pods = FakePods({LEADER_LABEL: "true"})
    assert _label(pods).mark()
    assert _label(FakePods()).clear()
    assert pods.patches == []


@pytest.mark.parametrize(
    "failure",
    [
        client.ApiException(status=403, reason="Forbidden"),
        urllib3.exceptions.MaxRetryError(None, "/api/v1", "connection refused"),
    ],
    ids=["forbidden", "unreachable"],
)
def test_a_failure_is_a_warning_and_the_next_call_retries(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    pods = FakePods()
    label = _label(pods)
    pods.fail = failure
    assert not label.mark()
    assert "setting the leader label on pod ops/operator-0 failed" in caplog.text
    pods.fail = None
    assert label.mark()  # the next Lease renewal
    assert pods.labels == {LEADER_LABEL: "true"}


def _label_from(environ: dict[str, str]) -> LeaderLabel:
    """The label as the operator builds it: flags' defaults from the environment, then settings."""
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, environ)
    settings = Settings.from_arguments(parser.parse_args([]))
    return LeaderLabel.of_pod(settings.pod_namespace, settings.pod_name)


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"POD_NAME": "operator-0"},
        {"POD_NAMESPACE": "ops"},
        {"POD_NAME": "", "POD_NAMESPACE": ""},
    ],
    ids=["neither", "no-namespace", "no-name", "empty"],
)
def test_without_the_downward_api_there_is_nothing_to_label(environ: dict[str, str]) -> None:
    label = _label_from(environ)
    # No API client is ever made: these would fail without a kubeconfig.
    assert label.mark()
    assert label.clear()


def test_the_downward_api_names_the_pod() -> None:
    label = _label_from({"POD_NAME": "operator-0", "POD_NAMESPACE": "ops"})
    assert (label.namespace, label.name) == ("ops", "operator-0")


def test_a_dropped_connection_while_standing_by_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leader_election, "api_client", lambda: None)
    elector = LeaderElector(LeaseSettings("ns", "lease", "me", retry_every=0.0))
    outcomes: list[bool | Exception] = [
        urllib3.exceptions.MaxRetryError(None, "/lease", "connection refused"),
        True,
    ]
    monkeypatch.setattr(elector, "try_acquire_or_renew", _scripted(outcomes))
    answered: list[None] = []
    assert elector.wait_until_leader(threading.Event(), answered=lambda: answered.append(None))
    assert len(answered) == 1  # the refused call is no answer: the standby is not ready on it


def test_a_leader_that_cannot_reach_the_api_server_gives_up_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(leader_election, "api_client", lambda: None)
    elector = LeaderElector(
        LeaseSettings("ns", "lease", "me", lease_duration=0.05, renew_every=0.01)
    )
    stop, lost = threading.Event(), threading.Event()

    def unreachable() -> bool:
        raise urllib3.exceptions.ReadTimeoutError(None, "/lease", "read timed out")

    monkeypatch.setattr(elector, "try_acquire_or_renew", unreachable)
    renewing = threading.Thread(target=elector.keep_leading, args=(stop, lost))
    renewing.start()
    renewing.join(timeout=10)
    stop.set()
    # The thread ended by declaring the Lease lost, not by an exception nobody saw.
    assert not renewing.is_alive()
    assert lost.is_set()


@pytest.mark.parametrize(
    ("argv", "environ", "seconds"),
    [
        ([], {}, 15.0),
        (["--lease-duration", "5"], {}, 5.0),
        ([], {"LEASE_DURATION": "30"}, 30.0),
    ],
    ids=["default", "flag", "environment"],
)
def test_the_lease_duration_comes_from_the_flag_or_the_environment(
    argv: list[str], environ: dict[str, str], seconds: float
) -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, environ)
    assert Settings.from_arguments(parser.parse_args(argv)).lease_duration == seconds


@pytest.mark.parametrize("text", ["2", "4.5", "0", "301", "soon"])
def test_a_lease_duration_that_cannot_be_a_lease_is_refused(text: str) -> None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, {})
    with pytest.raises(ValueError, match="--lease-duration"):
        Settings.from_arguments(parser.parse_args(["--lease-duration", text]))
