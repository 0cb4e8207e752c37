"""The HTTP endpoint Alertmanager's webhook receiver posts to, inside the operator.

It runs on kopf's event loop (aiohttp), checks the bearer token against a Secret and
hands the body to an intake callable that answers with a status code and a JSON body.
Nothing a client sends can stop it: a failing intake is a 500 for that request only.

The token is cached and re-read from the Secret every 30 seconds, or sooner when a
request brings another one (at most every 5 seconds), so rotating it needs no restart.
While the Secret cannot be read, requests get 503 (Alertmanager retries) rather than
401 (which would look like Alertmanager's own misconfiguration).
"""

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from incident_operator.adapters.secrets import SecretError

PATH = "/alerts"
MAX_BODY_BYTES = 8 * 1024 * 1024

Intake = Callable[[bytes], Awaitable[tuple[int, dict[str, Any]]]]
TokenReader = Callable[[], str | None]
logger = logging.getLogger(__name__)


class CachedToken:
    """The expected bearer token, read by a blocking ``reader`` in a thread and cached."""

    def __init__(self, reader: TokenReader, ttl: float = 30.0, recheck: float = 5.0) -> None:
        self._reader = reader
        self._ttl = ttl
        # A wrong token re-reads the Secret, but no more often than this (seconds).
        self.recheck = recheck
        self._value: str | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, max_age: float | None = None) -> str | None:
        """The token, re-read when older than ``max_age`` (default: the TTL)."""
        limit = self._ttl if max_age is None else max_age
        async with self._lock:
            age = time.monotonic() - self._read_at
            # While the Secret is missing, every request would re-read it: no more often
            # than ``recheck``, so a misconfiguration costs one API call and one line a while.
            if age >= limit or (self._value is None and age >= self.recheck):
                try:
                    self._value = await asyncio.to_thread(self._reader)
                except SecretError as error:
                    logger.warning("the Alertmanager token: %s; requests get 503", error)
                    self._value = None
                except Exception:
                    logger.exception("reading the Alertmanager token failed")
                    self._value = None
                self._read_at = time.monotonic()
            return self._value


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class AlertmanagerReceiver:
    def __init__(self, host: str, port: int, token: CachedToken, intake: Intake) -> None:
        self._host = host
        self._port = port
        self._token = token
        self._intake = intake
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        expected = await self._token.get()
        if expected is None:
            return web.json_response(
                {"error": "the receiver's token Secret cannot be read"}, status=503
            )
        given = _bearer(request)
        if given is not None and not _same(given, expected):
            # Perhaps the Secret was rotated since it was read: look again, at most so often.
            expected = await self._token.get(max_age=self._token.recheck) or expected
        if given is None or not _same(given, expected):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="incident-operator"'},
            )
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response(
                {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}, status=413
            )
        try:
            status, answer = await self._intake(body)
        except Exception as error:
            logger.exception("the Alertmanager intake failed")
            return web.json_response(
                {"error": f"internal error: {type(error).__name__}: {error}"}, status=500
            )
        return web.json_response(answer, status=status)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(PATH, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.bound_port = int(self._runner.addresses[0][1])
        logger.info("Alertmanager receiver on http://%s:%s%s", self._host, self.bound_port, PATH)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
