"""The EscalationPolicy kind: a team's runbook settings, managed through GitOps.

The operator reads policies and writes only their status; it adds no finalizers and no
annotations, so Argo CD or Flux can own and prune them.
"""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from incident_operator.api.base import (
    ApiModel,
    DNSName,
    Duration,
    LabelSelector,
    ObjectMeta,
    SecretKeyReference,
    cel,
)
from incident_operator.api.incident import WorkloadReference
from incident_operator.domain.conditions import Condition
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import Audience, ChannelType
from incident_operator.domain.severity import Severity
from incident_operator.domain.signals import Direction, Signal

_LIST_MAP_BY_NAME = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
RuleName = Annotated[
    str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
MetricName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
]


class SeverityOverride(ApiModel):
    """Overrides of the runbook's defaults for one severity; unset fields keep them."""

    response_time: Duration | None = None
    resolution_target: Duration | None = None
    update_every: Duration | None = None
    auto_resolve: bool | None = Field(
        default=None,
        description="Resolve automatically after the monitoring window. "
        "Default: allowed for P2 to P4, never for P0 and P1.",
    )


class SeverityOverrides(ApiModel):
    P0: SeverityOverride | None = Field(default=None, alias="P0")
    P1: SeverityOverride | None = Field(default=None, alias="P1")
    P2: SeverityOverride | None = Field(default=None, alias="P2")
    P3: SeverityOverride | None = Field(default=None, alias="P3")
    P4: SeverityOverride | None = Field(default=None, alias="P4")


class SeverityByLevel(ApiModel):
    """The severity a rule opens at each threshold level."""

    critical: Severity = Severity.P1
    warning: Severity = Severity.P2


