"""/healthz, /readyz and /metrics on one port, served from a thread.

It runs from process start, before leader election, so a standby replica answers its
liveness probe while it waits. Readiness means this replica is doing the work: it leads
(or runs alone), kopf has started its watches, and the API server answered recently.
"""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# The API probe must have succeeded this recently for the replica to be ready.
API_FRESHNESS_SECONDS = 30.0


class Readiness:
    def __init__(self) -> None:
        self.leading = threading.Event()
        self.watching = threading.Event()
        self._api_ok_at = 0.0

    def api_ok(self) -> None:
        self._api_ok_at = time.monotonic()

    def problems(self) -> list[str]:
        found = []
        if not self.leading.is_set():
            found.append("standby: another replica holds the lease")
        if not self.watching.is_set():
            found.append("the watches have not started")
        if time.monotonic() - self._api_ok_at > API_FRESHNESS_SECONDS:
            found.append("the API server has not answered recently")
        return found


READINESS = Readiness()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            problems = READINESS.problems()
            body = ("ready\n" if not problems else "\n".join(problems) + "\n").encode()
            self._reply(503 if problems else 200, body, "text/plain")
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
