"""The plugin's kubectl-like options, offline: output formats, lint, completion, wait's --for."""

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from incident_operator.cli import completion, lint, output, wait
from incident_operator.cli.main import _parser, main

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "printed"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (125, "2m5s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 86400, "2y1d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_ages_are_printed_as_kubectl_prints_them(seconds: int, printed: str) -> None:
    assert output.human_duration(seconds) == printed


TABLE = {
    "kind": "Table",
    "columnDefinitions": [
        {"name": "Name", "type": "string"},
        {"name": "ID", "type": "string"},
        {"name": "Escalation", "type": "integer", "priority": 1},
        {"name": "Age", "type": "date"},
    ],
    "rows": [
        {
            "cells": ["checkout", "INC-0001", 2, (NOW - timedelta(seconds=5)).isoformat()],
            "object": {"metadata": {"namespace": "shop"}},
        },
        {"cells": ["a", None, None, None], "object": {"metadata": {"namespace": "x"}}},
    ],
}


def test_a_table_is_laid_out_as_kubectls_tabwriter() -> None:
    lines = output.table_lines(TABLE, NOW, wide=False, headers=True, namespaces=False)
    assert lines == [
        "NAME       ID         AGE",
        "checkout   INC-0001   5s",
        "a                     ",
    ]
    wide = output.table_lines(TABLE, NOW, wide=True, headers=False, namespaces=True)
    assert wide == [
        "shop   checkout   INC-0001   2     5s",
        "x      a                           ",
    ]


def test_cells_from_the_cluster_are_escaped() -> None:
    hostile = {**TABLE, "rows": [{"cells": ["x\x1b[31m", "y", 1, None]}]}
    (line,) = output.table_lines(hostile, NOW, wide=False, headers=False, namespaces=False)
    assert "\x1b" not in line
    assert "\\x1b[31m" in line


def test_objects_print_as_kubectl_prints_them() -> None:
    body = {"b": 1, "a": {"z": [1, 2], "y": "é"}}
    assert output.json_text(body) == json.dumps(body, indent=4, sort_keys=True, ensure_ascii=False)
    assert yaml.safe_load(output.yaml_text(body)) == body
    assert output.yaml_text(body).startswith("a:\n  y: é\n")
    listed = output.as_list([body])
    assert (listed["apiVersion"], listed["kind"], listed["items"]) == ("v1", "List", [body])


def test_the_samples_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in SAMPLES.glob("*.yaml"))
    assert main(["lint", *(a for f in files for a in ("-f", f))]) == 0
    assert "no problems" in capsys.readouterr().out


BAD_POLICY = """\
apiVersion: sre.agentos.io/v1alpha1
kind: EscalationPolicy
metadata: {name: team}
spec:
  channels:
  - name: hook
    type: webhook
    url: http://127.0.0.1:9/hook
    bodyTemplate: '{"text": {{ text }'
  communication:
    templates:
      declaration: "{{ incident.no_such_field.deeper }}"
---
apiVersion: sre.agentos.io/v1alpha1
kind: Incident
metadata: {name: broken}
spec: {title: "", severity: P9}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-ours}
"""


def test_lint_names_file_document_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BAD_POLICY)
    assert main(["lint", "-f", str(path)]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert f"{path}: document 1 (EscalationPolicy/team): spec.communication.templates." in (
        "\n".join(errors)
    )
    assert any("declaration" in e and "no_such_field" in e for e in errors), errors
    assert any("spec.channels[hook].bodyTemplate line 1" in e for e in errors), errors
    assert any(e.startswith(f"{path}: document 2 (Incident/broken): spec.title:") for e in errors)
    assert any("document 2 (Incident/broken): spec.severity:" in e for e in errors)
    assert not any("document 3" in e for e in errors)


def test_lint_reads_standard_input_and_reports_broken_yaml(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a: [\n"))
    assert main(["lint", "-f", "-"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("-: document 0: not YAML at line 2")


def _complete(*words: str, incidents: list[str] | None = None) -> list[str]:
    return completion.candidates(_parser(), words, lambda _: incidents or [])


def test_completion_offers_commands_flags_choices_and_incidents() -> None:
    assert {"list", "show", "wait", "lint", "approve-rollback"} <= set(_complete(""))
    assert _complete("-n", "shop", "ti") == ["timeline"]
    assert "--output" in _complete("list", "--o")
    assert _complete("list", "-o", "") == ["json", "name", "wide", "yaml"]
    assert _complete("severity", "INC-1", "P") == ["P0", "P1", "P2", "P3", "P4"]
    assert _complete("show", "", incidents=["INC-0001", "checkout"]) == ["INC-0001", "checkout"]
    assert _complete("show", "INC-0001", "", incidents=["INC-0001"]) == []
    assert _complete("--namespace", "") == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_ask_the_plugin(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    assert "kubectl-incident __complete" in capsys.readouterr().out


def test_wait_durations_and_conditions() -> None:
    assert wait.duration("30m") == 1800
    assert wait.duration("1h30m") == 5400
    assert wait.duration("45") == 45
    with pytest.raises(argparse.ArgumentTypeError):
        wait.duration("soon")
    resolved = wait.wanted("phase=Resolved")
    assert resolved.met({"status": {"phase": "Resolved"}})
    assert not resolved.met({"status": {"phase": "Open"}})
    assert not resolved.met(None)
    acked = wait.wanted("condition=Acknowledged")
    assert acked.met({"status": {"conditions": [{"type": "Acknowledged", "status": "True"}]}})
    assert not acked.met({"status": {"conditions": [{"type": "Acknowledged", "status": "False"}]}})
    assert wait.wanted("condition=ResponseOverdue=False").met(
        {"status": {"conditions": [{"type": "ResponseOverdue", "status": "False"}]}}
    )
    assert wait.wanted("state=Mitigating").met({"spec": {"state": "Mitigating"}})
    assert wait.wanted("delete").met(None)
    with pytest.raises(argparse.ArgumentTypeError):
        wait.wanted("ready")


def test_version_client_needs_no_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--kubeconfig", "/nonexistent", "version", "--client", "-o", "json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body == {"clientVersion": {"version": "0.1.0", "apiVersion": "sre.agentos.io/v1alpha1"}}
    assert lint.KINDS == ("EscalationPolicy", "Incident", "MaintenanceWindow")