class DetectionRule(ApiModel):
    """A threshold on a signal, evaluated per workload."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "has(self.signal) != has(self.query)",
                    "a rule needs exactly one of signal or query",
                ),
                cel(
                    "!has(self.warning) || !has(self.critical) || "
                    "((has(self.direction) ? self.direction : "
                    "(has(self.signal) && self.signal == 'agentSuccessRate' ? 'below' : 'above'))"
                    " == 'below' ? self.warning >= self.critical : self.warning <= self.critical)",
                    "warning must come before critical: lower when a breach is above the "
                    "threshold, higher when it is below",
                ),
                cel(
                    "has(self.signal) || has(self.warning) || has(self.critical)",
                    "a rule with a custom query needs a warning or a critical threshold",
                ),
                cel(
                    # Both levels have defaults once the object is there.
                    "!has(self.severity) || self.severity.critical <= self.severity.warning",
                    "severity.critical must be at least as severe as severity.warning",
                    ".severity",
                ),
            ]
        }
    )

    name: RuleName
    signal: Signal | None = Field(default=None, description="A built-in signal.")
    query: Annotated[str, Field(min_length=1, max_length=4096)] | None = Field(
        default=None,
        description="A custom PromQL query returning one series per workload "
        "(labels namespace and workload); use instead of signal.",
    )
    workloads: LabelSelector | None = Field(
        default=None, description="Narrows the policy's selector for this rule."
    )
    warning: float | None = None
    critical: float | None = None
    direction: Direction | None = Field(
        default=None, description="Whether a breach is above or below the thresholds."
    )
    for_: Annotated[Duration, Field(alias="for")] = "0s"
    severity: SeverityByLevel = SeverityByLevel()
    window: Duration | None = Field(
        default=None,
        description="The range rates and increases are taken over. Default: 1h for "
        "podRestarts, 5m for the other signals.",
    )
    offset: Duration | None = Field(
        default=None,
        description="requestRateDrop: how far back the rate it is compared with lies (default 1d).",
    )
    metrics: Annotated[dict[str, MetricName], Field(max_length=8)] | None = Field(
        default=None,
        description="Overrides of the signal's metric names, by role; see the README for "
        "each signal's roles (e.g. requests: http_requests_total).",
    )


class Detection(ApiModel):
    interval: Duration = "15s"
    monitoring_window: Duration = Field(
        default="15m", description="How long recovered metrics are watched before resolving."
    )
    max_unknown_cycles: Annotated[int, Field(ge=1, le=10000)] | None = Field(
        default=None,
        description="After this many cycles in a row without usable metrics, open one "
        "incident about the monitoring gap. Unset: never.",
    )
    rules: Annotated[
        list[DetectionRule],
        Field(max_length=64, json_schema_extra=_LIST_MAP_BY_NAME),
    ] = []


class EscalationTargetSpec(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    method: ContactMethod


class EscalationStepSpec(ApiModel):
    """Who is told, and how, once an incident of these severities is ``after`` old."""

    severities: Annotated[list[Severity], Field(min_length=1, max_length=5)]
    after: Duration
    targets: Annotated[list[EscalationTargetSpec], Field(min_length=1, max_length=16)]
    channel: DNSName | None = Field(
        default=None, description="The name of the channel in spec.channels that carries it."
    )


class Escalation(ApiModel):
    steps: Annotated[
        list[EscalationStepSpec],
        Field(
            max_length=64,
            description="Ordered steps; within a severity, `after` must not decrease. "
            "Empty means the runbook's escalation matrix.",
            json_schema_extra={
                "x-kubernetes-validations": [
                    cel(
                        "['P0', 'P1', 'P2', 'P3', 'P4'].all(sev, "
                        "self.filter(s, sev in s.severities)"
                        ".map(s, duration(s.after)).isSorted())",
                        "escalation steps of a severity must be in order of `after`",
                    )
                ]
            },
        ),
    ] = []


class EmailSettings(ApiModel):
    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    start_tls: bool = Field(
        default=True, description="Upgrade the connection with STARTTLS (required when true)."
    )
    tls: bool = Field(
        default=False,
        description="Implicit TLS from the first byte (SMTPS, usually port 465) instead of "
        "STARTTLS; startTls is then ignored.",
    )
    ca_secret_ref: SecretKeyReference | None = Field(
        default=None,
        description="A PEM bundle of the CA certificates the server's certificate is checked "
        "against, instead of the system's trust store (for a private CA). Verification and "
        "the host name check stay on.",
    )
    from_: Annotated[str, Field(alias="from", min_length=3, max_length=254)]
    to: Annotated[
        list[Annotated[str, Field(min_length=3, max_length=254)]],
        Field(min_length=1, max_length=32),
    ]
    username: Annotated[str, Field(max_length=254)] | None = None


class Channel(ApiModel):
    """A notification endpoint. Secret values stay in the referenced Secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "self.type != 'slack' || has(self.secretRef)",
                    "a slack channel needs secretRef (webhook URL)",
                ),
                cel(
                    "self.type != 'pagerduty' || has(self.secretRef)",
                    "a pagerduty channel needs secretRef (routing key)",
                ),
                cel(
                    "self.type != 'email' || has(self.email)",
                    "an email channel needs the email settings",
                ),
                cel(
                    "!has(self.email) || !has(self.email.username) || has(self.secretRef)",
                    "an email channel with email.username needs secretRef (the SMTP password)",
                ),
                cel("self.type != 'webhook' || has(self.url)", "a webhook channel needs url"),
                cel(
                    "self.type != 'pagerduty' || !has(self.audience) || "
                    "self.audience == 'internal'",
                    "a pagerduty channel pages responders; its audience must be internal",
                ),
            ]
        }
    )

    name: DNSName
    type: ChannelType
    secret_ref: SecretKeyReference | None = Field(
        default=None,
        description="slack: the incoming webhook URL; pagerduty: the routing key; "
        "email: the SMTP password; webhook: a bearer token.",
    )
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = Field(
        default=None,
        description="webhook: where to POST; pagerduty: the Events API base URL.",
    )
    email: EmailSettings | None = None
    chat_channel: Annotated[str, Field(max_length=80)] | None = Field(
        default=None,
        description="slack: the channel posted to, e.g. #incident-high; routing prefers the "
        "one the runbook names for the incident's alert level.",
    )
    audience: Audience = Field(
        default=Audience.INTERNAL,
        description="internal: responders' notifications; customer: only the runbook's "
        "customer messages (initial notification, progress update, resolution).",
    )


