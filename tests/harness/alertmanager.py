"""A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1 for a test.

Its only receiver is a webhook to the operator's receiver with the bearer token, sending
at once (group_wait 0s) and grouping nothing, so every alert posted to ``/api/v2/alerts``
reaches the operator as Alertmanager itself would deliver it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import urllib.request
from pathlib import Path
from typing import Any

from tests.harness.process import ManagedProcess
from tests.harness.wait import wait_until

BINARY = "/usr/bin/prometheus-alertmanager"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def available() -> bool:
    return shutil.which(BINARY) is not None


def _config(webhook_url: str, token: str) -> str:
    # JSON is YAML: no YAML writer needed.
    return json.dumps(
        {
            "route": {
                "receiver": "incident-operator",
                "group_by": ["..."],
                "group_wait": "0s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {
                    "name": "incident-operator",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": token}},
                        }
                    ],
                }
            ],
        }
    )


class Alertmanager:
    """One Alertmanager process; ``start`` waits until it answers, ``stop`` ends it."""

    def __init__(self, directory: Path, webhook_url: str, token: str) -> None:
        self.directory = directory
        self.port = _free_port()
        self._webhook_url = webhook_url
        self._token = token
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Alertmanager:
        config = self.directory / "alertmanager.yml"
        config.write_text(_config(self._webhook_url, self._token))
        argv = [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # No gossip: one instance, and no port opened beyond the loopback one.
            "--cluster.listen-address=",
        ]
        self._process = ManagedProcess.spawn(
            "alertmanager",
            argv,
            self.directory / "alertmanager.log",
            env={k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
            cwd=self.directory,
            detach=False,
        )
        wait_until(
            self._ready,
            what="Alertmanager ready",
            timeout=timeout,
            abort=self._process.exit_reason,
            detail=self.log_tail,
        )
        return self

    def _ready(self) -> bool:
        with _NO_PROXY.open(f"{self.url}/-/ready", timeout=2) as response:
            return bool(response.status == 200)

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Posts alerts to Alertmanager's own API, as Prometheus does."""
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with _NO_PROXY.open(request, timeout=10) as response:
            assert response.status == 200, response.read()

    def log_tail(self) -> str:
        return self._process.log_tail() if self._process else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
