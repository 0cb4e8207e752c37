"""The ``rolloutUndo`` remediation kind, I/O half: read a Deployment, StatefulSet or
DaemonSet with its revision history and send kubectl's rollback patch, guarded by the
resourceVersion read (reconcile/remediation_rollout.py has the rules). Both are the
rollback's own calls (adapters/workloads_rollback.py), so the two paths cannot drift.

Verbs, the rollback's: get and patch on deployments, statefulsets and daemonsets, list
on replicasets and controllerrevisions, in the incident's namespace."""

from incident_operator.adapters.workloads_rollback import (
    PatchConflict,
    PatchRejected,
    patch_workload,
    read_workload,
)
from incident_operator.domain.remediation_action import (
    Action,
    ActionConflict,
    ActionRejected,
    Observation,
    Target,
)
from incident_operator.domain.rollback_plan import KINDS, WorkloadPatch

# Target.extras: read the revisions too (reconcile/remediation_rollout.HISTORY).
HISTORY = "history"


class RolloutUndoAdapter:
    """KindAdapter for ``rolloutUndo`` (reconcile/remediation_kind.py)."""

    def read(self, namespace: str, target: Target) -> Observation:
        if target.kind not in KINDS:
            return Observation(target, exists=False)
        workload = read_workload(namespace, target.kind, target.name, HISTORY in target.extras)
        if workload is None:
            return Observation(target, exists=False)
        return Observation(
            target,
            exists=True,
            resource_version=workload.resource_version,
            labels=workload.labels,
            annotations=workload.annotations,
            # The domain Workload itself: the planner hands it to plan_rollback.
            state={"workload": workload},
        )

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None:
        (target,) = action.targets
        patch = WorkloadPatch(
            target.kind, target.name, action.payload["contentType"], action.payload["body"]
        )
        try:
            patch_workload(namespace, patch)
        except PatchConflict as error:
            raise ActionConflict(str(error)) from error
        except PatchRejected as error:
            raise ActionRejected(str(error)) from error
