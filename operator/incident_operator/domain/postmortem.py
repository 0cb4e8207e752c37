"""The post-mortem draft in the runbook's template, from what the incident recorded.

The operator fills in what it knows (title, ID, dates, duration, data loss, the
timeline, action items) and what people wrote in ``spec.postMortem`` (root cause,
contributing factors, lessons learned, users affected, revenue impact, data-loss
details), and leaves the runbook's placeholders where nobody has written yet. The
runbook's Blameless Post-Mortem Principles head the draft as guidance (an HTML
comment: read while writing, invisible once rendered); the related runbooks and
dashboards close it.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from incident_operator.domain.durations import humanize
from incident_operator.domain.links import RelatedLinks
from incident_operator.domain.severity import Severity, SeverityLevel

# The runbook's Blameless Post-Mortem Principles, word for word.
BLAMELESS_PRINCIPLES: tuple[tuple[str, tuple[str, str]], ...] = (
    (
        "Focus on systems, not people",
        ("What conditions allowed this to happen?", "How can we make the system more resilient?"),
    ),
    (
        "Assume good intentions",
        ("Everyone was trying to do the right thing", "People make mistakes in complex systems"),
    ),
    (
        "Seek understanding, not blame",
        ("Why did the action seem reasonable at the time?", "What information was missing?"),
    ),
    (
        "Learn and improve",
        ("Every incident is a learning opportunity", "Action items should prevent recurrence"),
    ),
)


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
    # What people wrote in spec.postMortem; empty ones keep the template's placeholders.
    contributing_factors: list[str] = field(default_factory=list)
    went_well: list[str] = field(default_factory=list)
    could_be_improved: list[str] = field(default_factory=list)
    users_affected: str | None = None
    revenue_impact: str | None = None
    data_loss_details: str | None = None
    document_url: str | None = None
    owner: str | None = None
    links: RelatedLinks | None = None


def postmortem_required(row: SeverityLevel) -> bool:
    """A post-mortem is required where the level has a deadline for it (P0-P3, or a
    severity a policy gave one)."""
    return row.postmortem_schedule_within is not None or row.postmortem_complete_within is not None


def postmortem_deadlines(
    row: SeverityLevel, resolved_at: datetime
) -> tuple[datetime | None, datetime | None] | None:
    """(schedule by, complete by) from the level's Post-Mortem Timeline (the runbook's,
    with the policy's overrides); None where no post-mortem is required."""
    if not postmortem_required(row):
        return None
    schedule, complete = row.postmortem_schedule_within, row.postmortem_complete_within
    return (
        resolved_at + schedule if schedule is not None else None,
        resolved_at + complete if complete is not None else None,
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
    factors = [f"{n}. {factor}" for n, factor in enumerate(facts.contributing_factors, 1)] or [
        "1. [Factor 1]",
        "2. [Factor 2]",
    ]
    went_well = [f"- {item}" for item in facts.went_well] or ["- [Item 1]", "- [Item 2]"]
    improve = [f"- {item}" for item in facts.could_be_improved] or ["- [Item 1]", "- [Item 2]"]
    data_loss = ("Yes" if facts.data_loss else "No") + (
        f" - {facts.data_loss_details}" if facts.data_loss_details else ""
    )
    document = [f"**Document:** {facts.document_url}"] if facts.document_url else []
    owner = [f"**Owner:** @{facts.owner}"] if facts.owner else []
    lines = [
        f"# Post-Mortem: {facts.title}",
        "",
        f"**Incident ID:** {facts.incident_id}",
        f"**Date:** {facts.detected_at.date().isoformat()}",
        f"**Authors:** {', '.join(facts.authors) if facts.authors else '[Names]'}",
        f"**Status:** {facts.status}",
        f"**Severity:** {facts.severity.value}",
        *owner,
        *document,
        "",
        *_principles(),
        "",
        "## Summary",
        "",
        facts.summary or "[2-3 sentence summary of what happened]",
        "",
        "## Impact",
        "",
        f"- **Duration:** {humanize(duration)}" + ("" if facts.resolved_at else " (ongoing)"),
        f"- **Users Affected:** {facts.users_affected or facts.impact or '[number/percentage]'}",
        f"- **Revenue Impact:** {facts.revenue_impact or '[if applicable]'}",
        f"- **Data Loss:** {data_loss}",
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
        *factors,
        "",
        "## Resolution",
        "",
        resolution,
        "",
        "## Lessons Learned",
        "",
        "### What Went Well",
        "",
        *went_well,
        "",
        "### What Could Be Improved",
        "",
        *improve,
        "",
        "## Action Items",
        "",
        "| ID | Action | Owner | Due Date | Priority |",
        "|----|--------|-------|----------|----------|",
        *items,
        "",
        *_links_section(facts.links),
    ]
    return "\n".join(lines)


def _principles() -> list[str]:
    """The blameless principles as an HTML comment: guidance for whoever writes."""
    lines = ["<!--", "Blameless Post-Mortem Principles (from the runbook):"]
    for number, (principle, questions) in enumerate(BLAMELESS_PRINCIPLES, 1):
        lines.append(f"{number}. {principle}")
        lines += [f"   - {question}" for question in questions]
    return [*lines, "-->"]


def _links_section(links: RelatedLinks | None) -> list[str]:
    if links is None:
        return []
    lines = ["## Related Runbooks and Dashboards", "", "| Dashboard | URL | Purpose |"]
    lines.append("|-----------|-----|---------|")
    lines += [
        f"| {_cell(d.name)} | {_cell(d.url)} | {_cell(d.purpose)} |" for d in links.dashboards
    ]
    lines.append("")
    lines += [
        f"- [{_cell(r.name)}]({r.url})" + (f" - {r.purpose}" if r.purpose else "")
        for r in links.runbooks
    ]
    return [*lines, ""]
