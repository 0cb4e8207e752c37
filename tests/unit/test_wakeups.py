"""The one deadline timer: each key woken once at its latest due time, forgotten ones never."""

import asyncio
from datetime import timedelta

from incident_operator.runtime import clock
from incident_operator.runtime.wakeups import Wakeups


def test_each_key_wakes_once_at_its_latest_time_and_forgotten_keys_never() -> None:
    async def scenario() -> list[tuple[str, str]]:
        woken: list[tuple[str, str]] = []
        done = asyncio.Event()
        wakeups = Wakeups(in_parallel=2)
        now = clock.now()

        async def wake(key: tuple[str, str]) -> None:
            woken.append(key)
            if key == ("ns", "last"):
                done.set()

        wakeups.schedule(("ns", "due"), now - timedelta(seconds=1))
        wakeups.schedule(("ns", "moved"), now - timedelta(seconds=1))
        wakeups.schedule(("ns", "moved"), now + timedelta(milliseconds=50))
        wakeups.schedule(("ns", "gone"), now)
        wakeups.forget(("ns", "gone"))
        wakeups.schedule(("ns", "cleared"), now)
        wakeups.schedule(("ns", "cleared"), None)
        wakeups.schedule(("ns", "last"), now + timedelta(milliseconds=100))
        runner = asyncio.create_task(wakeups.run(wake))
        await asyncio.wait_for(done.wait(), timeout=10)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        assert wakeups.due_at(("ns", "moved")) is None
        return woken

    woken = asyncio.run(scenario())
    assert woken == [("ns", "due"), ("ns", "moved"), ("ns", "last")]


def test_a_wake_that_raises_does_not_stop_the_others() -> None:
    async def scenario() -> list[str]:
        woken: list[str] = []
        done = asyncio.Event()
        wakeups = Wakeups()

        async def wake(key: tuple[str, str]) -> None:
            woken.append(key[1])
            if key[1] == "bad":
                raise RuntimeError("a bug")
            done.set()

        now = clock.now()
        wakeups.schedule(("ns", "bad"), now)
        wakeups.schedule(("ns", "good"), now + timedelta(milliseconds=20))
        runner = asyncio.create_task(wakeups.run(wake))
        await asyncio.wait_for(done.wait(), timeout=10)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return woken

    assert asyncio.run(scenario()) == ["bad", "good"]
