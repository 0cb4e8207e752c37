"""The HTTP endpoint Alertmanager's webhook receiver posts to, inside the operator.

It runs on kopf's event loop (aiohttp), checks the bearer token against a Secret and
hands the body to an intake callable that answers with a status code and a JSON body.
Nothing a client sends can stop it: a failing intake is a 500 for that request only.

The token is cached and re-read from the Secret every 30 seconds, or sooner when a
request brings another one (at most every 5 seconds), so rotating it needs no restart.
While the Secret cannot be read, requests get 503 (Alertmanager retries) rather than
401 (which would look like Alertmanager's own misconfiguration).

The same server (port, Service, leader label) takes the other intakes (docs/intake.md):
``/webhook``, the generic JSON webhook, with the same bearer token, and ``/pagerduty``,
PagerDuty's v3 webhooks, signed with the subscription's secret instead (read and cached
the same way; a delivery whose signature matches none is 401 and nothing is written),
and ``/slack/events``, Slack's Events API, signed with the Slack app's signing secret
(adapters/slack_signature.py: a bad signature or an old timestamp is 401, nothing written);
``/slack/interactions`` (the card's buttons) and ``/slack/commands`` (``/incident``) are
signed and checked the same way (docs/chat-ops.md#acting-from-slack).
"""

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from incident_operator.adapters.metrics import INTAKE_REQUESTS
from incident_operator.adapters.secrets import SecretError
from incident_operator.adapters.slack_signature import slack_signed

PATH = "/alerts"
WEBHOOK_PATH = "/webhook"
PAGERDUTY_PATH = "/pagerduty"
SLACK_EVENTS_PATH = "/slack/events"
SLACK_INTERACTIONS_PATH = "/slack/interactions"
SLACK_COMMANDS_PATH = "/slack/commands"
MAX_BODY_BYTES = 8 * 1024 * 1024

Intake = Callable[[bytes], Awaitable[tuple[int, dict[str, Any]]]]
TokenReader = Callable[[], str | None]
# Whether a body is signed by one of the secrets: (body, signature header, secrets).
SignatureCheck = Callable[[bytes, str | None, list[str]], bool]
logger = logging.getLogger(__name__)


class CachedToken:
    """The expected bearer token, read by a blocking ``reader`` in a thread and cached."""

    def __init__(
        self,
        reader: TokenReader,
        ttl: float = 30.0,
        recheck: float = 5.0,
        what: str = "the Alertmanager token",
        consequence: str = "requests get 503",
    ) -> None:
        self._reader = reader
        self._what = what
        # What the log says follows from an unreadable Secret.
        self._consequence = consequence
        self._ttl = ttl
        # A wrong token re-reads the Secret, but no more often than this (seconds).
        self.recheck = recheck
        self._value: str | None = None
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, max_age: float | None = None) -> str | None:
        """The token, re-read when older than ``max_age`` (default: the TTL)."""
        limit = self._ttl if max_age is None else max_age
        async with self._lock:
            age = time.monotonic() - self._read_at
            # While the Secret is missing, every request would re-read it: no more often
            # than ``recheck``, so a misconfiguration costs one API call and one line a while.
            if age >= limit or (self._value is None and age >= self.recheck):
                try:
                    self._value = await asyncio.to_thread(self._reader)
                except SecretError as error:
                    logger.warning("%s: %s; %s", self._what, error, self._consequence)
                    self._value = None
                except Exception:
                    logger.exception("reading %s failed", self._what)
                    self._value = None
                self._read_at = time.monotonic()
            return self._value


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class SignedIntake:
    """An intake authenticated by a signature of its body (PagerDuty's)."""

    secret: CachedToken
    check: SignatureCheck
    intake: Intake


@dataclass(frozen=True)
class SlackSignedIntake:
    """An intake authenticated by Slack's request signature (with its timestamp)."""

    signing_secret: CachedToken
    intake: Intake


async def _authentic(secret: CachedToken, accepts: Callable[[str], bool]) -> bool | None:
    """Whether the Secret's value ``accepts`` the request; None: the Secret cannot be read.
    A refusal reads the Secret again (at most every ``recheck`` seconds): it may have been
    rotated since it was read."""
    expected = await secret.get()
    if expected is None:
        return None
    if accepts(expected):
        return True
    fresh = await secret.get(max_age=secret.recheck)
    return fresh is not None and fresh != expected and accepts(fresh)


