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


DEPLOYMENT_A = {"kind": "Deployment", "name": "a"}

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
    ("title too long", _incident(title="x" * 201), ["spec.title", "Too long"]),
    (
        "bad duration",
        _policy(detection={"interval": "15 seconds"}),
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
    kind = "incidents" if manifest["kind"] == "Incident" else "escalationpolicies"
    listed = kubectl("get", kind, "-n", namespace, "-o", "name")
    assert listed.stdout.strip() == "", "nothing is created"


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
