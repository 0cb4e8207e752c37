"""The public status page's HTTP server, inside the operator (aiohttp, kopf's event loop).

It serves documents a ``Source`` renders from memory (runtime/status_page.py): nothing
here asks the API server, so the page keeps answering while it is unreachable. Should
the source itself fail, the last documents it gave are served, and the failure is
logged once per streak; until it has given any (the operator is still reading its
policies), every path is 503 with Retry-After.

Only GET and HEAD; unknown paths are 404. Every document carries an ETag of its body,
``Last-Modified`` (when what it says changed) and ``Cache-Control: public`` with a short
max-age, so a CDN or a browser may keep it that long; ``If-None-Match`` (or, without it,
``If-Modified-Since``) that still holds is answered 304 with no body.
"""

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import format_datetime, parsedate_to_datetime
from typing import Final

from aiohttp import web

from incident_operator.domain.status_page import Document

# Documents by path, for the base URL the request was made to (no trailing slash).
Source = Callable[[str], Mapping[str, Document]]
# Seconds browsers and caches may keep a document without asking again.
MAX_AGE: Final = 15
HEALTH_PATH: Final = "/healthz"
logger = logging.getLogger(__name__)


class NotReady(Exception):
    """Raised by a source whose data is not read yet (the operator is starting): the
    last documents are served, or 503 when there are none."""


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_modified(request: web.Request, tag: str, document: Document) -> bool:
    matches = request.headers.get("If-None-Match")
    if matches is not None:
        given = {t.strip().removeprefix("W/") for t in matches.split(",")}
        return tag in given or "*" in given
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return document.last_modified.replace(microsecond=0) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


class StatusPageServer:
    """Serves ``source``'s documents on HOST:PORT."""

    def __init__(self, host: str, port: int, source: Source, base_url: str | None = None) -> None:
        self._host = host
        self._port = port
        self._source = source
        # The public base URL; None: the one each request was made to.
        self._base_url = base_url.rstrip("/") if base_url else None
        self._last: dict[str, Mapping[str, Document]] = {}
        self._failing = False
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    def _documents(self, base_url: str) -> Mapping[str, Document] | None:
        """The documents for ``base_url``; None when there are none to serve yet."""
        try:
            documents = self._source(base_url)
        except NotReady:
            return self._last.get(base_url)
        except Exception:
            if not self._failing:
                logger.exception("the status page could not be rendered; serving the last one")
            self._failing = True
            return self._last.get(base_url)
        self._failing = False
        self._last = {base_url: documents}
        return documents

    def _base(self, request: web.Request) -> str:
        if self._base_url is not None:
            return self._base_url
        return f"{request.scheme}://{request.host}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == HEALTH_PATH:
            return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})
        if request.method not in ("GET", "HEAD"):
            return web.Response(
                status=405, text="only GET and HEAD\n", headers={"Allow": "GET, HEAD"}
            )
        documents = self._documents(self._base(request))
        if documents is None:
            return web.Response(
                status=503,
                text="the status page is starting\n",
                headers={"Retry-After": "5", "Cache-Control": "no-store"},
            )
        document = documents.get(request.path)
        if document is None:
            return web.Response(status=404, text="not found\n")
        tag = etag(document.body)
        headers = {
            "ETag": tag,
            "Last-Modified": format_datetime(document.last_modified.astimezone(UTC), usegmt=True),
            "Cache-Control": f"public, max-age={MAX_AGE}",
            "X-Content-Type-Options": "nosniff",
        }
        if _not_modified(request, tag, document):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = document.content_type
        return web.Response(body=document.body, headers=headers)

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.bound_port = int(self._runner.addresses[0][1])
        logger.info("status page on http://%s:%s/", self._host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
