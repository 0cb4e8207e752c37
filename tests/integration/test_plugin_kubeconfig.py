"""The plugin's own client against the real API server with credentials kubeconfigs use
beyond a token: an ``exec`` credential plugin (with a CA given as data), and a user the
own client hands to the Kubernetes client package (basic auth), which behaves as before:
that package no longer sends basic auth, so the API server sees an anonymous user."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.cluster import ClusterInfo
from tests.harness.plugin import run_plugin_as_is


def _kubeconfig(path: Path, cluster: ClusterInfo, user: dict[str, Any]) -> Path:
    if cluster.ca_file is None:
        pytest.skip("the cluster's CA file is not known (an existing cluster without one)")
    server = {
        "server": cluster.api_server_url,
        "certificate-authority-data": base64.b64encode(cluster.ca_file.read_bytes()).decode(),
    }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": "someone", "user": user}],
        "contexts": [{"name": "here", "context": {"cluster": "local", "user": "someone"}}],
        "current-context": "here",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_exec_credential_plugin_authenticates(cluster: ClusterInfo, tmp_path: Path) -> None:
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": cluster.admin_token},
    }
    script = tmp_path / "credential.py"
    script.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(script)],
            "interactiveMode": "Never",
        }
    }
    path = _kubeconfig(tmp_path / "exec.yaml", cluster, user)
    result = run_plugin_as_is("--kubeconfig", str(path), "whoami")
    assert (result.returncode, result.stdout.strip()) == (0, "admin"), result.stderr


def test_basic_auth_goes_through_the_kubernetes_client(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    path = _kubeconfig(tmp_path / "basic.yaml", cluster, {"username": "a", "password": "b"})
    result = run_plugin_as_is("--kubeconfig", str(path), "whoami")
    assert result.returncode == 1
    assert result.stderr.startswith(
        'error: selfsubjectreviews.authentication.k8s.io is forbidden: User "system:anonymous"'
    ), result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
