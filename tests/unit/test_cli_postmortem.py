"""`kubectl incident postmortem` options and `kubectl incident show`, without a cluster."""

import argparse
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.cli import render
from incident_operator.cli.main import _parser, _postmortem_changes, _postmortem_status
from incident_operator.reconcile.related_links import policy_links

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "word"),
    [
        ("In Review", "InReview"),
        ("in-review", "InReview"),
        ("InReview", "InReview"),
        ("in_review", "InReview"),
        ("draft", "Draft"),
        ("Final", "Final"),
    ],
)
def test_the_status_is_taken_as_people_spell_it(typed: str, word: str) -> None:
    assert _postmortem_status(typed) == word


def test_an_unknown_status_is_a_usage_error() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match='use Draft, "In Review" or Final'):
        _postmortem_status("reviewed")


def test_the_options_parse_repeatable_lists() -> None:
    args = _parser().parse_args(
        [
            "postmortem",
            "INC-1",
            "--status",
            "In Review",
            "--factor",
            "No canary",
            "--factor",
            "Slow alert",
            "--went-well",
            "Quick rollback",
            "--could-improve",
            "Paging",
            "--revenue-impact",
            "$4k",
            "--data-loss",
            "40 carts",
            "--users-affected",
            "12%",
            "--document-url",
            "https://docs.example/pm",
            "--owner",
            "carol",
            "--author",
            "dave",
        ]
    )
    assert args.status == "InReview"
    assert args.factor == ["No canary", "Slow alert"]
    assert (args.went_well, args.could_improve, args.author) == (
        ["Quick rollback"],
        ["Paging"],
        ["dave"],
    )
    assert (args.revenue_impact, args.data_loss, args.users_affected) == ("$4k", "40 carts", "12%")
    assert args.document_url == "https://docs.example/pm"


def test_lists_are_appended_to_what_is_written() -> None:
    current: dict[str, Any] = {
        "spec": {
            "postMortem": {
                "contributingFactors": ["No canary"],
                "lessonsLearned": {"wentWell": ["Quick rollback"]},
            }
        }
    }
    patch = _postmortem_changes(
        current,
        {"owner": "carol"},
        {"factor": ["Slow alert"], "went_well": ["Good comms"], "could_improve": ["Paging"]},
    )
    assert patch == {
        "owner": "carol",
        "contributingFactors": ["No canary", "Slow alert"],
        "lessonsLearned": {
            "wentWell": ["Quick rollback", "Good comms"],
            "couldBeImproved": ["Paging"],
        },
    }


def _incident(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"title": "Checkout down", "severity": "P1", **spec},
        "status": {"id": "INC-0007", "phase": "PostIncident"},
    }


def test_show_reads_in_review_and_names_the_missing_owner() -> None:
    shown = render.show(_incident(postMortem={"status": "InReview"}), NOW)
    assert "Post-mortem:     In Review   owner (none: needed to close)" in shown
    shown = render.show(
        _incident(postMortem={"owner": "carol", "documentUrl": "https://docs.example/pm"}), NOW
    )
    assert "Post-mortem:     Draft   owner carol" in shown
    assert "  document https://docs.example/pm" in shown


def test_show_lists_the_related_runbooks_and_dashboards() -> None:
    shown = render.show(_incident(), NOW, policy_links(None))
    assert "Dashboards:\n- System Overview: /d/system-overview\n" in shown
    assert "Runbooks:\n- agent_troubleshooting.md: ./agent_troubleshooting.md\n" in shown
    assert "- pii_redaction.md: ./pii_redaction.md\n" in shown
