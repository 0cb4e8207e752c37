"""Instant queries to Prometheus over aiohttp, decoded into what detection reads.

A cycle of 20 rules over 1,000 workloads receives 20,000 series a second, so the answer
is decoded with as little work as possible: straight from JSON into an InstantVector
(values grouped by the labels that place them; no object per sample), and not at all
when it is the same answer as the previous one but for its evaluation time.

Recognising an unchanged answer
===============================
Prometheus stamps every sample of an instant query with the evaluation time and writes
it as ``"value":[<time>,"<value>"]``. With that time cut out, an answer whose series and
values did not change is byte for byte the previous one: its digest is compared with the
previous answer's, and on a match the previous decoding is handed back with the new
time. ``"value":[`` cannot occur inside a JSON string (its quote would be escaped), so
the cut touches nothing else; an answer written any other way is simply decoded.

Each query is bounded twice: Prometheus' own ``timeout`` parameter for the evaluation,
and the HTTP deadline one second later, so Prometheus can still say it timed out.
Retries are off: a failed query is "unknown" for this cycle, and the next cycle asks
again. Errors become two exceptions with stable messages (no addresses of Python
objects), so a condition built from them changes only when the problem does; each names
the URL, and an HTTP error carries Prometheus' ``errorType`` and ``error``.

Credentials, a CA bundle and extra headers (a tenant's ``X-Scope-OrgID``) come from
adapters/prometheus_auth.py; a 401 or 403 names where the credentials came from and has
their Secret read again, so the next cycle carries a rotated token. The standard proxy
variables (HTTPS_PROXY, NO_PROXY) are honoured, as the notifiers honour them.
"""

import asyncio
import hashlib
import json
import ssl
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import aiohttp
from multidict import CIMultiDict

from incident_operator.adapters.metrics import PROMETHEUS_QUERIES, PROMETHEUS_QUERY_SECONDS
from incident_operator.adapters.prometheus_auth import PrometheusAccess
from incident_operator.adapters.secrets import SecretError
from incident_operator.domain.detection import (
    NAMESPACE_LABEL,
    WORKLOAD_KIND_LABEL,
    WORKLOAD_LABEL,
    InstantVector,
    SeriesKey,
)

_VALUE = b'"value":['
# Seconds before a CA or headers Secret that could not be read is read again.
_CONNECT_RETRY_SECONDS = 5.0


class PrometheusUnreachable(Exception):
    """No answer: refused, reset or timed out."""


class PrometheusQueryError(Exception):
    """Prometheus answered, but not with an instant vector (bad PromQL, overload, ...)."""


def _without_time(body: bytes) -> tuple[bytes, bytes] | None:
    """(the evaluation time as written, a digest of the body without it); None when the
    body is not written as expected (then it is decoded in full)."""
    start = body.find(_VALUE)
    if start < 0:
        return None
    start += len(_VALUE)
    end = body.find(b",", start)
    if end < 0:
        return None
    written = body[start:end]
    cut = body.replace(_VALUE + written + b",", _VALUE + b",")
    return written, hashlib.blake2b(cut, digest_size=16).digest()


def _explain(url: str, status: int, body: bytes) -> str:
    """``Prometheus at URL answered HTTP 400 (bad_data): 1:5: parse error`` from
    Prometheus' JSON error body; a proxy's or gateway's text body as it is."""
    try:
        answer = json.loads(body)
        kind = answer.get("errorType")
        detail = str(answer.get("error") or answer)
    except (ValueError, AttributeError):
        kind, detail = None, _one_line(body.decode(errors="replace")[:200]) or "no error message"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    head = f"HTTP {status} {phrase}".rstrip() if kind is None else f"HTTP {status} ({kind})"
    return f"Prometheus at {url} answered {head}: {_one_line(detail)}"[:500]


def _merged(from_secret: Mapping[str, str], from_flags: Mapping[str, str]) -> CIMultiDict[str]:
    """The headers of both; a flag's wins over the Secret's of the same name, whatever
    the case of either."""
    headers = CIMultiDict(from_secret)
    for name, value in from_flags.items():
        headers[name] = value
    return headers


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def decode(body: bytes, previous: InstantVector | None = None) -> InstantVector:
    """An instant query's JSON answer as an InstantVector; ``previous`` (the same query's
    last answer) is reused when only the evaluation time changed."""
    cut = _without_time(body)
    if previous is not None and cut is not None and previous.digest == cut[1]:
        return InstantVector(previous.values, float(cut[0]), None, previous.digest)
    try:
        answer = json.loads(body)
        data = answer["data"]
        kind, result = data["resultType"], data["result"]
    except (ValueError, KeyError, TypeError) as error:
        raise PrometheusQueryError(f"unreadable answer: {type(error).__name__}") from error
    if kind == "matrix":
        raise PrometheusQueryError("the query returns a range vector, not an instant vector")
    if kind != "vector" or not isinstance(result, list):
        raise PrometheusQueryError("the query returns a scalar, not a vector by workload")
    try:
        vector = _group(result)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PrometheusQueryError(f"unreadable answer: {type(error).__name__}") from error
    if vector.times is None and cut is not None:
        # Only an answer whose samples all carry the one time can be recognised later.
        return InstantVector(vector.values, vector.evaluated_at, None, cut[1])
    return vector


