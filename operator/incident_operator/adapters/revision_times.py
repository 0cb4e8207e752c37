"""When a workload last changed revision, for grouping's ``sameRollout`` (docs/grouping.md).

Read as the rollback proposal reads it: the workload and its ReplicaSets (Deployment)
or ControllerRevisions (StatefulSet, DaemonSet); the current revision's creation is when
the change rolled out.
"""

from datetime import datetime

from incident_operator.adapters.workloads_rollback import read_workload
from incident_operator.domain.rollback_plan import current_revision


def revision_changed_at(namespace: str, kind: str, name: str) -> datetime | None:
    """When the workload's current revision was created; None when unknown or absent."""
    workload = read_workload(namespace, kind, name, history=True)
    if workload is None:
        return None
    revision = current_revision(workload)
    return revision.rolled_out_at if revision is not None else None
