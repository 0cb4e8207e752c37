"""Grouping and cross-source dedup decisions (reconcile/grouping.py)."""

import asyncio
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import (
    DetectionStatus,
    Incident,
    IncidentSource,
    IncidentSpec,
    WorkloadKind,
    WorkloadReference,
)
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Level, Signal
from incident_operator.reconcile.alerts import alert_policy
from incident_operator.reconcile.detection import FINGERPRINT_LABEL, NewIncident
from incident_operator.reconcile.grouping import (
    GROUP_LABEL,
    alert_kind_labels,
    find_duplicate,
    find_group,
    for_grouping,
    group_label,
    grouped_title,
    grouping_key,
    same_rollout,
    spec_growth,
)
from incident_operator.reconcile.signals import signals_wire
from incident_operator.runtime import clock
from incident_operator.runtime import grouping as runtime_grouping
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.policies import PolicyRegistry

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _policy(name: str = "runbook", **grouping: Any) -> EscalationPolicy:
    spec: dict[str, Any] = {
        "detection": {
            "rules": [{"name": "errors", "signal": "apiErrorRate", "warning": 0.01}],
        },
        "rollback": {"proposalWindow": "30m"},
    }
    if grouping:
        spec["grouping"] = grouping
    return EscalationPolicy.model_validate(
        {"metadata": {"name": name, "namespace": "shop"}, "spec": spec}
    )


def _new(
    workload: str = "api",
    labels: dict[str, str] | None = None,
    policy: EscalationPolicy | None = None,
    source: IncidentSource = IncidentSource.PROMETHEUS,
    rule: str = "errors",
    severity: Severity = Severity.P1,
    fingerprint: str | None = None,
) -> NewIncident:
    reference = WorkloadReference(kind=WorkloadKind.DEPLOYMENT, name=workload)
    new = NewIncident(
        namespace="shop",
        name=f"{rule}-{workload}",
        labels={FINGERPRINT_LABEL: fingerprint or f"fp-{rule}-{workload}"},
        spec=IncidentSpec(
            title=f"{rule}: {workload} breaching",
            severity=severity,
            source=source,
            affected=[reference],
        ),
        detection=DetectionStatus(
            fingerprint=fingerprint or f"fp-{rule}-{workload}",
            policy=policy.metadata.name if policy else "runbook",
            rule=rule,
            workload=reference,
            level=Level.CRITICAL,
            breaching=True,
            breach_started_at=NOW - timedelta(minutes=1),
            last_evaluated_at=NOW,
        ),
    )
    return for_grouping(new, labels if labels is not None else {"team": "pay"}, policy)


def _incident(new: NewIncident, opened: datetime = NOW - timedelta(minutes=2)) -> Incident:
    """The incident ``new`` opened (its first signal written), ``opened`` ago."""
    manifest = new.manifest()
    manifest["metadata"]["creationTimestamp"] = opened.isoformat()
    detection = new.detection.model_dump(mode="json", by_alias=True, exclude_none=True)
    manifest["status"] = {
        "detectedAt": opened.isoformat(),
        "signals": [
            {
                **detection,
                "id": "s1",
                "source": new.spec.source.value,
                "severity": new.spec.severity.value,
                "firstSeen": opened.isoformat(),
            }
        ],
    }
    return Incident.model_validate(manifest)


def _with_signals(incident: Incident, count: int) -> Incident:
    first = incident.status.signals[0]
    extra = [
        first.model_copy(update={"id": f"s{i}", "fingerprint": f"extra-{i}"})
        for i in range(2, count + 1)
    ]
    return incident.model_copy(
        update={"status": incident.status.model_copy(update={"signals": [first, *extra]})}
    )


# ------------------------------------------------------------------------ keys


@pytest.mark.parametrize(
    ("by", "labels", "expected"),
    [
        (["namespace"], {"namespace": "shop"}, ("shop",)),
        (["namespace", "team"], {"namespace": "shop", "team": "pay"}, ("shop", "pay")),
        (["team"], {"namespace": "shop"}, None),
        (["team"], {"team": ""}, None),
    ],
)
def test_the_grouping_key_is_the_values_of_by_and_a_missing_label_groups_with_nothing(
    by: list[str], labels: dict[str, str], expected: tuple[str, ...] | None
) -> None:
    assert grouping_key(by, labels) == expected


