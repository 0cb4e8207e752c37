"""The Dockerfile's essentials, read as text: no Docker engine here to build it.

tests/integration/test_packaging.py installs the package the way the image does (no
dev extras, into a clean virtual environment) and starts it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of instructions from its FROM on."""
    result: list[list[tuple[str, str]]] = []
    for instruction in _instructions((REPO / "Dockerfile").read_text()):
        if instruction[0] == "FROM":
            result.append([])
        assert result, "the Dockerfile must start with FROM"
        result[-1].append(instruction)
    return result


def test_every_stage_is_a_slim_python_311(stages: list[list[tuple[str, str]]]) -> None:
    for stage in stages:
        image = stage[0][1].split()[0]
        assert re.fullmatch(r"python:3\.11-slim(-bookworm)?", image), image


def test_final_stage_runs_as_a_numeric_non_root_user(stages: list[list[tuple[str, str]]]) -> None:
    users = [args for word, args in stages[-1] if word == "USER"]
    assert users, "the final stage sets no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so the kubelet can check runAsNonRoot; 65532 is what the chart runs as.
    assert uid == "65532", users[-1]
    assert gid in ("", "65532"), users[-1]
    values = yaml.safe_load((REPO / "charts" / "incident-operator" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)


def test_entrypoint_runs_the_operator(stages: list[list[tuple[str, str]]]) -> None:
    entrypoints = [args for word, args in stages[-1] if word == "ENTRYPOINT"]
    assert [json.loads(e) for e in entrypoints] == [["incident-operator", "run"]]


def test_only_runtime_dependencies_are_installed(stages: list[list[tuple[str, str]]]) -> None:
    runs = [args for stage in stages for word, args in stage if word == "RUN"]
    installs = [shlex.split(r) for r in runs if "pip " in r]
    assert installs, "no pip command"
    for words in installs:
        assert "--no-cache-dir" in words, words
        assert not any("[" in w for w in words), f"extras in {words}"
        assert "-e" not in words, words
        assert "--editable" not in words, words
    final = [shlex.split(args) for word, args in stages[-1] if word == "RUN" and "pip " in args]
    assert len(final) == 1, final
    assert "--no-index" in final[0], "the final stage installs only the built wheels"


def test_dockerignore_sends_only_the_package() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "everything is ignored unless named"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "operator"}
    copied = [
        args.split()[:-1]
        for stage_word, args in _instructions((REPO / "Dockerfile").read_text())
        if stage_word == "COPY" and not args.startswith("--from")
    ]
    assert {Path(source).parts[0] for sources in copied for source in sources} <= allowed
