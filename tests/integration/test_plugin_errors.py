"""The plugin run as a real process when things go wrong, and with hostile text.

Each failure must end with exactly one line on stderr that names the cause, a non-zero
exit and no traceback; with ``--debug`` the traceback comes too. Every server address
used here is on 127.0.0.1. Text from the cluster with terminal control characters is
printed escaped by ``list`` and ``show``.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import create_incident, wait_for_status_field
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin, run_plugin_as_is
from tests.harness.protocols import Kubectl

THROWAWAY_CA = "plugin-errors-throwaway-ca"
CONTROLS = "\x1b[31m\x07"


def _kubeconfig(path: Path, server: str, ca_pem: bytes | None = None) -> Path:
    cluster: dict[str, object] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "someone", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "broken", "context": {"cluster": "target", "user": "someone"}}],
        "current-context": "broken",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _unused_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound for a moment to pick it, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _throwaway_ca(directory: Path) -> bytes:
    """A self-signed CA that signed nothing the cluster uses."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a throwaway CA")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt",
            "-subj", f"/CN={THROWAWAY_CA}",
            "-addext", "basicConstraints=critical,CA:TRUE",
        ],
        cwd=directory, capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    return (directory / "ca.crt").read_bytes()


@dataclass(frozen=True)
class Case:
    """A broken setup: the plugin's arguments and environment, and what stderr must name."""

    args: tuple[str, ...]
    env: dict[str, str]
    names: tuple[str, ...]  # all of these appear in the one stderr line


Setup = Callable[[Path], Case]


def _missing_by_flag(tmp_path: Path) -> Case:
    path = tmp_path / "nowhere" / "kubeconfig"
    return Case(("--kubeconfig", str(path)), {}, (str(path), "does not exist"))


def _missing_by_environment(tmp_path: Path) -> Case:
    path = tmp_path / "absent.yaml"
    return Case((), {"KUBECONFIG": str(path)}, (str(path), "does not exist"))


def _not_yaml(tmp_path: Path) -> Case:
    path = tmp_path / "broken.yaml"
    path.write_text("apiVersion: v1\nclusters: [\n  - name: x\n   bad: : :\n")
    return Case(
        ("--kubeconfig", str(path)), {}, (str(path), "is not valid YAML", "line 3, column 3")
    )


def _yaml_not_a_kubeconfig(tmp_path: Path) -> Case:
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n")
    return Case(("--kubeconfig", str(path)), {}, (str(path), "is not a kubeconfig"))


def _refused(tmp_path: Path) -> Case:
    port = _unused_port()
    path = _kubeconfig(tmp_path / "refused.yaml", f"https://127.0.0.1:{port}")
    return Case(
        ("--kubeconfig", str(path)),
        {},
        (f"https://127.0.0.1:{port}", "refused the connection", str(path)),
    )


SETUPS: dict[str, Setup] = {
    "missing-by-flag": _missing_by_flag,
    "missing-in-KUBECONFIG": _missing_by_environment,
    "not-yaml": _not_yaml,
    "yaml-not-a-kubeconfig": _yaml_not_a_kubeconfig,
    "connection-refused": _refused,
}


def _assert_one_line(result: subprocess.CompletedProcess[str], names: tuple[str, ...]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for name in names:
        assert name in lines[0], f"{name!r} not in {lines[0]!r}"
    return lines[0]


def _assert_debug(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback (most recent call last)" in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1] == line


@pytest.mark.parametrize("command", [("list",), ("show", "INC-0001"), ("whoami",)])
@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_a_broken_setup_is_one_line(setup: Setup, command: tuple[str, ...], tmp_path: Path) -> None:
    case = setup(tmp_path)
    result = run_plugin_as_is(*case.args, *command, env=case.env)
    line = _assert_one_line(result, case.names)
    debug = run_plugin_as_is(*case.args, "--debug", *command, env=case.env)
    _assert_debug(debug, line)


def test_debug_is_accepted_after_the_command(tmp_path: Path) -> None:
    case = _refused(tmp_path)
    result = run_plugin_as_is(*case.args, "list", "--debug", env=case.env)
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: the API server https://127.0.0.1:")


def test_a_server_that_never_answers_times_out_in_one_line(tmp_path: Path) -> None:
    # Listening, never accepting: the kernel completes the TCP handshake, TLS never starts.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        server = f"https://127.0.0.1:{silent.getsockname()[1]}"
        path = _kubeconfig(tmp_path / "silent.yaml", server)
        args = ("--kubeconfig", str(path), "--request-timeout", "0.5", "whoami")
        result = run_plugin_as_is(*args, timeout=30)
    _assert_one_line(result, (server, "did not answer in time", "--request-timeout"))


def test_a_certificate_from_another_ca_is_one_line(cluster: ClusterInfo, tmp_path: Path) -> None:
    assert cluster.api_server_url.startswith("https://127.0.0.1:")
    ca_pem = _throwaway_ca(tmp_path)
    path = _kubeconfig(tmp_path / "wrong-ca.yaml", cluster.api_server_url, ca_pem)
    names = (
        cluster.api_server_url,
        "did not verify",
        f"CN={THROWAWAY_CA}",
        str(path),
        "unable to get local issuer certificate",
    )
    line = _assert_one_line(run_plugin_as_is("--kubeconfig", str(path), "list"), names)
    _assert_debug(run_plugin_as_is("--kubeconfig", str(path), "--debug", "list"), line)


def test_control_characters_from_the_cluster_are_printed_escaped(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    create_incident(
        kubectl,
        namespace,
        "hostile",
        title=f"checkout {CONTROLS}red",
        summary=f"first line {CONTROLS}\nsecond line\x1b]0;retitled\x07",
    )
    body = wait_for_status_field(kubectl, namespace, "hostile", "id", operator.log_tail)
    # The title is a wide column of `kubectl get incidents`, and so of `list`.
    listed = run_plugin(cluster.kubeconfig, namespace, "list", "-o", "wide").stdout
    shown = run_plugin(cluster.kubeconfig, namespace, "show", body["status"]["id"]).stdout
    for output in (listed, shown):
        assert "\x1b" not in output, repr(output)
        assert "\x07" not in output, repr(output)
    assert "checkout \\x1b[31m\\x07red" in listed
    assert "checkout \\x1b[31m\\x07red" in shown
    assert "first line \\x1b[31m\\x07" in shown
    assert "second line\\x1b]0;retitled\\x07" in shown
