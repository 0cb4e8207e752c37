"""kubectl's ``--as`` and ``--as-group``: the Impersonate-User and Impersonate-Group headers.

The generated client keeps its default headers in a dict, one value a name, and the API
server reads each group from a header line of its own (it does not split on commas).
So the groups are added to every request at the connection pool, as separate lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubernetes import client
from urllib3 import HTTPHeaderDict

USER = "Impersonate-User"
GROUP = "Impersonate-Group"


def impersonate(api: client.ApiClient, user: str | None, groups: Sequence[str]) -> None:
    """Every request ``api`` makes from now on acts as ``user`` in ``groups``."""
    if user:
        api.set_default_header(USER, user)
    if not groups:
        return
    pool: Any = api.rest_client.pool_manager
    send = pool.request

    def request(method: str, url: str, *args: Any, headers: Any = None, **kwargs: Any) -> Any:
        lines = HTTPHeaderDict(headers or {})
        for group in groups:
            lines.add(GROUP, group)
        return send(method, url, *args, headers=lines, **kwargs)

    pool.request = request
