"""``kubectl incident oncall``'s output and its errors, without a cluster."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.cli.cluster import PluginError
from incident_operator.cli.main import main
from incident_operator.cli.oncall_command import as_json, text, views

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
START = "2026-11-02T09:00:00Z"


def _policy(name: str, rotations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"rotations": rotations}}


RUNBOOK = _policy(
    "runbook",
    [
        {
            "name": "primary",
            "people": ["alice", "bob"],
            "start": "2026-11-02T09:00:00Z",
            "overrides": [
                {"user": "dave", "start": "2026-11-30T09:00:00Z", "end": "2026-12-01T09:00:00Z"}
            ],
        },
        {
            "name": "secondary",
            "people": ["carol"],
            "start": "2026-11-02T09:00:00Z",
            "length": "24h",
        },
    ],
)


def test_text_lists_who_is_on_call_and_who_is_next() -> None:
    assert text(views([RUNBOOK], AT, 2), AT).splitlines() == [
        "on call at 2026-11-26 12:00Z",
        "POLICY    ROTATION    WHEN   ON CALL           FROM                UNTIL",
        "runbook   primary     now    bob               2026-11-23 09:00Z   2026-11-30 09:00Z",
        "runbook   primary     next   dave (override)   2026-11-30 09:00Z   2026-12-01 09:00Z",
        "runbook   primary     next   alice             2026-12-01 09:00Z   2026-12-07 09:00Z",
        "runbook   secondary   now    carol             2026-11-26 09:00Z   2026-11-27 09:00Z",
        "runbook   secondary   next   carol             2026-11-27 09:00Z   2026-11-28 09:00Z",
        "runbook   secondary   next   carol             2026-11-28 09:00Z   2026-11-29 09:00Z",
    ]


def test_json_for_scripts() -> None:
    document = json.loads(as_json(views([RUNBOOK], AT, 1), "team-a", AT))
    assert document["namespace"] == "team-a"
    assert document["at"] == "2026-11-26T12:00:00+00:00"
    primary = document["rotations"][0]
    assert (primary["policy"], primary["rotation"], primary["timeZone"]) == (
        "runbook",
        "primary",
        "UTC",
    )
    assert primary["onCall"] == {
        "person": "bob",
        "start": "2026-11-23T09:00:00+00:00",
        "end": "2026-11-30T09:00:00+00:00",
        "override": False,
    }
    assert [shift["person"] for shift in primary["next"]] == ["dave"]


def test_policies_without_rotations_list_nothing() -> None:
    assert views([_policy("quiet", []), {"metadata": {"name": "bare"}}], AT, 3) == []


def test_a_rotation_the_model_refuses_is_one_error_naming_policy_and_field() -> None:
    broken = _policy(
        "runbook",
        [{"name": "primary", "people": ["a"], "start": START, "timeZone": "Mars/Base"}],
    )
    named = r"^EscalationPolicy runbook: spec\.rotations\[0\]\.timeZone: unknown time zone 'Mars"
    with pytest.raises(PluginError, match=named):
        views([broken], AT, 3)


def test_names_from_the_cluster_are_escaped() -> None:
    sneaky = _policy("runbook", [{"name": "primary", "people": ["eve\x1b[2J"], "start": START}])
    assert "\x1b" not in text(views([sneaky], AT, 0), AT)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--at", "tomorrow"], "'tomorrow' is not an RFC 3339 time with a zone"),
        (["--at", "2026-12-01T09:00:00"], "is not an RFC 3339 time with a zone"),
        (["--next", "-1"], "'-1' is not a number from 0 to 100"),
        (["--next", "101"], "'101' is not a number from 0 to 100"),
        (["-o", "yaml"], "invalid choice: 'yaml'"),
    ],
)
def test_usage_errors_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["oncall", *argv])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("error: ")
    assert message in error
