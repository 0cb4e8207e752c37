"""The remediation catalog (EscalationPolicy.spec.remediations) and its records
(Incident.status.remediations).

A remediation is a named, reviewed action the operator may take for an incident once a
person requests it and (unless the catalog entry says otherwise) a member of its approver
group approves: the runbook's rollback command reference (``kubectl rollout undo``, a
database migration rollback, a feature flag disable, a configuration rollback) plus a
scale (the kill switch). The catalog lives in the policy, so it is in Git and reviewed
like code; the records live in the incident's status, so a restart at any moment neither
forgets nor repeats one.

Parameters are strings on the wire (annotations carry them); each entry declares its
parameters' type and allowed values or pattern, and string fields of the entry's kind
settings may refer to them as ``{{ params.NAME }}`` (plain substitution, no expressions).
"""

from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_snake

from incident_operator.api.base import (
    ApiModel,
    DNSName,
    Duration,
    Within,
    cel,
    unique_by,
)
from incident_operator.api.incident import WorkloadKind, WorkloadReference
from incident_operator.api.job_template import template_problem
from incident_operator.api.remediation_status import ParameterValue, RemediationKind
from incident_operator.domain.severity import Severity

# How many catalog entries a policy may declare, and parameters an entry.
CATALOG_LIMIT = 32
PARAMETER_LIMIT = 16

ParameterName = Annotated[str, Field(max_length=63, pattern=r"^[a-z][A-Za-z0-9]{0,62}$")]


class ParameterType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"


class RemediationParameter(ApiModel):
    """One parameter a request may (or must) give."""

    name: ParameterName
    type: ParameterType = ParameterType.STRING
    description: Annotated[str, Field(max_length=512)] = ""
    required: bool = True
    default: ParameterValue | None = Field(
        default=None, description="Used when a request leaves the parameter out."
    )
    allowed: Annotated[list[ParameterValue], Field(max_length=64)] | None = Field(
        default=None, description="The only values a request may give."
    )
    pattern: Annotated[str, Field(max_length=256)] | None = Field(
        default=None,
        description="A regular expression (RE2 syntax) the whole value must match.",
    )
    minimum: Annotated[int, Field(ge=-(10**15), le=10**15)] | None = Field(
        default=None, description="integer parameters: the least."
    )
    maximum: Annotated[int, Field(ge=-(10**15), le=10**15)] | None = Field(
        default=None, description="integer parameters: the most."
    )


class Verification(ApiModel):
    """How the operator decides that a remediation worked, after its action completed."""

    rules_recover: bool = Field(
        default=True,
        description="The incident's detection rules must recover (and stay recovered) "
        "within `within`; an incident without detection rules is verified by the action "
        "completing.",
    )
    within: Annotated[Duration, Within("1s", "24h")] | None = Field(
        default=None, description="Default: the policy's spec.detection.monitoringWindow."
    )


class JobSettings(ApiModel):
    """A Job from a template; success is the Job completing."""

    template: dict[str, Any] = Field(
        max_length=32,
        description="A batch/v1 JobSpec (template.spec.containers with name and image "
        "required). Strings may refer to {{ params.NAME }}, except image and "
        "serviceAccountName, which only the policy sets. activeDeadlineSeconds comes from "
        "timeout; ttlSecondsAfterFinished is refused (the Job stays until its incident is "
        "deleted); backoffLimit defaults to 0 (no retry).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    logs_tail_lines: Annotated[int, Field(ge=0, le=200)] = Field(
        default=20, description="Lines of the Job's log that go into the timeline."
    )
    timeout: Annotated[Duration, Within("1s", "24h")] = Field(
        default="15m", description="The Job's activeDeadlineSeconds."
    )

    @field_validator("template")
    @classmethod
    def _runnable(cls, template: dict[str, Any]) -> dict[str, Any]:
        # api/job_template.py has the rules and why. Not CEL: the fields of a free-form
        # (preserve-unknown-fields) object are invisible to CEL, so the API server takes the
        # policy and its Ready condition and Event name the field.
        problem = template_problem(template)
        if problem is not None:
            raise ValueError(problem)
        return template


class FlagSource(StrEnum):
    # The OpenFeature Operator's core.openfeature.dev FeatureFlag resource.
    FEATURE_FLAG = "FeatureFlag"
    # A ConfigMap holding a flagd flag definition file (JSON) under a key.
    CONFIG_MAP = "ConfigMap"


