"""Who hears about what, and the rules of delivery: routing, keys, retries, lateness.

Routing follows the runbook's Alert Severity Mapping unless a step names its channel::

    alert level   severity   PagerDuty          chat channel
    critical      P0         page immediately   #incident-critical
    high          P1         page primary       #incident-high
    warning       P2         (none)             #incident-warning
    info          P3, P4     (none)             #monitoring

and the runbook's Incident Channels::

    #incident-all   every internal notification of every severity (not PagerDuty's
                    acknowledgements, not customer messages)
    #sre-team       coordination only: role changes and hand-offs (Coordination)

At the info level everything internal goes out as at the warning level: declarations,
status updates, reminders, escalations (the P3 Team Lead step) and resolutions reach
#monitoring, #incident-all and the webhooks (e-mail for escalations to e-mail targets),
never PagerDuty; the runbook promises P3 daily updates. Customer messages of P3 and P4
incidents go nowhere. A resolution also goes to a PagerDuty channel paged before (a
severity lowered after paging).

Each chat channel needs its own Slack incoming webhook: an app's webhook posts to the
channel it was created for and ignores the ``channel`` field of the message.

A reopened incident is announced like a declaration, and re-triggers the PagerDuty
channels paged before (as a resolution resolves them) when its severity pages.

Delivery is at least once. Every notification has a key, unique within its incident
(``escalation-P0-1/pagerduty``); receivers see it, prefixed with the incident's UID, as
the ``Idempotency-Key`` header (PagerDuty also deduplicates by the incident's dedup key),
so a resend after a crash in the middle of a send is recognisable as one.

A failed attempt is retried with exponential backoff. Server errors, timeouts and
refused connections are retried up to ``MAX_ATTEMPTS``; a client error (HTTP 4xx but 408,
425 and 429; SMTP 5xx) says the request itself is wrong, so it gets only
``MAX_CLIENT_ERROR_ATTEMPTS`` before the notification is marked Failed.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.severity import AlertLevel, Severity, level


class NotificationKind(StrEnum):
    """What a notification says; each has a template (but Acknowledgement)."""

    # The runbook's "Incident Declaration", once per incident.
    DECLARATION = "Declaration"
    # The runbook's "Escalation Notice", once per step reached.
    ESCALATION = "Escalation"
    # The runbook's "Status Update", once per update posted in spec.updates.
    STATUS_UPDATE = "StatusUpdate"
    # A reminder to the communications lead (or commander) that an update is due.
    UPDATE_REMINDER = "UpdateReminder"
    # PagerDuty only: the incident was acknowledged.
    ACKNOWLEDGEMENT = "Acknowledgement"
    # The runbook's "Resolution Notice" (and PagerDuty's resolve).
    RESOLUTION = "Resolution"
    # A resolved incident was reopened: the declaration's template, headed "INCIDENT
    # REOPENED", and PagerDuty's trigger again to the channels paged before.
    REOPENED = "Reopened"
    # The runbook's customer messages, to channels whose audience is customer: only
    # those people publish (spec.customerMessages), one record each.
    CUSTOMER_INITIAL = "CustomerInitial"
    CUSTOMER_PROGRESS = "CustomerProgress"
    CUSTOMER_RESOLUTION = "CustomerResolution"
    # To the internal channels: a customer message is due and nobody has published it.
    CUSTOMER_REMINDER = "CustomerCommunicationReminder"
    # A role assigned, changed or unassigned (a hand-off when it moves from one person
    # to another), once per change: to #sre-team (and #incident-all) only.
    COORDINATION = "Coordination"
    # Signals that joined a grouped incident (status.signals), at most one message per
    # update interval, to the incident's chat channels and webhooks; it never pages.
    SIGNALS_JOINED = "SignalsJoined"

    @property
    def for_customers(self) -> bool:
        return self in _CUSTOMER_KINDS


_CUSTOMER_KINDS = frozenset(
    {
        NotificationKind.CUSTOMER_INITIAL,
        NotificationKind.CUSTOMER_PROGRESS,
        NotificationKind.CUSTOMER_RESOLUTION,
    }
)


class ChannelType(StrEnum):
    # A Slack incoming webhook: one message per notification, nothing done from chat.
    SLACK = "slack"
    # The operator's Slack app (--slack-app-secret): posts through the Web API, keeps one
    # message per incident updated in place, threads updates under it (docs/chat-ops.md).
    SLACK_APP = "slackApp"
    PAGERDUTY = "pagerduty"
    EMAIL = "email"
    WEBHOOK = "webhook"


class Audience(StrEnum):
    """Who reads a channel: responders (the default) or customers."""

    INTERNAL = "internal"
    CUSTOMER = "customer"


class DeliveryState(StrEnum):
    """Where a notification is in its delivery."""

    # Recorded, not yet attempted, or waiting for its next attempt (nextAttemptAt).
    PENDING = "Pending"
    # Claimed for an attempt at lastAttemptAt; if nothing is recorded by nextAttemptAt
    # the sender died mid-send and the notification is sent again with the same key.
    SENDING = "Sending"
    # The receiver accepted it at sentAt. Final.
    SENT = "Sent"
    # Given up after its attempts (error says why). Final.
    FAILED = "Failed"

    @property
    def is_final(self) -> bool:
        return self in (DeliveryState.SENT, DeliveryState.FAILED)


@dataclass(frozen=True)
class ChannelInfo:
    """What routing needs to know of a policy's channel."""

    name: str
    type: ChannelType
    audience: Audience = Audience.INTERNAL
    # Slack: the channel it posts to, e.g. #incident-high.
    chat_channel: str | None = None


