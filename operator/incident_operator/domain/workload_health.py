"""Which workloads and pods are not healthy, read from the API server's JSON (dicts).

``kubectl incident health`` shows the platform's Deployments, StatefulSets and
DaemonSets that are not fully available, and the pods that are not Running or not
Ready, each with the reason Kubernetes gives. The judging is here, pure; the plugin only
reads the objects.

What counts as healthy
======================
A workload is healthy when its controller has seen its latest spec
(``status.observedGeneration`` >= ``metadata.generation``) and every replica it wants is
updated and available::

    Deployment   spec.replicas (default 1)      status.updatedReplicas, availableReplicas
    StatefulSet  spec.replicas (default 1)      status.updatedReplicas, availableReplicas
    DaemonSet    status.desiredNumberScheduled  status.updatedNumberScheduled, numberAvailable

A Deployment whose Progressing condition says ProgressDeadlineExceeded says so too.

A pod is healthy when it is Running and its Ready condition is True, or when it has
Succeeded (a finished Job's pod). Its reason is the first waiting or terminated
container's reason (CrashLoopBackOff, ImagePullBackOff, OOMKilled, ...), else the
unschedulable pod's PodScheduled message, else its phase.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON = Mapping[str, Any]


@dataclass(frozen=True)
class WorkloadHealth:
    """One workload's replicas, and what is wrong with it (None: fully available)."""

    namespace: str
    kind: str
    name: str
    desired: int
    ready: int
    updated: int
    available: int
    problem: str | None

    @property
    def reference(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class PodHealth:
    """A pod, and what is wrong with it (None: Running and Ready, or Succeeded)."""

    namespace: str
    name: str
    phase: str
    ready_containers: int
    containers: int
    restarts: int
    problem: str | None


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _condition(status: JSON, kind: str) -> JSON:
    found: JSON = next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})
    return found


def workload_health(kind: str, raw: JSON) -> WorkloadHealth:
    """The health of a Deployment, StatefulSet or DaemonSet (see the module docstring)."""
    metadata, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    status = raw.get("status") or {}
    if kind == "DaemonSet":
        desired = _int(status.get("desiredNumberScheduled"))
        ready = _int(status.get("numberReady"))
        updated = _int(status.get("updatedNumberScheduled"))
        available = _int(status.get("numberAvailable"))
    else:
        desired = _int(spec.get("replicas"), 1)
        ready = _int(status.get("readyReplicas"))
        updated = _int(status.get("updatedReplicas"))
        available = _int(status.get("availableReplicas"))
    problems = []
    progressing = _condition(status, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        problems.append(f"progress deadline exceeded: {progressing.get('message', '')}".strip())
    if _int(status.get("observedGeneration")) < _int(metadata.get("generation")):
        problems.append("the controller has not seen the latest spec yet")
    if available < desired:
        problems.append(f"{available} of {desired} available")
    if updated < desired:
        problems.append(f"rollout in progress: {updated} of {desired} updated")
    return WorkloadHealth(
        namespace=str(metadata.get("namespace", "")),
        kind=kind,
        name=str(metadata.get("name", "")),
        desired=desired,
        ready=ready,
        updated=updated,
        available=available,
        problem="; ".join(problems) or None,
    )


def _container_problem(statuses: Sequence[JSON]) -> str | None:
    for container in statuses:
        state = container.get("state") or {}
        for word in ("waiting", "terminated"):
            detail = state.get(word)
            if detail and detail.get("reason") and detail.get("reason") != "Completed":
                return f"{container.get('name')}: {detail['reason']}"
    return None


def pod_health(raw: JSON) -> PodHealth:
    """The health of a pod (see the module docstring)."""
    metadata, status = raw.get("metadata") or {}, raw.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    statuses = status.get("containerStatuses") or []
    containers = len((raw.get("spec") or {}).get("containers") or []) or len(statuses)
    ready_containers = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(_int(c.get("restartCount")) for c in statuses)
    ready = _condition(status, "Ready").get("status") == "True"
    problem: str | None = None
    if phase == "Succeeded" or (phase == "Running" and ready):
        problem = None
    else:
        scheduled = _condition(status, "PodScheduled")
        if scheduled.get("status") == "False":
            problem = f"{scheduled.get('reason', 'NotScheduled')}: {scheduled.get('message', '')}"
        else:
            problem = (
                _container_problem([*(status.get("initContainerStatuses") or []), *statuses])
                or status.get("reason")
                or (f"{phase}, not Ready" if phase == "Running" else phase)
            )
    return PodHealth(
        namespace=str(metadata.get("namespace", "")),
        name=str(metadata.get("name", "")),
        phase=phase,
        ready_containers=ready_containers,
        containers=containers,
        restarts=restarts,
        problem=problem.strip() if problem else None,
    )
