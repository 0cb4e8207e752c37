"""The Prometheus client against local servers: what each failure says (it becomes the
policy's MetricsAvailable condition), and what it sends to a Prometheus that is not open
(credentials from Secrets, read again after a refusal; a CA; a tenant's header)."""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from incident_operator.adapters import secrets
from incident_operator.adapters.prometheus import (
    Prometheus,
    PrometheusQueryError,
    PrometheusUnreachable,
)
from incident_operator.adapters.prometheus_auth import access
from incident_operator.api.base import SecretKeyReference
from incident_operator.config import Settings, add_run_arguments
from tests.harness.certs import Certificates, generate
from tests.support.receivers import HOST, free_port, server_tls

ANSWER = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [{"metric": {"workload": "api"}, "value": [1764064800.5, "0.5"]}],
    },
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return generate(tmp_path_factory.mktemp("prometheus-certs"))


class FakeSecrets:
    """Secret values the client reads, by (namespace, name, key); counts the reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.values: dict[tuple[str, str, str], str] = {}
        self.reads = 0
        monkeypatch.setattr(secrets, "read_secret_value", self.read)
        monkeypatch.setattr(
            "incident_operator.adapters.prometheus_auth.read_secret_value", self.read
        )
        monkeypatch.setattr(
            "incident_operator.adapters.prometheus_auth.read_secret_data", self.read_all
        )

    def read_all(self, namespace: str, name: str) -> dict[str, str]:
        self.reads += 1
        found = {k: v for (n, s, k), v in self.values.items() if (n, s) == (namespace, name)}
        if not found:
            raise secrets.SecretError(f"Secret {namespace}/{name} not found")
        return found

    def read(self, namespace: str, ref: SecretKeyReference) -> str:
        self.reads += 1
        try:
            return self.values[(namespace, ref.name, ref.key)]
        except KeyError:
            raise secrets.SecretError(f"Secret {namespace}/{ref.name} not found") from None


@pytest.fixture
def fake_secrets(monkeypatch: pytest.MonkeyPatch) -> FakeSecrets:
    return FakeSecrets(monkeypatch)


def _serve(
    handler: Handler,
    scenario: Callable[[str], Awaitable[None]],
    certs: Certificates | None = None,
) -> None:
    """Runs ``scenario(base URL)`` while ``handler`` answers /api/v1/query."""

    async def run() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/query", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        tls = None if certs is None else server_tls(certs)
        await web.TCPSite(runner, HOST, port, ssl_context=tls).start()
        try:
            await scenario(f"{'https' if tls else 'http'}://{HOST}:{port}")
        finally:
            await runner.cleanup()

    asyncio.run(run())


async def _ok(request: web.Request) -> web.Response:
    return web.json_response(ANSWER)


# ------------------------------------------------------------------ what errors say


def _error(status: int, body: dict[str, str] | str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    return handle


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        (
            422,
            {"status": "error", "errorType": "execution", "error": "many-to-many matching"},
            "answered HTTP 422 (execution): many-to-many matching",
        ),
        (
            503,
            {"status": "error", "errorType": "unavailable", "error": "too many queries"},
            "answered HTTP 503 (unavailable): too many queries",
        ),
        (502, "upstream connect error\n", "answered HTTP 502 Bad Gateway: upstream connect error"),
        (
            401,
            "authentication required\n",
            "answered HTTP 401 Unauthorized: authentication required; "
            "check no credentials are configured",
        ),
        (403, "", "answered HTTP 403 Forbidden: no error message"),
    ],
    ids=["execution", "overloaded", "gateway-text", "unauthorized", "forbidden-empty"],
)
def test_an_http_error_names_the_url_the_status_and_prometheus_error(
    status: int, body: dict[str, str] | str, says: str
) -> None:
    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, timeout=2)
        try:
            with pytest.raises(PrometheusQueryError) as error:
                await prometheus.query("up")
            assert str(error.value).startswith(f"Prometheus at {url} {says}")
        finally:
            await prometheus.close()

    _serve(_error(status, body), scenario)


def test_a_query_without_an_answer_in_time_is_unreachable() -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, timeout=0.1)
        try:
            with pytest.raises(PrometheusUnreachable) as error:
                await prometheus.query("up")
            assert str(error.value) == f"Prometheus at {url} did not answer within 0.1s"
        finally:
            never.set()
            await prometheus.close()

    _serve(hang, scenario)


def test_a_refused_connection_names_the_url() -> None:
    async def scenario() -> None:
        url = f"http://{HOST}:{free_port()}"
        prometheus = Prometheus(url, timeout=1)
        try:
            with pytest.raises(PrometheusUnreachable) as error:
                await prometheus.query("up")
            assert str(error.value) == f"Prometheus at {url} refused or dropped the connection"
        finally:
            await prometheus.close()

    asyncio.run(scenario())


def test_each_query_is_counted_by_outcome() -> None:
    def count(outcome: str) -> float:
        found = REGISTRY.get_sample_value(
            "incident_operator_prometheus_queries_total", {"outcome": outcome}
        )
        return found or 0.0

    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}

    async def handle(request: web.Request) -> web.Response:
        query = (await request.post())["query"]
        if query == "bad(":
            return web.json_response({"status": "error", "error": "parse error"}, status=400)
        return web.json_response(empty if query == "absent" else ANSWER)

    before = {outcome: count(outcome) for outcome in ("ok", "empty", "error")}

    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, timeout=2)
        try:
            await prometheus.query("up")
            await prometheus.query("absent")
            with pytest.raises(PrometheusQueryError):
                await prometheus.query("bad(")
        finally:
            await prometheus.close()

    _serve(handle, scenario)
    assert {outcome: count(outcome) - before[outcome] for outcome in before} == {
        "ok": 1,
        "empty": 1,
        "error": 1,
    }


# ------------------------------------------------------------------ credentials, headers


def test_bearer_token_and_tenant_header_are_sent_and_a_refusal_reads_the_secret_again(
    fake_secrets: FakeSecrets,
) -> None:
    fake_secrets.values[("monitoring", "prom", "api-token")] = "old-token"
    seen: list[tuple[str | None, str | None]] = []

    async def gate(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), request.headers.get("X-Scope-OrgID")))
        if request.headers.get("Authorization") != "Bearer new-token":
            return web.Response(status=401, text="bad token")
        return web.json_response(ANSWER)

    async def scenario(url: str) -> None:
        given = access(
            bearer_token=("monitoring", "prom", "api-token"),
            headers={"X-Scope-OrgID": "tenant-a"},
        )
        assert given.authorization is not None
        given.authorization.recheck = 0  # what a few seconds would allow
        prometheus = Prometheus(url, timeout=2, access=given)
        try:
            with pytest.raises(PrometheusQueryError) as error:
                await prometheus.query("up")
            assert str(error.value) == (
                f"Prometheus at {url} answered HTTP 401 Unauthorized: bad token; "
                "check the token in Secret monitoring/prom key 'api-token'"
            )
            assert "old-token" not in str(error.value)
            # Rotated: the refusal had the Secret read again, so the next query carries it.
            fake_secrets.values[("monitoring", "prom", "api-token")] = "new-token"
            with pytest.raises(PrometheusQueryError):
                await prometheus.query("up")
            vector = await prometheus.query("up")
            assert vector.values[None] == {(None, "api"): (0.5,)}
        finally:
            await prometheus.close()
        assert seen == [
            ("Bearer old-token", "tenant-a"),
            ("Bearer old-token", "tenant-a"),
            ("Bearer new-token", "tenant-a"),
        ]

    _serve(gate, scenario)


def test_basic_auth_comes_from_the_username_and_password_keys(fake_secrets: FakeSecrets) -> None:
    fake_secrets.values[("monitoring", "prom-login", "username")] = "detector"
    fake_secrets.values[("monitoring", "prom-login", "password")] = "s3cret:x"
    seen: list[str | None] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response(ANSWER)

    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, access=access(basic_auth=("monitoring", "prom-login")))
        try:
            await prometheus.query("up")
        finally:
            await prometheus.close()

    _serve(handle, scenario)
    assert seen == ["Basic " + base64.b64encode(b"detector:s3cret:x").decode()]


def test_a_missing_credentials_secret_reads_as_the_refusal_it_causes(
    fake_secrets: FakeSecrets,
) -> None:
    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, access=access(basic_auth=("monitoring", "absent")))
        try:
            with pytest.raises(PrometheusQueryError, match=r"in Secret monitoring/absent$"):
                await prometheus.query("up")
        finally:
            await prometheus.close()

    _serve(_error(401, "who are you"), scenario)


def test_headers_from_a_secret_are_sent_with_those_of_the_flags(
    fake_secrets: FakeSecrets,
) -> None:
    fake_secrets.values[("monitoring", "tenant", "x-scope-orgid")] = "tenant-b"
    fake_secrets.values[("monitoring", "tenant", "X-Org-Token")] = "t0k"
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append({k: v for k, v in request.headers.items() if k.startswith("X-")})
        return web.json_response(ANSWER)

    async def scenario(url: str) -> None:
        given = access(
            headers={"X-Scope-OrgID": "tenant-a"}, headers_secret=("monitoring", "tenant")
        )
        prometheus = Prometheus(url, access=given)
        try:
            await prometheus.query("up")
            await prometheus.query("up")
        finally:
            await prometheus.close()

    _serve(handle, scenario)
    # The flag's value wins over the Secret's; the Secret is read once, at connection.
    assert seen == [{"X-Scope-OrgID": "tenant-a", "X-Org-Token": "t0k"}] * 2
    assert fake_secrets.reads == 1


def test_a_headers_secret_key_that_is_no_header_name_is_named(fake_secrets: FakeSecrets) -> None:
    fake_secrets.values[("monitoring", "tenant", "Authorization")] = "Bearer x"

    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, access=access(headers_secret=("monitoring", "tenant")))
        try:
            with pytest.raises(PrometheusUnreachable) as error:
                await prometheus.query("up")
            assert str(error.value) == (
                f"Prometheus at {url}: cannot connect: Secret monitoring/tenant key "
                "'Authorization': set by the operator itself; give credentials from a Secret"
            )
        finally:
            await prometheus.close()

    _serve(_ok, scenario)


# --------------------------------------------------------------------------------- TLS


def test_an_untrusted_certificate_says_which_flag_gives_the_ca(certs: Certificates) -> None:
    async def scenario(url: str) -> None:
        prometheus = Prometheus(url, timeout=2)
        try:
            with pytest.raises(PrometheusUnreachable) as error:
                await prometheus.query("up")
            message = str(error.value)
            assert message.startswith(f"Prometheus at {url}: its TLS certificate is not trusted")
            assert message.endswith("--prometheus-ca-file or --prometheus-ca-secret")
        finally:
            await prometheus.close()

    _serve(_ok, scenario, certs)


def test_the_ca_from_a_file_or_a_secret_is_trusted_and_skipping_checks_works(
    certs: Certificates, fake_secrets: FakeSecrets
) -> None:
    fake_secrets.values[("monitoring", "prom-ca", "ca.crt")] = certs.ca_cert.read_text()

    async def scenario(url: str) -> None:
        for given in (
            access(ca_file=str(certs.ca_cert)),
            access(ca_secret=("monitoring", "prom-ca", "ca.crt")),
            access(insecure_skip_verify=True),
        ):
            prometheus = Prometheus(url, timeout=2, access=given)
            try:
                vector = await prometheus.query("up")
                assert vector.values[None] == {(None, "api"): (0.5,)}
            finally:
                await prometheus.close()

    _serve(_ok, scenario, certs)


def test_a_ca_that_cannot_be_read_is_named_until_it_can(
    tmp_path: Path,
    fake_secrets: FakeSecrets,
    certs: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "not-pem").write_text("hello")

    async def scenario(url: str) -> None:
        for ca_file in ("absent.pem", "not-pem"):
            prometheus = Prometheus(url, timeout=2, access=access(ca_file=str(tmp_path / ca_file)))
            try:
                with pytest.raises(PrometheusUnreachable, match="cannot connect") as error:
                    await prometheus.query("up")
                assert f"the CA file {tmp_path / ca_file}" in str(error.value)
            finally:
                await prometheus.close()

        key = ("monitoring", "prom-ca", "ca.crt")
        prometheus = Prometheus(url, timeout=2, access=access(ca_secret=key))
        try:
            # A cycle's queries at once: one read of the missing Secret, one message each.
            failures = await asyncio.gather(
                *(prometheus.query("up") for _ in range(5)), return_exceptions=True
            )
            assert {str(f) for f in failures} == {
                f"Prometheus at {url}: cannot connect: Secret monitoring/prom-ca not found"
            }
            assert fake_secrets.reads == 1
            # Once it exists, a later query reads it again and connects.
            fake_secrets.values[key] = certs.ca_cert.read_text()
            monkeypatch.setattr("incident_operator.adapters.prometheus._CONNECT_RETRY_SECONDS", 0)
            vector = await prometheus.query("up")
            assert vector.values[None] == {(None, "api"): (0.5,)}
        finally:
            await prometheus.close()

    _serve(_ok, scenario, certs)


# ----------------------------------------------------------------------------- flags


def _settings(*flags: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser, environ={})
    return Settings.from_arguments(parser.parse_args(list(flags)))


def test_the_access_flags_become_settings() -> None:
    settings = _settings(
        "--prometheus-bearer-token-secret=monitoring/prom",
        "--prometheus-ca-secret=monitoring/prom-ca:bundle.pem",
        "--prometheus-header=X-Scope-OrgID=tenant-a",
        "--prometheus-header=X-Extra = a=b",
    )
    assert settings.prometheus_bearer_token_secret == ("monitoring", "prom", "token")
    assert settings.prometheus_ca_secret == ("monitoring", "prom-ca", "bundle.pem")
    assert settings.prometheus_headers == (("X-Scope-OrgID", "tenant-a"), ("X-Extra", "a=b"))
    assert _settings().prometheus_bearer_token_secret is None
    basic = _settings("--prometheus-basic-auth-secret=monitoring/login")
    assert basic.prometheus_basic_auth_secret == ("monitoring", "login")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--prometheus-bearer-token-secret=prom"], "expected NAMESPACE/NAME[:KEY]"),
        (
            ["--prometheus-bearer-token-secret=a/b", "--prometheus-basic-auth-secret=a/c"],
            "give one",
        ),
        (["--prometheus-ca-file=/ca.pem", "--prometheus-ca-secret=a/b"], "give one"),
        (["--prometheus-insecure-skip-verify", "--prometheus-ca-file=/ca.pem"], "checks no"),
        (["--prometheus-header=X-Scope-OrgID"], "expected NAME=VALUE"),
        (["--prometheus-header=Bad Name=x"], "not a header name"),
        (["--prometheus-header=Authorization=Bearer x"], "from a Secret"),
        (["--prometheus-url=https://admin:pw@prometheus.example"], "no credentials in the URL"),
    ],
    ids=["no-namespace", "bearer-and-basic", "two-cas", "insecure-with-ca", "no-value",
         "space", "authorization", "password-in-url"],
)  # fmt: skip
def test_malformed_access_flags_name_the_flag(flags: list[str], message: str) -> None:
    with pytest.raises(ValueError, match="--prometheus-") as error:
        _settings(*flags)
    assert message in str(error.value)
