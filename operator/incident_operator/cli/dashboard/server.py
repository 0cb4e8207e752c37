"""The dashboard's web server: aiohttp pages over the caller's ``Cluster``.

Reads and actions are the plugin's own (``Cluster`` and ``actions``), run in worker
threads because the Kubernetes client blocks. Live updates: one thread watches
Incidents and hands each event to the asyncio loop, which sends it to every open page
as a server-sent event; a page then fetches the part that changed, rendered here
(``/fragments/...``). Without JavaScript every page is complete as served.
"""

import asyncio
import dataclasses
import json
import secrets
import socket
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import jinja2
from aiohttp import web
from kubernetes import watch

from incident_operator.api import GROUP, VERSION
from incident_operator.cli.cluster import PLURAL, Cluster, PluginError
from incident_operator.cli.dashboard import actions, views
from incident_operator.cli.dashboard.security import SECURITY_HEADERS, TOKEN_FIELD, Guard

# Results of actions not yet shown (the page they redirect to shows each once).
_RESULTS_KEPT = 100
# Seconds between comments on an idle event stream, so a dead connection is noticed.
_KEEPALIVE = 15.0
# Seconds a watch request lasts before it is made again (the API server ends it anyway).
_WATCH_SECONDS = 300

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("incident_operator.cli.dashboard", "templates"),
    autoescape=True,
    # Status fields come and go; a missing one renders empty, as in `kubectl get -o jsonpath`.
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass
class Dashboard:
    """One running dashboard: who it acts as, where, and who is listening."""

    cluster: Cluster
    all_namespaces: bool
    user: str
    guard: Guard
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    results: "OrderedDict[str, actions.Outcome]" = dataclasses.field(default_factory=OrderedDict)
    listeners: set["asyncio.Queue[str]"] = dataclasses.field(default_factory=set)

    def page(self, template: str, **values: Any) -> web.Response:
        html = TEMPLATES.get_template(template).render(
            user=self.user,
            scope=(
                "all namespaces" if self.all_namespaces else f"namespace {self.cluster.namespace}"
            ),
            token=self.guard.token,
            token_field=TOKEN_FIELD,
            **values,
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    def _namespace(self, request: web.Request) -> str:
        namespace = request.match_info["namespace"]
        if not self.all_namespaces and namespace != self.cluster.namespace:
            raise web.HTTPNotFound(text=f"this dashboard shows namespace {self.cluster.namespace}")
        return namespace

    async def _rows(self) -> list[views.Row]:
        items = await asyncio.to_thread(self.cluster.list_incidents, self.all_namespaces)
        return views.rows(items, self.clock())

    async def _detail(self, request: web.Request) -> views.Detail:
        there = dataclasses.replace(self.cluster, namespace=self._namespace(request))
        try:
            incident = await asyncio.to_thread(there.find, request.match_info["name"])
        except PluginError as error:
            raise web.HTTPNotFound(text=str(error)) from error
        return views.detail(incident, self.clock())

    async def index(self, request: web.Request) -> web.Response:
        return self.page("list.html", rows=await self._rows(), namespaces=self.all_namespaces)

    async def list_fragment(self, request: web.Request) -> web.Response:
        return self.page("_rows.html", rows=await self._rows(), namespaces=self.all_namespaces)

    async def incident(self, request: web.Request) -> web.Response:
        result = self.results.pop(request.query.get("result", ""), None)
        return self.page("incident.html", d=await self._detail(request), result=result)

    async def incident_fragment(self, request: web.Request) -> web.Response:
        return self.page("_incident.html", d=await self._detail(request))

    async def act(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        if not self.guard.token_matches(form.get(TOKEN_FIELD)):
            raise web.HTTPForbidden(text="the form's token is missing or wrong: reload the page")
        namespace, name = self._namespace(request), request.match_info["name"]
        outcome = await asyncio.to_thread(
            actions.run, self.cluster, namespace, name, request.match_info["action"], form
        )
        key = secrets.token_urlsafe(8)
        self.results[key] = outcome
        while len(self.results) > _RESULTS_KEPT:
            self.results.popitem(last=False)
        raise web.HTTPSeeOther(f"/incidents/{namespace}/{name}?result={key}")

    async def events(self, request: web.Request) -> web.StreamResponse:
        stream = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        # Listening before the page hears the stream is open: nothing after that is missed.
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.listeners.add(queue)
        try:
            await stream.prepare(request)
            await stream.write(b"retry: 2000\n\n")
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), _KEEPALIVE)
                except TimeoutError:
                    await stream.write(b": still here\n\n")
                    continue
                await stream.write(f"event: incident\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.listeners.discard(queue)
        return stream

    def tell(self, data: str) -> None:
        """Runs on the loop: every open page hears of a changed incident."""
        for queue in self.listeners:
            queue.put_nowait(data)

    def watch_incidents(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        """Runs in its own thread for the life of the dashboard."""
        custom = self.cluster.custom
        source: Callable[..., Any]
        arguments: tuple[str, ...]
        if self.all_namespaces:
            source, arguments = custom.list_cluster_custom_object, (GROUP, VERSION, PLURAL)
        else:
            source = custom.list_namespaced_custom_object
            arguments = (GROUP, VERSION, self.cluster.namespace, PLURAL)
        while not stop.is_set():
            try:
                for event in watch.Watch().stream(
                    source, *arguments, timeout_seconds=_WATCH_SECONDS
                ):
                    metadata = event["object"].get("metadata") or {}
                    data = json.dumps(
                        {
                            "type": event["type"],
                            "namespace": metadata.get("namespace"),
                            "name": metadata.get("name"),
                        }
                    )
                    loop.call_soon_threadsafe(self.tell, data)
                    if stop.is_set():
                        return
            except Exception:  # the API server went away or ended the watch: watch again
                stop.wait(2.0)


def _guarded(guard: Guard) -> Any:
    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = guard.refusal(
            request.method, request.headers.get("Host"), request.headers.get("Origin")
        )
        if refusal is not None:
            raise web.HTTPForbidden(text=refusal)
        return await handler(request)

    return guarded


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def application(dashboard: Dashboard) -> web.Application:
    app = web.Application(middlewares=[_guarded(dashboard.guard)])
    app.on_response_prepare.append(_secure_headers)
    incident = "/incidents/{namespace}/{name}"
    app.router.add_get("/", dashboard.index)
    app.router.add_get("/fragments/list", dashboard.list_fragment)
    app.router.add_get(incident, dashboard.incident)
    app.router.add_get(f"/fragments{incident}", dashboard.incident_fragment)
    app.router.add_post(incident + "/{action}", dashboard.act)
    app.router.add_get("/events", dashboard.events)
    app.router.add_static("/static/", str(files("incident_operator.cli.dashboard") / "static"))
    return app


def listen(address: str, port: int) -> socket.socket:
    """The listening socket, bound first: with --port 0 the port is known only then, and
    the Host check needs it."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(100)
    sock.setblocking(False)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


async def serve(cluster: Cluster, all_namespaces: bool, sock: socket.socket) -> None:
    """Serves on ``sock`` until cancelled (Ctrl-C)."""
    user = await asyncio.to_thread(cluster.whoami)
    dashboard = Dashboard(cluster, all_namespaces, user, Guard(port=sock.getsockname()[1]))
    runner = web.AppRunner(application(dashboard), access_log=None, shutdown_timeout=1.0)
    stop = threading.Event()
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        threading.Thread(
            target=dashboard.watch_incidents,
            args=(asyncio.get_running_loop(), stop),
            name="incident-watch",
            daemon=True,
        ).start()
        await asyncio.Event().wait()
    finally:
        stop.set()
        await runner.cleanup()
