"""`kubectl incident triage|mitigate|resolve`: flags, the resolve verdict, and `show`."""

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.cli import render
from incident_operator.cli.cluster import PluginError
from incident_operator.cli.main import main
from incident_operator.cli.response_commands import _decision, cmd_triage, yes_no


@pytest.mark.parametrize(
    ("text", "value"), [("yes", True), ("Y", True), ("true", True), ("no", False), ("N", False)]
)
def test_yes_no(text: str, value: bool) -> None:
    assert yes_no(text) is value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["triage", "INC-1", "--production", "maybe"], "argument --production: expected yes or no"),
        (["triage", "INC-1", "--security", "x"], "argument --security: expected yes or no"),
        (["triage", "INC-1", "--data-at-risk", "?"], "argument --data-at-risk: expected yes or no"),
        (["mitigate", "INC-1"], "the following arguments are required: WHAT_WAS_DONE"),
    ],
)
def test_a_bad_flag_is_one_line_naming_it(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def _body(generation: int, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "status": {"id": "INC-0001", "observedGeneration": generation, **status},
    }


def test_resolve_waits_for_the_operator_then_reports_what_holds_it() -> None:
    decided = _decision(generation=3)
    assert decided(_body(2, phase="PostIncident")) is None, "not yet seen by the operator"
    assert decided(_body(3, phase="PostIncident")) == "PostIncident"
    assert decided(_body(3, phase="Monitoring")) is None
    held = _body(
        3,
        phase="Monitoring",
        conditions=[{"type": "TransitionRefused", "status": "True", "reason": "PreResolutionOpen"}],
        resolution={"openItems": ["manualVerification", "noNewAlerts"]},
    )
    with pytest.raises(PluginError) as error:
        decided(held)
    assert str(error.value) == (
        "INC-0001: Resolved is held, pre-resolution verification open: manualVerification, "
        "noNewAlerts; tick them (kubectl incident check INC-0001 ITEM...) or, as the "
        "commander, resolve with --override REASON"
    )


def test_show_has_triage_mitigation_and_the_held_resolution() -> None:
    item = {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "title": "Checkout down",
            "severity": "P1",
            "state": "Resolved",
            "mitigation": "flag off",
            "triage": {"affectsProduction": True, "usersImpacted": "30%", "dataAtRisk": False},
        },
        "status": {
            "id": "INC-0001",
            "phase": "Mitigating",
            "triageDueAt": "2026-11-25T10:15:00Z",
            "resolution": {"openItems": ["manualVerification"]},
        },
    }
    shown = render.show(item, datetime(2026, 11, 25, 10, 20, tzinfo=UTC))
    assert "Mitigation:      flag off" in shown
    assert "production: yes    data at risk: no    security component: -" in shown
    assert "users impacted: 30%" in shown
    assert "triage due       2026-11-25 10:15:00Z  (OVERDUE by 5m)" in shown
    assert "Resolved is held; pre-resolution verification open: manualVerification" in shown


class _FakeCluster:
    """Just what triage needs: one incident, who I am, and the patches sent."""

    def __init__(self, triage: dict[str, Any] | None = None) -> None:
        self.incident = {
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"triage": triage} if triage else {},
            "status": {"id": "INC-0001"},
        }
        self.patches: list[dict[str, Any]] = []

    def find(self, reference: str) -> dict[str, Any]:
        return self.incident

    def whoami(self) -> str:
        return "alice"

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(body)
        return incident


def _triage_args(**flags: Any) -> Any:
    names = ("production", "users", "agents", "data_at_risk", "security", "business_impact")
    return argparse.Namespace(incident="INC-0001", **{name: flags.get(name) for name in names})


def test_triage_asks_the_five_questions_in_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = _FakeCluster(triage={"usersImpacted": "some"})
    # A bad yes/no is asked again; Enter keeps the current answer (or leaves it unanswered).
    answers = iter(["maybe", "yes", "", "all", "no", "y", "no payments"])
    asked: list[str] = []

    def fake_input(prompt: str) -> str:
        asked.append(prompt)
        return next(answers)

    monkeypatch.setattr("builtins.input", fake_input)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert cmd_triage(cluster, _triage_args()) == 0  # type: ignore[arg-type]
    assert asked[0] == "1. Is this affecting production? [yes/no]: "
    assert asked[2] == "2. How many users are impacted? (now: some): "
    assert cluster.patches == [
        {
            "metadata": {"annotations": {"sre.agentos.io/changed-by": "alice"}},
            "spec": {
                "triage": {
                    "affectsProduction": True,
                    "usersImpacted": "some",
                    "agentsImpacted": "all",
                    "dataAtRisk": False,
                    "securityComponent": True,
                    "businessImpact": "no payments",
                }
            },
        }
    ]
    assert "expected yes or no, not 'maybe'" in capsys.readouterr().err


def test_triage_without_answers_or_a_terminal_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    with pytest.raises(PluginError, match="pass them as flags"):
        cmd_triage(_FakeCluster(), _triage_args())  # type: ignore[arg-type]


def test_triage_flags_set_only_what_they_name() -> None:
    cluster = _FakeCluster()
    cmd_triage(cluster, _triage_args(security=True, users="2000"))  # type: ignore[arg-type]
    assert cluster.patches[0]["spec"] == {
        "triage": {"usersImpacted": "2000", "securityComponent": True}
    }
