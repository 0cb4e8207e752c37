"""Notification texts: the runbook's templates (or a policy's overrides) rendered by Jinja2.

Templates come from policy authors, so they run in Jinja2's immutable sandbox (no
attribute tricks, no mutation), and with ``StrictUndefined`` so a misspelt variable is an
error rather than a silent blank. A template that fails, to compile or to render, never
costs a notification: the runbook's built-in template renders it instead, and the
failure is reported as a problem naming the template and the line.

Policies are checked when they are seen (``template_problems``): every override is
rendered against two sample incidents, one with every field filled in and one with
almost none, for each kind of notification that uses it. That puts a typo on the
policy's ``TemplatesValid`` condition before any incident needs the template.
"""

import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from incident_operator.api.escalation_policy import EscalationPolicy, Templates
from incident_operator.api.escalation_status import ContactReach, NotificationRecord, ReachedStep
from incident_operator.api.incident import Incident, SignalStatus
from incident_operator.domain.conditions import (
    Condition,
    ConditionStatus,
    changed_condition,
)
from incident_operator.domain.customer_communication import CustomerDue, CustomerMessageKind
from incident_operator.domain.durations import format_duration, humanize
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.links import RelatedLinks
from incident_operator.domain.notifications import (
    PHONE_SEVERITY,
    NotificationKind,
    OutgoingMessage,
    idempotency_key,
    pagerduty_dedup_key,
)
from incident_operator.domain.phases import Phase
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.severity import EXAMPLES, level
from incident_operator.reconcile import runbook_templates
from incident_operator.reconcile.contacts import find_contact
from incident_operator.reconcile.coordination import coordination_context
from incident_operator.reconcile.governing_policy import effective_level
from incident_operator.reconcile.joined_signals import describe_signal, signals_in
from incident_operator.reconcile.related_links import policy_links
from incident_operator.reconcile.triage import triage_summary

# Annotations responders may set for the texts' optional lines.
BRIDGE_ANNOTATION = "sre.agentos.io/bridge"
WORKAROUND_ANNOTATION = "sre.agentos.io/workaround"
EXPECTED_RESOLUTION_ANNOTATION = "sre.agentos.io/expected-resolution"
# Where a template's line numbers come from in Jinja2's rewritten tracebacks.
_TEMPLATE_FILENAME = "<template>"
_MESSAGE_LIMIT = 200


class TemplateName(StrEnum):
    """A template, by its field name in spec.communication.templates."""

    DECLARATION = "declaration"
    STATUS_UPDATE = "statusUpdate"
    RESOLUTION = "resolution"
    ESCALATION = "escalation"
    CUSTOMER_INITIAL = "customerInitial"
    CUSTOMER_PROGRESS = "customerProgress"
    CUSTOMER_RESOLUTION = "customerResolution"
    UPDATE_REMINDER = "updateReminder"
    CUSTOMER_REMINDER = "customerReminder"
    COORDINATION = "coordination"
    SIGNALS_JOINED = "signalsJoined"

    @property
    def attribute(self) -> str:
        """The Python attribute of api.escalation_policy.Templates."""
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in self.value)


BUILTIN: dict[TemplateName, str] = {
    TemplateName.DECLARATION: runbook_templates.DECLARATION,
    TemplateName.STATUS_UPDATE: runbook_templates.STATUS_UPDATE,
    TemplateName.RESOLUTION: runbook_templates.RESOLUTION,
    TemplateName.ESCALATION: runbook_templates.ESCALATION,
    TemplateName.CUSTOMER_INITIAL: runbook_templates.CUSTOMER_INITIAL,
    TemplateName.CUSTOMER_PROGRESS: runbook_templates.CUSTOMER_PROGRESS,
    TemplateName.CUSTOMER_RESOLUTION: runbook_templates.CUSTOMER_RESOLUTION,
    TemplateName.UPDATE_REMINDER: runbook_templates.UPDATE_REMINDER,
    TemplateName.CUSTOMER_REMINDER: runbook_templates.CUSTOMER_REMINDER,
    TemplateName.COORDINATION: runbook_templates.COORDINATION,
    TemplateName.SIGNALS_JOINED: runbook_templates.SIGNALS_JOINED,
}

