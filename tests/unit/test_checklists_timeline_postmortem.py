from datetime import UTC, date, datetime, timedelta

import pytest

from incident_operator.domain.checklists import (
    RESPONDER_ITEMS,
    RUNBOOK_CHECKLISTS,
    ChecklistName,
    open_required,
)
from incident_operator.domain.postmortem import (
    ActionItemLine,
    PostMortemFacts,
    postmortem_deadlines,
    render_postmortem,
)
from incident_operator.domain.severity import Severity, level
from incident_operator.domain.timeline import SUMMARY_TYPE, Entry, bound

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def test_checklists_follow_the_runbook() -> None:
    by_list = {
        name: [i.text for i in RUNBOOK_CHECKLISTS if i.checklist is name] for name in ChecklistName
    }
    assert by_list[ChecklistName.DETECTION] == [
        "Alert received and acknowledged",
        "Initial severity assessed",
        "Incident ticket created",
        "On-call notified (if applicable)",
    ]
    assert len(by_list[ChecklistName.RESOLUTION]) == 6
    assert by_list[ChecklistName.PRE_RESOLUTION] == [
        "Root cause identified and documented",
        "Fix implemented in production",
        "Affected systems show normal metrics",
        "Error rates returned to baseline",
        "No new related alerts triggered",
        "Manual verification completed",
        "Customer-facing impact confirmed resolved",
    ]
    assert len(by_list[ChecklistName.POST_INCIDENT]) == 5
    # People may tick what the operator cannot see: also the metric items of an incident
    # nothing monitors, and what the operator ticks only on evidence (a message it sent).
    assert set(RESPONDER_ITEMS) == {
        "rootCauseIdentified",
        "fixVerified",
        "systemsRecovered",
        "metricsNormal",
        "customerCommunicationSent",
        "rootCauseDocumented",
        "fixInProduction",
        "normalMetrics",
        "errorRatesAtBaseline",
        "noNewAlerts",
        "manualVerification",
        "customerImpactResolved",
        "lessonsLearned",
        "runbooksUpdated",
    }


def test_open_required_skips_optional_and_done_items() -> None:
    done = {item.key: True for item in RUNBOOK_CHECKLISTS}
    done["fixVerified"] = False
    done["runbooksUpdated"] = False  # "if needed": not required
    assert [i.key for i in open_required(done, include_post_incident=True)] == ["fixVerified"]
    done["lessonsLearned"] = False
    assert [i.key for i in open_required(done, include_post_incident=False)] == ["fixVerified"]


def _entries(n: int) -> list[Entry]:
    return [Entry(T0 + timedelta(minutes=i), "UpdatePosted", "a", f"m{i}") for i in range(n)]


def test_bound_keeps_short_timelines() -> None:
    assert bound(_entries(5), 10) == _entries(5)


def test_bound_folds_the_oldest_and_counts_them() -> None:
    bounded = bound(_entries(25), 10)
    assert len(bounded) == 10
    assert bounded[0].type == SUMMARY_TYPE
    assert bounded[0].message.startswith("count=16 earlier entries")
    assert bounded[1:] == _entries(25)[16:]
    # Folding again keeps the total.
    again = bound([*bounded, *_entries(5)], 10)
    assert again[0].message.startswith("count=21 ")


@pytest.mark.parametrize(
    ("severity", "schedule", "complete"),
    [
        (Severity.P0, timedelta(hours=24), timedelta(hours=72)),
        (Severity.P1, timedelta(hours=48), timedelta(weeks=1)),
        (Severity.P2, timedelta(weeks=1), timedelta(weeks=2)),
        (Severity.P3, timedelta(weeks=2), timedelta(days=30)),
    ],
)
def test_postmortem_deadlines(severity: Severity, schedule: timedelta, complete: timedelta) -> None:
    assert postmortem_deadlines(level(severity), T0) == (T0 + schedule, T0 + complete)


def test_p4_has_no_postmortem() -> None:
    assert postmortem_deadlines(level(Severity.P4), T0) is None


def test_render_fills_the_runbook_template() -> None:
    facts = PostMortemFacts(
        title="Checkout down",
        incident_id="INC-0042",
        severity=Severity.P0,
        status="Draft",
        authors=["alice"],
        detected_at=T0,
        resolved_at=T0 + timedelta(hours=1, minutes=5),
        summary="Every checkout failed.",
        impact="All users",
        data_loss=False,
        root_cause=None,
        resolution=["rolled back to revision 2"],
        timeline=[(T0, "Declared: opened | by detection"), (T0 + timedelta(minutes=3), "Acked")],
        action_items=[ActionItemLine("AI-1", "Add a canary", "bob", date(2026, 12, 2), "P1")],
    )
    text = render_postmortem(facts, T0 + timedelta(days=1))
    assert text.startswith("# Post-Mortem: Checkout down\n")
    assert "**Incident ID:** INC-0042" in text
    assert "- **Duration:** 1 hours 5 minutes\n" in text
    assert "- **Data Loss:** No" in text
    assert "| 10:00 | Declared: opened \\| by detection |" in text
    assert "| AI-1 | Add a canary | @bob | 2026-12-02 | P1 |" in text
    assert "[Detailed explanation of what caused the incident]" in text
    assert "- rolled back to revision 2" in text
