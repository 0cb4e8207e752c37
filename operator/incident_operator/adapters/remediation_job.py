"""The ``job`` remediation kind, I/O half: create the Job the planner rendered (labelled
with the incident, annotated with its uid, owned by the Incident) and read it back with
its pods' log tail once it has finished (reconcile/remediation_job.py has the rules).

Verbs, in the incident's namespace: create, get and list on jobs (batch); get and list
on pods; get on pods/log; get on the incident (its uid for the ownerReference).

The Job's name guards the action: a second create after a restart meets AlreadyExists,
and the Job found is the operator's own when it carries the record's key and the
incident's uid (then the action is taken, nothing to do), anyone else's otherwise
(ActionRejected naming it).

Logs are best effort: a Job's log tail is read from its newest pod; when the pod is gone,
or the kubelet cannot serve logs (kwok's fake nodes serve none unless configured), the
reason goes into the observation and the remediation carries on without them.
"""

import copy
from typing import Any, cast

from kubernetes import client

from incident_operator.adapters.incident_store import read_incident
from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    api_client,
    core,
    is_conflict,
    is_not_found,
)
from incident_operator.adapters.workloads_rollback import _json, _message
from incident_operator.api.job_template import (
    INCIDENT_LABEL,
    INCIDENT_UID_ANNOTATION,
    RECORD_KEY_ANNOTATION,
    RECORD_LABEL,
    logs_tail_lines,
)
from incident_operator.domain.remediation_action import (
    Action,
    ActionRejected,
    Observation,
    Target,
    observed,
)

# The label the Job controller puts on a Job's pods (Kubernetes 1.27+), and the older one.
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")
# A log read gives up after this long: a slow kubelet must not hold up the pass.
_LOG_TIMEOUT_SECONDS = 5
# The longest label value (an incident name longer than this is cut; the uid annotation
# still identifies it).
_LABEL_LIMIT = 63


def _batch() -> client.BatchV1Api:
    return client.BatchV1Api(api_client())


def _finished(conditions: list[dict[str, Any]]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
    )


def _newest_pod(namespace: str, job: str) -> dict[str, Any] | None:
    for label in JOB_NAME_LABELS:
        pods: list[dict[str, Any]] = (
            _json(
                core().list_namespaced_pod(
                    namespace, label_selector=f"{label}={job}", _preload_content=False
                )
            ).get("items")
            or []
        )
        if pods:
            return max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp", ""))
    return None


def read_log_tail(namespace: str, job: str, lines: int) -> tuple[str | None, str | None]:
    """The last ``lines`` of the newest pod's log (each container's, named when there are
    several), or None and why not."""
    try:
        pod = _newest_pod(namespace, job)
    except client.ApiException as error:
        return None, f"listing the Job's pods failed: {_message(error)}"
    if pod is None:
        return None, "the Job has no pods left"
    name = pod["metadata"]["name"]
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    parts = []
    for container in containers:
        try:
            text = core().read_namespaced_pod_log(
                name,
                namespace,
                container=container,
                tail_lines=lines,
                _request_timeout=_LOG_TIMEOUT_SECONDS,
            )
        except client.ApiException as error:
            return None, f"the log of pod {name} is not available: {_message(error)}"
        except Exception as error:  # a kubelet that does not answer
            return None, f"the log of pod {name} is not available: {error}"
        text = str(text).rstrip("\n")
        parts.append(f"[{container}]\n{text}" if len(containers) > 1 else text)
    return "\n".join(parts), None


class JobAdapter:
    """KindAdapter for ``job`` (reconcile/remediation_kind.py)."""

    def read(self, namespace: str, target: Target) -> Observation:
        try:
            response = _batch().read_namespaced_job(target.name, namespace, _preload_content=False)
            raw = _json(response)
        except client.ApiException as error:
            if is_not_found(error):
                return Observation(target, exists=False)
            raise
        metadata: dict[str, Any] = raw.get("metadata") or {}
        status: dict[str, Any] = raw.get("status") or {}
        conditions = [
            {k: c.get(k) for k in ("type", "status", "reason", "message")}
            for c in status.get("conditions") or []
        ]
        state: dict[str, Any] = {
            "conditions": conditions,
            "active": status.get("active") or 0,
            "succeeded": status.get("succeeded") or 0,
            "failed": status.get("failed") or 0,
        }
        lines = logs_tail_lines(target.extras)
        if _finished(conditions):
            if lines > 0:
                state["logs"], state["logsUnavailable"] = read_log_tail(
                    namespace, target.name, lines
                )
            else:
                state["logs"], state["logsUnavailable"] = None, "job.logsTailLines is 0"
        return observed(
            target,
            metadata,
            state,
        )

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        job: dict[str, Any] = copy.deepcopy(action.payload["job"])
        owner = read_incident(namespace, incident)
        if owner is None:
            raise ActionRejected(f"Incident {incident} is gone; no Job is created for it")
        uid = owner["metadata"]["uid"]
        metadata = job["metadata"]
        metadata["labels"][INCIDENT_LABEL] = incident[:_LABEL_LIMIT].rstrip("-.")
        metadata["annotations"][INCIDENT_UID_ANNOTATION] = uid
        # Deleting the incident deletes its Jobs (and their pods); see docs/remediation/job.md.
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": incident,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ]
        try:
            # The client sends a dict body as it is (the manifest is JSON already).
            _batch().create_namespaced_job(
                namespace,
                cast(client.V1Job, job),
                field_manager=FIELD_MANAGER,
                _preload_content=False,
            )
        except client.ApiException as error:
            if is_conflict(error):  # AlreadyExists: ours from before a restart, or not
                self._check_ours(namespace, metadata["name"], uid, job)
                return
            if error.status in (400, 403, 404, 422):
                raise ActionRejected(_message(error)) from error
            raise

    def _check_ours(self, namespace: str, name: str, uid: str, job: dict[str, Any]) -> None:
        try:
            raw = _json(_batch().read_namespaced_job(name, namespace, _preload_content=False))
        except client.ApiException as error:
            raise ActionRejected(
                f"Job/{name} exists but cannot be read: {_message(error)}"
            ) from error
        metadata = raw.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        labels = metadata.get("labels") or {}
        wanted = job["metadata"]
        if (
            annotations.get(INCIDENT_UID_ANNOTATION) == uid
            and annotations.get(RECORD_KEY_ANNOTATION)
            == wanted["annotations"][RECORD_KEY_ANNOTATION]
            and labels.get(RECORD_LABEL) == wanted["labels"][RECORD_LABEL]
        ):
            return  # created by an earlier attempt of this record: the action is taken
        raise ActionRejected(
            f"Job/{name} already exists and was not made for this incident's "
            f"{wanted['labels'][RECORD_LABEL]} (annotations {INCIDENT_UID_ANNOTATION}, "
            f"{RECORD_KEY_ANNOTATION}); delete or rename it, then request again"
        )
