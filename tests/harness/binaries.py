"""Where the control plane's binaries are: hack/build-binaries.sh builds them once."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-binaries.sh"
VERSIONS_FILE = REPO_ROOT / "hack" / "versions.env"

REQUIRED = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "kube-state-metrics",
)


def versions() -> dict[str, str]:
    """hack/versions.env as a dict."""
    result: dict[str, str] = {}
    for line in VERSIONS_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            result[key.strip()] = value.strip()
    return result


def ensure_binaries(timeout: float = 3600.0) -> Path:
    """Run hack/build-binaries.sh (a no-op once built) and return the bin dir it prints.

    The first build takes 20-30 minutes on two cores; its progress goes to stderr,
    which is passed through.
    """
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        check=False,
        cwd=REPO_ROOT,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"{BUILD_SCRIPT} failed (exit {result.returncode}); stdout:\n{result.stdout}"
        )
    bin_dir = Path(lines[-1])
    missing = [name for name in REQUIRED if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise RuntimeError(f"{BUILD_SCRIPT} printed {bin_dir}, which lacks {missing}")
    return bin_dir


def prometheus_binary() -> Path:
    """Debian's Prometheus (hack/setup-debian.sh installs it), or $INCIDENT_OPERATOR_PROMETHEUS."""
    configured = os.environ.get("INCIDENT_OPERATOR_PROMETHEUS")
    found = configured or shutil.which("prometheus") or "/usr/bin/prometheus"
    path = Path(found)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"Prometheus not found at {path}; run hack/setup-debian.sh")
    return path


def promtool_binary() -> Path:
    """Debian's promtool (the prometheus package ships it), or $INCIDENT_OPERATOR_PROMTOOL."""
    configured = os.environ.get("INCIDENT_OPERATOR_PROMTOOL")
    found = configured or shutil.which("promtool") or "/usr/bin/promtool"
    path = Path(found)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"promtool not found at {path}; run hack/setup-debian.sh")
    return path
