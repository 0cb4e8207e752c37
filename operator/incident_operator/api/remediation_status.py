"""Incident.status.remediations: one record per requested remediation (the catalog is
api/remediations.py, in the EscalationPolicy)."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from incident_operator.api.base import ApiModel, DNSName, ShortText

# How many records an incident holds.
RECORD_LIMIT = 16

# A parameter value as requested: a string, bounded like an annotation value's share.
ParameterValue = Annotated[str, Field(max_length=1024)]


class RemediationKind(StrEnum):
    ROLLOUT_UNDO = "rolloutUndo"
    JOB = "job"
    FEATURE_FLAG = "featureFlag"
    CONFIG_ROLLBACK = "configRollback"
    SCALE = "scale"


class RemediationPhase(StrEnum):
    # Refused at request (unknown name, bad parameter, severity) or before acting
    # (GitOps-managed, nothing to do, target gone); final.
    REFUSED = "Refused"
    # Waiting for an approval of this proposal.
    PROPOSED = "Proposed"
    # Approved (or no approval needed); the action is next.
    APPROVED = "Approved"
    # The attempt is recorded; the action is being (or was just) taken.
    IN_PROGRESS = "InProgress"
    # The action completed; the incident's rules must recover within the window.
    VERIFYING = "Verifying"
    SUCCEEDED = "Succeeded"
    # The action failed or did not help: an escalation trigger.
    FAILED = "Failed"
    # Withdrawn before acting (the target changed after the proposal, or the incident
    # closed); final.
    WITHDRAWN = "Withdrawn"


FINAL_PHASES = frozenset(
    {
        RemediationPhase.REFUSED,
        RemediationPhase.SUCCEEDED,
        RemediationPhase.FAILED,
        RemediationPhase.WITHDRAWN,
    }
)


class TargetState(ApiModel):
    """An object a remediation acts on, as it was when planned."""

    api_version: Annotated[str, Field(max_length=128)]
    kind: Annotated[str, Field(max_length=64)]
    name: Annotated[str, Field(max_length=253)]
    # The resourceVersion the action is guarded by (None: the object is created).
    resource_version: Annotated[str, Field(max_length=64)] | None = None


class RemediationRecord(ApiModel):
    """One requested remediation and how it went."""

    id: Annotated[str, Field(pattern=r"^r[0-9]{1,4}$")] = Field(
        description="r1, r2, ...: named by `kubectl incident approve INCIDENT ID`."
    )
    remediation: DNSName
    kind: RemediationKind | None = Field(
        default=None,
        description="The catalog entry's kind; unset when the request named no entry "
        "(refused, remediation `unknown`).",
    )
    parameters: Annotated[dict[str, ParameterValue], Field(max_length=16)] = {}
    affected_workload: TargetState | None = Field(
        default=None,
        description="The incident's first affected workload (spec.affected, else the one "
        "detection measured) when the request was recorded: what a rolloutUndo entry that "
        "names no workload acts on.",
    )
    requested_by: ShortText
    requested_at: datetime
    phase: RemediationPhase
    # A CamelCase reason (domain.reasons.Reason) and a sentence for people.
    reason: Annotated[str, Field(max_length=64)] | None = None
    message: Annotated[str, Field(max_length=1024)] | None = None
    approver_group: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None,
        description="Who may approve; the admission policy reads it here.",
    )
    proposal: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="A digest of what would be done; an approval names it and applies only "
        "while it is current.",
    )
    summary: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="What the action does, in a sentence."
    )
    diff: Annotated[str, Field(max_length=8192)] | None = None
    targets: Annotated[list[TargetState], Field(max_length=17)] = []
    previous: dict[str, Any] | None = Field(
        default=None,
        description="What the action replaced (flag state and variant, replica count, the "
        "config version), never a Secret's data.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    approved_by: ShortText | None = None
    approved_at: datetime | None = None
    attempt: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="The execution attempt, recorded before acting."
    )
    started_at: datetime | None = None
    acted_at: datetime | None = Field(default=None, description="When the action was found taken.")
    completed_at: datetime | None = None
    verify_until: datetime | None = None
    recovered_at: datetime | None = Field(
        default=None, description="When detection first saw the rules recovered after acting."
    )
    request: Annotated[str, Field(max_length=64)] | None = Field(
        default=None,
        description="A digest of the request annotation this record came from, until the "
        "operator removed the annotation (so a request is recorded once).",
    )
    output: Annotated[str, Field(max_length=4096)] | None = Field(
        default=None, description="Job remediations: the tail of the Job's log."
    )
