"""Fixtures the detection-driven integration modules share: a metrics exporter Prometheus
scrapes, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.harness.cluster import ClusterInfo
from tests.integration.exporters import WorkloadExporter

EXPORTER_JOB = "detection-tests"


@pytest.fixture(scope="module")
def running_exporter(cluster: ClusterInfo, prometheus_url: str) -> Iterator[WorkloadExporter]:
    if not cluster.controllable:
        pytest.skip("the cluster was not started by the harness: no scrape targets")
    running = WorkloadExporter().start()
    cluster.add_scrape_target(EXPORTER_JOB, running.host_port)
    try:
        yield running
    finally:
        cluster.remove_scrape_target(EXPORTER_JOB)
        running.stop()


@pytest.fixture
def exporter(running_exporter: WorkloadExporter, namespace: str) -> Iterator[WorkloadExporter]:
    """The exporter, forgetting the test's namespace when the test ends."""
    yield running_exporter
    running_exporter.forget_namespace(namespace)
