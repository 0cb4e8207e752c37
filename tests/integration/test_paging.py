"""Paging that reaches new people, on a real API server with the local receivers.

Each contact of spec.contacts has a PagerDuty service of its own (a routing key in the
channels' Secret); the local PagerDuty receiver shows which routing key and dedup key
each trigger, acknowledge and resolve carried.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.harness.incidents import PRE_RESOLUTION_TICKED
from tests.harness.wait import wait_until
from tests.support.escalation_env import (
    SECRET_NAME,
    EscalationEnv,
    all_sent,
    channels,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    incident,
    records,
    time_of,
)
from tests.support.receivers import HOST, SmtpRecorder

pytestmark = pytest.mark.timeout(300)

# Each contact's own PagerDuty routing key (secrets: they must not leak either).
KEYS = {
    "on-call-primary": "PRIMARYkey0123456789abcdef0000",
    "on-call-secondary": "SECONDARYkey0123456789abcdef00",
    "vp-engineering": "VPkey0123456789abcdef000000000",
    "vp-backup": "VPBACKUPkey0123456789abcdef000",
    "cto": "CTOkey0123456789abcdef00000000",
    "security-lead": "SECURITYkey0123456789abcdef000",
}


def _person(name: str, key: str, **methods: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pagerduty": {"channel": "pagerduty", "secretRef": {"name": SECRET_NAME, "key": key}},
        **methods,
    }


def _contacts() -> list[dict[str, Any]]:
    return [
        {"role": "on-call-primary", "primary": _person("SRE primary", "on-call-primary")},
        {"role": "on-call-secondary", "primary": _person("SRE secondary", "on-call-secondary")},
        {
            "role": "vp-engineering",
            "title": "VP Engineering",
            "primary": _person(
                "Vera",
                "vp-engineering",
                slack={"mention": "U0VERA"},
                email={"channel": "mail", "address": "vera@example.com"},
            ),
            "backup": _person("Victor", "vp-backup"),
        },
        {
            "role": "cto",
            "title": "CTO",
            "primary": _person(
                "Cleo", "cto", email={"channel": "mail", "address": "cleo@example.com"}
            ),
        },
        {
            "role": "security-lead",
            "title": "Security Lead",
            "primary": _person("Sam", "security-lead", slack={"mention": "U0SAM"}),
        },
    ]


@pytest.fixture(name="smtp")
def plain_smtp() -> Iterator[SmtpRecorder]:
    smtp = SmtpRecorder().start()
    yield smtp
    smtp.stop()


def _setup(env: EscalationEnv, smtp: SmtpRecorder, **spec: Any) -> None:
    env.create_secret(**KEYS)
    mail = {
        "name": "mail",
        "type": "email",
        "email": {
            "host": HOST,
            "port": smtp.port,
            "startTls": False,
            "from": "incidents@example.com",
            "to": ["sre@example.com"],
        },
    }
    env.apply_policy(
        channels=[*channels(env.http, "pagerduty", "slack-critical", "slack-high"), mail],
        contacts=_contacts(),
        **spec,
    )


def _pages(env: EscalationEnv) -> list[tuple[str, str, str, str | None]]:
    """(event_action, whose routing key, dedup key's last part, payload severity)."""
    by_key = {value: role for role, value in KEYS.items()}
    return [
        (
            c.body["event_action"],
            by_key.get(c.body["routing_key"], "channel"),
            c.body["dedup_key"].split("/", 3)[-1],
            (c.body.get("payload") or {}).get("severity"),
        )
        for c in env.http.received("/pagerduty")
    ]


def test_p0_pages_each_on_call_rotation_on_its_own_service_and_tells_executives_at_once(
    env: EscalationEnv, smtp: SmtpRecorder
) -> None:
    # No steps: the runbook's matrix, whose first P0 step also notifies executives.
    _setup(env, smtp)
    with env.operator() as operator:
        env.apply(incident("outage", "P0"))
        body = env.wait_for(
            "outage",
            lambda b: escalation(b).get("level") == 1 and all_sent(b, 8),
            "the first P0 step's pages and notices sent",
            operator,
        )
        uid = body["metadata"]["uid"]
        pages = _pages(env)
        # A new alert for each rotation, on its own service; the shared key is not paged.
        assert sorted(pages) == [
            ("trigger", "on-call-primary", f"{uid}/on-call-primary", "critical"),
            ("trigger", "on-call-secondary", f"{uid}/on-call-secondary", "critical"),
        ]
        # Executive leadership (no executives row: the VP and CTO rows), at declaration,
        # by chat and e-mail, not paged.
        slack = [c.body["text"] for c in env.http.received("/slack")]
        assert any(text.startswith("<@U0VERA> ") for text in slack), slack
        recipients = sorted(to for mail in smtp.received() for to in mail.rcpt_tos)
        assert recipients == ["cleo@example.com", "sre@example.com", "vera@example.com"]
        step = escalation(body)["steps"][0]
        assert step["targets"] == [
            "All on-call (pager)",
            "Executive leadership (chat)",
            "Executive leadership (email)",
        ]
        # The matrix's roles without a row are named on the policy (they page the channels').
        policy = env.wait_for(
            "team",
            lambda b: any(
                c["type"] == "ContactsResolved" and c["status"] == "False"
                for c in (b.get("status") or {}).get("conditions", [])
            ),
            "the policy's ContactsResolved=False",
            operator,
            kind="escalationpolicy",
        )
        (resolved,) = [c for c in policy["status"]["conditions"] if c["type"] == "ContactsResolved"]
        assert resolved["reason"] == "UnknownRole"
        assert "not in spec.contacts: ceo, engineering-manager, team-lead" in resolved["message"]
    env.assert_no_secret("outage", also=KEYS)


def test_each_step_pages_new_people_a_phone_is_critical_and_the_backup_follows(
    env: EscalationEnv, smtp: SmtpRecorder
) -> None:
    steps = [
        {
            "severities": ["P1"],
            "after": "0s",
            "targets": [{"name": "Primary on-call", "method": "pager", "role": "on-call-primary"}],
        },
        {
            "severities": ["P1"],
            "after": "2s",
            "targets": [{"name": "VP Engineering", "method": "phone", "role": "vp-engineering"}],
        },
        {
            "severities": ["P1"],
            "after": "8s",
            "targets": [{"name": "CTO", "method": "phone", "role": "cto"}],
        },
    ]
    _setup(env, smtp, escalation={"steps": steps})
    with env.operator() as operator:
        env.apply(incident("slow", "P1"))
        # Acknowledged at once: its VP step's backup must never be paged.
        env.apply(incident("acked", "P1"))
        env.wait_for(
            "acked", lambda b: (b.get("status") or {}).get("id"), "the acknowledged one opened"
        )
        env.kubectl(
            "annotate", "incident", "acked", "-n", env.namespace,
            "sre.agentos.io/acknowledged-by=admin",
        )  # fmt: skip
        body = env.wait_for(
            "slow",
            lambda b: (
                escalation(b).get("level") == 3
                and any(r.get("contact") == "vp-engineering/backup" for r in records(b))
                and all_sent(b, 4)
            ),
            "three steps and the VP's backup paged",
            operator,
        )
        uid = body["metadata"]["uid"]
        slow = [p for p in _pages(env) if p[2].startswith(uid)]
        assert sorted(slow) == sorted(
            [
                ("trigger", "on-call-primary", f"{uid}/on-call-primary", "error"),
                ("trigger", "vp-engineering", f"{uid}/vp-engineering", "critical"),
                ("trigger", "vp-backup", f"{uid}/vp-engineering/backup", "critical"),
                ("trigger", "cto", f"{uid}/cto", "critical"),
            ]
        )
        vp = next(c for c in escalation(body)["contacts"] if c["role"] == "vp-engineering")
        assert vp["backupReachedAt"] >= vp["backupDueAt"]
        timeline = body["status"]["timeline"]
        assert any(
            e["type"] == "BackupNotified" and "Victor (phone)" in e["message"] for e in timeline
        )
        assert "BackupNotified" in {e["reason"] for e in env.events()}

        acked = env.wait_for(
            "acked",
            lambda b: escalation(b).get("level") == 3 and all_sent(b),
            "the acknowledged incident's three steps",
            operator,
        )
        assert not any(r.get("contact") == "vp-engineering/backup" for r in records(acked))
        acked_uid = acked["metadata"]["uid"]
        assert f"{acked_uid}/vp-engineering/backup" not in {p[2] for p in _pages(env)}

        # Acknowledged and resolved: every alert opened hears both, on its own key.
        env.kubectl(
            "annotate", "incident", "slow", "-n", env.namespace,
            "sre.agentos.io/acknowledged-by=admin",
        )  # fmt: skip
        env.kubectl(
            "patch", "incident", "slow", "-n", env.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED}}),
        )  # fmt: skip
        env.wait_for(
            "slow",
            lambda b: (
                len([r for r in records(b) if r["kind"] == "Resolution" and r.get("contact")]) == 4
                and all_sent(b)
            ),
            "every contact's alert resolved",
            operator,
        )
        closing = {(p[0], p[1], p[2]) for p in _pages(env) if p[2].startswith(uid)}
        for who, dedup in (
            ("on-call-primary", "on-call-primary"),
            ("vp-engineering", "vp-engineering"),
            ("vp-backup", "vp-engineering/backup"),
            ("cto", "cto"),
        ):
            assert ("acknowledge", who, f"{uid}/{dedup}") in closing
            assert ("resolve", who, f"{uid}/{dedup}") in closing
    env.assert_no_secret("slow", "acked", also=KEYS)


