"""Issue 14: channels as the runbook lists them, and severity as the runbook maps it.

Routing of every kind at every severity to the runbook's channels (#incident-critical,
#incident-high, #incident-warning, #monitoring, #incident-all, #sre-team); coordination
messages for role changes, once each; the severity a detection level opens; the
runbook's severity definitions and examples where people choose a severity.
"""

from datetime import timedelta
from typing import Any

import pytest

from incident_operator.api.escalation_policy import DetectionRule, SeverityByLevel, Templates
from incident_operator.api.incident import SEVERITY_DESCRIPTION, Incident, ResponderChecklist
from incident_operator.cli.render import show
from incident_operator.domain.detection import format_value
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import (
    Audience,
    ChannelInfo,
    ChannelType,
    NotificationKind,
    route,
)
from incident_operator.domain.severity import (
    ALERT_SEVERITY,
    CATALOG,
    EXAMPLES,
    AlertLevel,
    Severity,
    describe,
)
from incident_operator.domain.signals import TIMES_NORMAL
from incident_operator.reconcile.coordination import changed_roles
from incident_operator.reconcile.messages import outgoing_message, template_problems
from tests.unit.test_pipeline import T0, _decide, _new, _policy, _written
from tests.unit.test_reconcile import VERIFIED

K = NotificationKind
P0, P1, P2, P3, P4 = Severity

# The sample policy's channels: one Slack incoming webhook per runbook channel.
RUNBOOK = [
    ChannelInfo("pd", ChannelType.PAGERDUTY),
    ChannelInfo("crit", ChannelType.SLACK, chat_channel="#incident-critical"),
    ChannelInfo("high", ChannelType.SLACK, chat_channel="#incident-high"),
    ChannelInfo("warn", ChannelType.SLACK, chat_channel="#incident-warning"),
    ChannelInfo("mon", ChannelType.SLACK, chat_channel="#monitoring"),
    ChannelInfo("all", ChannelType.SLACK, chat_channel="#incident-all"),
    ChannelInfo("sre", ChannelType.SLACK, chat_channel="#sre-team"),
    ChannelInfo("mail", ChannelType.EMAIL),
    ChannelInfo("hook", ChannelType.WEBHOOK),
    ChannelInfo("customers", ChannelType.EMAIL, audience=Audience.CUSTOMER),
]
# The runbook's channel for each severity's alert level, #incident-all and the webhook.
CHAT = {
    P0: ["crit", "all", "hook"],
    P1: ["high", "all", "hook"],
    P2: ["warn", "all", "hook"],
    P3: ["mon", "all", "hook"],
    P4: ["mon", "all", "hook"],
}
_ANNOUNCED = [K.DECLARATION, K.STATUS_UPDATE, K.UPDATE_REMINDER, K.RESOLUTION, K.REOPENED]


def _expected(kind: NotificationKind, severity: Severity) -> list[str]:
    """What the runbook asks for ``kind`` at ``severity`` with RUNBOOK's channels."""
    if kind.for_customers:
        return [] if severity in (P3, P4) else ["customers"]
    if kind is K.ACKNOWLEDGEMENT:
        return []  # only to PagerDuty channels that paged; none did here
    if kind is K.COORDINATION:
        return ["all", "sre"]
    return CHAT[severity]


@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_at_every_severity(kind: NotificationKind, severity: Severity) -> None:
    methods = (ContactMethod.CHAT,) if kind is K.ESCALATION else ()
    assert route(kind, severity, RUNBOOK, methods) == _expected(kind, severity)


@pytest.mark.parametrize("severity", list(Severity))
def test_incident_all_hears_every_internal_notification(severity: Severity) -> None:
    for kind in [*_ANNOUNCED, K.ESCALATION, K.COORDINATION]:
        assert "all" in route(kind, severity, RUNBOOK, (ContactMethod.PAGER,)), kind
    # Even an escalation step that names its own channel.
    explicit = route(K.ESCALATION, severity, RUNBOOK, (ContactMethod.PHONE,), explicit="mail")
    assert explicit == ["all", "mail"]
    # Not customer messages, not PagerDuty's acknowledgement.
    for kind in [K.CUSTOMER_INITIAL, K.CUSTOMER_PROGRESS, K.ACKNOWLEDGEMENT]:
        assert "all" not in route(kind, severity, RUNBOOK, paged=["pd"])


