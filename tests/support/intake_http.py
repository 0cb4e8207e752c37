"""Posting to the operator's intake receiver over real HTTP (no proxy), for the tests."""

import json
import secrets
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from kubernetes.client import CoreV1Api, V1Namespace, V1ObjectMeta, V1Secret


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def post_json(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POSTs ``body`` as JSON; the HTTP status and the JSON answer, whatever the status."""
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def token_namespace(core: CoreV1Api, prefix: str, token: str) -> Iterator[str]:
    """A fresh namespace holding the receiver's token Secret (``alertmanager-token``, key
    ``token``), deleted afterwards; alerts without a namespace label land there too."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    core.create_namespace(V1Namespace(metadata=V1ObjectMeta(name=name)))
    core.create_namespaced_secret(
        name,
        V1Secret(metadata=V1ObjectMeta(name="alertmanager-token"), string_data={"token": token}),
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")
