"""Plain HTTP(S) to components on 127.0.0.1, never through a proxy."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def _context(url: str, ca_file: Path | None) -> ssl.SSLContext | None:
    if not url.startswith("https:"):
        return None
    if ca_file is not None:
        return ssl.create_default_context(cafile=str(ca_file))
    # kube-controller-manager and kube-scheduler serve /healthz with a self-signed
    # certificate they make at start-up; only loopback is ever asked.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def request(
    url: str,
    *,
    method: str = "GET",
    body: Any = None,
    token: str | None = None,
    ca_file: Path | None = None,
    timeout: float = 5.0,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """Return (status, body); HTTP errors are returned, not raised."""
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost"):
        raise ValueError(f"the harness only talks to 127.0.0.1, not {url}")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json, */*")
    https_handler = urllib.request.HTTPSHandler(context=_context(url, ca_file))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), https_handler)
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_ok(url: str, *, token: str | None = None, ca_file: Path | None = None) -> bool:
    status, _ = request(url, token=token, ca_file=ca_file)
    return status == 200


def get_json(url: str, *, token: str | None = None, ca_file: Path | None = None) -> Any:
    status, data = request(url, token=token, ca_file=ca_file)
    if status != 200:
        raise RuntimeError(f"GET {url}: HTTP {status}: {data[:500]!r}")
    return json.loads(data)
