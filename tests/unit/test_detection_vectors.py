"""Reading a whole result at once: Prometheus' answer decoded into an InstantVector, an
unchanged answer recognised without decoding, and every workload judged as ``observe``
judges one."""

import asyncio
import json
import math
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from incident_operator.adapters.prometheus import (
    Prometheus,
    PrometheusQueryError,
    PrometheusUnreachable,
    decode,
)
from incident_operator.domain.detection import (
    InstantVector,
    RuleThresholds,
    Sample,
    WorkloadKey,
    evaluate,
    observe,
    samples_by_workload,
    samples_for,
    vector_of,
)
from incident_operator.domain.reasons import Reason
from incident_operator.domain.signals import Direction, Level

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STALE = timedelta(minutes=1)
ABOVE = RuleThresholds(warning=0.7, critical=0.9, direction=Direction.ABOVE)
BELOW = RuleThresholds(warning=0.95, critical=0.8, direction=Direction.BELOW)
API, WEB = WorkloadKey("Deployment", "api"), WorkloadKey("Deployment", "web")
DB = WorkloadKey("StatefulSet", "db")


def _answer(*series: tuple[dict[str, str], float | str, str], compact: bool = True) -> bytes:
    """Prometheus' JSON for an instant vector of (labels, time, value) series."""
    body = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": m, "value": [at, value]} for m, at, value in series],
        },
    }
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(body, separators=separators).encode()


def _series(workload: str, value: str, at: float = 1764064800.5, **labels: str) -> Any:
    return ({"namespace": "shop", "workload": workload, **labels}, at, value)


# --------------------------------------------------------------------------- decoding


def test_an_answer_is_grouped_by_namespace_kind_and_workload() -> None:
    vector = decode(
        _answer(
            _series("api", "0.5", workload_kind="Deployment"),
            _series("api", "NaN", workload_kind="Deployment"),
            _series("web", "+Inf"),
            ({"namespace": "shop"}, 1764064800.5, "1"),  # names no workload: dropped
            ({"workload": "db"}, 1764064800.5, "2"),  # no namespace label
        )
    )
    assert vector.evaluated_at == 1764064800.5
    assert vector.times is None
    shop = vector.values["shop"]
    assert shop[("Deployment", "api")][0] == 0.5
    assert math.isnan(shop[("Deployment", "api")][1])
    assert shop[(None, "web")] == (math.inf,)
    assert vector.values[None] == {(None, "db"): (2.0,)}


def test_the_same_answer_at_a_later_time_is_not_decoded_again() -> None:
    first = decode(_answer(_series("api", "0.5"), _series("web", "0.25")))
    later = _answer(_series("api", "0.5", at=1764064801.5), _series("web", "0.25", at=1764064801.5))
    again = decode(later, first)
    assert again.values is first.values
    assert again.evaluated_at == 1764064801.5
    changed = decode(_answer(_series("api", "0.5"), _series("web", "0.5", at=1764064801.5)), again)
    assert changed.values is not first.values
    assert changed.values["shop"][(None, "web")] == (0.5,)


def test_an_answer_written_differently_is_decoded_in_full() -> None:
    spaced = _answer(_series("api", "0.5"), compact=False)
    first = decode(spaced)
    again = decode(spaced, first)
    assert again.values == first.values
    assert again.values is not first.values


def test_samples_of_different_times_keep_their_own() -> None:
    vector = decode(_answer(_series("api", "0.5", at=100.0), _series("api", "0.6", at=40.0)))
    assert vector.evaluated_at == 40.0
    assert vector.times == {"shop": {(None, "api"): (100.0, 40.0)}}
    assert vector.digest is None  # never taken for an unchanged one
    assert decode(_answer(_series("api", "0.5", at=100.0)), vector).values is not vector.values


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}',
            "a scalar, not a vector",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[]}}',
            "a range vector, not an instant vector",
        ),
        (b"<html>proxy error</html>", "unreadable answer: JSONDecodeError"),
        (b'{"status":"success"}', "unreadable answer: KeyError"),
    ],
)
def test_answers_that_are_not_an_instant_vector_are_query_errors(body: bytes, message: str) -> None:
    with pytest.raises(PrometheusQueryError, match=message):
        decode(body)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_client_sends_the_query_and_explains_errors_and_refusals() -> None:
    received: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        form = dict(await request.post())
        received.append({k: str(v) for k, v in form.items()})
        if form["query"] == "bad(":
            error = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error"}
            return web.json_response(error, status=400)
        return web.Response(body=_answer(_series("api", "0.5")), content_type="application/json")

    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/api/v1/query", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        prometheus = Prometheus(f"http://127.0.0.1:{port}/", timeout=2.5)
        try:
            vector = await prometheus.query("up")
            assert vector.values["shop"] == {(None, "api"): (0.5,)}
            assert received[0] == {"query": "up", "timeout": "2500ms"}
            with pytest.raises(PrometheusQueryError) as error:
                await prometheus.query("bad(")
            assert str(error.value) == (
                f"Prometheus at http://127.0.0.1:{port} answered HTTP 400 (bad_data): "
                "1:5: parse error"
            )
        finally:
            await prometheus.close()
            await runner.cleanup()
        closed = Prometheus(f"http://127.0.0.1:{port}", timeout=2)
        try:
            with pytest.raises(PrometheusUnreachable, match="refused or dropped"):
                await closed.query("up")
        finally:
            await closed.close()

    asyncio.run(scenario())


