"""The status page's HTTP server on 127.0.0.1: caching and 304s, methods and paths, and
answering from memory when what feeds it fails (runtime/status_page.py's renderer over
the operator's registries makes no API call)."""

import argparse
import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict

from incident_operator.adapters import kubernetes
from incident_operator.adapters.status_page_server import MAX_AGE, NotReady, StatusPageServer
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.config import Settings, add_run_arguments
from incident_operator.domain.status_page import Document
from incident_operator.runtime.detection_state import IncidentIndex, WorkloadIndex
from incident_operator.runtime.maintenance import WindowRegistry
from incident_operator.runtime.policies import PolicyRegistry
from incident_operator.runtime.status_page import PageRenderer, Sources

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
Answer = tuple[int, CIMultiDict[str], bytes]


def _fixed(base_url: str) -> Mapping[str, Document]:
    return {
        "/": Document(b"<p>hello</p>", "text/html; charset=utf-8", T0),
        "/api/v2/status.json": Document(f'{{"url":"{base_url}"}}'.encode(), "application/json", T0),
    }


def _serve(
    source: Callable[[str], Mapping[str, Document]],
    requests: list[tuple[str, str, dict[str, str]]],
    base_url: str | None = None,
) -> list[Answer]:
    """Starts a server on a free port, makes ``requests`` (method, path, headers)."""

    async def run() -> list[Answer]:
        server = StatusPageServer("127.0.0.1", 0, source, base_url=base_url)
        await server.start()
        answers = []
        try:
            async with aiohttp.ClientSession() as session:
                for method, path, headers in requests:
                    url = f"http://127.0.0.1:{server.bound_port}{path}"
                    async with session.request(method, url, headers=headers) as response:
                        answers.append(
                            (response.status, CIMultiDict(response.headers), await response.read())
                        )
        finally:
            await server.stop()
        return answers

    return asyncio.run(run())


def test_caching_headers_and_304() -> None:
    (first,) = _serve(_fixed, [("GET", "/", {})])
    status, headers, body = first
    assert (status, body) == (200, b"<p>hello</p>")
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == f"public, max-age={MAX_AGE}"
    assert headers["Last-Modified"] == "Thu, 26 Nov 2026 12:00:00 GMT"
    tag = headers["ETag"]
    later = format_datetime(T0 + timedelta(minutes=1), usegmt=True)
    earlier = format_datetime(T0 - timedelta(minutes=1), usegmt=True)
    answers = _serve(
        _fixed,
        [
            ("GET", "/", {"If-None-Match": tag}),
            ("GET", "/", {"If-None-Match": '"other"'}),
            ("GET", "/", {"If-Modified-Since": later}),
            ("GET", "/", {"If-Modified-Since": earlier}),
            # If-None-Match wins over If-Modified-Since.
            ("GET", "/", {"If-None-Match": '"other"', "If-Modified-Since": later}),
        ],
    )
    assert [(s, b) for s, _, b in answers] == [
        (304, b""),
        (200, b"<p>hello</p>"),
        (304, b""),
        (200, b"<p>hello</p>"),
        (200, b"<p>hello</p>"),
    ]
    assert answers[0][1]["ETag"] == tag


def test_methods_and_paths() -> None:
    answers = _serve(
        _fixed,
        [
            ("HEAD", "/", {}),
            ("GET", "/nowhere", {}),
            ("POST", "/", {}),
            ("DELETE", "/api/v2/status.json", {}),
            ("GET", "/healthz", {}),
        ],
    )
    assert [(s, b) for s, _, b in answers] == [
        (200, b""),
        (404, b"not found\n"),
        (405, b"only GET and HEAD\n"),
        (405, b"only GET and HEAD\n"),
        (200, b"ok\n"),
    ]
    assert answers[0][1]["Content-Type"] == "text/html; charset=utf-8"
    assert answers[2][1]["Allow"] == "GET, HEAD"


def test_the_base_url_is_the_requests_unless_set() -> None:
    ((_, _, derived),) = _serve(_fixed, [("GET", "/api/v2/status.json", {})])
    assert derived.startswith(b'{"url":"http://127.0.0.1:')
    ((_, _, fixed),) = _serve(
        _fixed, [("GET", "/api/v2/status.json", {})], base_url="https://status.example.test/"
    )
    assert fixed == b'{"url":"https://status.example.test"}'


def test_a_failing_source_serves_the_last_documents() -> None:
    calls = []

    def flaky(base_url: str) -> Mapping[str, Document]:
        calls.append(base_url)
        if len(calls) > 1:
            raise RuntimeError("the registries are broken")
        return _fixed(base_url)

    answers = _serve(
        flaky, [("GET", "/", {}), ("GET", "/", {}), ("GET", "/api/v2/status.json", {})]
    )
    assert [s for s, _, _ in answers] == [200, 200, 200]
    assert answers[1][2] == b"<p>hello</p>"
    assert len(calls) == 3


