"""The I/O half of every remediation kind this operator runs, by kind (the pure halves
are reconcile.remediations.PLANNERS; the contract is reconcile/remediation_kind.py)."""

from kubernetes import client

from incident_operator.adapters.remediation_config import ConfigRollbackAdapter
from incident_operator.adapters.remediation_flag import FeatureFlagAdapter
from incident_operator.adapters.remediation_job import JobAdapter
from incident_operator.adapters.remediation_rollout import RolloutUndoAdapter
from incident_operator.adapters.remediation_scale import ScaleAdapter
from incident_operator.adapters.workloads_rollback import _message
from incident_operator.api.remediation_status import RemediationKind
from incident_operator.domain.remediation_action import KindAdapter, Observation, Target

ADAPTERS: dict[RemediationKind, KindAdapter] = {
    RemediationKind.SCALE: ScaleAdapter(),
    RemediationKind.ROLLOUT_UNDO: RolloutUndoAdapter(),
    RemediationKind.JOB: JobAdapter(),
    RemediationKind.CONFIG_ROLLBACK: ConfigRollbackAdapter(),
    RemediationKind.FEATURE_FLAG: FeatureFlagAdapter(),
}


# Answers that will not change by retrying the same read: the operator may not read the
# object (its RBAC for the kind is not installed), or the API server does not serve the
# kind (a CRD such as OpenFeature's FeatureFlag is not installed).
_UNREADABLE = {401: "not authorised", 403: "forbidden", 404: "not served", 405: "not served"}


def read_target(kind: RemediationKind, namespace: str, target: Target) -> Observation:
    """``target`` read through its kind's adapter; an answer that retrying will not change
    becomes an Observation with ``error``, so one remediation the operator may not carry
    out never stops the incident's other work. Other failures (the API server down)
    propagate and the whole pass is retried."""
    try:
        return ADAPTERS[kind].read(namespace, target)
    except client.ApiException as error:
        if error.status not in _UNREADABLE:
            raise
        return Observation(
            target,
            exists=False,
            error=f"cannot read {target.kind}/{target.name} ({_UNREADABLE[error.status]}): "
            f"{_message(error)}",
        )
