"""Two small proxies on 127.0.0.1, each on its own event loop in a thread.

- ``ForwardProxy``: an HTTP forward proxy (what HTTP_PROXY names) that records each
  request's absolute URL and passes it on; plain http:// targets only (no CONNECT).
- ``GatewayProxy``: a reverse proxy in front of the local Prometheus that wants what a
  hosted one wants (a bearer token or basic auth, a tenant header), optionally over TLS,
  and answers 401 or 403 as such gateways do when something is missing.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from tests.support.receivers import HOST, free_port

T = TypeVar("T")

# Hop-by-hop headers a proxy does not pass on (RFC 9110 7.6.1), and Host, which the
# client library sets for the target again.
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)


def _forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _HOP}


@dataclass
class _Threaded:
    """An aiohttp app served from a thread of its own."""

    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()

    def _app(self) -> web.Application:
        raise NotImplementedError

    def _tls(self) -> ssl.SSLContext | None:
        return None

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, self.port, ssl_context=self._tls()).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def close(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


@dataclass
class ForwardProxy(_Threaded):
    """Records the absolute URL of every request it forwards."""

    forwarded: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> ForwardProxy:
        self._call(self._start())
        return self

    def seen(self) -> list[str]:
        with self._lock:
            return list(self.forwarded)

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        if not request.url.is_absolute() or request.url.host != HOST:
            # Only what a client sends to a proxy, and never beyond 127.0.0.1.
            return web.Response(status=400, text="not a proxy request for 127.0.0.1")
        with self._lock:
            self.forwarded.append(str(request.url))
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                request.url,
                data=await request.read(),
                headers=_forwarded_headers(request.headers),
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )


@dataclass
class GatewayProxy(_Threaded):
    """Prometheus behind a gateway: ``/api/v1/*`` is forwarded to ``upstream`` when the
    request carries ``authorization`` (the whole header value) and ``tenant`` in
    X-Scope-OrgID; otherwise 401 (no or wrong credentials) or 403 (no tenant)."""

    upstream: str = ""
    authorization: str = ""
    tenant: str = ""
    certificate: tuple[str, str] | None = None
    answered: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate else "http"
        return f"{scheme}://{HOST}:{self.port}"

    def start(self) -> GatewayProxy:
        self._call(self._start())
        return self

    def statuses(self) -> list[int]:
        with self._lock:
            return list(self.answered)

    def _tls(self) -> ssl.SSLContext | None:
        if self.certificate is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.certificate)
        return context

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/v1/{tail:.*}", self._gate)
        return app

    async def _gate(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        with self._lock:
            self.answered.append(response.status)
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.authorization:
            return web.Response(status=401, text="authentication required\n")
        if request.headers.get("X-Scope-OrgID") != self.tenant:
            return web.Response(status=403, text="no org id\n")
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{self.upstream}{request.rel_url}",
                data=await request.read(),
                headers=_forwarded_headers(
                    {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
                ),
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )
