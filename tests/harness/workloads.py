"""Workload manifests for the tests and the demo (kwok runs no containers: images are
never pulled)."""

from collections.abc import Mapping
from typing import Any

# The label the demo's and the end-to-end scenario's policy select workloads by.
PART_OF_AGENTOS = {"app.kubernetes.io/part-of": "agentos"}


def deployment_manifest(
    name: str,
    container: dict[str, Any],
    *,
    replicas: int = 1,
    labels: Mapping[str, str] | None = None,
    pod_labels: Mapping[str, str] | None = None,
    pod_annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A Deployment of one ``container``, its pods labelled ``app: <name>`` and selected by it.

    ``labels`` are the Deployment's own (policies select workloads by them); ``pod_labels``
    are added to the pods' ``app`` label.
    """
    template: dict[str, Any] = {"labels": {"app": name, **(pod_labels or {})}}
    if pod_annotations is not None:
        template["annotations"] = dict(pod_annotations)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": template, "spec": {"containers": [container]}},
        },
    }
