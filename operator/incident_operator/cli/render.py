"""Text for people: tables, the SLA clocks, the timeline.

Every value taken from the cluster goes through ``escape`` (or ``escape_block`` for a
multi-line field printed as a block): it may hold terminal control characters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from incident_operator.cli.escape import escape, escape_block
from incident_operator.cli.signals_render import signals_section
from incident_operator.domain.durations import format_duration
from incident_operator.domain.severity import Severity, describe

if TYPE_CHECKING:
    # Imported by ``show`` only: the appendix's dashboards are built from the signal
    # catalog, which `ack` and `approve-rollback` (they print a label) need not load.
    from incident_operator.domain.links import RelatedLinks


def label(incident: dict[str, Any]) -> str:
    """The incident's ID, or its name while it has none; escaped."""
    return escape((incident.get("status") or {}).get("id") or incident["metadata"]["name"])


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; every cell escaped."""
    lines = [[escape(cell) for cell in line] for line in [header, *rows]]
    widths = [max(len(cell) for cell in column) for column in zip(*lines, strict=True)]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment) if moment else None


def clock(label: str, due: str | None, now: datetime) -> str:
    parsed = _parse(due)
    if parsed is None:
        return f"{label:<16} -"
    delta = parsed - now
    if delta.total_seconds() >= 0:
        when = f"in {format_duration(delta.__class__(seconds=int(delta.total_seconds())))}"
    else:
        late = -delta
        when = f"OVERDUE by {format_duration(late.__class__(seconds=int(late.total_seconds())))}"
    return f"{label:<16} {parsed.strftime('%Y-%m-%d %H:%M:%S')}Z  ({when})"


def timeline(status: dict[str, Any], last: int | None = None) -> str:
    entries = status.get("timeline") or []
    if last is not None:
        entries = entries[-last:]
    if not entries:
        return "(no timeline yet)"
    return "\n".join(
        f"{escape(e['time'][:19].replace('T', ' '))}  {escape(e['type']):<18} "
        f"{escape(e['actor']):<20} {escape(e['message'])}"
        for e in entries
    )


def _who_ticks(ticked_by: str) -> str:
    if ticked_by == "responder":
        return "you tick it: kubectl incident check"
    if ticked_by == "operatorOrResponder":
        return "the operator ticks it when it sees it done, or you: kubectl incident check"
    return "the operator ticks it"


def _yes_no(value: Any) -> str:
    return "-" if value is None else ("yes" if value else "no")


def triage_lines(spec: dict[str, Any]) -> list[str]:
    """The runbook's five triage questions and their answers (spec.triage)."""
    triage = spec.get("triage") or {}
    return [
        "Triage:",
        f"  production: {_yes_no(triage.get('affectsProduction'))}    "
        f"data at risk: {_yes_no(triage.get('dataAtRisk'))}    "
        f"security component: {_yes_no(triage.get('securityComponent'))}",
        f"  users impacted: {escape(triage.get('usersImpacted', '-'))}    "
        f"agents impacted: {escape(triage.get('agentsImpacted', '-'))}",
        f"  business impact: {escape(triage.get('businessImpact', '-'))}",
    ]


def contacts_section(status: dict[str, Any], now: datetime) -> list[str]:
    """Who of the policy's contacts was told, and whether their backup is due or was told."""
    reached = (status.get("escalation") or {}).get("contacts") or []
    if not reached:
        return []
    lines = ["", "Contacts told:"]
    for reach in reached:
        line = (
            f"  {reach.get('target', reach.get('role', '?'))} at {reach.get('reachedAt', '?')}"
            f" ({reach.get('reason', '')})"
        )
        if reach.get("backupReachedAt"):
            line += f"; backup told at {reach['backupReachedAt']}"
        elif reach.get("backupDueAt") and status.get("acknowledgedAt"):
            line += "; acknowledged, backup not needed"
        elif reach.get("backupDueAt"):
            line += "; " + clock("backup told if unacknowledged", reach["backupDueAt"], now)
        lines.append(escape(line))
    return lines


