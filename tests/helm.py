"""helm for the chart tests: the binary (built once by hack/build-binaries.sh) and renders."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "incident-operator"
BUILD_SCRIPT = REPO / "hack" / "build-binaries.sh"
RELEASE = "incident-operator"
NAMESPACE = "incident-operator"
# Labels only helm sets; the kustomize install has every other one.
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")

Manifest = dict[str, Any]


@functools.cache
def helm_binary() -> Path:
    """helm from the binary cache; builds it on first use (about 2 minutes), helm alone."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "helm"],
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{BUILD_SCRIPT} helm failed (exit {result.returncode})")
    helm = Path(lines[-1]) / "helm"
    if not os.access(helm, os.X_OK):
        raise RuntimeError(f"{BUILD_SCRIPT} printed {lines[-1]}, which has no helm")
    return helm


def run_helm(
    *args: str, check: bool = True, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run helm; ``home`` keeps its cache, config and data out of the user's home."""
    env = dict(os.environ)
    if home is not None:
        for name in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{name}_HOME"] = str(home / name.lower())
    result = subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
        )
    return result


def render(*args: str, release: str = RELEASE, namespace: str = NAMESPACE) -> list[Manifest]:
    """``helm template`` of the chart with extra ``args`` (--set ..., --include-crds)."""
    result = run_helm("template", release, str(CHART), "--namespace", namespace, *args)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def without_helm_labels(manifest: Manifest) -> Manifest:
    """A copy with the labels only helm sets removed, to compare with the kustomize install."""
    copy: Manifest = yaml.safe_load(yaml.safe_dump(manifest))
    labels = copy.get("metadata", {}).get("labels", {})
    for key in HELM_ONLY_LABELS:
        labels.pop(key, None)
    return copy


def key(manifest: Manifest) -> tuple[str, str, str]:
    """(kind, namespace, name): an object's identity in an install."""
    metadata = manifest["metadata"]
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The only object of ``kind`` (named ``name``, if given); fails otherwise."""
    found = [m for m in by_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[key(m) for m in found]}"
    return found[0]


def operator_container(manifests: list[Manifest]) -> Manifest:
    deployment = one(manifests, "Deployment")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["operator"]
    container: Manifest = containers[0]
    return container
