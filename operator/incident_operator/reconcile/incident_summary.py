"""A one-page summary of an incident, for ``kubectl incident summary INC-42``.

The runbook's "Generate incident summary" (``incident-summary.sh --id INC-XXXX``): what
happened, its impact, the timeline's highlights, what was done, what is still open, and
how long it took, from what the incident recorded (spec and status); nothing is read
elsewhere. In text for a terminal, or in Markdown to paste into a channel or a ticket.

Every field that holds text from people or alerts is put on one line here (runs of
whitespace, newlines included, become one space) except the summary and impact, which
are printed as blocks; the plugin escapes the rest (control characters) when it prints.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from incident_operator.api.incident import Incident, PostMortemStatusWord
from incident_operator.domain.durations import format_duration
from incident_operator.domain.reasons import EntryType


class SummaryFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"


# The timeline entries a summary keeps: the incident's turning points.
HIGHLIGHTS = frozenset(
    {
        EntryType.DECLARED,
        EntryType.ACKNOWLEDGED,
        EntryType.SEVERITY_CHANGED,
        EntryType.PHASE_CHANGED,
        EntryType.ESCALATED,
        EntryType.ESCALATION_TRIGGERED,
        EntryType.MITIGATION_RECORDED,
        EntryType.ROLLBACK_PROPOSED,
        EntryType.ROLLBACK_APPROVED,
        EntryType.ROLLED_BACK,
        EntryType.ROLLBACK_SUCCEEDED,
        EntryType.ROLLBACK_FAILED,
        EntryType.REMEDIATION_APPROVED,
        EntryType.REMEDIATION_SUCCEEDED,
        EntryType.REMEDIATION_FAILED,
        EntryType.RESOLUTION_OVERRIDDEN,
        EntryType.MERGED,
    }
)


@dataclass(frozen=True)
class Section:
    title: str
    # One item per line; empty: the section says "none".
    items: Sequence[str] = ()
    # Multi-line text printed as it is (the summary, the impact), before the items.
    block: str = ""


@dataclass(frozen=True)
class IncidentSummary:
    heading: str
    sections: Sequence[Section] = field(default_factory=tuple)


def _line(text: object) -> str:
    return " ".join(str(text).split())


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _took(start: datetime | None, end: datetime | None, now: datetime) -> str:
    if start is None:
        return "unknown (no detection time)"
    if end is None:
        open_for = max(now - start, timedelta(0))
        return (
            f"not yet ({format_duration(timedelta(seconds=int(open_for.total_seconds())))} so far)"
        )
    taken = max(end - start, timedelta(0))
    return format_duration(timedelta(seconds=int(taken.total_seconds())))


def _what(incident: Incident) -> Section:
    spec, status = incident.spec, incident.status
    roles = spec.roles
    items = [
        f"Severity: {spec.severity.value}   Phase: {status.phase.value if status.phase else '-'}   "
        f"State: {spec.state.value}   Source: {spec.source.value if spec.source else 'manual'}",
        "Affected: "
        + (", ".join(f"{w.kind.value}/{w.name}" for w in spec.affected) or "(none named)"),
        "Roles: "
        + ", ".join(
            f"{label} {_line(value) if value else '-'}"
            for label, value in (
                ("commander", roles.commander),
                ("tech lead", roles.tech_lead),
                ("comms lead", roles.comms_lead),
                ("scribe", roles.scribe),
            )
        ),
    ]
    if status.detected_at is not None:
        items.append(f"Detected: {_when(status.detected_at)}")
    if status.merged_into:
        items.append(f"Merged into {status.merged_into}")
    return Section("What", items, spec.summary.strip())


def _impact(incident: Incident) -> Section:
    spec = incident.spec
    items = []
    triage = spec.triage
    if triage is not None:
        answers = [
            ("Users impacted", triage.users_impacted),
            ("Agents impacted", triage.agents_impacted),
            ("Business impact", triage.business_impact),
        ]
        items += [f"{label}: {_line(value)}" for label, value in answers if value]
        for label, flag in (
            ("Affects production", triage.affects_production),
            ("Data at risk", triage.data_at_risk),
            ("Security component", triage.security_component),
        ):
            if flag is not None:
                items.append(f"{label}: {'yes' if flag else 'no'}")
    signals = len(incident.status.signals)
    if signals:
        items.append(f"Signals: {signals}")
    return Section("Impact", items, spec.impact.strip())


def _timeline(incident: Incident) -> Section:
    entries = [e for e in incident.status.timeline if e.type in HIGHLIGHTS]
    return Section(
        "Timeline highlights",
        [f"{_when(e.time)}  {e.type}  {_line(e.actor)}: {_line(e.message)}" for e in entries],
    )


def _actions(incident: Incident) -> Section:
    spec, status = incident.spec, incident.status
    items = []
    if spec.mitigation:
        items.append(f"Mitigation: {_line(spec.mitigation)}")
    rollback = status.rollback
    if rollback is not None:
        current = rollback.current_revision
        revisions = (
            f"revision {current if current is not None else '?'} -> "
            f"{rollback.target_revision or '?'}"
        )
        approved = f", approved by {_line(rollback.approved_by)}" if rollback.approved_by else ""
        items.append(
            f"Rollback of {rollback.target.kind.value}/{rollback.target.name}: "
            f"{rollback.phase.value} ({revisions}{approved})"
        )
    for record in status.remediations:
        what = f": {_line(record.summary)}" if record.summary else ""
        items.append(
            f"Remediation {record.id} {record.remediation}: {record.phase.value}{what} "
            f"(requested by {_line(record.requested_by)})"
        )
    if spec.updates:
        last = spec.updates[-1]
        items.append(
            f"Status updates: {len(spec.updates)}; last at {_when(last.time)} by "
            f"{_line(last.author)}: {_line(last.message)}"
        )
    if spec.customer_messages:
        items.append(f"Customer messages published: {len(spec.customer_messages)}")
    notified = sum(1 for n in status.notifications if n.sent_at is not None)
    if notified:
        items.append(f"Notifications sent: {notified}")
    return Section("Actions taken", items)


def _open_items(incident: Incident, now: datetime) -> Section:
    spec, status = incident.spec, incident.status
    items = [
        f"Checklist: {_line(item.text)} ({item.key}{', required' if item.required else ''})"
        for item in status.checklist
        if not item.done
    ]
    post_mortem = status.post_mortem
    written = spec.post_mortem.status if spec.post_mortem is not None else None
    if post_mortem is not None and written is not PostMortemStatusWord.FINAL:
        word = (written or PostMortemStatusWord.DRAFT).spelled
        dues = [
            f"{label} {_when(due)}{' (OVERDUE)' if due < now else ''}"
            for label, due in (
                ("scheduled by", post_mortem.schedule_due_at),
                ("final by", post_mortem.complete_due_at),
            )
            if due is not None
        ]
        items.append(f"Post-mortem ({word}): " + (", ".join(dues) or "no deadline"))
    overdue = {a.id for a in status.action_items if a.overdue}
    for action in spec.action_items:
        if action.done:
            continue
        due = f", due {action.due_date.isoformat()}" if action.due_date else ""
        late = " (OVERDUE)" if action.id in overdue else ""
        items.append(
            f"Action item {action.id} [{action.priority.value}]: {_line(action.action)} "
            f"(owner {_line(action.owner)}{due}){late}"
        )
    return Section("Open items", items)


def _durations(incident: Incident, now: datetime) -> Section:
    status = incident.status
    start = status.detected_at or incident.metadata.creation_timestamp
    return Section(
        "Durations",
        [
            f"Time to acknowledge: {_took(start, status.acknowledged_at, now)}",
            f"Time to mitigate: {_took(start, status.mitigated_at, now)}",
            f"Time to resolve: {_took(start, status.resolved_at, now)}",
        ],
    )


def summarize(incident: Incident, now: datetime) -> IncidentSummary:
    """The summary's sections, from the incident as recorded."""
    label = incident.status.id or incident.metadata.name or "incident"
    return IncidentSummary(
        heading=f"{label} [{incident.spec.severity.value}] {_line(incident.spec.title)}",
        sections=(
            _what(incident),
            _impact(incident),
            _timeline(incident),
            _actions(incident),
            _open_items(incident, now),
            _durations(incident, now),
        ),
    )


def render_summary(summary: IncidentSummary, form: SummaryFormat) -> str:
    """The summary as text (headings, indented lines) or Markdown (headings, lists)."""
    markdown = form is SummaryFormat.MARKDOWN
    lines = [f"# {summary.heading}" if markdown else summary.heading]
    for section in summary.sections:
        lines += ["", f"## {section.title}" if markdown else f"{section.title}:"]
        if markdown and (section.block or section.items):
            lines.append("")
        if section.block:
            lines += (
                [*section.block.splitlines(), ""]
                if markdown
                else [f"  {line}" for line in section.block.splitlines()]
            )
        if section.items:
            lines += [f"- {item}" if markdown else f"  {item}" for item in section.items]
        elif not section.block:
            lines.append("_none_" if markdown else "  (none)")
        if markdown and lines[-1] == "":
            lines.pop()
    return "\n".join(lines) + "\n"