def test_the_group_label_includes_the_policy_so_two_policies_never_share_a_group() -> None:
    assert group_label("a", ["shop"]) != group_label("b", ["shop"])
    assert group_label("a", ["shop"]) == group_label("a", ["shop"])
    assert len(group_label("a", ["x" * 500])) <= 63


def test_a_signal_gets_its_labels_with_the_namespace_and_its_group_label() -> None:
    policy = _policy(by=["team"])
    new = _new(policy=policy)
    assert new.signal_labels == {"team": "pay", "namespace": "shop"}
    assert new.policy == "runbook"
    assert new.labels[GROUP_LABEL] == group_label("runbook", ["pay"])
    assert GROUP_LABEL not in _new(policy=_policy()).labels
    assert GROUP_LABEL not in _new(policy=policy, labels={}).labels


# ---------------------------------------------------------------------- groups


def test_a_signal_with_the_same_key_joins_the_oldest_open_incident_of_its_group() -> None:
    policy = _policy(by=["namespace"])
    older = _incident(_new("web", policy=policy), NOW - timedelta(minutes=5))
    newer = _incident(_new("db", policy=policy), NOW - timedelta(minutes=1))
    assert find_group(_new("api", policy=policy), policy, [older, newer], NOW) is older


def test_no_grouping_no_group() -> None:
    policy = _policy()
    incident = _incident(_new("web", policy=policy))
    assert find_group(_new("api", policy=policy), policy, [incident], NOW) is None


def test_outside_the_window_a_signal_opens_its_own() -> None:
    policy = _policy(by=["namespace"], window="10m")
    old = _incident(_new("web", policy=policy), NOW - timedelta(minutes=11))
    assert find_group(_new("api", policy=policy), policy, [old], NOW) is None


def test_a_full_incident_takes_no_more_signals() -> None:
    policy = _policy(by=["namespace"], maxSignals=3)
    incident = _incident(_new("web", policy=policy))
    assert find_group(_new("api", policy=policy), policy, [_with_signals(incident, 2)], NOW)
    assert find_group(_new("api", policy=policy), policy, [_with_signals(incident, 3)], NOW) is None


def test_another_policys_incident_is_not_joined() -> None:
    mine, theirs = _policy("mine", by=["namespace"]), _policy("theirs", by=["namespace"])
    incident = _incident(_new("web", policy=theirs))
    assert find_group(_new("api", policy=mine), mine, [incident], NOW) is None


def test_a_different_key_or_a_missing_label_is_not_joined() -> None:
    policy = _policy(by=["team"])
    incident = _incident(_new("web", policy=policy, labels={"team": "pay"}))
    other_team = _new("api", policy=policy, labels={"team": "search"})
    unlabelled = _new("api", policy=policy, labels={})
    assert find_group(other_team, policy, [incident], NOW) is None
    assert find_group(unlabelled, policy, [incident], NOW) is None


# ---------------------------------------------------------------- sameRollout


@pytest.mark.parametrize(
    ("signal_changed", "incident_changed", "joins"),
    [
        (10, 12, True),
        (10, None, False),
        (None, 10, False),
        (40, 10, False),
        (10, 45, False),
    ],
)
def test_same_rollout_needs_both_workloads_changed_within_the_proposal_window(
    signal_changed: int | None, incident_changed: int | None, joins: bool
) -> None:
    """Minutes before the signal's breach started; the proposal window is 30m."""
    policy = _policy(by=["namespace"], sameRollout=True)
    new = _new("api", policy=policy)
    incident = _incident(_new("web", policy=policy))
    at = new.detection.breach_started_at
    assert at is not None

    def ago(minutes: int | None) -> datetime | None:
        return at - timedelta(minutes=minutes) if minutes is not None else None

    changed = {"Deployment/api": ago(signal_changed), "Deployment/web": ago(incident_changed)}
    assert same_rollout(new, incident, changed, timedelta(minutes=30), NOW) is joins
    assert (find_group(new, policy, [incident], NOW, changed) is incident) is joins


# -------------------------------------------------------------- cross-source


def _alert(workload: str = "api", alertname: str = "HighErrorRate", **labels: str) -> NewIncident:
    """An alert's signal, labelled as reconcile/alerts.py labels the incident it opens."""
    new = _new(
        workload,
        labels={"alertname": alertname, **labels},
        source=IncidentSource.ALERTMANAGER,
        rule=alertname,
        severity=Severity.P1,
        fingerprint=f"am-{alertname}-{workload}",
    )
    return replace(new, labels={**new.labels, **alert_kind_labels(labels)})