class AlertmanagerReceiver:
    """The intakes' HTTP server: /alerts and /webhook with the bearer token (when it is
    set), /pagerduty with PagerDuty's signature (when its secret is set), /slack/events
    with Slack's (when the Slack app's Secret is set)."""

    def __init__(
        self,
        host: str,
        port: int,
        token: CachedToken | None,
        intake: Intake | None,
        webhook: Intake | None = None,
        pagerduty: SignedIntake | None = None,
        slack_events: SlackSignedIntake | None = None,
        slack_interactions: SlackSignedIntake | None = None,
        slack_commands: SlackSignedIntake | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._token = token
        self._intake = intake
        self._webhook = webhook
        self._pagerduty = pagerduty
        self._slack_events = slack_events
        self._slack_interactions = slack_interactions
        self._slack_commands = slack_commands
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        assert self._intake is not None
        return await self._bearer_intake(request, self._intake)

    async def _handle_webhook(self, request: web.Request) -> web.Response:
        assert self._webhook is not None
        return await self._bearer_intake(request, self._webhook)

    async def _handle_pagerduty(self, request: web.Request) -> web.Response:
        assert self._pagerduty is not None
        signed = self._pagerduty
        body = await _read(request)
        if isinstance(body, web.Response):
            return body
        header = request.headers.get("X-PagerDuty-Signature")
        authentic = await _authentic(signed.secret, lambda key: signed.check(body, header, [key]))
        if authentic is None:
            return web.json_response(
                {"error": "the PagerDuty webhook secret cannot be read"}, status=503
            )
        if not authentic:
            return web.json_response(
                {"error": "missing or wrong X-PagerDuty-Signature"}, status=401
            )
        return await _call(signed.intake, body)

    async def _handle_slack_events(self, request: web.Request) -> web.Response:
        assert self._slack_events is not None
        return await self._slack_signed(request, self._slack_events)

    async def _handle_slack_interactions(self, request: web.Request) -> web.Response:
        assert self._slack_interactions is not None
        return await self._slack_signed(request, self._slack_interactions)

    async def _handle_slack_commands(self, request: web.Request) -> web.Response:
        assert self._slack_commands is not None
        return await self._slack_signed(request, self._slack_commands)

    async def _slack_signed(self, request: web.Request, signed: SlackSignedIntake) -> web.Response:
        """Slack's requests (events, button presses, slash commands): a bad signature or
        an old timestamp is 401 and the intake never sees the body."""
        body = await _read(request)
        if isinstance(body, web.Response):
            return body
        authentic = await _authentic(
            signed.signing_secret, lambda key: slack_signed(body, request.headers, key)
        )
        if authentic is None:
            return web.json_response(
                {"error": "the Slack signing secret cannot be read"}, status=503
            )
        if not authentic:
            return web.json_response(
                {"error": "missing or wrong X-Slack-Signature, or an old timestamp"}, status=401
            )
        return await _call(signed.intake, body)

    async def _bearer_intake(self, request: web.Request, intake: Intake) -> web.Response:
        assert self._token is not None
        given = _bearer(request)
        authentic = await _authentic(
            self._token, lambda token: given is not None and _same(given, token)
        )
        if authentic is None:
            return web.json_response(
                {"error": "the receiver's token Secret cannot be read"}, status=503
            )
        if not authentic:
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="incident-operator"'},
            )
        body = await _read(request)
        if isinstance(body, web.Response):
            return body
        return await _call(intake, body)

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_count_response])
        if self._token is not None and self._intake is not None:
            app.router.add_post(PATH, self._handle)
        if self._token is not None and self._webhook is not None:
            app.router.add_post(WEBHOOK_PATH, self._handle_webhook)
        if self._pagerduty is not None:
            app.router.add_post(PAGERDUTY_PATH, self._handle_pagerduty)
        if self._slack_events is not None:
            app.router.add_post(SLACK_EVENTS_PATH, self._handle_slack_events)
        if self._slack_interactions is not None:
            app.router.add_post(SLACK_INTERACTIONS_PATH, self._handle_slack_interactions)
        if self._slack_commands is not None:
            app.router.add_post(SLACK_COMMANDS_PATH, self._handle_slack_commands)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self.bound_port = int(self._runner.addresses[0][1])
        paths = ", ".join(
            route.resource.canonical for route in app.router.routes() if route.resource
        )
        logger.info("intake receiver on http://%s:%s (%s)", self._host, self.bound_port, paths)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@web.middleware
async def _count_response(request: web.Request, handler: Handler) -> web.StreamResponse:
    """incident_operator_intake_requests_total by path and status: the intake's refusals
    (401, 413, 5xx) are what the IncidentOperatorIntakeRefusing alert watches."""
    # Unknown paths are counted together, so a scanner cannot grow the label set.
    path = request.path if request.match_info.route.resource is not None else "other"
    try:
        response = await handler(request)
    except web.HTTPException as error:
        INTAKE_REQUESTS.labels(path=path, code=str(error.status)).inc()
        raise
    INTAKE_REQUESTS.labels(path=path, code=str(response.status)).inc()
    return response


async def _read(request: web.Request) -> bytes | web.Response:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return web.json_response(
            {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}, status=413
        )


async def _call(intake: Intake, body: bytes) -> web.Response:
    try:
        status, answer = await intake(body)
    except Exception as error:
        logger.exception("an intake failed")
        return web.json_response(
            {"error": f"internal error: {type(error).__name__}: {error}"}, status=500
        )
    return web.json_response(answer, status=status)
