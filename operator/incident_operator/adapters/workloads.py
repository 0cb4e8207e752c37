"""Labels of an incident's affected workloads, for matching policies' selectors."""

from kubernetes import client

from incident_operator.adapters.kubernetes import api_client, is_not_found

WorkloadKey = tuple[str, str]


def workload_labels(
    namespace: str, workloads: list[WorkloadKey]
) -> dict[WorkloadKey, dict[str, str]]:
    """Blocking; (kind, name) to labels, for the workloads that exist."""
    apps = client.AppsV1Api(api_client())
    readers = {
        "Deployment": apps.read_namespaced_deployment,
        "StatefulSet": apps.read_namespaced_stateful_set,
        "DaemonSet": apps.read_namespaced_daemon_set,
    }
    found: dict[WorkloadKey, dict[str, str]] = {}
    for kind, name in workloads:
        reader = readers.get(kind)
        if reader is None:
            continue
        try:
            workload = reader(name, namespace)
        except client.ApiException as error:
            if is_not_found(error):
                continue
            raise
        metadata = getattr(workload, "metadata", None)
        found[(kind, name)] = dict(getattr(metadata, "labels", None) or {})
    return found
