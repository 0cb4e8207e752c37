"""The receiver's HTTP behaviour on 127.0.0.1: tokens, rotation, failures that stay local."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from incident_operator.adapters.alertmanager_receiver import (
    PATH,
    AlertmanagerReceiver,
    CachedToken,
)
from incident_operator.adapters.secrets import SecretError

Answer = tuple[int, dict[str, Any]]


async def _accept(body: bytes) -> Answer:
    return 200, {"received": len(body)}


async def _explode(body: bytes) -> Answer:
    raise RuntimeError("the API server went away")


def _serve(
    reader: Callable[[], str | None],
    intake: Callable[[bytes], Awaitable[Answer]],
    requests: list[tuple[str | None, bytes]],
    recheck: float = 5.0,
) -> list[Answer]:
    """Starts a receiver on a free port, sends ``requests`` (token, body), returns answers."""

    async def run() -> list[Answer]:
        receiver = AlertmanagerReceiver(
            "127.0.0.1", 0, CachedToken(reader, recheck=recheck), intake
        )
        await receiver.start()
        answers = []
        try:
            url = f"http://127.0.0.1:{receiver.bound_port}{PATH}"
            async with aiohttp.ClientSession() as session:
                for token, body in requests:
                    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
                    async with session.post(url, data=body, headers=headers) as response:
                        answers.append((response.status, await response.json()))
        finally:
            await receiver.stop()
        return answers

    return asyncio.run(run())


def test_only_the_secrets_token_gets_through() -> None:
    answers = _serve(
        lambda: "s3cret",
        _accept,
        [("s3cret", b"{}"), ("wrong", b"{}"), (None, b"{}"), ("S3CRET", b"{}")],
    )
    assert [status for status, _ in answers] == [200, 401, 401, 401]
    assert answers[0][1] == {"received": 2}
    assert answers[1][1] == {"error": "missing or wrong bearer token"}


def test_a_rotated_token_is_accepted_without_a_restart() -> None:
    tokens = iter(["old", "new", "new"])
    answers = _serve(lambda: next(tokens), _accept, [("old", b"{}"), ("new", b"{}")], recheck=0)
    assert [status for status, _ in answers] == [200, 200]


def test_wrong_tokens_do_not_hammer_the_api_server() -> None:
    reads: list[str] = []

    def reader() -> str:
        reads.append("read")
        return "right"

    answers = _serve(reader, _accept, [("wrong", b"{}")] * 5)
    assert [status for status, _ in answers] == [401] * 5
    assert len(reads) == 1


def test_an_unreadable_secret_is_503_not_401() -> None:
    def broken() -> str | None:
        raise PermissionError("secrets is forbidden")

    answers = _serve(broken, _accept, [("anything", b"{}")])
    assert answers == [(503, {"error": "the receiver's token Secret cannot be read"})]


def test_a_missing_secret_is_read_again_only_after_the_recheck_interval() -> None:
    reads: list[str] = []

    def missing() -> str | None:
        reads.append("read")
        raise SecretError("Secret ops/alertmanager-token not found")

    answers = _serve(missing, _accept, [("anything", b"{}")] * 4)
    assert [status for status, _ in answers] == [503] * 4
    assert len(reads) == 1


def test_a_secret_created_later_is_picked_up() -> None:
    values = iter([SecretError("Secret ops/alertmanager-token not found"), "s3cret"])

    def reader() -> str | None:
        value = next(values)
        if isinstance(value, Exception):
            raise value
        return value

    answers = _serve(reader, _accept, [("s3cret", b"{}"), ("s3cret", b"{}")], recheck=0)
    assert [status for status, _ in answers] == [503, 200]


def test_a_failing_intake_is_a_500_and_the_receiver_keeps_serving() -> None:
    calls = iter([_explode, _accept])

    async def flaky(body: bytes) -> Answer:
        return await next(calls)(body)

    answers = _serve(lambda: "t", flaky, [("t", b"{}"), ("t", b"{}")])
    assert answers[0] == (500, {"error": "internal error: RuntimeError: the API server went away"})
    assert answers[1] == (200, {"received": 2})
