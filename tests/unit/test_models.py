"""The models read what people write, refuse what they should, and write camelCase."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, IncidentSource, IncidentState
from incident_operator.api.maintenance import MaintenanceWindow
from incident_operator.domain.conditions import Condition, ConditionStatus
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.invalid import describe_validation_error

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"
MODELS: dict[str, Any] = {
    "Incident": Incident,
    "EscalationPolicy": EscalationPolicy,
    "MaintenanceWindow": MaintenanceWindow,
}


def _samples() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(SAMPLES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
    ]


def test_there_are_samples_of_every_kind() -> None:
    assert {doc["kind"] for doc in _samples()} == set(MODELS)


@pytest.mark.parametrize("doc", _samples(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_samples_parse(doc: dict[str, Any]) -> None:
    MODELS[doc["kind"]].model_validate(doc)


def test_incident_defaults() -> None:
    incident = Incident.model_validate({"spec": {"title": "API down", "severity": "P1"}})
    assert incident.spec.severity is Severity.P1
    assert incident.spec.state is IncidentState.INVESTIGATING
    assert incident.spec.source is IncidentSource.MANUAL
    assert incident.status.phase is None


def test_wire_format_is_camel_case_without_nulls() -> None:
    incident = Incident.model_validate(
        {
            "spec": {"title": "x", "severity": "P0", "roles": {"techLead": "bob"}},
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Reconciled",
                        "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "observedGeneration": 2,
                    }
                ]
            },
        }
    )
    assert incident.spec.roles.tech_lead == "bob"
    assert incident.status.conditions == [
        Condition(
            "Ready", ConditionStatus.TRUE, "Reconciled", "", datetime(2026, 1, 1, tzinfo=UTC), 2
        )
    ]
    wire = incident.to_wire()
    assert wire["spec"]["roles"] == {"techLead": "bob"}
    assert wire["status"]["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert "rollback" not in wire["spec"]


@pytest.mark.parametrize(
    ("spec", "location"),
    [
        ({"title": "x", "severity": "P5"}, "spec.severity"),
        ({"severity": "P1"}, "spec.title"),
        ({"title": "x", "severity": "P1", "state": "Fixed"}, "spec.state"),
        (
            {"title": "x", "severity": "P1", "affected": [{"kind": "Pod", "name": "a"}]},
            "spec.affected.0.kind",
        ),
        (
            {
                "title": "x",
                "severity": "P1",
                "rollback": {"target": {"kind": "Deployment", "name": "a"}, "toRevision": 0},
            },
            "spec.rollback.toRevision",
        ),
    ],
)
def test_bad_incident_spec_errors_name_the_field(spec: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as error:
        Incident.model_validate({"spec": spec})
    assert location in describe_validation_error(error.value, "")


_STEP = {"severities": ["P0"], "after": "5m", "targets": [{"name": "t", "method": "pager"}]}


@pytest.mark.parametrize(
    ("spec", "location"),
    [
        ({"detection": {"interval": "15 seconds"}}, "spec.detection.interval"),
        (
            {"escalation": {"steps": [{"severities": ["P0"], "after": "5m", "targets": []}]}},
            "targets",
        ),
        ({"channels": [{"name": "x", "type": "carrier-pigeon"}]}, "spec.channels.0.type"),
    ],
)
def test_bad_policy_spec_errors_name_the_field(spec: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as error:
        EscalationPolicy.model_validate({"spec": spec})
    assert location in describe_validation_error(error.value, "")


def test_for_and_from_use_their_wire_names() -> None:
    policy = EscalationPolicy.model_validate(
        {
            "spec": {
                "detection": {"rules": [{"name": "r", "signal": "podRestarts", "for": "2m"}]},
                "channels": [
                    {
                        "name": "m",
                        "type": "email",
                        "email": {"host": "h", "from": "a@b", "to": ["c@d"]},
                    }
                ],
            }
        }
    )
    assert policy.spec.detection.rules[0].for_ == "2m"
    wire = policy.to_wire()
    assert wire["spec"]["detection"]["rules"][0]["for"] == "2m"
    assert wire["spec"]["channels"][0]["email"]["from"] == "a@b"


def test_per_severity_keys_keep_their_case() -> None:
    policy = EscalationPolicy.model_validate(
        {"spec": {"postMortem": {"P0": {"scheduleWithin": "24h"}}, "severities": {"P4": {}}}}
    )
    assert policy.spec.post_mortem.P0 is not None
    wire = policy.to_wire()["spec"]
    assert wire["postMortem"]["P0"] == {"scheduleWithin": "24h"}
    assert "P4" in wire["severities"]


# The model refuses what the CRD's rules refuse, naming the field and the bound
# (tests/integration/test_bad_manifests.py has the API server's side).
@pytest.mark.parametrize(
    ("spec", "location", "message"),
    [
        ({"detection": {"interval": "9999999999999h"}}, "detection.interval", "should match"),
        ({"detection": {"interval": "0s"}}, "detection.interval", "between 1s and 1h"),
        ({"detection": {"interval": "3600.0000001s"}}, "detection.interval", "between 1s and 1h"),
        ({"detection": {"monitoringWindow": "24h1s"}}, "monitoringWindow", "between 1s and 24h"),
        (
            {"escalation": {"steps": [_STEP | {"after": "721h"}]}},
            "escalation.steps.0.after",
            "between 0s and 720h",
        ),
        ({"severities": {"P1": {"updateEvery": "0s"}}}, "severities.P1.updateEvery", "1s and"),
        ({"rollback": {"rolloutTimeout": "48h"}}, "rollback.rolloutTimeout", "1s and 24h"),
        ({"postMortem": {"P2": {"completeWithin": "2161h"}}}, "completeWithin", "and 2160h"),
        ({"detection": {"maxUnknownCycles": 0}}, "maxUnknownCycles", "greater than or equal"),
        ({"severities": {"p1": {}}}, "severities.p1", "Extra inputs are not permitted"),
        ({"postMortem": {"P5": {}}}, "postMortem.P5", "Extra inputs are not permitted"),
        (
            {"escalation": {"steps": [_STEP | {"after": "30m"}, _STEP | {"after": "15m"}]}},
            "spec.escalation",
            "must be in order of `after`",
        ),
        (
            {"detection": {"rules": [{"name": "r", "signal": "cpuUsage", "query": "up"}]}},
            "detection.rules.0",
            "exactly one of signal or query",
        ),
        (
            {"detection": {"rules": [{"name": "r", "signal": "cpuUsage"}] * 2}},
            "detection.rules",
            "Duplicate value",
        ),
        (
            {"channels": [{"name": "c", "type": "slack"}]},
            "channels.0",
            "a slack channel needs secretRef",
        ),
        (
            {"escalation": {"steps": [_STEP | {"channel": "nowhere"}]}},
            "spec",
            "must name a channel in spec.channels",
        ),
    ],
)
def test_bounds_and_rules_of_the_schema_hold_in_the_model(
    spec: dict[str, Any], location: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        EscalationPolicy.model_validate({"spec": spec})
    described = describe_validation_error(error.value, "spec")
    assert location in described
    assert message in described


def test_a_rollback_target_must_be_affected_in_the_model_too() -> None:
    spec = {
        "title": "x",
        "severity": "P1",
        "rollback": {"target": {"kind": "Deployment", "name": "a"}},
    }
    with pytest.raises(ValidationError, match="must be one of the affected workloads"):
        Incident.model_validate({"spec": spec})