# ------------------------------------------------------------------------- judging


def _sample(workload: str, value: float, age: float = 0.0, **labels: str) -> Sample:
    return Sample.of(
        {"namespace": "shop", "workload": workload, **labels}, value, T0 - timedelta(seconds=age)
    )


KIND = {"workload_kind": "Deployment"}
CASES = {
    "one series each, kinds named": [
        _sample("api", 0.5, **KIND),
        _sample("web", 0.95, **KIND),
        _sample("db", 0.8, workload_kind="StatefulSet"),
    ],
    "no kinds": [_sample("api", 0.75), _sample("web", 0.1), _sample("db", math.nan)],
    "mixed kinds and several series": [
        _sample("api", 0.2, **KIND),
        _sample("api", 0.85),
        _sample("web", math.inf, **KIND),
        _sample("web", 0.3, **KIND),
        _sample("db", 0.1, workload_kind="Deployment"),  # not the StatefulSet db
    ],
    "other namespaces and none": [
        Sample.of({"namespace": "other", "workload": "api"}, 0.99, T0),
        Sample.of({"workload": "api"}, 0.8, T0),
        Sample.of({"namespace": "shop", "workload": "web"}, 0.1, T0),
        Sample.of({"namespace": "shop"}, 0.99, T0),
    ],
    "stale and fresh": [_sample("api", 0.99, age=600), _sample("api", 0.5), _sample("web", 0.1)],
    "all stale": [_sample("api", 0.99, age=600), _sample("web", 0.1, age=600)],
    "nothing": [],
}


@pytest.mark.parametrize("thresholds", [ABOVE, BELOW], ids=["above", "below"])
@pytest.mark.parametrize("samples", list(CASES.values()), ids=list(CASES))
def test_evaluating_a_vector_judges_each_workload_as_observe_does(
    samples: list[Sample], thresholds: RuleThresholds
) -> None:
    workloads = [API, WEB, DB]
    evaluation = evaluate(vector_of(samples), "shop", workloads, thresholds, T0, STALE)
    grouped = samples_by_workload(samples, "shop")
    expected = {w: observe(samples_for(grouped, w), thresholds, T0, STALE) for w in workloads}
    assert dict(evaluation.observations) == expected
    assert evaluation.not_ok == tuple(w for w in workloads if expected[w].level is not Level.OK)


def _vector(values: dict[str, float], at: datetime = T0) -> InstantVector:
    return InstantVector({"shop": {(None, n): (v,) for n, v in values.items()}}, at.timestamp())


def test_an_unchanged_result_keeps_its_evaluation_while_it_is_fresh() -> None:
    vector = _vector({"api": 0.8, "web": 0.1})
    first = evaluate(vector, "shop", [API, WEB], ABOVE, T0, STALE)
    assert first.observations[API] == (Level.WARNING, 0.8, None)
    later = T0 + timedelta(seconds=1)
    same = InstantVector(vector.values, later.timestamp())
    assert evaluate(same, "shop", [API, WEB], ABOVE, later, STALE, first) is first
    # Anything it depends on changed: judged again.
    assert evaluate(same, "shop", [API], ABOVE, later, STALE, first) is not first
    assert evaluate(same, "shop", [API, WEB], BELOW, later, STALE, first) is not first
    equal = _vector({"api": 0.8, "web": 0.1}, later)
    assert evaluate(equal, "shop", [API, WEB], ABOVE, later, STALE, first) is not first
    long_after = T0 + timedelta(minutes=5)
    stale = evaluate(vector, "shop", [API, WEB], ABOVE, long_after, STALE, first)
    assert stale is not first
    assert stale.observations[API].problem == Reason.STALE_DATA
    # A stale evaluation is never reused: the next answer is judged afresh.
    assert evaluate(same, "shop", [API, WEB], ABOVE, later, STALE, stale) is not stale