# PagerDuty's acknowledge carries no text: it has no template; its summary is made here.
TEMPLATE_FOR_KIND: dict[NotificationKind, TemplateName | None] = {
    NotificationKind.DECLARATION: TemplateName.DECLARATION,
    NotificationKind.ESCALATION: TemplateName.ESCALATION,
    NotificationKind.STATUS_UPDATE: TemplateName.STATUS_UPDATE,
    NotificationKind.UPDATE_REMINDER: TemplateName.UPDATE_REMINDER,
    NotificationKind.ACKNOWLEDGEMENT: None,
    NotificationKind.RESOLUTION: TemplateName.RESOLUTION,
    # A reopening is the declaration again, with ``reopened`` true.
    NotificationKind.REOPENED: TemplateName.DECLARATION,
    NotificationKind.CUSTOMER_INITIAL: TemplateName.CUSTOMER_INITIAL,
    NotificationKind.CUSTOMER_PROGRESS: TemplateName.CUSTOMER_PROGRESS,
    NotificationKind.CUSTOMER_RESOLUTION: TemplateName.CUSTOMER_RESOLUTION,
    NotificationKind.CUSTOMER_REMINDER: TemplateName.CUSTOMER_REMINDER,
    NotificationKind.COORDINATION: TemplateName.COORDINATION,
    NotificationKind.SIGNALS_JOINED: TemplateName.SIGNALS_JOINED,
}

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)

# The runbook's customer-facing status words ("Identified/Implementing Fix/Monitoring").
_CUSTOMER_STATUS = {
    Phase.DETECTED: "Investigating",
    Phase.TRIAGED: "Investigating",
    Phase.INVESTIGATING: "Investigating",
    Phase.IDENTIFIED: "Identified",
    Phase.MITIGATING: "Implementing Fix",
    Phase.MONITORING: "Monitoring",
    Phase.RESOLVED: "Resolved",
    Phase.POST_INCIDENT: "Resolved",
    Phase.CLOSED: "Resolved",
}


class Describable(Protocol):
    """A template problem that says where it is and what is wrong (TemplateProblem,
    webhook_bodies.BodyTemplateProblem)."""

    def describe(self) -> str: ...


@dataclass(frozen=True)
class TemplateProblem:
    template: TemplateName
    # The line in the template, when Jinja2 knows it.
    line: int | None
    message: str

    def describe(self) -> str:
        where = f" line {self.line}" if self.line is not None else ""
        return f"spec.communication.templates.{self.template.value}{where}: {self.message}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    # Set when the policy's template failed and the built-in one was used.
    problem: TemplateProblem | None = None


@lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def template_line(error: BaseException) -> int | None:
    """The template's line a Jinja2 error (of syntax or of rendering) points at, if known."""
    if isinstance(error, TemplateSyntaxError):
        return error.lineno
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == _TEMPLATE_FILENAME]
    return lines[-1] if lines else None


def _problem(name: TemplateName, error: Exception) -> TemplateProblem:
    message = error.message if isinstance(error, TemplateError) and error.message else str(error)
    return TemplateProblem(name, template_line(error), message[:_MESSAGE_LIMIT])


def render_template(name: TemplateName, source: str, context: dict[str, Any]) -> str:
    """Renders ``source``; raises what Jinja2 (or the sandbox) raises."""
    return _compile(source).render(context)


def _override(templates: Templates | None, name: TemplateName) -> str | None:
    if templates is None:
        return None
    value = getattr(templates, name.attribute)
    return value if isinstance(value, str) else None


def render_message(
    kind: NotificationKind, context: dict[str, Any], templates: Templates | None = None
) -> Rendered:
    """Subject and text of a notification; the built-in template when the override fails."""
    name = TEMPLATE_FOR_KIND[kind]
    if name is None:
        incident = context["incident"]
        line = f"{incident['id']} acknowledged by {incident['acknowledged_by'] or 'a responder'}"
        return Rendered(subject=line, text=line)
    problem = None
    source = _override(templates, name)
    text: str | None = None
    if source is not None:
        try:
            text = render_template(name, source, context)
        except Exception as error:  # any failure of a policy's template falls back
            problem = _problem(name, error)
    if text is None:
        text = render_template(name, BUILTIN[name], context)
    subject, body = _split_subject(text, context)
    if context.get("reopened") and "REOPENED" not in subject.upper():
        # An override that ignores ``reopened`` still tells a reopening from a declaration.
        subject = f"REOPENED: {subject}"
    return Rendered(subject=subject, text=body, problem=problem)