@pytest.mark.parametrize("kind", _ANNOUNCED)
@pytest.mark.parametrize("severity", [P3, P4])
def test_info_level_goes_to_monitoring_and_never_pages(
    kind: NotificationKind, severity: Severity
) -> None:
    routed = route(kind, severity, RUNBOOK)
    assert "mon" in routed
    assert not {"pd", "crit", "high", "warn", "sre"} & set(routed)
    escalation = route(K.ESCALATION, severity, RUNBOOK, (ContactMethod.PAGER,))
    assert "pd" not in escalation


@pytest.mark.parametrize("severity", list(Severity))
def test_sre_team_hears_only_coordination(severity: Severity) -> None:
    for kind in NotificationKind:
        routed = route(kind, severity, RUNBOOK, (ContactMethod.CHAT,), paged=["pd"])
        assert ("sre" in routed) is (kind is K.COORDINATION), kind


@pytest.mark.parametrize(
    ("channels", "kind", "severity", "expected"),
    [
        # Without the level's channel a generic Slack channel takes it; #sre-team never.
        (["generic", "sre"], K.DECLARATION, P1, ["generic"]),
        (["generic", "sre"], K.DECLARATION, P3, ["generic"]),
        (["generic", "sre"], K.COORDINATION, P1, ["sre"]),
        # Only #sre-team: coordination goes there; nothing else falls back to it.
        (["sre"], K.DECLARATION, P0, []),
        (["sre"], K.COORDINATION, P4, ["sre"]),
        # No #sre-team nor #incident-all: coordination goes nowhere (it is not a page).
        (["generic", "high", "pd", "hook"], K.COORDINATION, P0, []),
        # Without #monitoring, a P3 declaration falls back to every Slack channel but
        # #sre-team, rather than being dropped.
        (["high", "sre", "all"], K.DECLARATION, P3, ["high", "all"]),
        (["high", "sre", "all"], K.DECLARATION, P1, ["high", "all"]),
    ],
)
def test_channel_sets(
    channels: list[str], kind: NotificationKind, severity: Severity, expected: list[str]
) -> None:
    known = {c.name: c for c in RUNBOOK} | {"generic": ChannelInfo("generic", ChannelType.SLACK)}
    assert route(kind, severity, [known[name] for name in channels]) == expected


# ------------------------------------------------------------------------ coordination

SRE_CHANNELS = [
    {
        "name": name,
        "type": "slack",
        "chatChannel": chat,
        "secretRef": {"name": "s", "key": name},
    }
    for name, chat in (("high", "#incident-high"), ("all", "#incident-all"), ("sre", "#sre-team"))
]
SRE_POLICY = _policy("shop-default", "sre", default=True, channels=SRE_CHANNELS)


def _with_roles(incident: Incident, **roles: str) -> Incident:
    spec = incident.spec.model_copy(update={"roles": incident.spec.roles.model_copy(update=roles)})
    return incident.model_copy(update={"spec": spec})


def _coordination(incident: Incident) -> list[Any]:
    return [r for r in incident.status.notifications if r.kind is K.COORDINATION]


def test_a_role_change_is_told_to_sre_team_once_and_a_handoff_names_both() -> None:
    incident = _with_roles(_new("P3", affected=False), commander="alice")
    first = _decide(incident, T0, (SRE_POLICY,), incident_id="INC-0001")
    incident = _written(incident, first)
    assert {r.key for r in _coordination(incident)} == {
        "coordination-1-commander/all",
        "coordination-1-commander/sre",
    }
    # Nothing changed: nothing more, pass after pass.
    again = _written(incident, _decide(incident, T0 + timedelta(minutes=1), (SRE_POLICY,)))
    assert len(_coordination(again)) == 2
    # A hand-off, and a new technical lead, in one edit: one message each.
    moved = _with_roles(again, commander="bob", tech_lead="carol")
    later = T0 + timedelta(minutes=2)
    handed = _written(moved, _decide(moved, later, (SRE_POLICY,)))
    keys = {r.key for r in _coordination(handed)}
    assert {"coordination-2-commander/sre", "coordination-3-techLead/sre"} <= keys
    assert len(keys) == 6
    escalation = handed.status.escalation
    assert escalation is not None
    assert escalation.role_changes_announced == 3
    record = next(r for r in handed.status.notifications if r.key == "coordination-2-commander/sre")
    message, problem = outgoing_message(handed, SRE_POLICY, record, later)
    assert problem is None
    assert "Hand-off: Incident Commander @alice -> @bob" in message.text
    assert "- Technical Lead: @carol" in message.text
    assert message.subject.startswith("[P3] INC-0001 INCIDENT COORDINATION")


