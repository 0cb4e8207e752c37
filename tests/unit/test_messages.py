"""The runbook's templates rendered with real values; overrides; a broken override."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy, Templates
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.notifications import NotificationKind
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.messages import (
    TemplateName,
    message_context,
    outgoing_message,
    render_message,
    template_problems,
    templates_condition,
)

T0 = datetime(2026, 4, 2, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1, minutes=20)
K = NotificationKind


def _incident(**status: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "payments",
                "namespace": "shop",
                "uid": "uid-9",
                "annotations": {"sre.agentos.io/bridge": "+1 555 0100 pin 42"},
            },
            "spec": {
                "title": "Payments failing",
                "severity": "P0",
                "summary": "Card payments time out at the gateway.",
                "impact": "All card payments fail.",
                "state": "Identified",
                "affected": [
                    {"kind": "Deployment", "name": "payments-api"},
                    {"kind": "Deployment", "name": "gateway"},
                ],
                "roles": {"commander": "alice", "techLead": "bob", "commsLead": "carol"},
                "triggers": {"dataLoss": False},
                "updates": [
                    {
                        "message": "Gateway certificates rotated; errors dropping.",
                        "author": "bob",
                        "time": (T0 + timedelta(minutes=50)).isoformat(),
                    }
                ],
                "actionItems": [
                    {
                        "id": "AI-1",
                        "action": "Alert on cert expiry",
                        "owner": "bob",
                        "priority": "P1",
                    }
                ],
                "postMortem": {"rootCause": "An expired certificate."},
            },
            "status": {
                "id": "INC-0042",
                "phase": "Mitigating",
                "detectedAt": T0.isoformat(),
                "nextUpdateDueAt": (T0 + timedelta(hours=1, minutes=35)).isoformat(),
                "recorded": {"acknowledgedBy": "alice"},
                "escalation": {
                    "level": 2,
                    "steps": [
                        {
                            "key": "P0-1",
                            "severity": "P0",
                            "ordinal": 1,
                            "after": "15m",
                            "targets": ["VP Engineering (phone)"],
                            "dueAt": (T0 + timedelta(minutes=15)).isoformat(),
                            "reachedAt": (T0 + timedelta(minutes=15)).isoformat(),
                            "cause": "Schedule",
                            "reason": "P0 matrix step 2: 15m after detection",
                        }
                    ],
                },
                **status,
            },
        }
    )


def _render(kind: NotificationKind, ref: str | None = None, **status: Any) -> str:
    context = message_context(_incident(**status), kind, ref, NOW, timedelta(minutes=15))
    rendered = render_message(kind, context)
    assert rendered.problem is None
    return f"Subject: {rendered.subject}\n{rendered.text}"


@pytest.mark.parametrize(
    ("kind", "ref", "status", "lines"),
    [
        (
            K.DECLARATION,
            None,
            {},
            [
                "INCIDENT DECLARED",
                "Incident ID: INC-0042",
                "Severity: P0",
                "Incident Commander: @alice",
                "Channel: #incident-payments",
                "Payments failing",
                "All card payments fail.",
                "Card payments time out at the gateway.",
                "Next Update: 09:35 UTC or in 15 minutes",
            ],
        ),
        (
            K.STATUS_UPDATE,
            "1",
            {},
            [
                "INCIDENT UPDATE",
                "Status: Identified",
                "Duration: 1 hours 20 minutes",
                "Gateway certificates rotated; errors dropping.",
                "- Incident command - @alice",
                "- Technical investigation - @bob",
                "- Alert on cert expiry - bob",
                "Next Update: 09:35 UTC or in 15 minutes",
            ],
        ),
        (
            K.RESOLUTION,
            None,
            {"phase": "Resolved", "resolvedAt": (T0 + timedelta(hours=1, minutes=10)).isoformat()},
            [
                "INCIDENT RESOLVED",
                "Resolution Time: 2026-04-02 09:10 UTC",
                "Total Duration: 1 hours 10 minutes",
                "An expired certificate.",
                "- Users affected: All card payments fail.",
                "- Data loss: No",
                "- Action items: 1",
                "Thanks to responders: @alice @bob @carol",
            ],
        ),
        (
            K.ESCALATION,
            "P0-1",
            {},
            [
                "ESCALATION NOTICE",
                "Current Severity: P0",
                "Duration: 1 hours 20 minutes",
                "Gateway certificates rotated; errors dropping.",
                "P0 matrix step 2: 15m after detection",
                "VP Engineering: join #incident-payments",
                "Incident Channel: #incident-payments",
                "Bridge: +1 555 0100 pin 42",
            ],
        ),
        (
            K.CUSTOMER_INITIAL,
            None,
            {},
            [
                "Subject: [Service Disruption] AgentOS Platform",
                "affecting payments-api, gateway.",
                "Issue started at approximately 08:00 UTC",
                "We will provide updates every 15 minutes",
                "No workaround is available at this time.",
                "Status Page: https://status.agentos.io",
            ],
        ),
        (
            K.CUSTOMER_PROGRESS,
            "1",
            {},
            [
                "Subject: [Update] AgentOS Platform - Issue Under Investigation",
                "Current Status: Implementing Fix",
                "Gateway certificates rotated; errors dropping.",
                "We are working to resolve as quickly as possible",
                "another update in 15 minutes",
            ],
        ),
        (
            K.CUSTOMER_RESOLUTION,
            None,
            {"phase": "Resolved", "resolvedAt": (T0 + timedelta(hours=1, minutes=10)).isoformat()},
            [
                "Subject: [Resolved] AgentOS Platform Service Restored",
                "- Issue Started: 2026-04-02 08:00 UTC",
                "- Issue Resolved: 2026-04-02 09:10 UTC",
                "- Total Duration: 1 hours 10 minutes",
            ],
        ),
        (
            K.UPDATE_REMINDER,
            None,
            {},
            ["STATUS UPDATE DUE", "@carol: a status update was due at 09:35 UTC."],
        ),
    ],
)
def test_each_runbook_template_renders_with_real_values(
    kind: NotificationKind, ref: str | None, status: dict[str, Any], lines: list[str]
) -> None:
    text = _render(kind, ref, **status)
    for line in lines:
        assert line in text, f"{line!r} not in:\n{text}"
    assert "[" not in text.replace("[Service Disruption]", "").replace("[Update]", "").replace(
        "[Resolved]", ""
    ).replace("[P0]", ""), "a runbook placeholder was left unfilled"


def test_a_reopening_renders_the_declaration_headed_reopened() -> None:
    text = _render(K.REOPENED)
    assert text.startswith("Subject: [P0] INC-0042 INCIDENT REOPENED: Payments failing\n")
    assert "INCIDENT REOPENED\n====" in text
    assert "INCIDENT DECLARED" not in text
    assert "Incident ID: INC-0042" in text
    assert "INCIDENT DECLARED" in _render(K.DECLARATION)


@pytest.mark.parametrize(
    ("source", "subject", "text"),
    [
        # An override that knows the flag says what it likes.
        (
            "{{ 'Reopened' if reopened else 'New' }}: {{ incident.id }}",
            "[P0] INC-0042 Reopened: INC-0042: Payments failing",
            "Reopened: INC-0042",
        ),
        # One that does not is still used; the subject says it was reopened.
        (
            "Subject: {{ incident.id }} declared\n{{ kind }} {{ incident.title }}",
            "REOPENED: INC-0042 declared",
            "Reopened Payments failing",
        ),
    ],
)
def test_a_declaration_override_renders_the_reopening(source: str, subject: str, text: str) -> None:
    templates = Templates(declaration=source)
    context = message_context(_incident(), K.REOPENED, None, NOW, None)
    rendered = render_message(K.REOPENED, context, templates)
    assert (rendered.subject, rendered.text, rendered.problem) == (subject, text, None)
    assert template_problems(templates) == []


def test_an_override_is_used() -> None:
    templates = Templates(
        declaration="{{ incident.id }} is {{ incident.severity }}: {{ incident.title }}"
    )
    context = message_context(_incident(), K.DECLARATION, None, NOW, None)
    rendered = render_message(K.DECLARATION, context, templates)
    assert rendered.text == "INC-0042 is P0: Payments failing"
    assert rendered.problem is None


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("INCIDENT {{ incident.id }}\nSeverity: {{ incident.severity }\n", 2, "unexpected '}'"),
        ("ok\nok\n{{ incident.nope }}\n", 3, "has no attribute 'nope'"),
        ("{% for x in incident.updates %}\n{{ x.message }}\n", 2, "for"),
        ("{{ ''.__class__ }}", 1, "unsafe"),
    ],
)
def test_a_broken_override_falls_back_and_names_template_and_line(
    source: str, line: int, message: str
) -> None:
    templates = Templates(status_update=source)
    context = message_context(_incident(), K.STATUS_UPDATE, "1", NOW, None)
    rendered = render_message(K.STATUS_UPDATE, context, templates)
    assert rendered.text.startswith("INCIDENT UPDATE")  # the built-in one
    assert rendered.problem is not None
    assert (rendered.problem.template, rendered.problem.line) == (TemplateName.STATUS_UPDATE, line)
    assert message in rendered.problem.message
    problems = template_problems(templates)
    assert [p.describe().split(":")[0] for p in problems] == [
        f"spec.communication.templates.statusUpdate line {line}"
    ]


def test_sample_validation_catches_what_only_sparse_incidents_break() -> None:
    # Fine with a commander; fails when none is named yet.
    templates = Templates(declaration="{{ incident.commander.upper() }}")
    (problem,) = template_problems(templates)
    assert problem.template is TemplateName.DECLARATION


def test_good_overrides_have_no_problems() -> None:
    templates = Templates(
        declaration="{{ incident.id }}",
        escalation="{{ escalation.reason }} for {{ escalation.targets | join(', ') }}",
        status_update="{{ update.message }}",
        customer_progress="{{ update.message }}",
        update_reminder="{{ reminder.to }}",
    )
    assert template_problems(templates) == []


def test_templates_condition_changes_only_when_it_must() -> None:
    problems = template_problems(Templates(resolution="{{ oops"))
    condition = templates_condition([], problems, NOW, 3)
    assert condition is not None
    assert (condition.type, condition.status, condition.reason) == (
        ConditionType.TEMPLATES_VALID,
        ConditionStatus.FALSE,
        Reason.TEMPLATE_ERROR,
    )
    assert "spec.communication.templates.resolution line 1" in condition.message
    assert templates_condition([condition], problems, NOW + timedelta(minutes=1), 3) is None
    fixed = templates_condition([condition], [], NOW + timedelta(minutes=2), 4)
    assert fixed is not None
    assert fixed.status is ConditionStatus.TRUE
    assert fixed.last_transition_time == NOW + timedelta(minutes=2)


def test_outgoing_message_carries_keys_and_targets() -> None:
    policy = EscalationPolicy.model_validate(
        {
            "metadata": {"name": "p", "namespace": "shop"},
            "spec": {
                "channels": [
                    {
                        "name": "crit",
                        "type": "slack",
                        "chatChannel": "#incident-critical",
                        "secretRef": {"name": "s", "key": "k"},
                    }
                ]
            },
        }
    )
    record = NotificationRecord(
        key="escalation-P0-1/crit",
        kind=K.ESCALATION,
        channel="crit",
        ref="P0-1",
        due_at=T0,
        created_at=T0,
        late=True,
    )
    message, problem = outgoing_message(_incident(), policy, record, NOW)
    assert problem is None
    assert message.idempotency_key == "uid-9/escalation-P0-1/crit"
    assert message.dedup_key == "incident-operator/shop/payments/uid-9"
    assert message.targets == ("VP Engineering (phone)",)
    assert message.late
    assert message.subject == "[P0] INC-0042 ESCALATION NOTICE: Payments failing"