def test_a_security_breach_pages_the_security_lead_at_once(
    env: EscalationEnv, smtp: SmtpRecorder
) -> None:
    _setup(env, smtp)
    with env.operator() as operator:
        env.apply(incident("breach", "P2", triggers={"securityBreach": True}))
        body = env.wait_for(
            "breach",
            lambda b: (
                any(r.get("contact") == "security-lead/primary" for r in records(b)) and all_sent(b)
            ),
            "the Security Lead notified",
            operator,
        )
        uid = body["metadata"]["uid"]
        # A P2 pages nobody by the matrix; the Security Lead is phoned all the same.
        assert _pages(env) == [("trigger", "security-lead", f"{uid}/security-lead", "critical")]
        assert any(c.body["text"].startswith("<@U0SAM> ") for c in env.http.received("/slack"))
        # The trigger still moves the escalation to the next step.
        assert escalation(body)["triggers"][0]["name"] == "securityBreach"
        assert any(e["type"] == "ContactNotified" for e in body["status"]["timeline"])
    env.assert_no_secret("breach", also=KEYS)


def test_a_backup_due_while_the_operator_is_down_is_paged_once_when_it_is_back(
    env: EscalationEnv, smtp: SmtpRecorder
) -> None:
    # One step: its window is the role's acknowledgeWithin, short for the test.
    steps = [
        {
            "severities": ["P1"],
            "after": "0s",
            "targets": [{"name": "VP Engineering", "method": "phone", "role": "vp-engineering"}],
        }
    ]
    vp = next(c for c in _contacts() if c["role"] == "vp-engineering")
    vp["acknowledgeWithin"] = "8s"
    del vp["primary"]["email"]
    env.create_secret(**KEYS)
    env.apply_policy(
        channels=channels(env.http, "pagerduty", "slack-high"),
        contacts=[vp],
        escalation={"steps": steps},
    )
    with env.operator("first.log") as operator:
        env.apply(incident("quiet", "P1"))
        body = env.wait_for(
            "quiet",
            lambda b: escalation(b).get("contacts") and all_sent(b),
            "the VP paged",
            operator,
        )
    (reach,) = escalation(body)["contacts"]
    assert "backupReachedAt" not in reach
    due = time_of(reach["backupDueAt"])
    # The operator is down when the backup falls due.
    wait_until(
        lambda: datetime.now(UTC) > due + timedelta(seconds=1),
        what="the backup's time to pass",
        timeout=30,
    )
    with env.operator("second.log") as operator:
        body = env.wait_for(
            "quiet",
            lambda b: (
                any(r.get("contact") == "vp-engineering/backup" for r in records(b)) and all_sent(b)
            ),
            "the backup paged after the restart",
            operator,
        )
        uid = body["metadata"]["uid"]
        (backup,) = [r for r in records(body) if r.get("contact") == "vp-engineering/backup"]
        # Due while no operator ran: marked late.
        assert backup["late"] is True
    pages = [p for p in _pages(env) if p[2] == f"{uid}/vp-engineering/backup"]
    assert pages == [("trigger", "vp-backup", f"{uid}/vp-engineering/backup", "critical")]
    env.assert_no_secret("quiet", also=KEYS)
