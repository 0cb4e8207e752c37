"""The I/O half of every remediation kind this operator runs, by kind (the pure halves
are reconcile.remediations.PLANNERS; the contract is reconcile/remediation_kind.py)."""

from kubernetes import client

from incident_operator.adapters.remediation_rollout import RolloutUndoAdapter
from incident_operator.adapters.remediation_scale import ScaleAdapter
from incident_operator.adapters.workloads_rollback import _message
from incident_operator.api.remediation_status import RemediationKind
from incident_operator.domain.remediation_action import KindAdapter, Observation, Target

ADAPTERS: dict[RemediationKind, KindAdapter] = {
    RemediationKind.SCALE: ScaleAdapter(),
    RemediationKind.ROLLOUT_UNDO: RolloutUndoAdapter(),
}


def read_target(kind: RemediationKind, namespace: str, target: Target) -> Observation:
    """``target`` read through its kind's adapter; a read the API server forbids (the
    kind's rights not granted here) is an Observation saying so, not an error that would
    stop the whole incident's pass."""
    try:
        return ADAPTERS[kind].read(namespace, target)
    except client.ApiException as error:
        if error.status != 403:
            raise
        return Observation(target, exists=False, forbidden=_message(error))