def show(item: dict[str, Any], now: datetime, links: RelatedLinks | None = None) -> str:
    """``kubectl incident show``; ``links`` are the governing policy's runbooks and dashboards."""
    spec, status = item.get("spec") or {}, item.get("status") or {}
    roles = spec.get("roles") or {}
    metadata = item["metadata"]
    lines = [
        f"{escape(status.get('id', '(no ID yet)'))}  {escape(spec.get('title', ''))}",
        f"Name:            {escape(metadata['namespace'])}/{escape(metadata['name'])}",
        f"Severity:        {escape(spec.get('severity'))}    "
        f"Phase: {escape(status.get('phase', '-'))}    "
        f"State: {escape(spec.get('state', '-'))}    "
        f"Source: {escape(spec.get('source', 'manual'))}",
        *_severity_meaning(spec.get("severity")),
        "Roles:           "
        + ", ".join(
            f"{role} {escape(roles.get(key, '-'))}"
            for key, role in (
                ("commander", "commander"),
                ("techLead", "tech lead"),
                ("commsLead", "comms lead"),
                ("scribe", "scribe"),
            )
        ),
        f"Acknowledged:    {escape(status.get('acknowledgedAt', 'no'))}",
        *_block("Summary:", spec.get("summary")),
        *_block("Impact:", spec.get("impact")),
        *_block("Mitigation:", spec.get("mitigation")),
        *triage_lines(spec),
        "",
        "SLA clocks:",
        "  " + clock("response due", status.get("responseDueAt"), now),
        "  " + clock("resolution due", status.get("resolutionDueAt"), now),
        "  " + clock("next update due", status.get("nextUpdateDueAt"), now),
    ]
    if status.get("triageDueAt") and not status.get("triagedAt"):
        lines.append("  " + clock("triage due", status["triageDueAt"], now))
    resolution = status.get("resolution") or {}
    if resolution.get("overriddenBy"):
        lines += [
            "",
            f"Resolution:      open items {escape(', '.join(resolution.get('openItems') or []))} "
            f"overridden by {escape(resolution['overriddenBy'])}: "
            f"{escape(resolution.get('overrideReason', ''))}",
        ]
    elif resolution.get("openItems"):
        lines += [
            "",
            "Resolution:      Resolved is held; pre-resolution verification open: "
            + escape(", ".join(resolution["openItems"])),
        ]
    post_mortem = status.get("postMortem") or {}
    if post_mortem:
        lines += [
            "  " + clock("post-mortem by", post_mortem.get("scheduleDueAt"), now),
            "  " + clock("final by", post_mortem.get("completeDueAt"), now),
        ]
    lines += postmortem_section(spec.get("postMortem") or {})
    lines += contacts_section(status, now)
    lines += customer_section(status, now)
    lines += rollback_section(status)
    lines += remediations_section(status)
    lines += signals_section(status)
    conditions = status.get("conditions") or []
    if conditions:
        lines += ["", "Conditions:"]
        lines += [
            f"  {escape(c['type']):<20} {escape(c['status']):<7} "
            f"{escape(c.get('reason', '')):<18} {escape(c.get('message', ''))}"
            for c in conditions
        ]
    open_items = [c for c in status.get("checklist") or [] if not c.get("done")]
    if open_items:
        lines += ["", "Open checklist items:"]
        lines += [
            f"  [{'required' if c['required'] else 'optional'}] {escape(c['text'])} "
            f"({escape(c['key'])}, {_who_ticks(c['tickedBy'])})"
            for c in open_items
        ]
    if links is not None:
        from incident_operator.domain.links import link_lines

        lines += ["", *(escape(line) for line in link_lines(links))]
    lines += ["", "Timeline (last 10):", timeline(status, last=10)]
    return "\n".join(lines)


def postmortem_section(post_mortem: dict[str, Any]) -> list[str]:
    """What people recorded of the post-mortem, its status as the runbook spells it."""
    if not post_mortem:
        return []
    # Here, not at the top: `label` is imported by every command, the models are heavy.
    from incident_operator.api.incident import PostMortemStatusWord

    spelled = {word.value: word.spelled for word in PostMortemStatusWord}
    word = post_mortem.get("status", "Draft")
    parts = [
        f"Post-mortem:     {spelled.get(word, word)}",
        f"owner {post_mortem.get('owner') or '(none: needed to close)'}",
    ]
    if post_mortem.get("scheduledAt"):
        parts.append(f"meeting {post_mortem['scheduledAt']}")
    lines = ["", "   ".join(escape(part) for part in parts)]
    if post_mortem.get("documentUrl"):
        lines.append(f"  document {escape(post_mortem['documentUrl'])}")
    return lines


def _severity_meaning(severity: str | None) -> list[str]:
    """The runbook's definition of the severity and its examples, under the Severity line."""
    if severity not in set(Severity):
        return []
    return [f"{'':<17}{describe(Severity(severity))}"]