class Templates(ApiModel):
    """Jinja2 overrides of the runbook's message templates; unset ones use the runbook's."""

    declaration: Annotated[str, Field(max_length=16384)] | None = None
    status_update: Annotated[str, Field(max_length=16384)] | None = None
    resolution: Annotated[str, Field(max_length=16384)] | None = None
    escalation: Annotated[str, Field(max_length=16384)] | None = None
    customer_initial: Annotated[str, Field(max_length=16384)] | None = None
    customer_progress: Annotated[str, Field(max_length=16384)] | None = None
    customer_resolution: Annotated[str, Field(max_length=16384)] | None = None
    update_reminder: Annotated[str, Field(max_length=16384)] | None = None


class Communication(ApiModel):
    templates: Templates = Templates()
    escalate_overdue_updates: bool = Field(
        default=False, description="Treat an overdue status update as an escalation trigger."
    )


class RollbackSettings(ApiModel):
    approver_group: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")] = (
        Field(
            default="incident-approvers",
            description="The Kubernetes group whose members may approve rollbacks (enforced by "
            "the incident-operator-rollback-approval admission policy).",
        )
    )
    proposal_window: Duration = Field(
        default="30m",
        description="A revision rolled out this long before detection is proposed for rollback.",
    )
    approval_not_required_for: Annotated[list[Severity], Field(max_length=5)] = Field(
        default=[], description="Severities whose proposed rollbacks run without approval."
    )
    allow_git_ops_managed: bool = Field(
        default=False, description="Roll back workloads that Argo CD or Flux manage."
    )
    rollout_timeout: Duration = Field(
        default="10m",
        description="How long a rolled-back workload may take to roll out before the "
        "rollback counts as failed.",
    )


class PostMortemDeadline(ApiModel):
    schedule_within: Duration | None = None
    complete_within: Duration | None = None


class PostMortemSettings(ApiModel):
    P0: PostMortemDeadline | None = Field(default=None, alias="P0")
    P1: PostMortemDeadline | None = Field(default=None, alias="P1")
    P2: PostMortemDeadline | None = Field(default=None, alias="P2")
    P3: PostMortemDeadline | None = Field(default=None, alias="P3")
    P4: PostMortemDeadline | None = Field(default=None, alias="P4")


class EscalationPolicySpec(ApiModel):
    """A team's runbook settings: scope, severities, detection, escalation, channels."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.escalation) || !has(self.escalation.steps) || "
                    "self.escalation.steps.all(s, !has(s.channel) || "
                    "(has(self.channels) && self.channels.exists(c, c.name == s.channel)))",
                    "every escalation step's channel must name a channel in spec.channels",
                    ".escalation.steps",
                ),
            ]
        }
    )

    selector: LabelSelector = Field(
        default=LabelSelector(),
        description="The workloads (and incidents, by their labels) this policy governs.",
    )
    default: bool = Field(
        default=False, description="Governs incidents in its namespace that no other policy does."
    )
    severities: SeverityOverrides = SeverityOverrides()
    detection: Detection = Detection()
    escalation: Escalation = Escalation()
    channels: Annotated[
        list[Channel], Field(max_length=32, json_schema_extra=_LIST_MAP_BY_NAME)
    ] = []
    communication: Communication = Communication()
    rollback: RollbackSettings = RollbackSettings()
    post_mortem: PostMortemSettings = PostMortemSettings()


class BreachRecord(ApiModel):
    """A threshold breach in progress, so a restarted operator keeps the rule's `for` clock."""

    rule: RuleName
    workload: WorkloadReference
    # When the value first crossed the warning (or, without one, the critical) threshold.
    since: datetime
    # When it crossed the critical threshold, while it stays there.
    critical_since: datetime | None = None


class EscalationPolicyStatus(ApiModel):
    observed_generation: int | None = None
    conditions: Annotated[
        list[Condition],
        Field(
            max_length=16,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        ),
    ] = []
    breaches: Annotated[
        list[BreachRecord],
        Field(
            max_length=4096,
            description="Breaches detection is timing, per rule and workload; written by "
            "detection only.",
        ),
    ] = []


class EscalationPolicy(ApiModel):
    api_version: Literal["sre.agentos.io/v1alpha1"] = "sre.agentos.io/v1alpha1"
    kind: Literal["EscalationPolicy"] = "EscalationPolicy"
    metadata: ObjectMeta = ObjectMeta()
    spec: EscalationPolicySpec = EscalationPolicySpec()
    status: EscalationPolicyStatus = EscalationPolicyStatus()
