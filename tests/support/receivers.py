"""Real local receivers for notifications: an HTTP recorder and an SMTP server.

Both listen on 127.0.0.1 only, on a free port, in a thread of their own, so the tests
(synchronous) and the operator (a child process) talk to them over real sockets.

``HttpRecorder`` stands in for Slack incoming webhooks (``/slack/<name>``), PagerDuty's
Events API (``/pagerduty/v2/enqueue``) and generic webhooks (``/webhook/<name>``). It
records every request it receives, before answering, and can be told to answer with an
error (``fail``), to hold requests until released (``hold``), or to stop listening and
come back on the same port (``stop``/``start``).

``SmtpRecorder`` is aiosmtpd with an optional username and password (AUTH over plain
TCP, which aiosmtpd allows only when told to, with a warning tests filter out:
``SMTP_WARNINGS``), recording every mail accepted. Given a server TLS context
(``server_tls`` makes one from tests/harness/certs.py's CA and 127.0.0.1 certificate) it
requires STARTTLS, or with ``implicit_tls`` speaks TLS from the first byte (port 465
style); each mail records whether it came over TLS.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.harness.certs import Certificates

HOST = "127.0.0.1"
# aiosmtpd warns that AUTH without TLS is unsafe: on 127.0.0.1 in a test it is what we want.
SMTP_WARNINGS = "ignore:Requiring AUTH while not requiring TLS:UserWarning"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Call:
    """One request as received."""

    path: str
    headers: dict[str, str]
    body: Any
    # The answer given: the status code, or None while held / when the client left.
    status: int | None = None


@dataclass
class _Failure:
    status: int
    remaining: int | None  # None: until cleared


@dataclass
class HttpRecorder:
    port: int = field(default_factory=free_port)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, _Failure] = {}
        self._held: asyncio.Event | None = None
        self._holding = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> HttpRecorder:
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Stops listening: connections are refused until ``start``."""
        self._call(self._stop())

    def close(self) -> None:
        self.release()
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def fail(self, path_prefix: str, status: int, times: int | None = None) -> None:
        """Answer requests under ``path_prefix`` with ``status`` (``times`` times, or until
        ``clear``)."""
        with self._lock:
            self._failures[path_prefix] = _Failure(status, times)

    def clear(self, path_prefix: str) -> None:
        with self._lock:
            self._failures.pop(path_prefix, None)

    def hold(self) -> None:
        """Requests are recorded, then left unanswered until ``release``."""
        self._call(self._set_holding(True))

    def release(self) -> None:
        self._call(self._set_holding(False))

    def received(self, path_prefix: str = "/") -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.path.startswith(path_prefix)]

    def by_key(self, path_prefix: str = "/") -> dict[str, list[Call]]:
        """Calls grouped by their Idempotency-Key header."""
        grouped: dict[str, list[Call]] = {}
        for call in self.received(path_prefix):
            grouped.setdefault(call.headers.get("Idempotency-Key", ""), []).append(call)
        return grouped

    def all_text(self) -> str:
        """Everything received, headers and bodies, for secret-leak checks."""
        return "\n".join(
            json.dumps({"path": c.path, "headers": c.headers, "body": c.body})
            for c in self.received()
        )

    # ------------------------------------------------------------------ server

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _set_holding(self, holding: bool) -> None:
        with self._lock:
            if holding:
                self._held = asyncio.Event()
            elif self._held is not None:
                self._held.set()
            self._holding = holding

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, HOST, self.port, reuse_address=True)
        await self._site.start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        headers = dict(request.headers)
        index = self._record(Call(request.path, headers, body))
        with self._lock:
            holding, gate = self._holding, self._held
        if holding and gate is not None:
            await gate.wait()
        status = self._status_for(request.path)
        self._answered(index, status)
        if status >= 400:
            return web.json_response({"error": "failing on demand"}, status=status)
        return web.json_response({"status": "success", "message": "Event processed"}, status=202)

    def _record(self, call: Call) -> int:
        with self._lock:
            self.calls.append(call)
            return len(self.calls) - 1

    def _answered(self, index: int, status: int) -> None:
        with self._lock:
            call = self.calls[index]
            self.calls[index] = Call(call.path, call.headers, call.body, status)

    def _status_for(self, path: str) -> int:
        with self._lock:
            for prefix, failure in self._failures.items():
                if not path.startswith(prefix):
                    continue
                if failure.remaining is not None:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        del self._failures[prefix]
                return failure.status
        return 202


@dataclass(frozen=True)
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    raw: str
    login: str | None
    # Whether the mail came over TLS (STARTTLS or implicit).
    tls: bool = False


def server_tls(certs: Certificates) -> ssl.SSLContext:
    """A server context with the serving certificate (for 127.0.0.1 and localhost)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.serving_cert, certs.serving_key)
    return context


class _Handler:
    def __init__(self, record: Callable[[Mail], None]) -> None:
        self._record = record

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        credentials = session.auth_data if session.authenticated else None
        login = credentials.login.decode() if isinstance(credentials, LoginPassword) else None
        self._record(
            Mail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message_from_bytes(raw),
                raw.decode(errors="replace"),
                login,
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


class SmtpRecorder:
    """aiosmtpd on 127.0.0.1; with ``username``/``password`` it requires AUTH; with
    ``tls`` it requires STARTTLS, or with ``implicit_tls`` too, TLS from the start."""

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self._credentials = (username, password)
        kwargs: dict[str, Any] = {}
        if username is not None:
            kwargs = {
                "authenticator": self._authenticate,
                # aiosmtpd counts only STARTTLS as TLS when it checks AUTH.
                "auth_require_tls": tls is not None and not implicit_tls,
                "auth_required": True,
            }
        if tls is not None and implicit_tls:
            kwargs["ssl_context"] = tls
        elif tls is not None:
            kwargs.update(tls_context=tls, require_starttls=True)
        self._controller = Controller(_Handler(self._add), hostname=HOST, port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            )
            == self._credentials
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def _add(self, mail: Mail) -> None:
        with self._lock:
            self.mails.append(mail)

    def received(self) -> list[Mail]:
        with self._lock:
            return list(self.mails)

    def start(self) -> SmtpRecorder:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