def _block(heading: str, text: str | None) -> list[str]:
    """A multi-line field under its heading, its lines aligned; nothing when it is empty."""
    if not text:
        return []
    first, *rest = escape_block(text).splitlines() or [""]
    return [f"{heading:<17}{first}", *(f"{'':<17}{line}" for line in rest)]


def customer_section(status: dict[str, Any], now: datetime) -> list[str]:
    """The customer clock and the draft of the next customer message; nothing if none."""
    communication = status.get("communication") or {}
    if not communication:
        return []
    draft = communication.get("draft") or {}
    lines = ["", "Customer communication:"]
    lines.append("  " + clock("customer msg due", communication.get("customerDueAt"), now))
    published = communication.get("messagesRecorded", 0)
    lines.append(
        f"  {published} published; first at {escape(communication.get('firstPublishedAt', '-'))}"
    )
    if draft:
        incident = escape(status.get("id", "INCIDENT"))
        lines.append(
            f"  draft ({escape(draft.get('kind'))}): kubectl incident publish {incident} "
            "[--edit | -m TEXT] (communications lead or commander)"
        )
        lines.append(f"    Subject: {escape(draft.get('subject', ''))}")
        lines += [f"    {line}" for line in escape_block(draft.get("text", "")).splitlines()]
    return lines


def rollback_section(status: dict[str, Any]) -> list[str]:
    """The rollback: revisions, what it changes, and what to do next; nothing if none."""
    rollback = status.get("rollback") or {}
    if not rollback:
        return []
    target = rollback.get("target") or {}
    current, revision = rollback.get("currentRevision"), rollback.get("targetRevision")
    moves = f"revision {current if current is not None else '?'} -> {revision or '?'}"
    # A fix attempt's proposal names the runbook criterion that fired.
    origin = ", ".join(str(rollback[key]) for key in ("source", "criterion") if key in rollback)
    lines = [
        "",
        f"Rollback:        {rollback.get('phase')}  {target.get('kind')}/{target.get('name')}  "
        f"{moves}  ({origin or '-'})",
    ]
    if rollback.get("proposal"):
        lines.append(f"  proposal {rollback['proposal']}")
    if rollback.get("currentRevisionAt"):
        lines.append(f"  current revision rolled out {rollback['currentRevisionAt']}")
    if rollback.get("evidence"):
        lines.append(f"  because {rollback['evidence']}")
    lines += [f"  {line}" for line in diff_lines(rollback.get("diff"))]
    if rollback.get("approvedBy"):
        lines.append(f"  approved by {rollback['approvedBy']} at {rollback.get('approvedAt', '?')}")
    if rollback.get("message") and rollback.get("reason") != "RollbackProposed":
        lines.append(f"  {rollback['message']}")
    if rollback.get("phase") == "Proposed":
        lines.append(
            f"  approve: kubectl incident approve-rollback {status.get('id', 'INCIDENT')} "
            f"(members of {rollback.get('approverGroup', 'incident-approvers')})"
        )
    # Every value here is the cluster's; each line is escaped whole (tabs included).
    return [escape(line) for line in lines]


def remediations_section(status: dict[str, Any]) -> list[str]:
    """Every remediation record: id, phase, what it does, and what to do next."""
    records = status.get("remediations") or []
    if not records:
        return []
    lines = ["", "Remediations:"]
    for record in records:
        what = record.get("summary") or ""
        lines.append(
            f"  {record.get('id')}  {record.get('phase'):<10} {record.get('remediation')}"
            f"  {what}  (requested by {record.get('requestedBy')})"
        )
        if record.get("approvedBy"):
            lines.append(f"      approved by {record['approvedBy']}")
        if record.get("previous"):
            lines.append(f"      previous: {json.dumps(record['previous'], sort_keys=True)}")
        if record.get("message"):
            lines.append(f"      {record.get('reason', '')}: {record['message']}")
        if record.get("output"):  # a Job's log tail
            lines.append("      output:")
            lines += [f"        {line}" for line in str(record["output"]).splitlines()]
        if record.get("phase") == "Proposed":
            lines.append(
                f"      approve: kubectl incident approve {status.get('id', 'INCIDENT')} "
                f"{record.get('id')} (members of {record.get('approverGroup', '?')})"
            )
    # Every value here is the cluster's; each line is escaped whole (tabs included).
    return [escape(line) for line in lines]


def diff_lines(diff: str | None) -> list[str]:
    """A rollback's diff, one escaped line per line of it."""
    return [escape(line) for line in (diff or "").splitlines()]