# The runbook's "Incident Channels": a chat channel that receives every notification,
ALL_INCIDENTS_CHANNEL = "#incident-all"
# and one for SRE team coordination (role changes, hand-offs), which receives only that.
COORDINATION_CHANNEL = "#sre-team"

# Incident severity to the runbook's alert level (the inverse of ALERT_SEVERITY; P4 is
# the runbook's "P3-P4" row).
_ALERT_LEVEL = {
    Severity.P0: AlertLevel.CRITICAL,
    Severity.P1: AlertLevel.HIGH,
    Severity.P2: AlertLevel.WARNING,
    Severity.P3: AlertLevel.INFO,
    Severity.P4: AlertLevel.INFO,
}

# A phone target's payload.severity, whatever the incident's: the contact's service turns
# it into a high-urgency page (a phone call) when its urgency follows alert severity.
PHONE_SEVERITY = "critical"

# PagerDuty Events API v2 payload.severity.
PAGERDUTY_SEVERITY = {
    Severity.P0: "critical",
    Severity.P1: "error",
    Severity.P2: "warning",
    Severity.P3: "info",
    Severity.P4: "info",
}

# Channels that post to chat: through an incoming webhook, or through the Slack app
# (threaded under the incident's card). Routing treats them alike.
CHAT_CHANNEL_TYPES = frozenset({ChannelType.SLACK, ChannelType.SLACK_APP})
# Methods that reach someone through PagerDuty (it pages and phones).
_PAGING_METHODS = frozenset({ContactMethod.PAGER, ContactMethod.PHONE})
_METHOD_CHANNEL = {
    ContactMethod.CHAT: ChannelType.SLACK,
    ContactMethod.EMAIL: ChannelType.EMAIL,
    ContactMethod.WEBHOOK: ChannelType.WEBHOOK,
}


def alert_level(severity: Severity) -> AlertLevel:
    return _ALERT_LEVEL[severity]


def pages(severity: Severity) -> bool:
    """Critical and high page; warning and info do not."""
    return alert_level(severity) in (AlertLevel.CRITICAL, AlertLevel.HIGH)


