"""Labels of workloads, for matching policies' selectors: an incident's affected ones,
or every one in a namespace."""

from kubernetes import client

from incident_operator.adapters.kubernetes import api_client, is_not_found

WorkloadKey = tuple[str, str]
# The kinds policies select, with the AppsV1Api method name each one's calls end in.
_KINDS = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}


def workload_labels(
    namespace: str, workloads: list[WorkloadKey]
) -> dict[WorkloadKey, dict[str, str]]:
    """Blocking; (kind, name) to labels, for the workloads that exist."""
    apps = client.AppsV1Api(api_client())
    found: dict[WorkloadKey, dict[str, str]] = {}
    for kind, name in workloads:
        if kind not in _KINDS:
            continue
        try:
            workload = getattr(apps, f"read_namespaced_{_KINDS[kind]}")(name, namespace)
        except client.ApiException as error:
            if is_not_found(error):
                continue
            raise
        metadata = getattr(workload, "metadata", None)
        found[(kind, name)] = dict(getattr(metadata, "labels", None) or {})
    return found


def list_workloads(namespace: str) -> list[tuple[str, str, dict[str, str]]]:
    """Blocking; (kind, name, labels) of every Deployment, StatefulSet and DaemonSet."""
    apps = client.AppsV1Api(api_client())
    found: list[tuple[str, str, dict[str, str]]] = []
    for kind, method in _KINDS.items():
        for item in getattr(apps, f"list_namespaced_{method}")(namespace).items:
            found.append((kind, item.metadata.name, dict(item.metadata.labels or {})))
    return found
