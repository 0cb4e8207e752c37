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


# The environment a run without a test cluster gets: no user kubeconfig, no proxies.
_DROPPED_ENV = ("KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def run_plugin_as_is(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Runs the plugin with exactly ``args`` (no -n, no KUBECONFIG) and ``env`` added.

    For failures: the exit code is returned, never checked. The caller's KUBECONFIG and
    proxy settings are dropped, so only the kubeconfig the test names is ever read.
    """
    inherited = {k: v for k, v in os.environ.items() if k.upper() not in _DROPPED_ENV}
    return subprocess.run(
        [str(PLUGIN), *args],
        env={**inherited, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
