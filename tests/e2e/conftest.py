"""The end-to-end scenario runs against any kubeconfig.

``make e2e-kind`` installs the chart into a kind cluster and sets
INCIDENT_OPERATOR_E2E_INSTALLED=1: the operator then runs in the cluster. Anywhere else
(``make test`` on the local control plane) the tests start the operator themselves.
"""

import os
from collections.abc import Iterator

import pytest

from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess

INSTALLED = os.environ.get("INCIDENT_OPERATOR_E2E_INSTALLED") == "1"


@pytest.fixture(scope="module")
def operator_running(
    cluster: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess | None]:
    if INSTALLED:
        yield None
        return
    with OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("e2e") / "operator.log") as p:
        yield p
