"""``kubectl incident publish`` without a cluster: what it would append, and what show prints."""

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from incident_operator.cli.cluster import PluginError
from incident_operator.cli.customer_commands import _message, add_publish
from incident_operator.cli.render import show

DRAFT = {
    "kind": "Initial",
    "subject": "[Service Disruption] AgentOS Platform",
    "text": "Dear Customer,\n\nWe are currently investigating an issue affecting checkout.\n",
    "preparedAt": "2026-11-25T10:00:00Z",
}
INCIDENT: dict[str, Any] = {
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {"title": "Checkout errors", "severity": "P1"},
    "status": {
        "id": "INC-0007",
        "communication": {
            "draft": DRAFT,
            "customerDueAt": "2026-11-25T10:30:00Z",
            "messagesRecorded": 0,
        },
    },
}


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_publish(parser.add_subparsers())
    return parser.parse_args(["publish", "INC-0007", *argv])


def test_the_draft_as_it_is() -> None:
    assert _message(INCIDENT, _args()) == {
        "kind": "Initial",
        "subject": DRAFT["subject"],
        "text": DRAFT["text"],
    }


def test_a_text_of_ones_own_with_a_kind_and_subject() -> None:
    message = _message(
        INCIDENT, _args("--kind", "progress", "-m", "Still on it.", "--subject", "S")
    )
    assert message == {"kind": "Progress", "subject": "S", "text": "Still on it."}


def test_a_file_with_a_subject_line(tmp_path: Path) -> None:
    path = tmp_path / "message.txt"
    path.write_text("Subject: Checkout trouble\n\nWe are on it.\n")
    message = _message(INCIDENT, _args("--file", str(path)))
    assert message == {"kind": "Initial", "subject": "Checkout trouble", "text": "We are on it.\n"}


def test_the_draft_edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    editor = tmp_path / "editor.sh"
    # An editor that changes the subject and the greeting, as a person would.
    editor.write_text(
        "#!/bin/sh\nsed -i -e 's/^Subject: .*/Subject: Edited/' -e 's/Dear/Hello/' \"$1\"\n"
    )
    editor.chmod(0o755)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    message = _message(INCIDENT, _args("--edit"))
    assert message["subject"] == "Edited"
    assert message["text"].startswith("Hello Customer,")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (("--kind", "resolution"), "the draft is the Initial message, not Resolution"),
        (("-m", "   "), "the message is empty"),
    ],
)
def test_refused_before_anything_is_written(argv: tuple[str, ...], error: str) -> None:
    with pytest.raises(PluginError, match=error):
        _message(INCIDENT, _args(*argv))


def test_no_draft_needs_a_kind() -> None:
    bare = {**INCIDENT, "status": {"id": "INC-0007"}}
    with pytest.raises(PluginError, match="give --kind and --message"):
        _message(bare, _args("-m", "Hello."))
    assert _message(bare, _args("--kind", "initial", "-m", "Hello.")) == {
        "kind": "Initial",
        "text": "Hello.",
    }


def test_show_prints_the_customer_clock_and_the_draft() -> None:
    text = show(INCIDENT, datetime(2026, 11, 25, 10, 40, tzinfo=UTC))
    assert "Customer communication:" in text
    assert "customer msg due 2026-11-25 10:30:00Z  (OVERDUE by 10m)" in text
    assert "draft (Initial): kubectl incident publish INC-0007" in text
    assert "    Subject: [Service Disruption] AgentOS Platform" in text
    assert "    We are currently investigating an issue affecting checkout." in text
