"""The I/O half of every remediation kind this operator runs, by kind (the pure halves
are reconcile.remediations.PLANNERS; the contract is reconcile/remediation_kind.py)."""

from incident_operator.adapters.remediation_job import JobAdapter
from incident_operator.adapters.remediation_scale import ScaleAdapter
from incident_operator.api.remediation_status import RemediationKind
from incident_operator.domain.remediation_action import KindAdapter

ADAPTERS: dict[RemediationKind, KindAdapter] = {
    RemediationKind.SCALE: ScaleAdapter(),
    RemediationKind.JOB: JobAdapter(),
}
