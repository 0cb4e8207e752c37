"""The package installs the way the image installs it, and starts.

A fresh virtual environment gets `pip install <repo>`: runtime dependencies only, no dev
extras. Its commands must work from there, and `incident-operator run` must come up
against the local control plane (its /readyz turns 200 once kopf watches), which fails if
a module the operator imports is not a declared dependency. PyPI is needed; without it the
test skips and says so.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
# Development tools that must not come with the runtime install.
DEV_ONLY = ("pytest", "ruff", "mypy", "import-linter", "aiosmtpd", "lupa")


def _pypi_reachable() -> bool:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/kopf/", timeout=15) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _clean_env() -> dict[str, str]:
    # Nothing of this checkout or of .venv may leak into the clean environment.
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with the package installed from this checkout, without extras."""
    if not _pypi_reachable():
        pytest.skip("PyPI is unreachable: cannot install the runtime dependencies")
    root = tmp_path_factory.mktemp("clean-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    result = subprocess.run(
        [str(root / "venv" / "bin" / "pip"), "install", "--quiet", str(REPO)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=root,
        env=_clean_env(),
        check=False,
    )
    assert result.returncode == 0, f"pip install {REPO} failed:\n{result.stderr[-4000:]}"
    return root / "venv"


def _run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv / "bin" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=venv.parent,
        env=_clean_env(),
        check=False,
    )


def test_no_development_tool_is_installed(venv: Path) -> None:
    listed = _run(venv, "pip", "list", "--format=freeze").stdout.lower()
    names = {line.split("==")[0].replace("_", "-") for line in listed.splitlines()}
    assert "incident-operator" in names
    assert not names & set(DEV_ONLY), names & set(DEV_ONLY)


def test_package_is_installed_not_linked_to_the_checkout(venv: Path) -> None:
    result = _run(
        venv, "python", "-c", "import incident_operator; print(incident_operator.__file__)"
    )
    assert result.returncode == 0, result.stderr
    assert str(venv) in result.stdout, result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("incident-operator", "--help"),
        ("incident-operator", "run", "--help"),
        ("kubectl-incident", "--help"),
        ("incident-operator", "crds", "--check", "--output", str(REPO / "crds")),
    ],
    ids=["help", "run-help", "plugin-help", "crds-check"],
)
def test_commands_work_from_the_clean_install(venv: Path, command: tuple[str, ...]) -> None:
    result = _run(venv, *command)
    assert result.returncode == 0, f"{' '.join(command)}: {result.stderr}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def operator_from_venv(
    venv: Path, cluster: ClusterInfo, namespace: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, str, Path]]:
    """`incident-operator run` from the clean install, watching one empty namespace, with
    its status page on (its templates are package data: an editable install hides a
    template left out of the wheel)."""
    url = f"http://127.0.0.1:{_free_port()}"
    status_page = f"127.0.0.1:{_free_port()}"
    log = tmp_path / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(venv / "bin" / "incident-operator"),
                "run",
                "--namespace",
                namespace,
                "--health-listen",
                url.removeprefix("http://"),
                "--status-page-listen",
                status_page,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env={**_clean_env(), "KUBECONFIG": str(cluster.kubeconfig)},
        )
    try:
        yield process, url, status_page, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def test_operator_from_the_clean_install_starts_and_stops(
    operator_from_venv: tuple[subprocess.Popen[bytes], str, str, Path],
) -> None:
    process, url, status_page, log = operator_from_venv

    def ready() -> bool:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)

    def exited() -> str | None:
        code = process.poll()
        return None if code is None else f"the operator exited with code {code}"

    wait_until(
        ready,
        what="/readyz of the operator from the clean install",
        timeout=90,
        abort=exited,
        detail=lambda: log.read_text(errors="replace")[-3000:],
    )
    with urllib.request.urlopen(f"{url}/metrics", timeout=2) as response:
        assert response.status == 200

    def status_page_html() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{status_page}/", timeout=2) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as error:  # 503 until its data is listed once
            if error.code != 503:
                raise
            return None

    html = wait_until(status_page_html, what="the status page's HTML", timeout=30)
    assert "All Systems Operational" in html
    # Kubernetes stops a pod with SIGTERM and kills it after the grace period (30 s in the
    # chart): an operator that does not exit by then never gives its Lease up.
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        tail = log.read_text(errors="replace")[-3000:]
        pytest.fail(f"the operator did not exit within 30 s of SIGTERM:\n{tail}")
    assert code == 0, log.read_text(errors="replace")[-3000:]
