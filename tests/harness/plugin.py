"""Runs the `kubectl incident` plugin installed with the package, as a person would."""

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(sys.executable).parent / "kubectl-incident"


def run_plugin(
    kubeconfig: Path, namespace: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(PLUGIN), "-n", namespace, *args],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl incident {' '.join(args)} failed: {result.stderr}")
    return result
