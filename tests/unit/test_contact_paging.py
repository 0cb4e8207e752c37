"""Paging that reaches new people: contacts, their own services, backups, the Security Lead."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from incident_operator.adapters.notifiers.pagerduty import pagerduty_body
from incident_operator.adapters.notifiers.slack import slack_body
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import NotificationRecord
from incident_operator.api.incident import Incident
from incident_operator.cli.render import contacts_section
from incident_operator.domain.conditions import ConditionStatus
from incident_operator.domain.escalation import ContactMethod
from incident_operator.domain.notifications import NotificationKind
from incident_operator.domain.reasons import EntryType, Reason
from incident_operator.reconcile.contacts import (
    contact_problems,
    contacts_condition,
    describe_contact,
)
from incident_operator.reconcile.escalation import EscalationPlan, plan_escalation
from incident_operator.reconcile.messages import outgoing_message

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
STARTED = T0 - timedelta(hours=1)
MINUTE = timedelta(minutes=1)

CHANNELS = [
    {"name": "pd", "type": "pagerduty", "secretRef": {"name": "s", "key": "pd"}},
    {
        "name": "crit",
        "type": "slack",
        "chatChannel": "#incident-critical",
        "secretRef": {"name": "s", "key": "slack"},
    },
    {
        "name": "mail",
        "type": "email",
        "email": {"host": "127.0.0.1", "from": "ops@example.com", "to": ["sre@example.com"]},
    },
]


def _person(name: str, key: str, mention: str | None = None, address: str | None = None) -> Any:
    contact: dict[str, Any] = {
        "name": name,
        "pagerduty": {"channel": "pd", "secretRef": {"name": "s", "key": key}},
    }
    if mention:
        contact["slack"] = {"mention": mention}
    if address:
        contact["email"] = {"channel": "mail", "address": address}
    return contact


CONTACTS = [
    {"role": "on-call-primary", "primary": _person("Primary rotation", "pd-primary")},
    {"role": "on-call-secondary", "primary": _person("Secondary rotation", "pd-secondary")},
    {
        "role": "vp-engineering",
        "title": "VP Engineering",
        "primary": _person("Vera", "pd-vp", "U0VERA", "vera@example.com"),
        "backup": _person("Victor", "pd-vp-backup", "@victor"),
    },
    {"role": "cto", "title": "CTO", "primary": _person("Cleo", "pd-cto", "U0CLEO", "c@ex.com")},
    {"role": "ceo", "title": "CEO", "primary": _person("Cai", "pd-ceo", None, "cai@example.com")},
    {
        "role": "security-lead",
        "title": "Security Lead",
        "primary": _person("Sam", "pd-security", "U0SAM"),
        "backup": _person("Sasha", "pd-security-backup"),
        "acknowledgeWithin": "10m",
    },
]


def _policy(contacts: list[Any] | None = None, **spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "team", "namespace": "n"},
            "spec": {
                "channels": CHANNELS,
                "contacts": CONTACTS if contacts is None else contacts,
                **spec,
            },
        }
    )


def _incident(severity: str = "P0", status: dict[str, Any] | None = None, **spec: Any) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {"name": "api", "namespace": "n", "uid": "u-1"},
            "spec": {"title": "API down", "severity": severity, **spec},
            "status": {
                "id": "INC-0001",
                "phase": "Investigating",
                "detectedAt": T0.isoformat(),
                **(status or {}),
            },
        }
    )


def _then(previous: Incident, plan: EscalationPlan, **status: Any) -> Incident:
    updated = previous.status.model_copy(
        update={"escalation": plan.escalation, "notifications": plan.notifications, **status}
    )
    return previous.model_copy(update={"status": updated})


def _run(
    incident: Incident, policy: EscalationPolicy, until: timedelta
) -> tuple[Incident, EscalationPlan]:
    now, plan = T0, plan_escalation(incident, policy, T0, STARTED)
    while True:
        incident = _then(incident, plan)
        # The schedule only: deliveries are not attempted here.
        wake = plan.schedule_wake_at
        if wake is None or wake > T0 + until:
            return incident, plan
        now = max(wake, now + timedelta(seconds=1))
        plan = plan_escalation(incident, policy, now, STARTED)


def _to_contacts(plan: EscalationPlan) -> set[tuple[str, str, str | None, str | None]]:
    return {
        (r.key, r.channel, r.contact, r.method.value if r.method else None)
        for r in plan.notifications
        if r.contact is not None
    }


def test_p0_pages_each_on_call_rotation_on_its_own_service_and_tells_executives() -> None:
    plan = plan_escalation(_incident("P0"), _policy(), T0, STARTED)
    assert _to_contacts(plan) == {
        (
            "escalation-P0-0.on-call-primary.primary.pager/pd",
            "pd",
            "on-call-primary/primary",
            "pager",
        ),
        (
            "escalation-P0-0.on-call-secondary.primary.pager/pd",
            "pd",
            "on-call-secondary/primary",
            "pager",
        ),
        # No executives row: the VP, CTO and CEO rows are told, by chat and e-mail, not paged.
        (
            "escalation-P0-0.vp-engineering.primary.chat/crit",
            "crit",
            "vp-engineering/primary",
            "chat",
        ),
        (
            "escalation-P0-0.vp-engineering.primary.email/mail",
            "mail",
            "vp-engineering/primary",
            "email",
        ),
        ("escalation-P0-0.cto.primary.chat/crit", "crit", "cto/primary", "chat"),
        ("escalation-P0-0.cto.primary.email/mail", "mail", "cto/primary", "email"),
        ("escalation-P0-0.ceo.primary.email/mail", "mail", "ceo/primary", "email"),
    }
    keys = {r.key for r in plan.notifications}
    # Every paged target has its own service: the shared routing key is not triggered.
    assert "escalation-P0-0/pd" not in keys
    assert {"escalation-P0-0/crit", "escalation-P0-0/mail", "declaration/crit"} <= keys


def test_without_contacts_the_channel_routing_key_is_paged_as_before() -> None:
    plan = plan_escalation(_incident("P0"), _policy([]), T0, STARTED)
    assert _to_contacts(plan) == set()
    assert "escalation-P0-0/pd" in {r.key for r in plan.notifications}


def test_a_phone_step_pages_its_target_with_severity_critical_and_its_own_dedup_key() -> None:
    incident, plan = _run(_incident("P1"), _policy(), timedelta(hours=2))
    phone = [r for r in plan.notifications if r.method is ContactMethod.PHONE and r.contact]
    assert [(r.key, r.contact) for r in phone] == [
        ("escalation-P1-3.vp-engineering.primary.phone/pd", "vp-engineering/primary")
    ]
    message, _ = outgoing_message(incident, _policy(), phone[0], T0 + 2 * timedelta(hours=1))
    body = pagerduty_body(message, "pd-vp")
    assert body["dedup_key"] == "incident-operator/n/api/u-1/vp-engineering"
    assert body["payload"]["severity"] == "critical"
    assert body["routing_key"] == "pd-vp"
    pager = next(r for r in plan.notifications if r.contact == "on-call-primary/primary")
    pager_message, _ = outgoing_message(incident, _policy(), pager, T0)
    assert pager_message.dedup_key == "incident-operator/n/api/u-1/on-call-primary"
    assert pagerduty_body(pager_message, "k")["payload"]["severity"] == "error"
    chat = next(
        r
        for r in plan.notifications
        if r.key.startswith("escalation-P1-3.vp-engineering.primary.chat")
    )
    chat_message, _ = outgoing_message(incident, _policy(), chat, T0)
    assert slack_body(chat_message, "#incident-high")["text"].startswith("<@U0VERA> ")


@pytest.mark.parametrize("acknowledged", [False, True])
def test_the_backup_is_told_when_nobody_acknowledged_within_the_window(acknowledged: bool) -> None:
    policy = _policy()
    incident = _incident("P0")
    plan = plan_escalation(incident, policy, T0, STARTED)
    incident = _then(incident, plan)
    plan = plan_escalation(incident, policy, T0 + 15 * MINUTE, STARTED)
    vp = next(c for c in plan.escalation.contacts if c.key == "P0-1.vp-engineering")
    # The window of the VP step ends at the next step (the CTO at 30 minutes).
    assert vp.backup_due_at == T0 + 30 * MINUTE
    assert plan.schedule_wake_at == T0 + 30 * MINUTE
    incident = _then(incident, plan, acknowledged_at=T0 + 20 * MINUTE if acknowledged else None)
    plan = plan_escalation(incident, policy, T0 + 30 * MINUTE, STARTED)
    backup = [r for r in plan.notifications if r.contact == "vp-engineering/backup"]
    entries = [e for e in plan.entries if e.type is EntryType.BACKUP_NOTIFIED]
    if acknowledged:
        assert backup == []
        assert entries == []
        return
    assert [(r.key, r.method) for r in backup] == [
        ("escalation-P0-1.vp-engineering.backup.phone/pd", ContactMethod.PHONE)
    ]
    assert "VP Engineering backup Victor (phone)" in entries[0].message
    # Once: the next pass tells nobody again.
    incident = _then(incident, plan)
    again = plan_escalation(incident, policy, T0 + 31 * MINUTE, STARTED)
    assert len([r for r in again.notifications if r.contact == "vp-engineering/backup"]) == 1
    assert not [e for e in again.entries if e.type is EntryType.BACKUP_NOTIFIED]


def test_the_last_step_uses_the_roles_acknowledge_within() -> None:
    contacts = [
        {
            "role": "ceo",
            "primary": _person("Cai", "pd-ceo"),
            "backup": _person("Cora", "pd-ceo-2"),
            "acknowledgeWithin": "5m",
        }
    ]
    _, plan = _run(_incident("P0"), _policy(contacts), timedelta(minutes=60))
    ceo = next(c for c in plan.escalation.contacts if c.key == "P0-3.ceo")
    assert ceo.backup_due_at == T0 + 65 * MINUTE


def test_a_security_breach_tells_the_security_lead_at_once_and_once() -> None:
    policy = _policy()
    incident = _incident("P2", triggers={"securityBreach": True})
    plan = plan_escalation(incident, policy, T0 + MINUTE, STARTED)
    security = [r for r in plan.notifications if r.contact == "security-lead/primary"]
    # Every way the Security Lead has: a page (a phone call) and a mention in the chat.
    assert {(r.channel, r.method) for r in security} == {
        ("pd", ContactMethod.PHONE),
        ("crit", ContactMethod.CHAT),
    }
    assert any(e.type is EntryType.CONTACT_NOTIFIED and "Sam" in e.message for e in plan.entries)
    # The move to the next step still happens.
    assert [t.name.value for t in plan.escalation.triggers] == ["securityBreach"]
    incident = _then(incident, plan)
    again = plan_escalation(incident, policy, T0 + 2 * MINUTE, STARTED)
    assert len([r for r in again.notifications if r.contact == "security-lead/primary"]) == len(
        security
    )
    # Its backup follows after its acknowledgeWithin (10m) without an acknowledgement.
    later = plan_escalation(_then(incident, again), policy, T0 + 11 * MINUTE, STARTED)
    assert any(r.contact == "security-lead/backup" for r in later.notifications)


def test_acknowledge_and_resolve_reach_every_contact_paged() -> None:
    policy = _policy()
    incident, plan = _run(_incident("P0"), policy, timedelta(minutes=15))
    status = incident.status.model_copy(update={"acknowledged_at": T0 + 16 * MINUTE})
    incident = incident.model_copy(update={"status": status})
    plan = plan_escalation(incident, policy, T0 + 16 * MINUTE, STARTED)
    acks = {
        (r.channel, r.contact)
        for r in plan.notifications
        if r.kind is NotificationKind.ACKNOWLEDGEMENT
    }
    assert acks == {
        ("pd", "on-call-primary/primary"),
        ("pd", "on-call-secondary/primary"),
        ("pd", "vp-engineering/primary"),
    }
    record = next(
        r for r in plan.notifications if r.key == "acknowledgement.vp-engineering.primary/pd"
    )
    message, _ = outgoing_message(incident, policy, record, T0 + 16 * MINUTE)
    assert pagerduty_body(message, "pd-vp") == {
        "routing_key": "pd-vp",
        "event_action": "acknowledge",
        "dedup_key": "incident-operator/n/api/u-1/vp-engineering",
    }


def test_a_contact_must_name_channels_of_the_right_type() -> None:
    bad = [
        {
            "role": "cto",
            "primary": {"name": "Cleo", "email": {"channel": "pd", "address": "c@x.io"}},
        }
    ]
    with pytest.raises(ValidationError, match="contact's pagerduty, slack and email channel"):
        _policy(bad)
    with pytest.raises(ValidationError, match="at least one of pagerduty, slack or email"):
        _policy([{"role": "cto", "primary": {"name": "Cleo"}}])


def test_a_record_to_a_contact_round_trips() -> None:
    record = NotificationRecord(
        key="escalation-P0-1.vp-engineering.primary.phone/pd",
        kind=NotificationKind.ESCALATION,
        channel="pd",
        due_at=T0,
        created_at=T0,
        contact="vp-engineering/primary",
        method=ContactMethod.PHONE,
    )
    dumped = record.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert dumped["contact"] == "vp-engineering/primary"
    assert dumped["method"] == "phone"


def _restarted(incident: Incident) -> Incident:
    """The incident as a restarted operator reads it back from the API server."""
    return Incident.model_validate(incident.model_dump(by_alias=True, mode="json"))


def test_a_restart_neither_forgets_nor_repeats_the_backup() -> None:
    policy = _policy()
    incident, _ = _run(_incident("P0"), policy, timedelta(minutes=15))
    # Down from 16 to 40 minutes: the backup, due at 30, goes out when it is back, once.
    incident = _restarted(incident)
    plan = plan_escalation(incident, policy, T0 + 40 * MINUTE, T0 + 40 * MINUTE)
    backup = [r for r in plan.notifications if r.contact == "vp-engineering/backup"]
    assert [r.key for r in backup] == ["escalation-P0-1.vp-engineering.backup.phone/pd"]
    incident = _restarted(_then(incident, plan))
    again = plan_escalation(incident, policy, T0 + 41 * MINUTE, T0 + 41 * MINUTE)
    assert [r.key for r in again.notifications if r.contact == "vp-engineering/backup"] == [
        r.key for r in backup
    ]
    assert not [e for e in again.entries if e.type is EntryType.BACKUP_NOTIFIED]
    message, _ = outgoing_message(incident, policy, backup[0], T0 + 40 * MINUTE)
    assert "not acknowledged within the window" in message.text
    assert message.dedup_key == "incident-operator/n/api/u-1/vp-engineering/backup"


def test_the_timeline_says_whom_a_step_reached() -> None:
    incident, _ = _run(_incident("P0"), _policy(), timedelta(minutes=10))
    plan = plan_escalation(incident, _policy(), T0 + 15 * MINUTE, STARTED)
    (entry,) = [e for e in plan.entries if e.type is EntryType.ESCALATED]
    assert entry.message.startswith("P0-1 to VP Engineering (phone): ")
    assert entry.message.endswith("via crit, VP Engineering: Vera (phone)")


@pytest.mark.parametrize(
    ("contacts", "steps", "expected"),
    [
        # No contacts: the channels' routing keys, as before; nothing to resolve.
        ([], [], []),
        (
            CONTACTS,
            [],
            [
                "the runbook's matrix names roles not in spec.contacts: "
                "engineering-manager, team-lead"
            ],
        ),
        (
            CONTACTS,
            [
                {
                    "severities": ["P1"],
                    "after": "0s",
                    "targets": [
                        {"name": "Primary", "method": "pager", "role": "on-call-primary"},
                        {"name": "Director", "method": "phone", "role": "director"},
                    ],
                }
            ],
            ["spec.escalation.steps[0].targets[1].role: no 'director' in spec.contacts"],
        ),
    ],
)
def test_roles_without_a_contact_are_named(
    contacts: list[Any], steps: list[Any], expected: list[str]
) -> None:
    policy = _policy(contacts, escalation={"steps": steps})
    assert contact_problems(policy) == expected
    condition = contacts_condition([], expected, T0, 3)
    assert condition is not None
    assert condition.status is (ConditionStatus.FALSE if expected else ConditionStatus.TRUE)
    assert condition.reason == (Reason.UNKNOWN_ROLE if expected else Reason.CONTACTS_FOUND)
    # Unchanged: nothing to write.
    assert contacts_condition([condition], expected, T0 + MINUTE, 3) is None


def test_a_rotations_contact_is_named_with_whoever_is_on_call_in_it() -> None:
    rotation = {
        "name": "primary",
        "people": ["alice", "bob"],
        "start": "2026-11-23T09:00:00Z",
        "length": "168h",
    }
    rotating = _person("SRE primary rotation", "pd-primary") | {"rotation": "primary"}
    policy = _policy([{"role": "on-call-primary", "primary": rotating}], rotations=[rotation])
    contact = policy.spec.contacts[0].primary
    assert describe_contact(contact, policy, T0) == (
        "SRE primary rotation (rotation primary: alice on call)"
    )
    # A week later the turn has passed to bob.
    assert "bob on call" in describe_contact(contact, policy, T0 + timedelta(days=7))
    # No such rotation (or no policy): the name and the rotation, no person.
    unknown = _policy([{"role": "on-call-primary", "primary": rotating}])
    assert describe_contact(contact, unknown, T0) == "SRE primary rotation (rotation primary)"


def test_show_lists_the_contacts_told_and_their_backups() -> None:
    status = {
        "escalation": {
            "contacts": [
                {
                    "key": "P0-1.vp-engineering",
                    "role": "vp-engineering",
                    "target": "VP Engineering: Vera",
                    "reason": "P0 matrix step 2",
                    "reachedAt": "2026-11-25T10:15:00Z",
                    "backupDueAt": "2026-11-25T10:30:00Z",
                },
                {
                    "key": "P0-2.cto",
                    "role": "cto",
                    "target": "CTO: Chris",
                    "reason": "P0 matrix step 3",
                    "reachedAt": "2026-11-25T10:30:00Z",
                    "backupDueAt": "2026-11-25T11:00:00Z",
                    "backupReachedAt": "2026-11-25T11:00:01Z",
                },
            ]
        }
    }
    lines = contacts_section(status, T0 + 20 * MINUTE)
    assert lines[1] == "Contacts told:"
    assert lines[2].startswith("  VP Engineering: Vera at 2026-11-25T10:15:00Z (P0 matrix step 2)")
    assert "backup told if unacknowledged" in lines[2]
    assert "in 10m" in lines[2]
    assert lines[3].endswith("; backup told at 2026-11-25T11:00:01Z")
    acknowledged = {**status, "acknowledgedAt": "2026-11-25T10:16:00Z"}
    assert contacts_section(acknowledged, T0)[2].endswith("acknowledged, backup not needed")
    assert contacts_section({}, T0) == []
