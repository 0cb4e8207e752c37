"""Control characters from the cluster are escaped wherever the plugin prints them."""

from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.cli import output, render
from incident_operator.cli.escape import escape, escape_block

NOW = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
CONTROL_CODES = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
HOSTILE = "a\x1b[31mb\x07c"
SHOWN = "a\\x1b[31mb\\x07c"


@pytest.mark.parametrize(
    ("text", "line", "block"),
    [
        ("plain text", "plain text", "plain text"),
        ("", "", ""),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("ding\x07", "ding\\x07", "ding\\x07"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07", "\\x1b]0;title\\x07"),
        ("one\ntwo", "one\\ntwo", "one\ntwo"),
        ("col\tcol", "col\\tcol", "col\tcol"),
        ("over\rwrite", "over\\rwrite", "over\\rwrite"),
        ("crlf\r\nline", "crlf\\r\\nline", "crlf\nline"),
        ("nul\x00", "nul\\x00", "nul\\x00"),
        ("back\x08space", "back\\x08space", "back\\x08space"),
        ("del\x7f", "del\\x7f", "del\\x7f"),
        ("csi\x9b2J", "csi\\x9b2J", "csi\\x9b2J"),
        ("nel\x85", "nel\\x85", "nel\\x85"),
        ("\x9f", "\\x9f", "\\x9f"),
        ("é ü ß 事故 🔥", "é ü ß 事故 🔥", "é ü ß 事故 🔥"),
        ("\xa0no-break", "\xa0no-break", "\xa0no-break"),
        ("C:\\path\\x1b", "C:\\path\\x1b", "C:\\path\\x1b"),
    ],
)
def test_escape(text: str, line: str, block: str) -> None:
    assert escape(text) == line
    assert escape_block(text) == block


@pytest.mark.parametrize("code", CONTROL_CODES)
def test_every_control_character_is_escaped_on_a_line(code: int) -> None:
    escaped = escape(f"x{chr(code)}y")
    assert all(
        ord(character) >= 0x20 and not 0x7F <= ord(character) < 0xA0 for character in escaped
    )
    assert escaped.startswith("x\\")


@pytest.mark.parametrize("code", [c for c in CONTROL_CODES if chr(c) not in "\t\n"])
def test_a_block_keeps_only_tab_and_newline(code: int) -> None:
    assert chr(code) not in escape_block(f"x{chr(code)}\t\ny")
    assert "\t\n" in escape_block(f"x{chr(code)}\t\ny")


@pytest.mark.parametrize("text", ["\x1b[31m", "a\nb\tc\rd", "\x07\x9b", "plain"])
def test_escaping_escaped_text_changes_nothing(text: str) -> None:
    assert escape(escape(text)) == escape(text)
    assert escape_block(escape_block(text)) == escape_block(text)


@pytest.mark.parametrize("value", [42, None, 3.5])
def test_escape_accepts_any_value(value: object) -> None:
    assert escape(value) == str(value)


def _incident(**fields: Any) -> dict[str, Any]:
    """An incident with ``HOSTILE`` in every text field the plugin prints."""
    return {
        "metadata": {
            "name": "checkout",
            "namespace": "shop",
            "creationTimestamp": "2026-04-02T07:00:00+00:00",
        },
        "spec": {
            "title": HOSTILE,
            "severity": "P1",
            "summary": f"first {HOSTILE}\nsecond",
            "impact": HOSTILE,
            "roles": {"commander": HOSTILE},
            "state": "Investigating",
        },
        "status": {
            "id": "INC-0001",
            "phase": "Detected",
            "acknowledgedAt": HOSTILE,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": HOSTILE, "message": HOSTILE}
            ],
            "checklist": [
                {
                    "key": "k",
                    "text": HOSTILE,
                    "done": False,
                    "required": True,
                    "tickedBy": "responder",
                }
            ],
            "timeline": [
                {
                    "time": "2026-04-02T07:00:00+00:00",
                    "type": "Opened",
                    "actor": HOSTILE,
                    "message": f"opened: {HOSTILE}\nforged line",
                }
            ],
            "rollback": {
                "phase": "Proposed",
                "target": {"kind": "Deployment", "name": HOSTILE},
                "currentRevision": 2,
                "targetRevision": "1",
                "diff": f"- image: {HOSTILE}\n+ image: ok",
                "message": HOSTILE,
                "reason": "RollbackRefused",
                "approvedBy": HOSTILE,
            },
            **fields,
        },
    }


def _listed() -> str:
    """`list`: the server's Table of the incident, as the plugin prints it."""
    incident = _incident()
    table = {
        "columnDefinitions": [
            {"name": "Name", "type": "string"},
            {"name": "Title", "type": "string", "priority": 1},
        ],
        "rows": [{"cells": [HOSTILE, incident["spec"]["title"]], "object": incident}],
    }
    return "\n".join(output.table_lines(table, NOW, wide=True, headers=True, namespaces=True))


PRINTED = {
    "list": _listed,
    "show": lambda: render.show(_incident(), NOW),
    "timeline": lambda: render.timeline(_incident()["status"]),
    "rollback": lambda: "\n".join(render.rollback_section(_incident()["status"])),
    "label": lambda: render.label({"metadata": {"name": HOSTILE}}),
}


@pytest.mark.parametrize("printed", PRINTED.values(), ids=PRINTED.keys())
def test_what_the_commands_print_holds_no_control_character(printed: Any) -> None:
    text: str = printed()
    assert SHOWN in text
    assert not [c for c in text if ord(c) in CONTROL_CODES and c != "\n"], repr(text)


def test_a_newline_in_a_timeline_message_does_not_start_a_line() -> None:
    lines = render.timeline(_incident()["status"]).splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(f"opened: {SHOWN}\\nforged line")


def test_show_prints_the_summary_as_a_block() -> None:
    lines = render.show(_incident(), NOW).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Summary:"))
    assert lines[start] == f"Summary:         first {SHOWN}"
    assert lines[start + 1] == "                 second"
    assert f"Impact:          {SHOWN}" in lines


def test_show_leaves_out_an_empty_summary() -> None:
    incident = _incident()
    incident["spec"].pop("summary")
    incident["spec"].pop("impact")
    shown = render.show(incident, NOW)
    assert "Summary:" not in shown
    assert "Impact:" not in shown


def test_a_table_column_is_as_wide_as_its_escaped_cells() -> None:
    lines = render.table(["A", "B"], [["\x1b", "x"], ["yy", "z"]]).splitlines()
    assert lines == ["A      B", "\\x1b   x", "yy     z"]
