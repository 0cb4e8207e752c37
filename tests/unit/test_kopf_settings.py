"""The kopf settings the operator starts with."""

import asyncio

import kopf

from incident_operator.handlers.settings import WORKER_LIMIT, configure


def test_objects_in_flight_are_bounded() -> None:
    # Unbounded, a burst of thousands of new incidents is all in flight at once and the
    # process keeps that peak's memory (see bench/scale.py).
    settings = kopf.OperatorSettings()
    asyncio.run(configure(settings=settings))
    assert settings.queueing.worker_limit == WORKER_LIMIT
    assert 0 < WORKER_LIMIT <= 100
    assert settings.queueing.idle_timeout <= 1.0


def test_kopf_keeps_its_progress_under_our_prefix_not_in_status() -> None:
    settings = kopf.OperatorSettings()
    asyncio.run(configure(settings=settings))
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.persistence.progress_storage.prefix == "incident-operator.sre.agentos.io"