def _registries() -> tuple[Sources, IncidentIndex]:
    policies, incidents, windows, workloads = (
        PolicyRegistry(),
        IncidentIndex(),
        WindowRegistry(),
        WorkloadIndex(),
    )
    policies.seed(
        [
            EscalationPolicy.model_validate(
                {
                    "metadata": {"name": "team", "namespace": "shop"},
                    "spec": {
                        "default": True,
                        "statusPage": {
                            "components": [
                                {
                                    "name": "API",
                                    "workloads": [{"kind": "Deployment", "name": "api"}],
                                }
                            ]
                        },
                    },
                }
            )
        ]
    )
    sources = Sources(
        policies=policies.all,
        incidents=incidents.all,
        windows=lambda: [w for k in windows.window_keys() if (w := windows.get(*k))],
        labels_of=workloads.labels,
    )
    return sources, incidents


def _incident_body(phase: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "api-down", "namespace": "shop", "uid": "u1", "resourceVersion": "1"},
        "spec": {
            "title": "db-7 out of memory",
            "severity": "P0",
            "affected": [{"kind": "Deployment", "name": "api"}],
        },
        "status": {"phase": phase},
    }


def test_the_page_answers_from_memory_while_the_api_server_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Any call to the API server would fail: the page must not need one.
    def unreachable(*_: Any, **__: Any) -> Any:
        raise ConnectionRefusedError("the API server is unreachable")

    monkeypatch.setattr(kubernetes, "api_client", unreachable)
    sources, incidents = _registries()
    incidents.put_raw(_incident_body("Investigating"))
    renderer = PageRenderer("Status", sources, now=lambda: T0, every=0.0)
    answers = _serve(renderer.documents, [("GET", "/api/v2/components.json", {}), ("GET", "/", {})])
    assert [s for s, _, _ in answers] == [200, 200]
    assert b'"status":"major_outage"' in answers[0][2]
    assert b"Major outage" in answers[1][2]
    assert b"db-7" not in answers[1][2]


def test_the_renderer_renders_at_most_once_per_interval() -> None:
    sources, incidents = _registries()
    renderer = PageRenderer("Status", sources, now=lambda: T0, every=3600.0)
    before = renderer.documents("http://x")["/api/v2/components.json"].body
    incidents.put_raw(_incident_body("Investigating"))
    assert renderer.documents("http://x")["/api/v2/components.json"].body == before
    fresh = PageRenderer("Status", sources, now=lambda: T0, every=0.0)
    assert b"major_outage" in fresh.documents("http://x")["/api/v2/components.json"].body
    assert b"major_outage" not in before


def test_503_until_the_registries_are_read_then_the_page() -> None:
    sources, _ = _registries()
    read = False
    starting = Sources(
        policies=sources.policies,
        incidents=sources.incidents,
        windows=sources.windows,
        labels_of=sources.labels_of,
        ready=lambda: read,
    )
    renderer = PageRenderer("Status", starting, now=lambda: T0, every=0.0)
    with pytest.raises(NotReady):
        renderer.documents("http://x")
    ((status, headers, body),) = _serve(renderer.documents, [("GET", "/", {})])
    assert (status, body) == (503, b"the status page is starting\n")
    assert headers["Retry-After"] == "5"
    read = True
    ((status, _, body),) = _serve(renderer.documents, [("GET", "/", {})])
    assert status == 200
    assert b"API" in body


def _settings(*args: str, environ: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, environ or {})
    return Settings.from_arguments(parser.parse_args(list(args)))


@pytest.mark.parametrize(
    ("args", "environ", "listen", "title", "url"),
    [
        ((), {}, None, "Status", None),
        (("--status-page-listen", "0.0.0.0:8090"), {}, ("0.0.0.0", 8090), "Status", None),
        (
            ("--status-page-title", "Acme", "--status-page-url", "https://status.acme.test/"),
            {"STATUS_PAGE_LISTEN": "127.0.0.1:9000"},
            ("127.0.0.1", 9000),
            "Acme",
            "https://status.acme.test",
        ),
        ((), {"STATUS_PAGE_TITLE": "From env"}, None, "From env", None),
    ],
)
def test_status_page_flags(
    args: tuple[str, ...],
    environ: dict[str, str],
    listen: tuple[str, int] | None,
    title: str,
    url: str | None,
) -> None:
    settings = _settings(*args, environ=environ)
    assert (settings.status_page_listen, settings.status_page_title) == (listen, title)
    assert settings.status_page_url == url


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("--status-page-listen", "8090"), "--status-page-listen '8090': expected HOST:PORT"),
        (("--status-page-url", "status.acme.test"), "--status-page-url 'status.acme.test'"),
    ],
)
def test_malformed_status_page_flags_name_the_flag(args: tuple[str, ...], complaint: str) -> None:
    with pytest.raises(ValueError, match="^" + complaint.replace("(", r"\(")):
        _settings(*args)
