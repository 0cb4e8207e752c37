"""Instant queries to Prometheus through prometheus-api-client, off kopf's event loop.

The client is synchronous (requests), so each query runs in a small thread pool of its
own, bounded three ways: the HTTP timeout, Prometheus' own ``timeout`` parameter for the
evaluation, and an asyncio deadline around the thread. Retries are off: a failed query
is simply "unknown" for this cycle, and the next cycle asks again.

Errors become two exceptions with stable messages (no addresses of Python objects), so
a condition built from them changes only when the problem does.
"""

import ast
import asyncio
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from incident_operator.domain.detection import Sample

# prometheus-api-client reports an error answer as "HTTP Status Code 400 (b'<body>')".
_ERROR_TEXT = re.compile(r"HTTP Status Code (\d+) \((b'.*'|b\".*\")\)$", re.DOTALL)


class PrometheusUnreachable(Exception):
    """No answer: refused, reset or timed out."""


class PrometheusQueryError(Exception):
    """Prometheus answered, but not with an instant vector (bad PromQL, overload, ...)."""


def _explain(error: PrometheusApiClientException) -> str:
    """``HTTP 400: 1:5: parse error: ...`` from Prometheus' JSON error body."""
    found = _ERROR_TEXT.match(str(error))
    if found is None:
        return str(error)[:300]
    try:
        body = json.loads(ast.literal_eval(found.group(2)))
        detail = str(body.get("error") or body)
    except (ValueError, SyntaxError, AttributeError):
        detail = "no error message"
    return f"HTTP {found.group(1)}: {detail}"[:500]


def _to_samples(result: Any) -> list[Sample]:
    if not isinstance(result, list) or any(not isinstance(item, dict) for item in result):
        raise PrometheusQueryError("the query returns a scalar, not a vector by workload")
    samples = []
    # An instant query stamps every sample with its evaluation time: convert it once.
    times: dict[float, datetime] = {}
    for item in result:
        if "value" not in item:
            raise PrometheusQueryError("the query returns a range vector, not an instant vector")
        timestamp, text = item["value"]
        seconds = float(timestamp)
        at = times.get(seconds) or times.setdefault(seconds, datetime.fromtimestamp(seconds, UTC))
        # Prometheus writes NaN, +Inf and -Inf as float() reads them.
        samples.append(Sample.of(item.get("metric", {}), float(text), at))
    return samples


class Prometheus:
    """One Prometheus server; ``query`` is safe to call concurrently from the event loop."""

    def __init__(self, url: str, timeout: float = 5.0, parallel: int = 8) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._client = PrometheusConnect(
            url=self.url,
            retry=Retry(total=0),
            # requests takes float seconds; the library's hint says int.
            timeout=timeout,  # type: ignore[arg-type]
            # Queries are a few kilobytes of PromQL: POST keeps them out of URL limits.
            method="POST",
        )
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="prometheus")

    def _query(self, promql: str) -> list[Sample]:
        try:
            result = self._client.custom_query(
                promql, params={"timeout": f"{round(self.timeout * 1000)}ms"}
            )
        except requests.Timeout as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s"
            ) from error
        except requests.ConnectionError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} refused or dropped the connection"
            ) from error
        except PrometheusApiClientException as error:
            raise PrometheusQueryError(_explain(error)) from error
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            raise PrometheusQueryError(f"unreadable answer: {type(error).__name__}") from error
        return _to_samples(result)

    async def query(self, promql: str) -> list[Sample]:
        """The instant vector of ``promql`` now; raises PrometheusUnreachable or
        PrometheusQueryError."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self._query, promql)
        try:
            return await asyncio.wait_for(future, timeout=self.timeout + 1)
        except TimeoutError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s"
            ) from error

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
