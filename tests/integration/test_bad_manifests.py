"""The API server refuses bad manifests with a message that names the problem.

Each case is created for real (not dry-run) with the real kubectl, must fail, must say
what is wrong, and must leave nothing behind.
"""

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
import yaml

from incident_operator.api.escalation_policy import EscalationPolicy

Kubectl = Callable[..., CompletedProcess[str]]
SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"


def _incident(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": "bad"},
        "spec": {"title": "Checkout is down", "severity": "P1", **spec},
    }


def _policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": "bad"},
        "spec": spec,
    }


def _step(severity: str, after: str, channel: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "severities": [severity],
        "after": after,
        "targets": [{"name": "Primary on-call", "method": "pager"}],
    }
    if channel:
        step["channel"] = channel
    return step


def _rotation(**fields: Any) -> dict[str, Any]:
    return {"name": "primary", "people": ["alice"], "start": "2026-11-02T09:00:00Z", **fields}


DEPLOYMENT_A = {"kind": "Deployment", "name": "a"}
LATER = "2026-11-05T00:00:00Z"

CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "unknown severity",
        _incident(severity="P5"),
        ["spec.severity", 'Unsupported value: "P5"'],
    ),
    (
        "missing title",
        {**_incident(), "spec": {"severity": "P1"}},
        ["spec.title", "Required value"],
    ),
    ("unknown state word", _incident(state="Fixed"), ["spec.state", '"Fixed"']),
    (
        "unknown workload kind",
        _incident(affected=[{"kind": "Pod", "name": "a"}]),
        ["spec.affected[0].kind", '"Pod"'],
    ),
    (
        "unknown rollback kind",
        _incident(affected=[DEPLOYMENT_A], rollback={"target": {"kind": "CronJob", "name": "a"}}),
        ["spec.rollback.target.kind", '"CronJob"'],
    ),
    (
        "rollback of a workload that is not affected",
        _incident(
            affected=[DEPLOYMENT_A], rollback={"target": {"kind": "Deployment", "name": "b"}}
        ),
        ["spec.rollback.target", "must be one of the affected workloads"],
    ),
    (
        "rollback to revision zero",
        _incident(affected=[DEPLOYMENT_A], rollback={"target": DEPLOYMENT_A, "toRevision": 0}),
        ["spec.rollback.toRevision", "greater than or equal to 1"],
    ),
    (
        "update without an author",
        _incident(updates=[{"message": "m", "time": "2026-01-01T00:00:00Z"}]),
        ["spec.updates[0].author", "Required value"],
    ),
    (
        "Mitigating without what was done",
        _incident(state="Mitigating"),
        ["spec.mitigation", "mitigation is required when state is Mitigating (what was done)"],
    ),
    (
        "resolution override without a reason",
        _incident(resolution={"override": {"by": "alice"}}),
        ["spec.resolution.override.reason", "Required value"],
    ),
    (
        "triage answer that is not yes or no",
        _incident(triage={"dataAtRisk": "maybe"}),
        ["spec.triage.dataAtRisk", "must be of type boolean"],
    ),
    (
        "triage deadline of zero",
        _policy(severities={"P1": {"triageWithin": "0s"}}),
        ["spec.severities[P1].triageWithin", "must be between 1s and 168h"],
    ),
    ("title too long", _incident(title="x" * 201), ["spec.title", "Too long"]),
    (
        "bad duration",
        _policy(detection={"interval": "15 seconds"}),
        ["spec.detection.interval", "should match"],
    ),
    (
        # Go's time.ParseDuration takes it; the definition here leaves sub-millisecond
        # units out (README, "The API"), and the schema says so.
        "duration in microseconds",
        _policy(detection={"interval": "500us"}),
        ["spec.detection.interval", "should match"],
    ),
    (
        "escalation steps out of order",
        _policy(escalation={"steps": [_step("P0", "30m"), _step("P0", "15m")]}),
        ["spec.escalation.steps", "must be in order of `after`"],
    ),
    (
        "rule with both a signal and a query",
        _policy(detection={"rules": [{"name": "r", "signal": "cpuUsage", "query": "up"}]}),
        ["spec.detection.rules[0]", "exactly one of signal or query"],
    ),
    (
        "warning beyond critical",
        _policy(
            detection={
                "rules": [{"name": "r", "signal": "podRestarts", "warning": 20, "critical": 10}]
            }
        ),
        ["spec.detection.rules[0]", "warning must come before critical"],
    ),
    (
        "unknown signal",
        _policy(detection={"rules": [{"name": "r", "signal": "vibes"}]}),
        ["spec.detection.rules[0].signal", '"vibes"'],
    ),
    (
        "two rules with one name",
        _policy(
            detection={
                "rules": [{"name": "r", "signal": "cpuUsage"}, {"name": "r", "signal": "diskUsage"}]
            }
        ),
        ["spec.detection.rules[1]", "Duplicate value"],
    ),
    (
        "unknown channel type",
        _policy(channels=[{"name": "c", "type": "carrier-pigeon"}]),
        ["spec.channels[0].type", '"carrier-pigeon"'],
    ),
    (
        "slack channel without its secret",
        _policy(channels=[{"name": "c", "type": "slack"}]),
        ["spec.channels[0]", "a slack channel needs secretRef"],
    ),
    (
        "email channel logging in without its password",
        _policy(
            channels=[
                {
                    "name": "c",
                    "type": "email",
                    "email": {"host": "smtp.example", "from": "a@b.c", "to": ["d@e.f"]}
                    | {"username": "ops"},
                }
            ]
        ),
        ["spec.channels[0]", "email.username needs secretRef"],
    ),
    (
        "step naming a channel that does not exist",
        _policy(escalation={"steps": [_step("P1", "0s", channel="nowhere")]}),
        ["spec.escalation.steps", "must name a channel in spec.channels"],
    ),
    (
        "contact paged through a channel that is not a pagerduty channel",
        _policy(
            channels=[{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h"}],
            contacts=[
                {
                    "role": "cto",
                    "primary": {
                        "name": "Cleo",
                        "pagerduty": {"channel": "hook", "secretRef": {"name": "s", "key": "k"}},
                    },
                }
            ],
        ),
        ["spec.contacts", "must name a channel in spec.channels of that type"],
    ),
    (
        "contact without a way to reach it",
        _policy(contacts=[{"role": "cto", "primary": {"name": "Cleo"}}]),
        ["spec.contacts[0].primary", "at least one of pagerduty, slack or email"],
    ),
    (
        "slack contact with neither mention nor channel",
        _policy(contacts=[{"role": "cto", "primary": {"name": "Cleo", "slack": {}}}]),
        ["spec.contacts[0].primary.slack", "slack needs a mention or a channel"],
    ),
    (
        "contact role that is not a DNS label",
        _policy(
            contacts=[{"role": "VP_Eng", "primary": {"name": "V", "slack": {"mention": "U1"}}}]
        ),
        ["spec.contacts[0].role", "should match"],
    ),
    # Bounds (docs/api-bounds.md): the error names the field and the bound.
    (
        "overflowing detection interval",
        _policy(detection={"interval": "9999999999999h"}),
        ["spec.detection.interval", "must be between 1s and 1h"],
    ),
    (
        "detection interval of zero",
        _policy(detection={"interval": "0s"}),
        ["spec.detection.interval", "must be between 1s and 1h"],
    ),
    (
        "monitoring window beyond a day",
        _policy(detection={"monitoringWindow": "24h1s"}),
        ["spec.detection.monitoringWindow", "must be between 1s and 24h"],
    ),
    (
        "rule holding for more than a day",
        _policy(detection={"rules": [{"name": "r", "signal": "cpuUsage", "for": "25h"}]}),
        ["spec.detection.rules[0].for", "must be between 0s and 24h"],
    ),
    (
        "overflowing step after",
        _policy(escalation={"steps": [_step("P0", "0s"), _step("P0", "9999999999999h")]}),
        ["spec.escalation.steps[1].after", "must be between 0s and 720h"],
    ),
    (
        "step after beyond thirty days",
        _policy(escalation={"steps": [_step("P2", "721h")]}),
        ["spec.escalation.steps[0].after", "must be between 0s and 720h"],
    ),
    (
        "response time of zero",
        _policy(severities={"P1": {"responseTime": "0s"}}),
        ["spec.severities[P1].responseTime", "must be between 1s and 168h"],
    ),
    (
        "rollout timeout beyond a day",
        _policy(rollback={"rolloutTimeout": "48h"}),
        ["spec.rollback.rolloutTimeout", "must be between 1s and 24h"],
    ),
    (
        "zero unknown cycles",
        _policy(detection={"maxUnknownCycles": 0}),
        ["spec.detection.maxUnknownCycles", "greater than or equal to 1"],
    ),
    (
        "negative SMTP port",
        _policy(
            channels=[
                {
                    "name": "c",
                    "type": "email",
                    "email": {"host": "smtp.example", "port": -1, "from": "a@b.c", "to": ["d@e.f"]},
                }
            ]
        ),
        ["spec.channels[0].email.port", "greater than or equal to 1"],
    ),
    (
        "step with no target",
        _policy(escalation={"steps": [{**_step("P1", "0s"), "targets": []}]}),
        ["spec.escalation.steps[0].targets", "at least 1 items"],
    ),
    (
        "rotation override that ends before it starts",
        _policy(
            rotations=[
                _rotation(overrides=[{"user": "d", "start": LATER, "end": "2026-11-04T00:00:00Z"}])
            ]
        ),
        ["spec.rotations[0].overrides[0]", "end must be after start"],
    ),
    (
        "rotation turns shorter than an hour",
        _policy(rotations=[_rotation(length="30m")]),
        ["spec.rotations[0].length", "must be between 1h and 2160h"],
    ),
    (
        "rotation without people",
        _policy(rotations=[_rotation(people=[])]),
        ["spec.rotations[0].people", "at least 1 items"],
    ),
    (
        "two rotations of one name",
        _policy(rotations=[_rotation(), _rotation()]),
        ["spec.rotations[1]", "Duplicate value"],
    ),
    (
        "rotation time zone that is not a zone name",
        _policy(rotations=[_rotation(timeZone="Europe/Berlin; rm")]),
        ["spec.rotations[0].timeZone", "should match"],
    ),
    (
        "rollback revision beyond int32",
        _incident(affected=[DEPLOYMENT_A], rollback={"target": DEPLOYMENT_A, "toRevision": 2**31}),
        ["spec.rollback.toRevision", "less than or equal to 2147483647"],
    ),
]


@pytest.mark.parametrize(
    ("manifest", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refused_with_a_message_naming_the_problem(
    kubectl: Kubectl, namespace: str, manifest: dict[str, Any], expected: list[str]
) -> None:
    result = kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest), check=False)
    assert result.returncode != 0, f"accepted: {result.stdout}"
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in: {result.stderr}"
    # A rule that fails to evaluate blames itself, not the value that made it fail.
    assert "type conversion error" not in result.stderr
    kind = "incidents" if manifest["kind"] == "Incident" else "escalationpolicies"
    listed = kubectl("get", kind, "-n", namespace, "-o", "name")
    assert listed.stdout.strip() == "", "nothing is created"


# Unknown keys of maps keyed by severity or metric role: refused by the schema itself, so
# a client that does not ask for strict field validation cannot have them pruned.
UNKNOWN_KEYS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "lower-case severity override",
        _policy(severities={"p1": {"responseTime": "1m"}}),
        ["spec.severities", 'unknown severity "p1"', "P0, P1, P2, P3, P4"],
    ),
    (
        "post-mortem deadline of an unknown severity",
        _policy(postMortem={"P5": {"scheduleWithin": "24h"}}),
        ["spec.postMortem", 'unknown severity "P5"'],
    ),
    (
        "metric role the signal does not have",
        _policy(
            detection={
                "rules": [{"name": "r", "signal": "cpuUsage", "metrics": {"requests": "x_total"}}]
            }
        ),
        ["spec.detection.rules[0].metrics", 'unknown metric role "requests"', "cpuUsage"],
    ),
    (
        "metric roles on a custom query",
        _policy(
            detection={
                "rules": [{"name": "r", "query": "up", "critical": 1, "metrics": {"a": "b"}}]
            }
        ),
        ["spec.detection.rules[0].metrics", "a rule with a custom query takes no metrics"],
    ),
]


