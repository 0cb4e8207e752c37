"""A local Kubernetes control plane for the integration tests (see cluster.py).

    from tests.harness import LocalCluster
    cluster = LocalCluster(workdir)
    info = cluster.start()   # etcd, kube-apiserver, controller-manager, scheduler,
    ...                      # kwok, kube-state-metrics, Prometheus on 127.0.0.1
    cluster.stop()

``python -m tests.harness up|down|status|logs`` does the same from a shell, in
<repo>/.cluster.
"""

from tests.harness.binaries import ensure_binaries
from tests.harness.cluster import COMPONENTS, ClusterError, ClusterInfo, LocalCluster
from tests.harness.prometheus import query as prometheus_query
from tests.harness.wait import ComponentFailedError, WaitTimeoutError, wait_until

__all__ = [
    "COMPONENTS",
    "ClusterError",
    "ClusterInfo",
    "ComponentFailedError",
    "LocalCluster",
    "WaitTimeoutError",
    "ensure_binaries",
    "prometheus_query",
    "wait_until",
]