def test_a_resolved_incident_tells_no_role_change() -> None:
    incident = _new("P1", affected=False)
    incident = _written(incident, _decide(incident, T0, (SRE_POLICY,), incident_id="INC-0001"))
    incident.spec.state = incident.spec.state.__class__("Resolved")
    # The pre-resolution verification done, so the Resolved is not held.
    incident.spec.checklist = ResponderChecklist.model_validate(VERIFIED)
    incident = _written(incident, _decide(incident, T0 + timedelta(minutes=1), (SRE_POLICY,)))
    assert incident.status.phase is not None
    assert not incident.status.phase.is_active
    scribe = _with_roles(incident, scribe="dave")
    after = _written(scribe, _decide(scribe, T0 + timedelta(minutes=2), (SRE_POLICY,)))
    assert _coordination(after) == []


def test_changed_roles_lists_each_role_that_moved() -> None:
    before = _new().spec.roles.model_copy(update={"commander": "alice", "scribe": "dave"})
    after = before.model_copy(update={"commander": "bob", "scribe": None, "comms_lead": "erin"})
    moves = [(m.role.value, m.previous, m.current) for m in changed_roles(before, after)]
    assert moves == [
        ("commander", "alice", "bob"),
        ("commsLead", None, "erin"),
        ("scribe", "dave", None),
    ]
    assert changed_roles(after, after) == []


# ----------------------------------------------------------------------------- severity


def test_detection_levels_open_the_runbooks_severities() -> None:
    # The runbook's Alert Severity Mapping: Critical P0, High P1, Warning P2, Info P3.
    assert ALERT_SEVERITY == {
        AlertLevel.CRITICAL: P0,
        AlertLevel.HIGH: P1,
        AlertLevel.WARNING: P2,
        AlertLevel.INFO: P3,
    }
    assert (SeverityByLevel().critical, SeverityByLevel().warning) == (P0, P2)
    rule = DetectionRule.model_validate({"name": "cpu", "signal": "cpuUsage"})
    assert (rule.severity.critical, rule.severity.warning) == (P0, P2)


def test_every_severity_has_its_definition_and_the_runbooks_examples() -> None:
    assert EXAMPLES[P1][:2] == ("Agent execution success rate < 50%", "API latency > 10x normal")
    assert "All agents failing to execute" in EXAMPLES[P0]
    assert "Performance degradation (2-5x latency)" in EXAMPLES[P2]
    assert EXAMPLES[P4] == ()
    assert describe(P4) == "P4 - No immediate impact, improvement opportunity."
    for severity in Severity:
        assert describe(severity) in SEVERITY_DESCRIPTION
        assert CATALOG[severity].definition.removesuffix(".") in describe(severity)


def test_show_explains_the_severity() -> None:
    item = _new("P1").to_wire()
    text = show(item, T0)
    assert describe(P1) in text
    assert "API latency > 10x normal" in text


def test_the_declaration_states_the_severitys_definition_and_examples() -> None:
    incident = _new("P0", affected=False)
    incident = _written(incident, _decide(incident, T0, incident_id="INC-0001"))
    record = next(r for r in incident.status.notifications if r.kind is K.DECLARATION)
    message, _ = outgoing_message(incident, None, record, T0)
    assert "Severity: P0 - Complete system outage or data loss affecting all users." in (
        message.text
    )
    assert "Examples of P0: Complete AgentOS platform unavailable; " in message.text


def test_relative_values_read_as_times_normal() -> None:
    assert format_value(12.04, TIMES_NORMAL) == "12x normal"
    assert format_value(2.5, TIMES_NORMAL) == "2.5x normal"


def test_a_coordination_override_is_checked_against_both_sample_incidents() -> None:
    good = Templates(coordination="{{ coordination.line }} ({{ coordination.title }})")
    assert template_problems(good) == []
    bad = Templates(coordination="{{ coordination.nobody }}")
    [problem] = template_problems(bad)
    assert problem.describe().startswith("spec.communication.templates.coordination")