def _rule_signal(policy: str, rule: str) -> Signal | None:
    return Signal.API_ERROR_RATE if rule == "errors" else None


@pytest.mark.parametrize(
    ("alert", "joins"),
    [
        (_alert(rule="errors"), True),
        (_alert(signal="apiErrorRate"), True),
        (_alert(alertname="Errors"), True),
        (_alert(), False),
        (_alert(signal="cpuUsage"), False),
        (_alert("web", rule="errors"), False),
    ],
)
def test_an_alert_joins_the_polling_incident_of_its_workload_and_kind(
    alert: NewIncident, joins: bool
) -> None:
    polling = _incident(_new("api", policy=_policy(), severity=Severity.P0))
    assert (find_duplicate(alert, [polling], _rule_signal) is polling) is joins


@pytest.mark.parametrize(
    ("alert", "joins"),
    [
        (_alert(rule="errors"), True),
        (_alert(signal="apiErrorRate"), True),
        (_alert(alertname="ERRORS"), True),
        (_alert(), False),
    ],
)
def test_a_polling_breach_joins_the_alert_incident_of_its_workload_and_kind(
    alert: NewIncident, joins: bool
) -> None:
    opened = _incident(alert)
    polling = _new("api", policy=_policy())
    assert (find_duplicate(polling, [opened], _rule_signal) is opened) is joins


def test_two_polling_signals_are_not_deduplicated() -> None:
    policy = _policy()
    incident = _incident(_new("api", policy=policy))
    assert find_duplicate(_new("api", policy=policy), [incident], _rule_signal) is None


# -------------------------------------------------------------------- the spec


def test_the_title_counts_the_systems_and_keeps_a_persons_edit() -> None:
    assert grouped_title("errors: api", 1, True) == "errors: api"
    assert grouped_title("errors: api", 2, True) == "errors: api (+1 more system)"
    assert grouped_title("errors: api (+1 more system)", 3, True) == (
        "errors: api (+2 more systems)"
    )
    assert grouped_title("Checkout is down", 3, False) == "Checkout is down"
    assert len(grouped_title("x" * 200, 20, True)) == 200


def test_a_joining_signal_grows_affected_raises_severity_and_retitles() -> None:
    spec = {
        "title": "errors: api",
        "severity": "P1",
        "affected": [{"kind": "Deployment", "name": "api"}],
    }
    web = WorkloadReference(kind=WorkloadKind.DEPLOYMENT, name="web")
    patch = spec_growth(spec, web, Severity.P0, 1)
    assert patch == {
        "affected": [{"kind": "Deployment", "name": "api"}, {"kind": "Deployment", "name": "web"}],
        "severity": "P0",
        "title": "errors: api (+1 more system)",
    }
    # Never lowered; the same workload again changes nothing.
    grown = {**spec, **patch}
    assert spec_growth(grown, web, Severity.P3, 2) is None


def test_affected_stops_at_its_limit() -> None:
    spec = {
        "title": "t (+49 more systems)",
        "severity": "P1",
        "affected": [{"kind": "Deployment", "name": f"w{i}"} for i in range(50)],
    }
    extra = WorkloadReference(kind=WorkloadKind.DEPLOYMENT, name="extra")
    assert spec_growth(spec, extra, Severity.P1, 50) is None


def test_an_alert_follows_the_governing_policy_of_its_namespace() -> None:
    chosen = EscalationPolicy.model_validate(
        {
            "metadata": {"name": "payments", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"team": "pay"}}},
        }
    )
    default = EscalationPolicy.model_validate(
        {"metadata": {"name": "default", "namespace": "shop"}, "spec": {"default": True}}
    )
    assert alert_policy(_alert(team="pay"), [default, chosen]) is chosen
    assert alert_policy(_alert(team="search"), [default, chosen]) is default


# ------------------------------------------------------------ the runtime gate


class _RecordingWriter:
    """Writes signals into the index as the real Writer does from its write responses."""

    def __init__(self, index: IncidentIndex, manifests: dict[str, dict[str, Any]]) -> None:
        self.index = index
        self.manifests = manifests
        self.written: list[list[str]] = []
        self._lock = asyncio.Lock()

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self._lock

    async def signals(self, namespace: str, name: str, signals: list[Any]) -> None:
        self.written.append([s.fingerprint for s in signals])
        self.manifests[name]["status"]["signals"] = signals_wire(signals)
        self.index.put_raw(self.manifests[name])


