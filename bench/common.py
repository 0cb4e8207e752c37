"""What the benchmarks that compare with kubectl share: a control plane, and percentiles."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness.cluster import LocalCluster


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0.5 is the median) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@contextmanager
def control_plane(kubeconfig: str | None, prefix: str) -> Iterator[tuple[Path, Path]]:
    """The kubeconfig and kubectl to use: the given cluster's, else a local control plane
    started for the run (in a temporary directory named ``prefix``) and stopped after."""
    if kubeconfig:
        from tests.harness.binaries import ensure_binaries

        yield Path(kubeconfig), ensure_binaries() / "kubectl"
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        local = LocalCluster(Path(workdir))
        info = local.start()
        try:
            yield info.kubeconfig, info.kubectl_path
        finally:
            local.stop()
