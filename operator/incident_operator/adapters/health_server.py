"""/healthz, /readyz and /metrics on one port, served from a thread.

It runs from process start, before leader election, so a standby replica answers its
probes while it waits. Readiness means this replica is healthy in its role:

- a standby (waiting for the Lease) is ready while the API server answers its Lease
  reads, so it could take over: Kubernetes counts it available, rollouts finish and a
  PodDisruptionBudget can keep one replica up;
- the leader (or a replica running without election) is ready once kopf has started its
  watches and the API server answered recently;
- a replica that has stopped leading is on its way out and never ready.

Which replica receives Alertmanager's webhooks is not readiness' business: the leader
labels its Pod (adapters/leader_label.py) and the Service selects that label.
"""

import threading
import time
from collections.abc import Callable
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# The API server must have answered this recently for the replica to be ready.
API_FRESHNESS_SECONDS = 30.0


class Role(StrEnum):
    # Waiting for the Lease; ready while the API server answers.
    STANDBY = "standby"
    # Holds the Lease or runs alone; ready once the watches run and the API answers.
    LEADER = "leader"
    # Has stopped leading and is shutting down; never ready.
    STOPPING = "stopping"


class Readiness:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.role = Role.STANDBY
        self.watching = threading.Event()
        self._clock = clock
        self._api_ok_at: float | None = None

    def api_ok(self) -> None:
        self._api_ok_at = self._clock()

    def problems(self) -> list[str]:
        """Why this replica is not ready in its role; empty when it is."""
        if self.role is Role.STOPPING:
            return ["stopping: this replica no longer leads"]
        found = []
        if self.role is Role.LEADER and not self.watching.is_set():
            found.append("the watches have not started")
        if self._api_ok_at is None or self._clock() - self._api_ok_at > API_FRESHNESS_SECONDS:
            found.append("the API server has not answered recently")
        return found

    def report(self) -> tuple[bool, str]:
        """(ready, the /readyz body): the role, and the problems when not ready."""
        problems = self.problems()
        if not problems:
            return True, f"ready ({self.role})\n"
        return False, "".join(f"{line}\n" for line in [f"not ready ({self.role})", *problems])


READINESS = Readiness()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            ready, body = READINESS.report()
            self._reply(200 if ready else 503, body.encode(), "text/plain")
        elif self.path == "/metrics":
            self._reply(200, generate_latest(), CONTENT_TYPE_LATEST)
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _reply(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Probes every few seconds would drown the operator's log."""


def serve(host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