def _chat_channels(severity: Severity, channels: list[ChannelInfo]) -> list[str]:
    """The Slack channels for ``severity``: the runbook's channel for its alert level
    (#incident-critical, #incident-high, #incident-warning, #monitoring) and
    #incident-all; failing those, Slack channels without a chatChannel; failing those,
    every Slack channel but #sre-team's, so a message is never dropped for want of an
    exact name (#sre-team is for coordination, not a catch-all)."""
    slack = [
        c
        for c in channels
        if c.type in CHAT_CHANNEL_TYPES and c.chat_channel != COORDINATION_CHANNEL
    ]
    wanted = level(severity).chat_channel
    exact = [c.name for c in slack if c.chat_channel in (wanted, ALL_INCIDENTS_CHANNEL)]
    if any(c.chat_channel == wanted for c in slack):
        return exact
    generic = [c.name for c in slack if not c.chat_channel]
    return list(dict.fromkeys([*(generic or [c.name for c in slack]), *exact]))


def _coordination_channels(channels: list[ChannelInfo]) -> list[str]:
    """#sre-team and #incident-all: coordination is the SRE team's, never a page."""
    wanted = (COORDINATION_CHANNEL, ALL_INCIDENTS_CHANNEL)
    return [c.name for c in channels if c.type in CHAT_CHANNEL_TYPES and c.chat_channel in wanted]


def route(
    kind: NotificationKind,
    severity: Severity,
    channels: Iterable[ChannelInfo],
    methods: Iterable[ContactMethod] = (),
    explicit: str | None = None,
    paged: Iterable[str] = (),
) -> list[str]:
    """The names of the channels that carry a notification, in the policy's order.

    ``methods`` are an escalation step's contact methods; ``explicit`` the channel the
    step names; ``paged`` the PagerDuty channels already triggered for the incident
    (acknowledge and resolve go to those, and a reopening triggers them again).
    """
    channels = list(channels)
    names = {c.name for c in channels}
    if kind.for_customers:
        if alert_level(severity) is AlertLevel.INFO:
            return []
        return [c.name for c in channels if c.audience is Audience.CUSTOMER]
    internal = [c for c in channels if c.audience is Audience.INTERNAL]
    paged_channels = [name for name in dict.fromkeys(paged) if name in names]
    if kind is NotificationKind.ACKNOWLEDGEMENT:
        return paged_channels
    if kind is NotificationKind.COORDINATION:
        return _coordination_channels(internal)
    order = {c.name: i for i, c in enumerate(channels)}
    all_incidents = [
        c.name
        for c in internal
        if c.type in CHAT_CHANNEL_TYPES and c.chat_channel == ALL_INCIDENTS_CHANNEL
    ]
    if kind is NotificationKind.ESCALATION and explicit is not None:
        # The step's channel, and #incident-all, which hears of every notification.
        chosen = [explicit, *all_incidents] if explicit in names else []
        return sorted(dict.fromkeys(chosen), key=order.__getitem__)
    webhooks = [c.name for c in internal if c.type is ChannelType.WEBHOOK]
    chosen = [*_chat_channels(severity, internal), *webhooks]
    if kind is NotificationKind.ESCALATION:
        methods = set(methods)
        if pages(severity) and methods & _PAGING_METHODS:
            chosen += [c.name for c in internal if c.type is ChannelType.PAGERDUTY]
        wanted_types = {_METHOD_CHANNEL[m] for m in methods if m in _METHOD_CHANNEL}
        if ChannelType.EMAIL in wanted_types:
            chosen += [c.name for c in internal if c.type is ChannelType.EMAIL]
    if kind is NotificationKind.RESOLUTION or (
        kind is NotificationKind.REOPENED and pages(severity)
    ):
        chosen += paged_channels
    return sorted(dict.fromkeys(chosen), key=order.__getitem__)


# ---------------------------------------------------------------------------- delivery

# Attempts before a notification is given up, by the kind of failure.
MAX_ATTEMPTS = 20
MAX_CLIENT_ERROR_ATTEMPTS = 3
# Backoff after the first failure, doubled each time, never longer than the cap.
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
# A notification more than this late when it is first recorded is marked late.
LATE_GRACE = timedelta(seconds=60)
# HTTP client errors that are worth retrying: timeout, too early, too many requests.
_RETRYABLE_CLIENT_STATUS = frozenset({408, 425, 429})


