"""Runs the real operator (``incident-operator run``) as a child process for the tests."""

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from tests.harness.wait import wait_until


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OperatorProcess:
    """The operator as a process: start, wait for its probe, stop or kill it."""

    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        extra_args: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env`` adds to the environment, e.g. POD_NAME and POD_NAMESPACE as in a pod."""
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        self.extra_args = extra_args
        self.env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.health_url = ""
        self.metrics_url = ""

    def start(self, ready: bool = True) -> "OperatorProcess":
        """Starts it and waits until /readyz answers 200 (a leader or a healthy standby);
        with ``ready=False``, until /healthz does (the process merely runs)."""
        port = _free_port()
        self.health_url = f"http://127.0.0.1:{port}/{'readyz' if ready else 'healthz'}"
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.env}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "incident_operator",
                "run",
                "--verbose",
                "--health-listen",
                f"127.0.0.1:{port}",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        wait_until(
            self._healthy,
            timeout=60,
            what="the operator's readiness probe",
            abort=self._exited,
            detail=self.log_tail,
        )
        return self

    def _exited(self) -> str | None:
        if self.process is None or self.process.poll() is None:
            return None
        return f"the operator exited with code {self.process.returncode}"

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.health_url, timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (graceful) or SIGKILL (a crash); waits for the process to end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> "OperatorProcess":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
