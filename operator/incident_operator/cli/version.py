"""``kubectl incident version``: the plugin's version, the Incident API the cluster serves,
and the cluster's Kubernetes version (two cheap reads, as ``kubectl version`` makes)."""

from __future__ import annotations

import argparse
from typing import Any

from incident_operator import __version__
from incident_operator.adapters.kube_http import KubeApiError
from incident_operator.api import GROUP, VERSION
from incident_operator.cli import output, raw_api
from incident_operator.cli.cluster import Cluster
from incident_operator.cli.escape import escape


def cmd_version(cluster: Cluster, args: argparse.Namespace) -> int:
    try:
        group = raw_api.get(cluster, f"/apis/{GROUP}", {})
    except KubeApiError as error:
        if error.status != 404:
            raise
        group = {}  # the CRDs are not installed
    kubernetes = raw_api.get(cluster, "/version", {})
    server = {
        "incidentAPI": {
            "preferredVersion": (group.get("preferredVersion") or {}).get("groupVersion"),
            "served": [v.get("groupVersion") for v in group.get("versions") or []],
        },
        "kubernetesVersion": kubernetes.get("gitVersion"),
    }
    return print_version(args, server)


def print_version(args: argparse.Namespace, server: dict[str, Any] | None) -> int:
    client = {"version": __version__, "apiVersion": f"{GROUP}/{VERSION}"}
    if args.output:
        body: dict[str, Any] = {"clientVersion": client}
        if server is not None:
            body["serverVersion"] = server
        print(output.object_text(body, args.output))
        return 0
    print(f"Plugin Version: {client['version']} (speaks {client['apiVersion']})")
    if server is not None:
        api = server["incidentAPI"]
        served = ", ".join(escape(v) for v in api["served"]) or "none"
        print(
            f"Incident API: {escape(api['preferredVersion'] or 'not installed')} (served: {served})"
        )
        print(f"Kubernetes Version: {escape(server['kubernetesVersion'] or 'unknown')}")
    return 0
