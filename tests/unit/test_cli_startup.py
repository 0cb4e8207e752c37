"""The plugin starts fast: parsing imports neither the Kubernetes client nor the models."""

import argparse
import importlib
import subprocess
import sys

import pytest

from incident_operator.cli import main

HEAVY = ("kubernetes", "pydantic", "jinja2", "urllib3")


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


def test_importing_the_entry_module_imports_nothing_heavy() -> None:
    modules = _imported_after("import incident_operator.cli.main")
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize("command", ["list", "show", "ack", "wait", "timeline"])
def test_parsing_a_command_imports_nothing_heavy(command: str) -> None:
    code = (
        "from incident_operator.cli.main import _parser\n"
        f"_parser({command!r}).parse_args([{command!r}, 'INC-1'] if {command!r} != 'list' "
        f"else ['list'])"
    )
    code = code.replace("'wait', 'INC-1']", "'wait', 'INC-1', '--for=delete']")
    modules = _imported_after(code)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_each_registrar_registers_the_commands_listed_for_it() -> None:
    for module, function, names in main._REGISTRARS:
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers()
        getattr(importlib.import_module(module), function)(commands)
        assert set(commands.choices) == set(names), module


def test_a_registered_command_parses_with_only_its_module() -> None:
    for _, _, names in main._REGISTRARS:
        for name in names:
            assert name in main.subcommands(main._parser(name))
    assert set(main.subcommands(main._parser(""))) < set(main.subcommands(main._parser()))


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["list"], "list"),
        (["-n", "shop", "--as", "jane", "show", "x"], "show"),
        (["--as-group", "a", "--debug", "ack", "x"], "ack"),
        (["--request-timeout", "3", "approve-rollback", "INC-1"], "approve-rollback"),
        (["--help"], None),
    ],
)
def test_the_command_word_is_found_past_the_global_options(
    argv: list[str], command: str | None
) -> None:
    assert main.command_of(argv) == command


# What `ack`, `show`, `list`, `approve-rollback` (and `wait`, `timeline`) import to run:
# the cluster, its own HTTP client, printing, and the error lines.
RUN_MODULES = (
    "incident_operator.cli.cluster",
    "incident_operator.cli.raw_api",
    "incident_operator.cli.listing",
    "incident_operator.cli.output",
    "incident_operator.cli.render",
    "incident_operator.cli.rollback_commands",
    "incident_operator.cli.wait",
    "incident_operator.cli.failures",
    "incident_operator.domain.links",
)


def test_running_a_common_command_imports_nothing_heavy() -> None:
    modules = _imported_after("\n".join(f"import {module}" for module in RUN_MODULES))
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_show_without_policy_links_imports_no_models() -> None:
    """The appendix's links need no validation: the policy's pydantic model is not imported."""
    code = (
        "from typing import Any, cast\n"
        "from incident_operator.cli.main import _related_links\n"
        "class Policies:\n"
        "    def read_policy(self, name: str) -> dict[str, Any]:\n"
        "        return {'spec': {'channels': []}}\n"
        "incident = {'status': {'escalation': {'policy': 'default'}}}\n"
        "links = _related_links(cast(Any, Policies()), incident)\n"
        "assert links.dashboards, links\n"
    )
    modules = _imported_after(code)
    assert not {m for m in modules if m.split(".")[0] in HEAVY}
