"""Issue 14 items 8 and 9: post-mortem deadlines from the policy, the fields people fill,
the owner before Closed, "In Review" as the runbook spells it, and the related runbooks
and dashboards of the runbook's appendix."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident, PostMortemStatusWord
from incident_operator.domain.conditions import find_condition
from incident_operator.domain.links import (
    RUNBOOK_DASHBOARDS,
    RUNBOOK_RELATED_RUNBOOKS,
    Link,
    related_links,
    with_base,
)
from incident_operator.domain.notifications import NotificationKind
from incident_operator.domain.phases import Phase
from incident_operator.domain.postmortem import (
    BLAMELESS_PRINCIPLES,
    PostMortemFacts,
    postmortem_required,
    render_postmortem,
)
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.governing_policy import GoverningPolicy, effective_level
from incident_operator.reconcile.incident import Outcome, reconcile_incident
from incident_operator.reconcile.messages import message_context, render_message
from incident_operator.reconcile.related_links import policy_links
from tests.unit.test_reconcile import VERIFIED

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
RESOLVED_AT = T0 + timedelta(minutes=30)
NO_POLICY = GoverningPolicy(None, Reason.NO_POLICY, "none")


def _policy(**spec: Any) -> EscalationPolicy:
    metadata = {"name": "team", "namespace": "n"}
    return EscalationPolicy.model_validate({"metadata": metadata, "spec": spec})


def _governing(policy: EscalationPolicy) -> GoverningPolicy:
    return GoverningPolicy(policy, Reason.BY_REFERENCE, "policy team (policyRef)")


def _resolved(severity: str = "P1", **spec: Any) -> Incident:
    """An incident people declared already Resolved (and verified) at RESOLVED_AT."""
    return Incident.model_validate(
        {
            "metadata": {"name": "checkout", "namespace": "n", "generation": 1},
            "spec": {
                "title": "Checkout down",
                "severity": severity,
                "state": "Resolved",
                "checklist": VERIFIED,
                **spec,
            },
        }
    )


def _run(incident: Incident, governing: GoverningPolicy = NO_POLICY) -> Outcome:
    return reconcile_incident(incident, governing, RESOLVED_AT, "INC-0007")


# ----------------------------------------------------------------------------- deadlines


def test_a_policy_override_of_1h_2h_gives_those_deadlines() -> None:
    policy = _policy(postMortem={"P1": {"scheduleWithin": "1h", "completeWithin": "2h"}})
    level = effective_level(Severity.P1, policy)
    assert level.postmortem_schedule_within == timedelta(hours=1)
    assert level.postmortem_complete_within == timedelta(hours=2)
    outcome = _run(_resolved(), _governing(policy))
    assert outcome.status.post_mortem is not None
    assert outcome.status.post_mortem.schedule_due_at == RESOLVED_AT + timedelta(hours=1)
    assert outcome.status.post_mortem.complete_due_at == RESOLVED_AT + timedelta(hours=2)


def test_without_an_override_the_runbook_timeline_holds() -> None:
    policy = _policy(postMortem={"P0": {"scheduleWithin": "1h"}})
    outcome = _run(_resolved(), _governing(policy))
    assert outcome.status.post_mortem is not None
    assert outcome.status.post_mortem.schedule_due_at == RESOLVED_AT + timedelta(hours=48)
    assert outcome.status.post_mortem.complete_due_at == RESOLVED_AT + timedelta(weeks=1)


def test_a_partial_override_keeps_the_other_deadline() -> None:
    policy = _policy(postMortem={"P1": {"completeWithin": "72h"}})
    level = effective_level(Severity.P1, policy)
    assert level.postmortem_schedule_within == timedelta(hours=48)
    assert level.postmortem_complete_within == timedelta(hours=72)


def test_p4_needs_no_post_mortem_unless_a_policy_gives_it_a_deadline() -> None:
    assert not postmortem_required(effective_level(Severity.P4, None))
    plain = _run(_resolved("P4"))
    assert plain.status.post_mortem is None
    policy = _policy(postMortem={"P4": {"completeWithin": "720h"}})
    assert postmortem_required(effective_level(Severity.P4, policy))
    outcome = _run(_resolved("P4"), _governing(policy))
    assert outcome.status.post_mortem is not None
    assert outcome.status.post_mortem.schedule_due_at is None
    assert outcome.status.post_mortem.complete_due_at == RESOLVED_AT + timedelta(hours=720)
    assert outcome.postmortem_draft is not None
    assert "postMortemScheduled" in [item.key for item in outcome.status.checklist]


# -------------------------------------------------------------------------- owner first


def _ready_message(outcome: Outcome) -> str:
    ready = find_condition(outcome.status.conditions, ConditionType.READY_TO_CLOSE)
    assert ready is not None
    return ready.message


_ALL_DONE: dict[str, Any] = {
    "annotations": {"sre.agentos.io/acknowledged-by": "alice"},
    "checklist": {
        "rootCauseIdentified": True,
        "fixVerified": True,
        "systemsRecovered": True,
        "lessonsLearned": True,
        # Nothing monitors it and no customer message went out: people tick these.
        "metricsNormal": True,
        "customerCommunicationSent": True,
        **VERIFIED,
    },
}


def _everything_done(post_mortem: dict[str, Any]) -> Incident:
    incident = Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "n",
                "generation": 1,
                "annotations": _ALL_DONE["annotations"],
            },
            "spec": {
                "title": "Checkout down",
                "severity": "P2",
                "state": "Resolved",
                "checklist": _ALL_DONE["checklist"],
                "actionItems": [{"id": "AI-1", "action": "a", "owner": "bob", "priority": "P2"}],
                "postMortem": post_mortem,
            },
        }
    )
    first = _run(incident)
    return incident.model_copy(update={"status": first.status})


def test_a_final_post_mortem_without_an_owner_blocks_closing() -> None:
    final = {"status": "Final", "scheduledAt": RESOLVED_AT.isoformat()}
    outcome = reconcile_incident(
        _everything_done(final), NO_POLICY, RESOLVED_AT + timedelta(minutes=1), None
    )
    assert outcome.status.phase is Phase.POST_INCIDENT
    assert _ready_message(outcome) == (
        "cannot close yet: no post-mortem owner (spec.postMortem.owner)"
    )
    owned = {**final, "owner": "carol"}
    outcome = reconcile_incident(
        _everything_done(owned), NO_POLICY, RESOLVED_AT + timedelta(minutes=1), None
    )
    assert outcome.status.phase is Phase.CLOSED


def test_no_owner_is_asked_where_no_post_mortem_is_required() -> None:
    outcome = _run(_resolved("P4"))
    assert "owner" not in _ready_message(outcome)


# ------------------------------------------------------------------------------ In Review


@pytest.mark.parametrize(
    ("word", "spelled"),
    [
        (PostMortemStatusWord.DRAFT, "Draft"),
        (PostMortemStatusWord.IN_REVIEW, "In Review"),
        (PostMortemStatusWord.FINAL, "Final"),
    ],
)
def test_status_words_read_as_the_runbook_spells_them(
    word: PostMortemStatusWord, spelled: str
) -> None:
    assert word.spelled == spelled


def test_in_review_reads_in_review_in_the_draft_and_the_timeline() -> None:
    outcome = _run(_resolved(postMortem={"status": "InReview", "owner": "carol"}))
    assert outcome.postmortem_draft is not None
    assert "**Status:** In Review\n" in outcome.postmortem_draft
    messages = [entry.message for entry in outcome.new_entries]
    assert "post-mortem is In Review" in messages


# ---------------------------------------------------------------------------------- draft


def _facts(**changes: Any) -> PostMortemFacts:
    base = PostMortemFacts(
        title="Checkout down",
        incident_id="INC-0042",
        severity=Severity.P1,
        status="Draft",
        authors=[],
        detected_at=T0,
        resolved_at=RESOLVED_AT,
        summary="",
        impact="",
        data_loss=False,
        root_cause=None,
        resolution=[],
        timeline=[],
        action_items=[],
    )
    return PostMortemFacts(**{**base.__dict__, **changes})


def test_an_unfilled_draft_keeps_the_runbook_placeholders() -> None:
    text = render_postmortem(_facts(), RESOLVED_AT)
    for placeholder in (
        "**Authors:** [Names]",
        "- **Users Affected:** [number/percentage]",
        "- **Revenue Impact:** [if applicable]",
        "- **Data Loss:** No\n",
        "1. [Factor 1]\n2. [Factor 2]",
        "### What Went Well\n\n- [Item 1]\n- [Item 2]",
        "### What Could Be Improved\n\n- [Item 1]\n- [Item 2]",
    ):
        assert placeholder in text
    assert "**Document:**" not in text
    assert "**Owner:**" not in text
    assert "## Related Runbooks and Dashboards" not in text


def test_the_draft_carries_the_blameless_principles_as_guidance() -> None:
    text = render_postmortem(_facts(), RESOLVED_AT)
    comment = text[text.index("<!--") : text.index("-->")]
    assert [principle for principle, _ in BLAMELESS_PRINCIPLES] == [
        "Focus on systems, not people",
        "Assume good intentions",
        "Seek understanding, not blame",
        "Learn and improve",
    ]
    for number, (principle, questions) in enumerate(BLAMELESS_PRINCIPLES, 1):
        assert f"{number}. {principle}" in comment
        for question in questions:
            assert f"   - {question}" in comment
    assert text.index("-->") < text.index("## Summary")


def test_a_filled_draft_takes_what_people_wrote() -> None:
    outcome = _run(
        _resolved(
            impact="all checkouts",
            triggers={"dataLoss": True},
            postMortem={
                "status": "Draft",
                "owner": "carol",
                "authors": ["carol", "dave"],
                "contributingFactors": ["No canary", "Alert too slow"],
                "lessonsLearned": {
                    "wentWell": ["Rollback was quick"],
                    "couldBeImproved": ["Paging took 10 minutes"],
                },
                "usersAffected": "12% of users",
                "revenueImpact": "About $4k of orders delayed",
                "dataLoss": "40 carts lost between 10:02 and 10:09",
                "documentUrl": "https://docs.example/pm/inc-0007",
            },
        )
    )
    text = outcome.postmortem_draft
    assert text is not None
    assert "**Authors:** carol, dave\n" in text
    assert "**Owner:** @carol\n" in text
    assert "**Document:** https://docs.example/pm/inc-0007\n" in text
    assert "- **Users Affected:** 12% of users\n" in text
    assert "- **Revenue Impact:** About $4k of orders delayed\n" in text
    assert "- **Data Loss:** Yes - 40 carts lost between 10:02 and 10:09\n" in text
    assert "## Contributing Factors\n\n1. No canary\n2. Alert too slow\n" in text
    assert "### What Went Well\n\n- Rollback was quick\n" in text
    assert "### What Could Be Improved\n\n- Paging took 10 minutes\n" in text
    assert "[Factor 1]" not in text


def test_users_affected_falls_back_to_the_impact() -> None:
    outcome = _run(_resolved(impact="all checkouts"))
    assert outcome.postmortem_draft is not None
    assert "- **Users Affected:** all checkouts\n" in outcome.postmortem_draft


def test_the_draft_lists_the_related_runbooks_and_dashboards() -> None:
    policy = _policy(
        links={
            "dashboardBaseUrl": "https://grafana.example/",
            "runbooks": [{"name": "Checkout", "url": "https://wiki.example/checkout"}],
        }
    )
    outcome = _run(_resolved(), _governing(policy))
    text = outcome.postmortem_draft
    assert text is not None
    section = text[text.index("## Related Runbooks and Dashboards") :]
    assert "| System Overview | https://grafana.example/d/system-overview | High-level" in section
    assert "- [Checkout](https://wiki.example/checkout)" in section
    assert "kill_switch.md" not in section


# ---------------------------------------------------------------------------------- links


def test_the_default_links_are_the_runbook_appendix() -> None:
    # The appendix's Dashboard Links table and Related Runbooks list, as the runbook has them.
    assert [(d.name, d.url, d.purpose) for d in RUNBOOK_DASHBOARDS] == [
        ("System Overview", "/d/system-overview", "High-level system health"),
        ("Agent Execution", "/d/agent-execution", "Agent performance metrics"),
        ("API Performance", "/d/api-performance", "API latency and errors"),
        ("Infrastructure", "/d/infrastructure", "Resource utilization"),
    ]
    assert [(r.url, r.purpose) for r in RUNBOOK_RELATED_RUNBOOKS] == [
        ("./agent_troubleshooting.md", "Agent debugging"),
        ("./security_incidents.md", "Security response"),
        ("./kill_switch.md", "Emergency stop procedures"),
        ("./pii_redaction.md", "PII handling"),
    ]
    assert policy_links(None) == related_links(RUNBOOK_DASHBOARDS, RUNBOOK_RELATED_RUNBOOKS)
    assert policy_links(_policy()) == policy_links(None)


@pytest.mark.parametrize(
    ("url", "base", "shown"),
    [
        ("/d/api-performance", None, "/d/api-performance"),
        (
            "/d/api-performance",
            "https://grafana.example",
            "https://grafana.example/d/api-performance",
        ),
        ("/d/x", "https://grafana.example/sub/", "https://grafana.example/sub/d/x"),
        ("./kill_switch.md", "https://git.example/rb", "https://git.example/rb/kill_switch.md"),
        ("https://other.example/d/y", "https://grafana.example", "https://other.example/d/y"),
    ],
)
def test_paths_go_under_the_base_url_when_one_is_given(
    url: str, base: str | None, shown: str
) -> None:
    assert with_base(url, base) == shown


def test_a_policy_list_replaces_the_appendix_list_it_names() -> None:
    policy = _policy(
        links={
            "dashboards": [{"name": "Checkout", "url": "/d/checkout", "purpose": "Orders"}],
            "dashboardBaseUrl": "https://grafana.example",
        }
    )
    links = policy_links(policy)
    assert links.dashboards == (Link("Checkout", "https://grafana.example/d/checkout", "Orders"),)
    assert links.runbooks == RUNBOOK_RELATED_RUNBOOKS


@pytest.mark.parametrize("url", ["javascript:alert(1)", "https://a b", ""])
def test_a_link_url_must_be_http_or_a_path(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        _policy(links={"dashboards": [{"name": "x", "url": url}]})


@pytest.mark.parametrize("kind", [NotificationKind.DECLARATION, NotificationKind.ESCALATION])
def test_declaration_and_escalation_carry_the_links(kind: NotificationKind) -> None:
    step = {
        "key": "P1-0",
        "severity": "P1",
        "ordinal": 0,
        "after": "0s",
        "targets": ["Primary on-call (pager)"],
        "dueAt": T0.isoformat(),
        "reachedAt": T0.isoformat(),
        "cause": "Schedule",
        "reason": "P1 matrix: 0s after detection",
    }
    incident = Incident.model_validate(
        {
            **_resolved().model_dump(by_alias=True, exclude_none=True, mode="json"),
            "status": {"id": "INC-0007", "escalation": {"level": 1, "steps": [step]}},
        }
    )
    policy = _policy(links={"dashboardBaseUrl": "https://grafana.example"})
    context = message_context(
        incident, kind, "P1-0", RESOLVED_AT, timedelta(minutes=30), links=policy_links(policy)
    )
    text = render_message(kind, context).text
    assert (
        "\nDashboards:\n"
        "- System Overview: https://grafana.example/d/system-overview\n"
        "- Agent Execution: https://grafana.example/d/agent-execution\n"
        "- API Performance: https://grafana.example/d/api-performance\n"
        "- Infrastructure: https://grafana.example/d/infrastructure\n"
        "Runbooks:\n"
        "- agent_troubleshooting.md: ./agent_troubleshooting.md\n"
    ) in text


def test_the_sample_policy_lists_the_appendix_links() -> None:
    sample = Path(__file__).parents[2] / "manifests" / "samples" / "escalationpolicy-runbook.yaml"
    policy = EscalationPolicy.model_validate(yaml.safe_load(sample.read_text()))
    assert policy_links(policy) == policy_links(None)
    assert policy.spec.links.dashboards, "the sample spells the appendix out"
