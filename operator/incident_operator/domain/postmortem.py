"""The post-mortem draft in the runbook's template, from what the incident recorded.

The operator fills in what it knows (title, ID, dates, duration, data loss, the
timeline, action items, a root cause already written in the spec) and leaves the
runbook's placeholders where only people can write (contributing factors, lessons).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from incident_operator.domain.durations import humanize
from incident_operator.domain.severity import Severity, level


@dataclass(frozen=True)
class ActionItemLine:
    id: str
    action: str
    owner: str
    due: date | None
    priority: str


@dataclass(frozen=True)
class PostMortemFacts:
    title: str
    incident_id: str
    severity: Severity
    status: str
    authors: list[str]
    detected_at: datetime
    resolved_at: datetime | None
    summary: str
    impact: str
    data_loss: bool
    root_cause: str | None
    resolution: list[str]
    timeline: list[tuple[datetime, str]]
    action_items: list[ActionItemLine]


def postmortem_deadlines(
    severity: Severity, resolved_at: datetime
) -> tuple[datetime, datetime] | None:
    """(schedule by, complete by) from the runbook's Post-Mortem Timeline; None for P4."""
    row = level(severity)
    if row.postmortem_schedule_within is None or row.postmortem_complete_within is None:
        return None
    return (
        resolved_at + row.postmortem_schedule_within,
        resolved_at + row.postmortem_complete_within,
    )


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _when(moment: datetime, spans_days: bool) -> str:
    return moment.strftime("%Y-%m-%d %H:%M" if spans_days else "%H:%M")


def render_postmortem(facts: PostMortemFacts, now: datetime) -> str:
    end = facts.resolved_at or now
    duration: timedelta = end - facts.detected_at
    spans_days = len({moment.date() for moment, _ in facts.timeline} | {end.date()}) > 1
    timeline_rows = [
        f"| {_when(moment, spans_days)} | {_cell(event)} |" for moment, event in facts.timeline
    ] or ["| HH:MM | [Event description] |"]
    items = [
        f"| {_cell(i.id)} | {_cell(i.action)} | @{_cell(i.owner)} | "
        f"{i.due.isoformat() if i.due else 'Backlog'} | {i.priority} |"
        for i in facts.action_items
    ] or ["| 1 | [Description] | @name | YYYY-MM-DD | P1 |"]
    resolution = "\n".join(f"- {line}" for line in facts.resolution) or (
        "[What was done to resolve the incident]"
    )
    lines = [
        f"# Post-Mortem: {facts.title}",
        "",
        f"**Incident ID:** {facts.incident_id}",
        f"**Date:** {facts.detected_at.date().isoformat()}",
        f"**Authors:** {', '.join(facts.authors) if facts.authors else '[Names]'}",
        f"**Status:** {facts.status}",
        f"**Severity:** {facts.severity.value}",
        "",
        "## Summary",
        "",
        facts.summary or "[2-3 sentence summary of what happened]",
        "",
        "## Impact",
        "",
        f"- **Duration:** {humanize(duration)}" + ("" if facts.resolved_at else " (ongoing)"),
        f"- **Users Affected:** {facts.impact or '[number/percentage]'}",
        "- **Revenue Impact:** [if applicable]",
        f"- **Data Loss:** {'Yes' if facts.data_loss else 'No'}",
        "",
        "## Timeline (All times UTC)",
        "",
        "| Time | Event |",
        "|------|-------|",
        *timeline_rows,
        "",
        "## Root Cause",
        "",
        facts.root_cause or "[Detailed explanation of what caused the incident]",
        "",
        "## Contributing Factors",
        "",
        "1. [Factor 1]",
        "2. [Factor 2]",
        "",
        "## Resolution",
        "",
        resolution,
        "",
        "## Lessons Learned",
        "",
        "### What Went Well",
        "",
        "- [Item 1]",
        "- [Item 2]",
        "",
        "### What Could Be Improved",
        "",
        "- [Item 1]",
        "- [Item 2]",
        "",
        "## Action Items",
        "",
        "| ID | Action | Owner | Due Date | Priority |",
        "|----|--------|-------|----------|----------|",
        *items,
        "",
    ]
    return "\n".join(lines)