@pytest.mark.parametrize(
    ("manifest", "expected"), [c[1:] for c in UNKNOWN_KEYS], ids=[c[0] for c in UNKNOWN_KEYS]
)
def test_unknown_keys_are_refused_without_strict_validation(
    kubectl: Kubectl, namespace: str, manifest: dict[str, Any], expected: list[str]
) -> None:
    result = kubectl(
        "create",
        "-n",
        namespace,
        "--validate=false",
        "-f",
        "-",
        input=json.dumps(manifest),
        check=False,
    )
    assert result.returncode != 0, f"accepted: {result.stdout}"
    for fragment in expected:
        assert fragment in result.stderr, f"{fragment!r} not in: {result.stderr}"
    listed = kubectl("get", "escalationpolicies", "-n", namespace, "-o", "name")
    assert listed.stdout.strip() == "", "nothing is created"


# Every bounded duration of docs/api-bounds.md: (lowest, highest).
DURATION_BOUNDS = {
    "interval": ("1s", "1h"),
    "monitoringWindow": ("1s", "24h"),
    "for": ("0s", "24h"),
    "window": ("1s", "168h"),
    "offset": ("1s", "720h"),
    "after": ("0s", "720h"),
    "responseTime": ("1s", "168h"),
    "resolutionTarget": ("1s", "2160h"),
    "updateEvery": ("1s", "168h"),
    "proposalWindow": ("0s", "168h"),
    "rolloutTimeout": ("1s", "24h"),
    "scheduleWithin": ("1s", "2160h"),
    "completeWithin": ("1s", "2160h"),
    "length": ("1h", "2160h"),
}


