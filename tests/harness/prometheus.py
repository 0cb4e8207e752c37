"""Prometheus's configuration, its file-based targets, and a small query helper."""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

from tests.harness import loopback

# Jobs of the generated configuration.
KSM_JOB = "kube-state-metrics"
KWOK_JOB = "kwok-metrics"
FILE_SD_JOB = "file-sd"

_JOB_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def write_config(
    path: Path,
    *,
    ksm_address: str,
    ksm_telemetry_address: str,
    kwok_address: str | None,
    targets_dir: Path,
) -> None:
    """Scrape kube-state-metrics, kwok's emulated kubelet metrics and the files in targets_dir.

    Everything at 1s so tests see changes within a few seconds.
    """
    scrape_configs: list[dict[str, Any]] = [
        {
            "job_name": KSM_JOB,
            # Keep kube-state-metrics's own namespace/pod labels as they are.
            "honor_labels": True,
            "static_configs": [{"targets": [ksm_address]}],
        },
        {
            "job_name": "kube-state-metrics-telemetry",
            "static_configs": [{"targets": [ksm_telemetry_address]}],
        },
        {
            "job_name": FILE_SD_JOB,
            "file_sd_configs": [{"files": [str(targets_dir / "*.json")], "refresh_interval": "1s"}],
        },
    ]
    if kwok_address is not None:
        # kwok lists one target per node and Metric at /discovery/prometheus, each with
        # __metrics_path__=/metrics/nodes/<node>/metrics/resource: the kubelet's resource
        # metrics (container_cpu_usage_seconds_total, ...), emulated.
        scrape_configs.append(
            {
                "job_name": KWOK_JOB,
                "http_sd_configs": [
                    {
                        "url": f"http://{kwok_address}/discovery/prometheus",
                        "refresh_interval": "2s",
                    }
                ],
                "relabel_configs": [
                    {
                        "source_labels": ["__metrics_path__"],
                        "regex": "/metrics/nodes/([^/]+)/.*",
                        "target_label": "node",
                        "replacement": "$1",
                    },
                    {
                        "source_labels": ["__metrics_path__"],
                        "target_label": "metrics_path",
                    },
                ],
            }
        )
    config = {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
        },
        "scrape_configs": scrape_configs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    targets_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write_targets(
    targets_dir: Path,
    job: str,
    host_ports: list[str],
    *,
    metrics_path: str = "/metrics",
    labels: dict[str, str] | None = None,
) -> Path:
    """(Re)write targets_dir/<job>.json: Prometheus picks it up within about a second.

    The file's ``job`` label overrides the scrape config's job name, so series carry
    ``job="<job>"``.
    """
    if not _JOB_NAME.match(job):
        raise ValueError(f"job name {job!r} must match {_JOB_NAME.pattern}")
    for host_port in host_ports:
        host = host_port.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError(f"scrape targets must be on 127.0.0.1, not {host_port}")
    entry_labels = {"job": job, "__metrics_path__": metrics_path, **(labels or {})}
    path = targets_dir / f"{job}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps([{"targets": host_ports, "labels": entry_labels}], indent=2))
    os.replace(tmp, path)  # atomic: Prometheus never reads half a file
    return path


def read_targets(targets_dir: Path, job: str) -> list[str]:
    path = targets_dir / f"{job}.json"
    if not path.exists():
        return []
    groups = json.loads(path.read_text())
    return [t for group in groups for t in group["targets"]]


def remove_targets(targets_dir: Path, job: str) -> None:
    (targets_dir / f"{job}.json").unlink(missing_ok=True)


def query(prometheus_url: str, promql: str, *, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Instant query; returns the result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    status, body = loopback.request(url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"Prometheus query {promql!r}: HTTP {status}: {body[:500]!r}")
    data = json.loads(body)
    if data.get("status") != "success":
        raise RuntimeError(f"Prometheus query {promql!r} failed: {data}")
    result: list[dict[str, Any]] = data["data"]["result"]
    return result