@dataclass
class _Gate:
    """A Grouper over an index holding one incident ("web" breaching), recording writes."""

    gate: runtime_grouping.Grouper
    policy: EscalationPolicy
    opened: Incident
    writer: _RecordingWriter
    manifests: dict[str, dict[str, Any]]
    spec_writes: list[dict[str, Any]]

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.manifests[self.opened.metadata.name]["spec"]
        return spec


def _gate(monkeypatch: pytest.MonkeyPatch) -> _Gate:
    policy = _policy(by=["namespace"])
    registry = PolicyRegistry()
    registry.put(policy)
    opened = _incident(_new("web", policy=policy), clock.now() - timedelta(seconds=30))
    manifest = opened.model_dump(mode="json", by_alias=True, exclude_none=True)
    manifests = {opened.metadata.name: manifest}
    index = IncidentIndex()
    index.put_raw(manifest)
    writer = _RecordingWriter(index, manifests)
    spec_writes: list[dict[str, Any]] = []

    def change_spec(namespace: str, name: str, change: Any) -> dict[str, Any]:
        patch = change(manifests[name]["spec"]) or {}
        spec_writes.append(patch)
        manifests[name]["spec"].update(patch)
        return manifests[name]

    monkeypatch.setattr(runtime_grouping, "change_spec", change_spec)
    gate = runtime_grouping.Grouper(writer, index, registry)  # type: ignore[arg-type]
    return _Gate(gate, policy, opened, writer, manifests, spec_writes)


def test_the_gate_joins_once_and_grows_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    setup = _gate(monkeypatch)
    gate, policy, opened, writer = setup.gate, setup.policy, setup.opened, setup.writer
    signal = _new("api", policy=policy, severity=Severity.P0)

    assert asyncio.run(_joined(gate, signal)) == [opened.metadata.name]
    # Again (a restart, a repeated delivery): found by fingerprint, not added twice.
    assert asyncio.run(_joined(gate, signal)) == [opened.metadata.name]
    assert writer.written == [["fp-errors-web", "fp-errors-api"]]
    spec = setup.spec
    assert [w["name"] for w in spec["affected"]] == ["web", "api"]
    assert spec["severity"] == "P0"
    assert spec["title"] == "errors: web breaching (+1 more system)"
    # Another namespace's group, or no policy: nothing joins.
    assert asyncio.run(_joined(gate, _new("api", policy=None))) == [None]


async def _joined(gate: Any, *signals: NewIncident) -> list[str | None]:
    """Joins ``signals`` at once as the router does; the incident each joined (None: none)."""
    joinings = [await gate.join(signal) for signal in signals]
    await asyncio.gather(*(j.written for j in joinings if j is not None))
    return [j.incident if j is not None else None for j in joinings]


def test_signals_joining_one_incident_together_are_written_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = _gate(monkeypatch)
    gate, policy, opened, writer = setup.gate, setup.policy, setup.opened, setup.writer
    names = ["api", "db", "cache", "queue"]
    signals = [_new(name, policy=policy) for name in names]

    assert asyncio.run(_joined(gate, *signals)) == [opened.metadata.name] * len(names)
    assert writer.written == [["fp-errors-web", *(f"fp-errors-{n}" for n in names)]]
    assert len(setup.spec_writes) == 1
    spec = setup.spec
    assert [w["name"] for w in spec["affected"]] == ["web", *names]
    assert spec["title"] == "errors: web breaching (+4 more systems)"


def test_stopping_cancels_the_writes_in_flight_and_takes_no_more_joins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A join being written when the operator stops is cut, said to be not written (its
    intake answers an error; the signal comes again) and never written afterwards."""
    setup = _gate(monkeypatch)
    gate, policy, writer = setup.gate, setup.policy, setup.writer

    async def scenario() -> tuple[BaseException | None, list[asyncio.Task[None]]]:
        # The incident's lock is held elsewhere: the flush waits for it.
        async with writer.lock("prod", setup.opened.metadata.name):
            joining = await gate.join(_new("api", policy=policy))
            assert joining is not None
            tasks = gate.stopping()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with pytest.raises(runtime_grouping.StoppingError):
            await gate.join(_new("db", policy=policy))
        return joining.written.exception(), tasks

    error, tasks = asyncio.run(scenario())
    assert isinstance(error, runtime_grouping.StoppingError)
    assert len(tasks) == 1
    assert all(task.cancelled() for task in tasks)
    assert writer.written == []
    assert setup.spec_writes == []
