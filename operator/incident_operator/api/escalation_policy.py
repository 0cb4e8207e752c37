"""The EscalationPolicy kind: a team's runbook settings, managed through GitOps.

The operator reads policies and writes only their status; it adds no finalizers and no
annotations, so Argo CD or Flux can own and prune them.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, JsonValue, model_validator

from incident_operator.api.base import (
    ApiModel,
    DNSName,
    Duration,
    LabelSelector,
    ObjectMeta,
    SecretKeyReference,
    Within,
    cel,
    duration_well_formed_cel,
    unique_by,
)
from incident_operator.api.chat import ChatSettings
from incident_operator.api.contacts import Contact, ContactRole, RoleKey
from incident_operator.api.grouping import Grouping
from incident_operator.api.incident import WorkloadReference
from incident_operator.api.maintenance import MaintenanceSettings
from incident_operator.api.remediations import CATALOG_LIMIT, Remediation
from incident_operator.api.rotations import Rotation
from incident_operator.api.status_page import StatusPageSettings
from incident_operator.domain.conditions import Condition
from incident_operator.domain.detection_queries import CATALOG
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import Audience, ChannelType
from incident_operator.domain.severity import ALERT_SEVERITY, AlertLevel, Severity
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

    response_time: Annotated[Duration, Within("1s", "168h")] | None = None
    resolution_target: Annotated[Duration, Within("1s", "2160h")] | None = None
    update_every: Annotated[Duration, Within("1s", "168h")] | None = None
    customer_communication_within: Annotated[Duration, Within("1s", "168h")] | None = Field(
        default=None,
        description="How long after detection the first customer message is due. "
        "Default: 15m for P0, 30m for P1 (the runbook); none for P2 to P4.",
    )
    triage_within: Annotated[Duration, Within("1s", "168h")] | None = Field(
        default=None,
        description="When the five triage questions (spec.triage of an Incident) are due "
        "after detection. Default: 15m for P0 and P1, none for P2 to P4.",
    )
    auto_resolve: bool | None = Field(
        default=None,
        description="Resolve automatically after the monitoring window. "
        "Default: allowed for P2 to P4, never for P0 and P1.",
    )


_SEVERITY_KEYS = [severity.value for severity in Severity]


def _cel_list(values: list[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _keyed_by_severity(schema: dict[str, JsonValue]) -> None:
    """Renders a per-severity object as a map whose keys the API server checks itself.

    An object with fixed properties P0..P4 would have an unknown key (``p1``) pruned
    silently by any client that does not ask for strict field validation; a map keeps
    it, and its CEL rule refuses it by name.
    """
    properties = schema.pop("properties")
    assert isinstance(properties, dict)
    schema["additionalProperties"] = properties[_SEVERITY_KEYS[0]]
    schema["maxProperties"] = len(_SEVERITY_KEYS)
    keys = _cel_list(_SEVERITY_KEYS)
    schema["x-kubernetes-validations"] = [
        cel(
            f"self.all(k, k in {keys})",
            f"keys must be severities: {', '.join(_SEVERITY_KEYS)}",
            # Names the first unknown key only: joining keys of unbounded length is beyond
            # the API server's cost budget.
            message_expression=f"'unknown severity \"' + self.filter(k, !(k in {keys}))[0] + "
            f"'\"; the keys are {', '.join(_SEVERITY_KEYS)}'",
        )
    ]


# Keyed by severity: unknown keys are refused (by the model and by the API server).
_SEVERITY_MAP = ConfigDict(extra="forbid", json_schema_extra=_keyed_by_severity)


class SeverityOverrides(ApiModel):
    model_config = _SEVERITY_MAP

    P0: SeverityOverride | None = Field(default=None, alias="P0")
    P1: SeverityOverride | None = Field(default=None, alias="P1")
    P2: SeverityOverride | None = Field(default=None, alias="P2")
    P3: SeverityOverride | None = Field(default=None, alias="P3")
    P4: SeverityOverride | None = Field(default=None, alias="P4")


class SeverityByLevel(ApiModel):
    """The severity a rule opens at each threshold level."""

    critical: Severity = Field(
        default=ALERT_SEVERITY[AlertLevel.CRITICAL],
        description="The severity a critical breach opens (the runbook's alert mapping: "
        "Critical is P0). A rule for a signal that means less than an outage says P1.",
    )
    warning: Severity = Field(
        default=ALERT_SEVERITY[AlertLevel.WARNING],
        description="The severity a warning breach opens (the runbook's alert mapping: "
        "Warning is P2).",
    )


# Each signal's metric roles, which a rule's ``metrics`` may override; as a CEL map.
_ROLES_CEL = (
    "{"
    + ", ".join(
        f"'{signal.value}': {_cel_list(sorted(entry.metrics))}" for signal, entry in CATALOG.items()
    )
    + "}"
)
_RULE_MESSAGES = {
    "one": "a rule needs exactly one of signal or query",
    "order": "warning must come before critical: lower when a breach is above the "
    "threshold, higher when it is below",
    "threshold": "a rule with a custom query needs a warning or a critical threshold",
    "severity": "severity.critical must be at least as severe as severity.warning",
    "roles": "metrics keys must be metric roles of the rule's signal (see the README); "
    "a rule with a custom query takes no metrics",
}


class DetectionRule(ApiModel):
    """A threshold on a signal, evaluated per workload."""

    # _check tests what these CEL rules test, with the same messages, but for the roles.

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.signal) != has(self.query)", _RULE_MESSAGES["one"]),
                cel(
                    "!has(self.warning) || !has(self.critical) || "
                    "((has(self.direction) ? self.direction : "
                    "(has(self.signal) && self.signal == 'agentSuccessRate' ? 'below' : 'above'))"
                    " == 'below' ? self.warning >= self.critical : self.warning <= self.critical)",
                    _RULE_MESSAGES["order"],
                ),
                cel(
                    "has(self.signal) || has(self.warning) || has(self.critical)",
                    _RULE_MESSAGES["threshold"],
                ),
                cel(
                    # Both levels have defaults once the object is there.
                    "!has(self.severity) || self.severity.critical <= self.severity.warning",
                    _RULE_MESSAGES["severity"],
                    ".severity",
                ),
                cel(
                    "!has(self.metrics) || (has(self.signal) ? "
                    f"self.metrics.all(k, k in {_ROLES_CEL}[self.signal]) : "
                    "size(self.metrics) == 0)",
                    _RULE_MESSAGES["roles"],
                    ".metrics",
                    message_expression="has(self.signal) ? 'unknown metric role \"' + "
                    f"self.metrics.filter(k, !(k in {_ROLES_CEL}[self.signal]))[0] + "
                    "'\" for signal ' + self.signal + '; see the README for its roles' : "
                    "'a rule with a custom query takes no metrics'",
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
    for_: Annotated[Duration, Within("0s", "24h"), Field(alias="for")] = "0s"
    severity: SeverityByLevel = SeverityByLevel()
    window: Annotated[Duration, Within("1s", "168h")] | None = Field(
        default=None,
        description="The range rates and increases are taken over. Default: 1h for "
        "podRestarts, 5m for the other signals.",
    )
    offset: Annotated[Duration, Within("1s", "720h")] | None = Field(
        default=None,
        description="requestRateDrop: how far back the rate it is compared with lies "
        "(default 1d); apiLatencyRelative: how far back the normal p99 lies (default 168h).",
    )
    metrics: Annotated[dict[str, MetricName], Field(max_length=8)] | None = Field(
        default=None,
        description="Overrides of the signal's metric names, by role; see the README for "
        "each signal's roles (e.g. requests: http_requests_total).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.signal is None) == (self.query is None):
            raise ValueError(_RULE_MESSAGES["one"])
        if self.warning is not None and self.critical is not None:
            default = (
                Direction.BELOW if self.signal == Signal.AGENT_SUCCESS_RATE else Direction.ABOVE
            )
            below = (self.direction or default) == Direction.BELOW
            if (self.warning < self.critical) if below else (self.warning > self.critical):
                raise ValueError(_RULE_MESSAGES["order"])
        if self.signal is None and self.warning is None and self.critical is None:
            raise ValueError(_RULE_MESSAGES["threshold"])
        if self.severity.critical.value > self.severity.warning.value:
            raise ValueError(_RULE_MESSAGES["severity"])
        # Unknown metric roles are left to compile_rule, which marks the rule InvalidRule
        # (an object stored before the schema refused them stays readable).
        return self


class Detection(ApiModel):
    interval: Annotated[Duration, Within("1s", "1h")] = "15s"
    monitoring_window: Annotated[Duration, Within("1s", "24h")] = Field(
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
        unique_by("name"),
    ] = []


class EscalationTargetSpec(ApiModel):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    method: ContactMethod
    role: RoleKey | None = Field(
        default=None,
        description="The role in spec.contacts this target reaches: pager and phone page "
        "its contact's own PagerDuty service, chat mentions them, email writes to them. "
        "Unset (or a role without a contact): the step's channels only.",
    )


class EscalationStepSpec(ApiModel):
    """Who is told, and how, once an incident of these severities is ``after`` old."""

    severities: Annotated[list[Severity], Field(min_length=1, max_length=5)]
    after: Annotated[Duration, Within("0s", "720h")]
    targets: Annotated[list[EscalationTargetSpec], Field(min_length=1, max_length=16)]
    channel: DNSName | None = Field(
        default=None, description="The name of the channel in spec.channels that carries it."
    )


_STEPS_IN_ORDER = "escalation steps of a severity must be in order of `after`"


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
                        # A malformed `after` is left to its own rule, which names it.
                        "['P0', 'P1', 'P2', 'P3', 'P4'].all(sev, "
                        "self.filter(s, sev in s.severities && "
                        f"{duration_well_formed_cel('s.after')})"
                        ".map(s, duration(s.after)).isSorted())",
                        _STEPS_IN_ORDER,
                    )
                ]
            },
        ),
    ] = []

    @model_validator(mode="after")
    def _check(self) -> Self:
        for severity in Severity:
            afters = [parse_duration(s.after) for s in self.steps if severity in s.severities]
            if afters != sorted(afters):
                raise ValueError(_STEPS_IN_ORDER)
        return self


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


# The channel rules: CEL for the API server, the same test on the model, one message.
_CHANNEL_RULES: list[tuple[str, Callable[["Channel"], bool], str]] = [
    (
        "self.type != 'slack' || has(self.secretRef)",
        lambda c: c.type != ChannelType.SLACK or c.secret_ref is not None,
        "a slack channel needs secretRef (webhook URL)",
    ),
    (
        "self.type != 'slackApp' || has(self.chatChannel)",
        lambda c: c.type != ChannelType.SLACK_APP or c.chat_channel is not None,
        "a slackApp channel needs chatChannel (the channel the operator's Slack app posts to)",
    ),
    (
        "self.type != 'pagerduty' || has(self.secretRef)",
        lambda c: c.type != ChannelType.PAGERDUTY or c.secret_ref is not None,
        "a pagerduty channel needs secretRef (routing key)",
    ),
    (
        "self.type != 'email' || has(self.email)",
        lambda c: c.type != ChannelType.EMAIL or c.email is not None,
        "an email channel needs the email settings",
    ),
    (
        "!has(self.email) || !has(self.email.username) || has(self.secretRef)",
        lambda c: c.email is None or c.email.username is None or c.secret_ref is not None,
        "an email channel with email.username needs secretRef (the SMTP password)",
    ),
    (
        "self.type != 'webhook' || has(self.url) != has(self.urlSecretRef)",
        lambda c: c.type != ChannelType.WEBHOOK or (c.url is None) != (c.url_secret_ref is None),
        "a webhook channel needs url or urlSecretRef (one of them)",
    ),
    (
        "self.type == 'webhook' || !has(self.urlSecretRef)",
        lambda c: c.type == ChannelType.WEBHOOK or c.url_secret_ref is None,
        "urlSecretRef is for webhook channels only",
    ),
    (
        "self.type == 'webhook' || !has(self.bodyTemplate)",
        lambda c: c.type == ChannelType.WEBHOOK or c.body_template is None,
        "bodyTemplate is for webhook channels only",
    ),
    (
        "self.type != 'pagerduty' || !has(self.audience) || self.audience == 'internal'",
        lambda c: c.type != ChannelType.PAGERDUTY or c.audience == Audience.INTERNAL,
        "a pagerduty channel pages responders; its audience must be internal",
    ),
]


class Channel(ApiModel):
    """A notification endpoint. Secret values stay in the referenced Secret."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [cel(rule, message) for rule, _, message in _CHANNEL_RULES]
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
    url_secret_ref: SecretKeyReference | None = Field(
        default=None,
        description="webhook: where to POST, read from a Secret instead of url, for "
        "receivers whose URL is the credential (a Microsoft Teams Workflows URL's sig, a "
        "Google Chat webhook's key and token).",
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
    body_template: Annotated[str, Field(max_length=16384)] | None = Field(
        default=None,
        description="webhook: a Jinja2 template (sandboxed) rendering the JSON body instead "
        "of the operator's own, e.g. a Microsoft Teams Adaptive Card or a Google Chat "
        "message; variables kind, subject, text, incident (id, name, namespace, title, "
        "severity, level, phase), mention, targets, late, audience, channel, key, "
        "idempotency_key, timestamp; quote values with |tojson. It must render a JSON object "
        "or array. The API server cannot parse Jinja2: the operator reports a template that "
        "fails on the policy's TemplatesValid condition and on the incident's "
        "NotificationsFailing condition (docs/escalation.md).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        for _, holds, message in _CHANNEL_RULES:
            if not holds(self):
                raise ValueError(message)
        return self


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
    customer_reminder: Annotated[str, Field(max_length=16384)] | None = Field(
        default=None,
        description="The internal reminder that a customer message is due and unpublished.",
    )
    coordination: Annotated[str, Field(max_length=16384)] | None = Field(
        default=None,
        description="The message #sre-team gets when a role is assigned, handed off or "
        "left vacant (variable coordination: line, title, previous, current, handoff, roles).",
    )
    signals_joined: Annotated[str, Field(max_length=16384)] | None = Field(
        default=None,
        description="The message the incident's channels get when signals joined it, at most "
        "one per update interval (variable signals: a list of id, source, rule, workload, "
        "level).",
    )


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
    proposal_window: Annotated[Duration, Within("0s", "168h")] = Field(
        default="30m",
        description="A revision rolled out this long before detection is proposed for rollback.",
    )
    approval_not_required_for: Annotated[list[Severity], Field(max_length=5)] = Field(
        default=[], description="Severities whose proposed rollbacks run without approval."
    )
    allow_git_ops_managed: bool = Field(
        default=False, description="Roll back workloads that Argo CD or Flux manage."
    )
    rollout_timeout: Annotated[Duration, Within("1s", "24h")] = Field(
        default="10m",
        description="How long a rolled-back workload may take to roll out before the "
        "rollback counts as failed.",
    )


class PostMortemDeadline(ApiModel):
    """Overrides of the runbook's Post-Mortem Timeline for one severity, from resolution."""

    schedule_within: Annotated[Duration, Within("1s", "2160h")] | None = Field(
        default=None,
        description="The post-mortem meeting is to be scheduled this long after resolution "
        "(runbook: P0 24h, P1 48h, P2 1 week, P3 2 weeks). Setting it for P4 makes a "
        "post-mortem required for P4.",
    )
    complete_within: Annotated[Duration, Within("1s", "2160h")] | None = Field(
        default=None,
        description="The post-mortem is to be Final this long after resolution (runbook: "
        "P0 72h, P1 1 week, P2 2 weeks, P3 30 days). Setting it for P4 makes a post-mortem "
        "required for P4.",
    )


class PostMortemSettings(ApiModel):
    """Per-severity post-mortem deadlines; unset ones keep the runbook's."""

    model_config = _SEVERITY_MAP

    P0: PostMortemDeadline | None = Field(default=None, alias="P0")
    P1: PostMortemDeadline | None = Field(default=None, alias="P1")
    P2: PostMortemDeadline | None = Field(default=None, alias="P2")
    P3: PostMortemDeadline | None = Field(default=None, alias="P3")
    P4: PostMortemDeadline | None = Field(default=None, alias="P4")


class LinkSpec(ApiModel):
    """A dashboard or runbook people are pointed to during and after an incident."""

    name: Annotated[str, Field(min_length=1, max_length=128)]
    url: Annotated[
        str, Field(min_length=1, max_length=2048, pattern=r"^(https?://[^\s]+|[^\s:]+)$")
    ] = Field(
        description="An http(s) URL, or a path (/d/system-overview, ./kill_switch.md) "
        "shown under dashboardBaseUrl or runbookBaseUrl when set, as it is otherwise."
    )
    purpose: Annotated[str, Field(max_length=256)] = ""


_BaseUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]


class Links(ApiModel):
    """Related runbooks and dashboards, shown in messages, `kubectl incident show` and the
    post-mortem draft. An empty list means the runbook appendix's."""

    dashboards: Annotated[
        list[LinkSpec], Field(max_length=20, json_schema_extra=_LIST_MAP_BY_NAME), unique_by("name")
    ] = Field(
        default=[],
        description="Empty means the runbook's: System Overview, Agent Execution, API "
        "Performance, Infrastructure (/d/...), the Grafana dashboards the operator ships "
        "(docs/monitoring.md); set dashboardBaseUrl to your Grafana's URL to open them.",
    )
    runbooks: Annotated[
        list[LinkSpec], Field(max_length=20, json_schema_extra=_LIST_MAP_BY_NAME), unique_by("name")
    ] = Field(
        default=[],
        description="Empty means the runbook's: agent_troubleshooting.md, "
        "security_incidents.md, kill_switch.md, pii_redaction.md.",
    )
    dashboard_base_url: _BaseUrl | None = Field(
        default=None,
        description="Put in front of dashboard paths, e.g. https://grafana.example.",
    )
    runbook_base_url: _BaseUrl | None = Field(
        default=None,
        description="Put in front of runbook paths, e.g. https://git.example/sre/runbooks.",
    )


_STEP_CHANNELS = "every escalation step's channel must name a channel in spec.channels"
_CONTACT_CHANNELS = (
    "every contact's pagerduty, slack and email channel must name a channel in spec.channels "
    "of that type"
)


def _contact_channels_cel(contact: str) -> str:
    """CEL: the channels ``contact`` (an expression) names exist with the right type."""

    def named(field: str, kind: str) -> str:
        return (
            f"(!has({contact}.{field}) || !has({contact}.{field}.channel) || "
            f"(has(self.channels) && self.channels.exists(ch, "
            f"ch.name == {contact}.{field}.channel && ch.type == '{kind}')))"
        )

    return " && ".join(named(f, f) for f in ("pagerduty", "slack", "email"))


def _contact_channels_hold(contact: Contact, channels: dict[str, ChannelType]) -> bool:
    named = [
        (contact.pagerduty.channel if contact.pagerduty else None, ChannelType.PAGERDUTY),
        (contact.slack.channel if contact.slack else None, ChannelType.SLACK),
        (contact.email.channel if contact.email else None, ChannelType.EMAIL),
    ]
    return all(name is None or channels.get(name) is kind for name, kind in named)


class EscalationPolicySpec(ApiModel):
    """A team's runbook settings: scope, severities, detection, escalation, channels."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "!has(self.escalation) || !has(self.escalation.steps) || "
                    "self.escalation.steps.all(s, !has(s.channel) || "
                    "(has(self.channels) && self.channels.exists(c, c.name == s.channel)))",
                    _STEP_CHANNELS,
                    ".escalation.steps",
                ),
                cel(
                    "!has(self.contacts) || self.contacts.all(r, "
                    f"{_contact_channels_cel('r.primary')} && (!has(r.backup) || "
                    f"{_contact_channels_cel('r.backup')}))",
                    _CONTACT_CHANNELS,
                    ".contacts",
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
    rotations: Annotated[
        list[Rotation],
        Field(
            max_length=16,
            description="On-call rotations (who is on call when); see `kubectl incident oncall`.",
            json_schema_extra=_LIST_MAP_BY_NAME,
        ),
        unique_by("name"),
    ] = []
    channels: Annotated[
        list[Channel], Field(max_length=32, json_schema_extra=_LIST_MAP_BY_NAME), unique_by("name")
    ] = []
    contacts: Annotated[
        list[ContactRole],
        Field(
            max_length=32,
            description="The runbook's Emergency Contact List: each role's primary and backup "
            "and how to reach them. Escalation targets name a role.",
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["role"],
            },
        ),
        unique_by("role"),
    ] = []
    communication: Communication = Communication()
    rollback: RollbackSettings = RollbackSettings()
    remediations: Annotated[
        list[Remediation],
        Field(
            max_length=CATALOG_LIMIT,
            description="The remediation catalog: what `kubectl incident remediate` may "
            "request for this policy's incidents (docs/remediation.md).",
            json_schema_extra=_LIST_MAP_BY_NAME,
        ),
        unique_by("name"),
    ] = []
    post_mortem: PostMortemSettings = PostMortemSettings()
    links: Links = Links()
    grouping: Grouping | None = Field(
        default=None,
        description="Group related signals into one incident (docs/grouping.md); unset: "
        "every rule and workload, and every alert, opens its own.",
    )
    maintenance: MaintenanceSettings = Field(
        default=MaintenanceSettings(),
        description="Limits on this namespace's MaintenanceWindows (docs/maintenance.md).",
    )
    chat: ChatSettings = Field(
        default=ChatSettings(),
        description="Chat-ops through the operator's Slack app: a channel per incident, the "
        "chat log marker (docs/chat-ops.md).",
    )
    status_page: StatusPageSettings = Field(
        default=StatusPageSettings(),
        description="The components this policy shows on the public status page "
        "(docs/status-page.md).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        names = {channel.name for channel in self.channels}
        if any(s.channel is not None and s.channel not in names for s in self.escalation.steps):
            raise ValueError(_STEP_CHANNELS)
        types = {channel.name: channel.type for channel in self.channels}
        people = [c for r in self.contacts for c in (r.primary, r.backup) if c is not None]
        if not all(_contact_channels_hold(c, types) for c in people):
            raise ValueError(_CONTACT_CHANNELS)
        return self

    def contact_role(self, role: str) -> ContactRole | None:
        return next((r for r in self.contacts if r.role == role), None)


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