def _split_subject(text: str, context: dict[str, Any]) -> tuple[str, str]:
    """A first line ``Subject: ...`` is the e-mail subject; otherwise one is made."""
    first, _, rest = text.partition("\n")
    if first.startswith("Subject:"):
        return first.removeprefix("Subject:").strip(), rest.lstrip("\n")
    incident = context["incident"]
    headline = first.strip() or "INCIDENT"
    return f"[{incident['severity']}] {incident['id']} {headline}: {incident['title']}", text


def template_problems(templates: Templates) -> list[TemplateProblem]:
    """The first problem of each override, found by rendering it against sample incidents."""
    problems = []
    for name in TemplateName:
        source = _override(templates, name)
        if source is None:
            continue
        kinds = [kind for kind, template in TEMPLATE_FOR_KIND.items() if template is name]
        try:
            _compile(source)
            for context in (c for kind in kinds for c in sample_contexts(kind)):
                render_template(name, source, context)
        except Exception as error:  # reported, not raised: the policy stays usable
            problems.append(_problem(name, error))
    return problems


# ------------------------------------------------------------------------------ context


def _minute(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else None


def _clock(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%H:%M") if moment else None


def _every(value: timedelta | None) -> str | None:
    """``15 minutes``, ``1 hour``, ``1 day``: the runbook's way of saying a cadence."""
    if value is None:
        return None
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return format_duration(value)


def _responders(incident: Incident) -> list[str]:
    roles = incident.spec.roles
    names = [roles.commander, roles.tech_lead, roles.comms_lead, roles.scribe]
    names += [update.author for update in incident.spec.updates]
    names.append(incident.status.recorded.acknowledged_by)
    return list(dict.fromkeys(name for name in names if name))


def incident_context(
    incident: Incident, now: datetime, update_every: timedelta | None
) -> dict[str, Any]:
    """The ``incident`` and ``next_update`` variables, the same for every kind."""
    spec, status, meta = incident.spec, incident.status, incident.metadata
    detected = status.detected_at or now
    end = status.resolved_at or now
    impact_end = status.mitigated_at or status.resolved_at or now
    updates = [
        {"message": u.message, "author": u.author, "time": _minute(u.time)} for u in spec.updates
    ]
    responders = _responders(incident)
    post_mortem = spec.post_mortem
    scheduled_at = post_mortem.scheduled_at if post_mortem else None
    scheduled = f"{_minute(scheduled_at)} UTC" if scheduled_at else None
    if scheduled is None and status.post_mortem and status.post_mortem.schedule_due_at:
        scheduled = f"to be scheduled by {_minute(status.post_mortem.schedule_due_at)} UTC"
    phase = status.phase or Phase.DETECTED
    open_items = [item for item in spec.action_items if not item.done]
    incident_vars = {
        "id": status.id or meta.name,
        "name": meta.name,
        "namespace": meta.namespace,
        "title": spec.title,
        "severity": spec.severity.value,
        "severity_definition": level(spec.severity).definition,
        "severity_examples": list(EXAMPLES[spec.severity]),
        "phase": phase.value,
        "state": spec.state.value,
        "customer_status": _CUSTOMER_STATUS[phase],
        "summary": spec.summary,
        "impact": spec.impact,
        "source": spec.source.value,
        # The incident's own Slack channel once created (docs/chat-ops.md).
        "channel": (
            f"#{status.chat.channel.name}"
            if status.chat is not None and status.chat.channel is not None
            else f"#incident-{meta.name}"
        ),
        "commander": spec.roles.commander,
        "tech_lead": spec.roles.tech_lead,
        "comms_lead": spec.roles.comms_lead,
        "scribe": spec.roles.scribe,
        "acknowledged_by": status.recorded.acknowledged_by,
        "detected": f"{_minute(detected)} UTC",
        "started": _minute(detected),
        "started_time": _clock(detected),
        "resolved": f"{_minute(status.resolved_at)} UTC" if status.resolved_at else None,
        "resolved_time": _minute(status.resolved_at),
        "duration": humanize(end - detected),
        "impact_duration": humanize(impact_end - detected),
        "affected": [f"{w.kind.value}/{w.name}" for w in spec.affected],
        "services": ", ".join(w.name for w in spec.affected) or spec.title,
        "data_loss": spec.triggers.data_loss,
        "root_cause": post_mortem.root_cause if post_mortem else None,
        "updates": updates,
        "last_update": spec.updates[-1].message if spec.updates else None,
        "responders": responders,
        "responder_mentions": " ".join(f"@{name}" for name in responders),
        "action_items": len(spec.action_items),
        "open_action_items": [
            {"id": item.id, "action": item.action, "owner": item.owner} for item in open_items
        ],
        "post_mortem_scheduled": scheduled,
        "bridge": meta.annotations.get(BRIDGE_ANNOTATION),
        "workaround": meta.annotations.get(WORKAROUND_ANNOTATION) or spec.mitigation,
        # The triage answers in one line ("" before any): Impact lines (reconcile/triage.py).
        "triage": triage_summary(spec.triage),
        "mitigation": spec.mitigation,
        "expected_resolution": meta.annotations.get(EXPECTED_RESOLUTION_ANNOTATION),
    }
    due = status.next_update_due_at
    if due is not None and update_every is not None:
        minutes = max(int((due - now).total_seconds() // 60), 0)
        line = f"{_clock(due)} UTC or in {minutes} minutes"
    else:
        minutes, line = None, "as needed"
    next_update = {
        "time": f"{_clock(due)} UTC" if due else None,
        "minutes": minutes,
        "every": _every(update_every),
        "line": line,
    }
    return {"incident": incident_vars, "next_update": next_update}


def _step(incident: Incident, ref: str | None) -> ReachedStep | None:
    escalation = incident.status.escalation
    if escalation is None or ref is None:
        return None
    return next((step for step in escalation.steps if step.key == ref), None)


def _contact_reach(incident: Incident, ref: str | None) -> ContactReach | None:
    escalation = incident.status.escalation
    if escalation is None or ref is None:
        return None
    return next((reach for reach in escalation.contacts if reach.key == ref), None)


def _update(incident: Incident, ref: str | None) -> dict[str, Any] | None:
    if ref is None or not ref.isdigit():
        return None
    number = int(ref)
    if not 1 <= number <= len(incident.spec.updates):
        return None
    update = incident.spec.updates[number - 1]
    return {
        "number": number,
        "message": update.message,
        "author": update.author,
        "time": _minute(update.time),
    }


def customer_reminder_context(incident: Incident, ref: str | None) -> dict[str, Any]:
    """The ``reminder`` of a CustomerCommunicationReminder: to whom, what, due when."""
    roles = incident.spec.roles
    owner = roles.comms_lead or roles.commander
    communication = incident.status.communication
    due = communication.reminded_for if communication else None
    draft = communication.draft if communication else None
    return {
        "to": f"@{owner}" if owner else "Communications lead",
        "what": ref or CustomerDue.FIRST.value,
        "due": f"{_clock(due) or '-'} UTC",
        "kind": (draft.kind if draft else CustomerMessageKind.INITIAL).value,
    }


# The runbook's subject of each customer template, for a message published without one.
CUSTOMER_SUBJECTS = {
    CustomerMessageKind.INITIAL: "[Service Disruption] AgentOS Platform",
    CustomerMessageKind.PROGRESS: "[Update] AgentOS Platform - Issue Under Investigation",
    CustomerMessageKind.RESOLUTION: "[Resolved] AgentOS Platform Service Restored",
}


def published_message(incident: Incident, ref: str | None) -> Rendered | None:
    """Subject and text of spec.customerMessages[ref - 1] as published; None if none is.

    Sent word for word: a first line ``Subject: ...`` (as in a draft) is the subject
    when the message has none of its own.
    """
    if (
        ref is None
        or not ref.isdigit()
        or not 1 <= int(ref) <= len(incident.spec.customer_messages)
    ):
        return None
    message = incident.spec.customer_messages[int(ref) - 1]
    text, subject = message.text, message.subject
    first, _, rest = text.partition("\n")
    if first.startswith("Subject:"):
        subject = subject or first.removeprefix("Subject:").strip()
        text = rest.lstrip("\n")
    return Rendered(subject=subject or CUSTOMER_SUBJECTS[message.kind], text=text)


def message_context(
    incident: Incident,
    kind: NotificationKind,
    ref: str | None,
    now: datetime,
    update_every: timedelta | None,
    links: RelatedLinks | None = None,
) -> dict[str, Any]:
    """Every variable a template sees; kind-specific ones are None where they do not apply.

    ``links`` are the governing policy's related runbooks and dashboards; the runbook
    appendix's when None.
    """
    context = incident_context(incident, now, update_every)
    roles = incident.spec.roles
    step = _step(incident, ref) if kind is NotificationKind.ESCALATION else None
    # A contact told for a step, a backup, or the Security Lead on a breach.
    reach = _contact_reach(incident, ref) if kind is NotificationKind.ESCALATION else None
    if reach is not None:
        step = _step(incident, reach.step)
    escalation = None
    if step is not None or reach is not None:
        targets = [reach.target] if reach is not None else step.targets if step else []
        names = list(dict.fromkeys(target.rsplit(" (", 1)[0] for target in targets))
        reason = reach.reason if reach is not None else step.reason if step else ""
        escalation = {
            "step": step.key if step else None,
            "level": step.ordinal + 1 if step else None,
            "after": step.after if step else None,
            "targets": targets,
            "target_names": names,
            "reason": reason,
            "late": step.late if step else False,
            "requested_action": (
                f"{', '.join(names)}: join {context['incident']['channel']} and support the "
                f"incident commander ({'@' + roles.commander if roles.commander else 'unassigned'})"
                " in restoring service."
            ),
        }
    update = (
        _update(incident, ref)
        if kind in (NotificationKind.STATUS_UPDATE, NotificationKind.CUSTOMER_PROGRESS)
        else None
    )
    reminder = None
    if kind is NotificationKind.UPDATE_REMINDER:
        owner = roles.comms_lead or roles.commander
        reminder = {
            "to": f"@{owner}" if owner else "Incident commander",
            "due": f"{_clock(incident.status.next_update_due_at) or '-'} UTC",
        }
    if kind is NotificationKind.CUSTOMER_REMINDER:
        reminder = customer_reminder_context(incident, ref)
    current_actions = [
        f"{what} - @{who}"
        for what, who in (
            ("Incident command", roles.commander),
            ("Technical investigation", roles.tech_lead),
            ("Communications", roles.comms_lead),
            ("Timeline", roles.scribe),
        )
        if who
    ]
    next_steps = [
        f"{item['action']} - {item['owner']}" for item in context["incident"]["open_action_items"]
    ]
    return {
        **context,
        "kind": kind.value,
        "reopened": kind is NotificationKind.REOPENED,
        "escalation": escalation,
        "update": update,
        "reminder": reminder,
        "coordination": (
            coordination_context(incident, ref) if kind is NotificationKind.COORDINATION else None
        ),
        "signals": (
            [_signal_context(s) for s in signals_in(incident.status.signals, ref)]
            if kind is NotificationKind.SIGNALS_JOINED
            else []
        ),
        "current_actions": current_actions,
        "next_steps": next_steps,
        "links": _links_context(links or policy_links(None)),
    }


def _signal_context(signal: SignalStatus) -> dict[str, Any]:
    workload = signal.workload
    return {
        "id": signal.id,
        "source": signal.source.value,
        "rule": signal.rule,
        "workload": f"{workload.kind.value}/{workload.name}" if workload else None,
        "level": signal.level.value,
        "line": describe_signal(signal),
    }


def _links_context(links: RelatedLinks) -> dict[str, list[dict[str, str]]]:
    """The ``links`` variable: ``links.dashboards`` and ``links.runbooks``, each a list of
    ``name``, ``url``, ``purpose``."""
    return {
        "dashboards": [asdict(link) for link in links.dashboards],
        "runbooks": [asdict(link) for link in links.runbooks],
    }


# ------------------------------------------------------------------------------ samples

_SAMPLE_TIME = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def _sample_incidents() -> list[Incident]:
    full = Incident.model_validate(
        {
            "metadata": {
                "name": "checkout-down",
                "namespace": "shop",
                "annotations": {
                    BRIDGE_ANNOTATION: "https://meet.example/incident",
                    WORKAROUND_ANNOTATION: "Retry the payment.",
                    EXPECTED_RESOLUTION_ANNOTATION: "13:00 UTC",
                },
            },
            "spec": {
                "title": "Checkout failing",
                "severity": "P1",
                "summary": "Payments time out.",
                "impact": "30% of checkouts fail.",
                "state": "Identified",
                "affected": [{"kind": "Deployment", "name": "checkout"}],
                "roles": {
                    "commander": "alice",
                    "techLead": "bob",
                    "commsLead": "carol",
                    "scribe": "dave",
                },
                "triggers": {"dataLoss": True},
                "updates": [
                    {"message": "Rolled back.", "author": "bob", "time": "2025-01-01T12:20:00Z"}
                ],
                "actionItems": [
                    {"id": "AI-1", "action": "Add alert", "owner": "bob", "priority": "P2"}
                ],
                "postMortem": {"rootCause": "A bad config.", "scheduledAt": "2025-01-02T10:00:00Z"},
            },
            "status": {
                "id": "INC-0042",
                "phase": "Resolved",
                "detectedAt": "2025-01-01T12:00:00Z",
                "mitigatedAt": "2025-01-01T12:30:00Z",
                "resolvedAt": "2025-01-01T12:45:00Z",
                "nextUpdateDueAt": "2025-01-01T12:50:00Z",
                "recorded": {"acknowledgedBy": "alice"},
                "signals": [
                    {
                        "id": f"s{number}",
                        "source": "alertmanager",
                        "severity": "P1",
                        "firstSeen": "2025-01-01T12:00:00Z",
                        "fingerprint": f"sample{number}",
                        "policy": "default",
                        "rule": "HighErrorRate",
                        "workload": {"kind": "Deployment", "name": f"api-{number}"},
                        "level": "critical",
                        "breaching": True,
                        "lastEvaluatedAt": "2025-01-01T12:00:00Z",
                    }
                    for number in (1, 2, 3)
                ],
                "escalation": {
                    "level": 1,
                    "roleChanges": [
                        {
                            "number": 1,
                            "role": "commander",
                            "previous": "erin",
                            "current": "alice",
                            "at": "2025-01-01T12:10:00Z",
                        }
                    ],
                    "steps": [
                        {
                            "key": "P1-0",
                            "severity": "P1",
                            "ordinal": 0,
                            "after": "0s",
                            "targets": ["Primary on-call (pager)"],
                            "dueAt": "2025-01-01T12:00:00Z",
                            "reachedAt": "2025-01-01T12:00:00Z",
                            "cause": "Schedule",
                            "reason": "P1 matrix: 0s after detection",
                        }
                    ],
                },
            },
        }
    )
    # Almost nothing set; a notification's own subject (its step, its update) always is.
    sparse = Incident.model_validate(
        {
            "metadata": {"name": "blip", "namespace": "shop"},
            "spec": {
                "title": "Blip",
                "severity": "P4",
                "updates": [
                    {"message": "Looking.", "author": "eve", "time": "2025-01-01T12:05:00Z"}
                ],
            },
            "status": {
                "id": "INC-0043",
                "phase": "Detected",
                "escalation": {
                    "roleChanges": [
                        {"number": 1, "role": "scribe", "previous": "eve", "at": _SAMPLE_TIME}
                    ],
                    "steps": [
                        {
                            "key": "P1-0",
                            "severity": "P4",
                            "ordinal": 0,
                            "after": "0s",
                            "dueAt": "2025-01-01T12:00:00Z",
                            "reachedAt": "2025-01-01T12:00:00Z",
                            "cause": "Trigger",
                            "reason": "trigger: data loss confirmed",
                        }
                    ],
                },
            },
        }
    )
    return [full, sparse]


def sample_contexts(kind: NotificationKind) -> list[dict[str, Any]]:
    """The contexts ``template_problems`` renders each override with."""
    refs = {
        NotificationKind.ESCALATION: "P1-0",
        NotificationKind.STATUS_UPDATE: "1",
        NotificationKind.CUSTOMER_PROGRESS: "1",
        NotificationKind.CUSTOMER_REMINDER: CustomerDue.FIRST.value,
        NotificationKind.COORDINATION: "1",
        NotificationKind.SIGNALS_JOINED: "2-3",
    }
    return [
        message_context(incident, kind, refs.get(kind), _SAMPLE_TIME, every)
        for incident, every in zip(_sample_incidents(), (timedelta(minutes=30), None), strict=True)
    ]


# ----------------------------------------------------------------------------- messages


def outgoing_message(
    incident: Incident,
    policy: EscalationPolicy | None,
    record: NotificationRecord,
    now: datetime,
) -> tuple[OutgoingMessage, TemplateProblem | None]:
    """The message a notifier sends for ``record``, rendered from the incident as it is now."""
    meta, status = incident.metadata, incident.status
    cadence = effective_level(incident.spec.severity, policy).update_every
    context = message_context(
        incident, record.kind, record.ref, now, cadence, links=policy_links(policy)
    )
    if record.contact is not None and record.contact.endswith("/backup") and context["escalation"]:
        # The backup hears why it, not the primary, is told.
        context["escalation"]["reason"] = (
            f"not acknowledged within the window after the primary was told; "
            f"{context['escalation']['reason']}"
        )
    templates = policy.spec.communication.templates if policy else None
    published = published_message(incident, record.ref) if record.kind.for_customers else None
    rendered = published or render_message(record.kind, context, templates)
    contact = find_contact(policy, record.contact) if record.contact else None
    message = OutgoingMessage(
        key=record.key,
        idempotency_key=idempotency_key(meta.uid, record.key),
        kind=record.kind,
        incident_id=status.id or meta.name,
        namespace=meta.namespace,
        name=meta.name,
        title=incident.spec.title,
        severity=incident.spec.severity,
        phase=(status.phase or Phase.DETECTED).value,
        subject=rendered.subject,
        text=rendered.text,
        dedup_key=pagerduty_dedup_key(meta.namespace, meta.name, meta.uid, record.contact),
        late=record.late,
        targets=tuple(context["escalation"]["targets"]) if context["escalation"] else (),
        timestamp=now,
        pagerduty_severity=PHONE_SEVERITY if record.method is ContactMethod.PHONE else None,
        mention=_mention(contact.slack.mention) if contact and contact.slack else None,
        recipients=(contact.email.address,) if contact and contact.email else (),
    )
    return message, rendered.problem


def _mention(mention: str | None) -> str | None:
    """A Slack member ID as Slack's mention markup; an @handle as it is."""
    if mention is None:
        return None
    return mention if mention.startswith("@") else f"<@{mention}>"


def templates_condition(
    conditions: list[Condition],
    problems: list[TemplateProblem],
    now: datetime,
    generation: int | None,
    body_problems: Sequence[Describable] = (),
) -> Condition | None:
    """The policy's TemplatesValid condition, or None when it would not change.

    ``body_problems`` are the webhook channels' bodyTemplates that fail: those have no
    built-in to fall back on, their notifications fail until the template is fixed.
    """
    if problems or body_problems:
        status, reason = ConditionStatus.FALSE, Reason.TEMPLATE_ERROR
        parts = []
        if problems:
            parts.append(
                "; ".join(problem.describe() for problem in problems)
                + "; the built-in templates are used instead"
            )
        if body_problems:
            parts.append(
                "; ".join(problem.describe() for problem in body_problems)
                + "; the channel's notifications fail until it is fixed"
            )
        message = "; ".join(parts)
    else:
        status, reason, message = (
            ConditionStatus.TRUE,
            Reason.TEMPLATES_RENDER,
            "every template override renders",
        )
    return changed_condition(
        conditions, ConditionType.TEMPLATES_VALID, status, reason, message, now, generation
    )