def retryable_http_status(status: int) -> bool:
    return status >= 500 or status in _RETRYABLE_CLIENT_STATUS


def retryable_smtp_code(code: int) -> bool:
    """SMTP's 4xx replies are transient and its 5xx permanent (the opposite of HTTP)."""
    return not 500 <= code < 600


def backoff(
    attempts: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP
) -> timedelta:
    """The wait after ``attempts`` failed attempts (1 → base, 2 → 2·base, ...)."""
    exponent = max(attempts - 1, 0)
    if exponent > 30:
        return cap
    wait: timedelta = base * (2**exponent)
    return min(wait, cap)


@dataclass(frozen=True)
class Retry:
    """What follows a failed attempt: the next attempt's time, or None to give up."""

    next_attempt_at: datetime | None


def after_failure(
    attempts: int,
    retryable: bool,
    now: datetime,
    base: timedelta = BACKOFF_BASE,
    cap: timedelta = BACKOFF_CAP,
) -> Retry:
    limit = MAX_ATTEMPTS if retryable else MAX_CLIENT_ERROR_ATTEMPTS
    if attempts >= limit:
        return Retry(None)
    return Retry(now + backoff(attempts, base, cap))


def is_late(due_at: datetime, now: datetime, started_at: datetime) -> bool:
    """Due before this operator started (so while none ran), or more than LATE_GRACE ago."""
    return due_at < started_at or now - due_at > LATE_GRACE


def notification_key(event: str, channel: str) -> str:
    """``declaration/slack-high``: the event (incident-wide unique) and the channel."""
    return f"{event}/{channel}"


def stamp(moment: datetime, exact: bool = False) -> str:
    """A compact, key-safe form of a time: 20261125T101500Z.

    ``exact`` keeps the microseconds when there are any (20261125T101500.250000Z), for
    times that may recur within a second: resolved, reopened and resolved again.
    """
    if exact and moment.microsecond:
        return moment.strftime("%Y%m%dT%H%M%S.%fZ")
    return moment.strftime("%Y%m%dT%H%M%SZ")


def idempotency_key(incident_uid: str, key: str) -> str:
    """What receivers see: unique across incidents, the same for every resend."""
    return f"{incident_uid}/{key}"


def pagerduty_dedup_key(
    namespace: str, name: str, incident_uid: str, contact: str | None = None
) -> str:
    """One PagerDuty alert per incident, and one more per contact paged on its own service
    (``contact`` is role/primary or role/backup): trigger, acknowledge and resolve share it.

    A primary's key ends in its role; a backup's in role/backup.
    """
    key = f"incident-operator/{namespace}/{name}/{incident_uid}"
    if contact is not None:
        key += "/" + contact.removesuffix("/primary")
    return key[:255]


_REDACTED = "[redacted]"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced; for anything bound for status or logs."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification, rendered, as a notifier sends it."""

    # The notification's key within its incident, and the header receivers see.
    key: str
    idempotency_key: str
    kind: NotificationKind
    incident_id: str
    namespace: str
    name: str
    title: str
    severity: Severity
    phase: str
    # E-mail subject (and the headline elsewhere) and the rendered template.
    subject: str
    text: str
    # PagerDuty's dedup key: the same for every message of the incident.
    dedup_key: str
    # Sent later than it fell due (the operator was down, or far behind).
    late: bool
    # Escalation: who it is for, "VP Engineering (phone)".
    targets: tuple[str, ...]
    timestamp: datetime
    # PagerDuty payload.severity when not the incident severity's (a phone target).
    pagerduty_severity: str | None = None
    # Slack: whom the post mentions (<@U0123ABCD> or @handle).
    mention: str | None = None
    # E-mail: the contact's address instead of the channel's recipients.
    recipients: tuple[str, ...] = ()