def _group(result: list[Any]) -> InstantVector:
    values: dict[str | None, dict[SeriesKey, tuple[float, ...]]] = {}
    first: Any = None
    uniform = True
    for item in result:
        labels = item["metric"]
        written, text = item["value"]
        if first is None:
            first = written
        elif written != first:
            uniform = False
        name = labels.get(WORKLOAD_LABEL)
        if not name:
            continue
        group = values.setdefault(labels.get(NAMESPACE_LABEL), {})
        key = (labels.get(WORKLOAD_KIND_LABEL), name)
        # Prometheus writes NaN, +Inf and -Inf as float() reads them.
        found = group.get(key)
        group[key] = (float(text),) if found is None else (*found, float(text))
    if uniform:
        return InstantVector(values, None if first is None else float(first))
    return InstantVector(values, min(float(i["value"][0]) for i in result), _times(result))


def _times(result: list[Any]) -> dict[str | None, dict[SeriesKey, tuple[float, ...]]]:
    """Each series' time, in the order of the values: only for the rare answer whose
    samples do not share one."""
    times: dict[str | None, dict[SeriesKey, tuple[float, ...]]] = {}
    for item in result:
        labels = item["metric"]
        name = labels.get(WORKLOAD_LABEL)
        if name:
            group = times.setdefault(labels.get(NAMESPACE_LABEL), {})
            key = (labels.get(WORKLOAD_KIND_LABEL), name)
            group[key] = (*group.get(key, ()), float(item["value"][0]))
    return times


class Prometheus:
    """One Prometheus server; ``query`` is safe to call concurrently from the event loop."""

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        parallel: int = 8,
        access: PrometheusAccess | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._parallel = parallel
        self._access = access or PrometheusAccess()
        self._session: aiohttp.ClientSession | None = None
        self._making = asyncio.Lock()
        self._connect_failure: tuple[float, str] = (0.0, "")

    async def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop it was made in. The TLS
        # setting and headers may read Secrets: until they can, every query says why not.
        if self._session is not None:
            return self._session
        # One session, however many of a cycle's queries ask for it at once.
        async with self._making:
            if self._session is not None:
                return self._session
            # A CA or headers Secret that cannot be read is read again after a while, not
            # for every query.
            failed_at, failure = self._connect_failure
            if failure and time.monotonic() - failed_at < _CONNECT_RETRY_SECONDS:
                raise PrometheusUnreachable(failure)
            try:
                tls = await asyncio.to_thread(self._access.tls)
                headers = await asyncio.to_thread(self._access.secret_headers)
            except (SecretError, OSError, ssl.SSLError) as error:
                failure = f"Prometheus at {self.url}: cannot connect: {_one_line(error)}"
                self._connect_failure = (time.monotonic(), failure)
                raise PrometheusUnreachable(failure) from None
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._parallel, ssl=tls),
                timeout=aiohttp.ClientTimeout(total=self.timeout + 1),
                headers=_merged(headers, self._access.headers),
                # HTTPS_PROXY / NO_PROXY, like the notifiers (docs/install.md).
                trust_env=True,
            )
        return self._session

    async def _headers(self) -> dict[str, str]:
        authorization = self._access.authorization
        value = None if authorization is None else await authorization.get()
        return {} if value is None else {"Authorization": value}

    async def query(self, promql: str, previous: InstantVector | None = None) -> InstantVector:
        """The instant vector of ``promql`` now; ``previous`` is this query's last answer.

        Raises PrometheusUnreachable or PrometheusQueryError. Each query is counted in
        incident_operator_prometheus_queries_total by outcome (ok, empty, error) and timed.
        """
        started = time.monotonic()
        try:
            vector = await self._query(promql, previous)
        except (PrometheusUnreachable, PrometheusQueryError):
            PROMETHEUS_QUERIES.labels(outcome="error").inc()
            raise
        finally:
            PROMETHEUS_QUERY_SECONDS.observe(time.monotonic() - started)
        PROMETHEUS_QUERIES.labels(outcome="ok" if vector.values else "empty").inc()
        return vector

    async def _query(self, promql: str, previous: InstantVector | None) -> InstantVector:
        # POST: queries are a few kilobytes of PromQL, beyond some URL limits.
        form = {"query": promql, "timeout": f"{round(self.timeout * 1000)}ms"}
        session = await self._client()
        headers = await self._headers()
        try:
            async with session.post(
                f"{self.url}/api/v1/query", data=form, headers=headers
            ) as response:
                body = await response.read()
                status = response.status
        except TimeoutError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} did not answer within {self.timeout:g}s"
            ) from error
        except aiohttp.ClientConnectorCertificateError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url}: its TLS certificate is not trusted "
                f"({_one_line(error.certificate_error)}); give its CA with "
                "--prometheus-ca-file or --prometheus-ca-secret"
            ) from error
        except aiohttp.ClientSSLError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url}: the TLS handshake failed"
            ) from error
        except aiohttp.ClientError as error:
            raise PrometheusUnreachable(
                f"Prometheus at {self.url} refused or dropped the connection"
            ) from error
        if status in (401, 403):
            await self._refused_credentials()
            raise PrometheusQueryError(
                f"{_explain(self.url, status, body)}; check {self._access.credentials}"[:500]
            )
        if status != 200:
            raise PrometheusQueryError(_explain(self.url, status, body))
        return decode(body, previous)

    async def _refused_credentials(self) -> None:
        """Reads the credentials' Secret again (at most every few seconds), so the next
        cycle carries a rotated token."""
        authorization = self._access.authorization
        if authorization is not None:
            await authorization.get(max_age=authorization.recheck)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