def _at_bounds(end: int) -> dict[str, Any]:
    """A policy with every bounded duration at its lowest (0) or highest (1) value."""
    d = {name: bounds[end] for name, bounds in DURATION_BOUNDS.items()}
    override = {key: d[key] for key in ("responseTime", "resolutionTarget", "updateEvery")}
    rule = {"name": "r", "signal": "requestRateDrop"} | {
        key: d[key] for key in ("for", "window", "offset")
    }
    return _policy(
        severities={"P0": override, "P4": override},
        detection={
            "interval": d["interval"],
            "monitoringWindow": d["monitoringWindow"],
            "maxUnknownCycles": 1,
            "rules": [rule],
        },
        escalation={"steps": [_step("P3", d["after"])]},
        rollback={"proposalWindow": d["proposalWindow"], "rolloutTimeout": d["rolloutTimeout"]},
        postMortem={"P1": {key: d[key] for key in ("scheduleWithin", "completeWithin")}},
        rotations=[_rotation(length=d["length"])],
    )


@pytest.mark.parametrize("end", [0, 1], ids=["lowest", "highest"])
def test_the_bounds_are_inclusive(kubectl: Kubectl, namespace: str, end: int) -> None:
    manifest = _at_bounds(end)
    EscalationPolicy.model_validate(manifest)
    result = kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        "--dry-run=server",
        "-o",
        "name",
        input=json.dumps(manifest),
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_source_is_immutable(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(_incident()))
    result = kubectl(
        "patch",
        "incident",
        "bad",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"source": "prometheus"}}),
        check=False,
    )
    assert result.returncode != 0
    assert "source is immutable" in result.stderr
    source = kubectl("get", "incident", "bad", "-n", namespace, "-o", "jsonpath={.spec.source}")
    assert source.stdout == "manual"


def test_the_samples_are_accepted(kubectl: Kubectl, namespace: str) -> None:
    for path in sorted(SAMPLES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            document["metadata"].pop("namespace", None)
            result = kubectl(
                "create",
                "-n",
                namespace,
                "-f",
                "-",
                "--dry-run=server",
                "-o",
                "name",
                input=json.dumps(document),
                check=False,
            )
            assert result.returncode == 0, f"{path.name}: {result.stderr}"