class FeatureFlagSettings(ApiModel):
    """Disable one flag, recording its previous state and default variant."""

    source: FlagSource = Field(
        description="FeatureFlag: an OpenFeature Operator FeatureFlag "
        "(core.openfeature.dev/v1beta1, the flag under spec.flagSpec.flags); ConfigMap: a "
        "flagd flag file (JSON, the flag under flags) in the ConfigMap's data key `key`."
    )
    name: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The FeatureFlag or ConfigMap, in the incident's namespace; may refer "
        "to {{ params.NAME }}."
    )
    key: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        default="flags.flagd.json",
        description="ConfigMap only: the data key holding the flagd flag file (JSON); "
        "rewritten whole, every other flag and top-level key kept.",
    )
    flag: Annotated[str, Field(min_length=1, max_length=253)] = Field(
        description="The flag's key; may refer to {{ params.NAME }}."
    )
    off_variant: Annotated[str, Field(min_length=1, max_length=253)] | None = Field(
        default=None,
        description="Set the flag's defaultVariant to this variant (refused when the flag "
        "has no such variant); without it the flag's state is set to DISABLED. The previous "
        "state and defaultVariant are recorded in the record's previous.",
    )


class ConfigObjectKind(StrEnum):
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"


class ConfigRollbackSettings(ApiModel):
    """Restore a ConfigMap or Secret to a version the operator kept."""

    kind: ConfigObjectKind = Field(
        description="ConfigMap (versions kept as ControllerRevisions) or Secret (versions "
        "kept as immutable Secrets); docs/remediation/config-rollback.md."
    )
    name: DNSName = Field(
        description="The object, in the policy's namespace. The operator keeps its versions "
        "from the moment the policy names it (kubectl incident config-history NAME)."
    )
    keep: Annotated[int, Field(ge=1, le=50)] = Field(
        default=10, description="Versions kept; the oldest go first."
    )
    version: Annotated[str, Field(max_length=64)] = Field(
        default="previous",
        description="The version to restore: a number, `previous`, or {{ params.NAME }}.",
    )
    restart: Annotated[list[WorkloadReference], Field(max_length=16)] = Field(
        default=[],
        description="Workloads restarted after the restore (as `kubectl rollout restart`).",
    )


class ScaleSettings(ApiModel):
    """Scale a workload, recording its replica count before."""

    workload: WorkloadReference
    replicas: Annotated[str, Field(max_length=64)] = Field(
        default="0",
        description="The replica count: a number (0 is the kill switch) or {{ params.NAME }}.",
    )


class TemplatedWorkloadReference(ApiModel):
    """A workload in the incident's namespace whose name may refer to {{ params.NAME }}
    (the substituted name must be a DNS name)."""

    kind: WorkloadKind
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=253,
            pattern=r"^([a-z0-9.-]|\{\{\s*params\.[A-Za-z0-9]+\s*\}\})+$",
        ),
    ] = Field(description="A workload name, or one made of {{ params.NAME }} references.")


class RolloutUndoSettings(ApiModel):
    """``kubectl rollout undo`` of a workload, with the rollback's planner and checks."""

    workload: TemplatedWorkloadReference | None = Field(
        default=None,
        description="Default: the incident's first affected workload (spec.affected, else "
        "the one detection measured) when the request was recorded. The name may refer "
        "to {{ params.NAME }}.",
    )
    to_revision: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="A revision number or {{ params.NAME }}; default: previous."
    )


_KIND_FIELDS = {
    RemediationKind.ROLLOUT_UNDO: "rolloutUndo",
    RemediationKind.JOB: "job",
    RemediationKind.FEATURE_FLAG: "featureFlag",
    RemediationKind.CONFIG_ROLLBACK: "configRollback",
    RemediationKind.SCALE: "scale",
}


class Remediation(ApiModel):
    """One catalog entry."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                cel(
                    f"self.kind != '{kind.value}' || has(self.{field})",
                    f"a {kind.value} remediation needs its {field} settings",
                )
                for kind, field in _KIND_FIELDS.items()
            ]
        }
    }

    name: DNSName
    kind: RemediationKind
    description: Annotated[str, Field(max_length=1024)] = ""
    parameters: Annotated[
        list[RemediationParameter],
        Field(max_length=PARAMETER_LIMIT),
        unique_by("name"),
    ] = []
    severities: Annotated[list[Severity], Field(min_length=1, max_length=5)] = Field(
        default=[Severity.P0, Severity.P1, Severity.P2, Severity.P3, Severity.P4],
        description="The severities of the incidents that may use it.",
    )
    approver_group: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")] | (
        None
    ) = Field(default=None, description="Default: the policy's spec.rollback.approverGroup.")
    requires_approval: bool = Field(
        default=True, description="false: the request alone starts it (read-only diagnostics)."
    )
    allow_git_ops_managed: bool = Field(
        default=False,
        description="Act on objects Argo CD or Flux manage (the tool may undo it).",
    )
    verify: Verification = Verification()
    rollout_undo: RolloutUndoSettings | None = None
    job: JobSettings | None = None
    feature_flag: FeatureFlagSettings | None = None
    config_rollback: ConfigRollbackSettings | None = None
    scale: ScaleSettings | None = None

    @model_validator(mode="after")
    def _has_its_settings(self) -> Self:
        # The same rule as the CEL rule on the schema, with the same words.
        field = _KIND_FIELDS[self.kind]
        if getattr(self, to_snake(field)) is None:
            raise ValueError(f"a {self.kind.value} remediation needs its {field} settings")
        return self
