"""The runbook's Emergency Contact List as data: spec.contacts of an EscalationPolicy.

Each role (``vp-engineering``, ``security-lead``, ...) has a primary and a backup contact
and the ways to reach them. An escalation target names a role; paging it goes to the
contact's own PagerDuty service (its own routing key, its own dedup key), so each step
opens a new alert for new people instead of updating the one already open. The backup
is told when the primary has not acknowledged within the step's window.

Secret values (routing keys) stay in Secrets; a contact names the key.
"""

from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator

from incident_operator.api.base import (
    ApiModel,
    DNSName,
    Duration,
    SecretKeyReference,
    Within,
    cel,
)

# A role key: a DNS label such as on-call-primary or security-lead; short enough that
# the notification keys and refs naming it stay within their bounds.
RoleKey = Annotated[
    str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
]
_ONE_METHOD = "a contact needs at least one of pagerduty, slack or email"
_SLACK_TARGET = "slack needs a mention or a channel"


class PagerDutyContact(ApiModel):
    """Paging this contact: a trigger to its own PagerDuty service."""

    channel: DNSName = Field(
        description="The pagerduty channel in spec.channels whose Events API URL is used."
    )
    secret_ref: SecretKeyReference = Field(
        description="The routing (integration) key of this contact's own PagerDuty service."
    )


class SlackContact(ApiModel):
    """Reaching this contact in Slack: a post that mentions them."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.mention) || has(self.channel)", _SLACK_TARGET)
            ]
        }
    )

    mention: (
        Annotated[str, Field(min_length=1, max_length=80, pattern=r"^@?[A-Za-z0-9._-]+$")] | None
    ) = Field(
        default=None,
        description="A Slack member ID (U0123ABCD) or @handle, mentioned as <@U0123ABCD>.",
    )
    channel: DNSName | None = Field(
        default=None,
        description="The slack channel in spec.channels to post through; default: the "
        "slack channels the escalation step is routed to.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.mention is None and self.channel is None:
            raise ValueError(_SLACK_TARGET)
        return self


class EmailContact(ApiModel):
    """E-mailing this contact through an email channel's SMTP settings."""

    channel: DNSName = Field(description="The email channel in spec.channels to send through.")
    address: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]


class Contact(ApiModel):
    """One person (or rotation) and the ways to reach them."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel("has(self.pagerduty) || has(self.slack) || has(self.email)", _ONE_METHOD)
            ]
        }
    )

    name: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        description="Shown in messages and status, e.g. 'Dana Smith' or 'SRE primary rotation'."
    )
    user: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None,
        description="Their Kubernetes user name (who may acknowledge); with slack.mention, "
        "who a Slack member acts as from Slack.",
    )
    groups: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list,
        max_length=16,
        description="The Kubernetes groups they act with (e.g. the rollback approver group). "
        "Actions taken from Slack (docs/chat-ops.md#acting-from-slack) are made by the "
        "operator impersonating user with these groups, which the chart must allow "
        "(slackApp.impersonate.users and .groups).",
    )
    pager_duty_user: (
        Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")] | None
    ) = Field(
        default=None,
        description="Their PagerDuty user ID (PXPGF42): an acknowledgement they make in "
        "PagerDuty is recorded as this contact's user (docs/intake.md).",
    )
    rotation: DNSName | None = Field(
        default=None,
        description="A rotation in spec.rotations: whoever is on call in it is this contact.",
    )
    pagerduty: PagerDutyContact | None = Field(
        default=None, description="pager and phone targets page this contact's own service."
    )
    slack: SlackContact | None = Field(
        default=None, description="chat targets post to Slack mentioning this contact."
    )
    email: EmailContact | None = Field(
        default=None, description="email targets write to this contact's address."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.pagerduty is None and self.slack is None and self.email is None:
            raise ValueError(_ONE_METHOD)
        return self

    def describe(self) -> str:
        return f"{self.name} (rotation {self.rotation})" if self.rotation else self.name


class ContactRole(ApiModel):
    """A row of the runbook's Emergency Contact List: a role, its primary and its backup."""

    role: RoleKey = Field(
        description="The key escalation targets name: on-call-primary, on-call-secondary, "
        "team-lead, engineering-manager, vp-engineering, cto, ceo, security-lead, "
        "executives (or any other)."
    )
    title: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="Shown, e.g. 'VP Engineering'; default: the role."
    )
    primary: Contact
    backup: Contact | None = Field(
        default=None,
        description="Told when the incident is not acknowledged within the step's window.",
    )
    acknowledge_within: Annotated[Duration, Within("1s", "24h")] = Field(
        default="15m",
        description="The window before the backup is told when the escalation step has no "
        "later step (and for the Security Lead); otherwise the window ends at the next step.",
    )

    @property
    def shown(self) -> str:
        return self.title or self.role
