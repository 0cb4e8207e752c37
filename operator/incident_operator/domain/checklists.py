"""The runbook's checklists, and who can tick each item.

Items the operator can verify from the cluster are ticked by it; the rest only people
know, and they tick them in ``spec.checklist``. Items marked required must be done
before an incident may close; "if needed" and "if applicable" items are not required.
"""

from dataclasses import dataclass
from enum import StrEnum


class ChecklistName(StrEnum):
    DETECTION = "detection"
    RESOLUTION = "resolution"
    POST_INCIDENT = "postIncident"


class TickedBy(StrEnum):
    OPERATOR = "operator"
    RESPONDER = "responder"


@dataclass(frozen=True)
class ChecklistItem:
    checklist: ChecklistName
    # The key in status (and, for responder items, in spec.checklist).
    key: str
    # The runbook's wording.
    text: str
    ticked_by: TickedBy
    required: bool


_D, _R, _P = ChecklistName.DETECTION, ChecklistName.RESOLUTION, ChecklistName.POST_INCIDENT
_OP, _PEOPLE = TickedBy.OPERATOR, TickedBy.RESPONDER

RUNBOOK_CHECKLISTS: tuple[ChecklistItem, ...] = (
    ChecklistItem(_D, "alertAcknowledged", "Alert received and acknowledged", _OP, True),
    ChecklistItem(_D, "severityAssessed", "Initial severity assessed", _OP, True),
    ChecklistItem(_D, "ticketCreated", "Incident ticket created", _OP, True),
    ChecklistItem(_D, "onCallNotified", "On-call notified (if applicable)", _OP, False),
    ChecklistItem(_R, "rootCauseIdentified", "Root cause identified", _PEOPLE, True),
    ChecklistItem(_R, "fixVerified", "Fix implemented and verified", _PEOPLE, True),
    ChecklistItem(_R, "systemsRecovered", "All affected systems recovered", _PEOPLE, True),
    ChecklistItem(_R, "metricsNormal", "Monitoring confirms normal operation", _OP, True),
    ChecklistItem(_R, "customerCommunicationSent", "Customer communication sent", _PEOPLE, False),
    ChecklistItem(_R, "ticketUpdated", "Incident ticket updated", _OP, True),
    ChecklistItem(_P, "timelineDocumented", "Timeline documented", _OP, True),
    ChecklistItem(_P, "postMortemScheduled", "Post-mortem scheduled", _OP, True),
    ChecklistItem(_P, "actionItemsCreated", "Action items created", _OP, True),
    ChecklistItem(_P, "lessonsLearned", "Lessons learned captured", _PEOPLE, True),
    ChecklistItem(_P, "runbooksUpdated", "Runbooks updated if needed", _PEOPLE, False),
)

RESPONDER_ITEMS = tuple(i.key for i in RUNBOOK_CHECKLISTS if i.ticked_by is TickedBy.RESPONDER)


def open_required(done: dict[str, bool], include_post_incident: bool) -> list[ChecklistItem]:
    """Required items not yet done, in the runbook's order."""
    return [
        item
        for item in RUNBOOK_CHECKLISTS
        if item.required
        and not done.get(item.key, False)
        and (include_post_incident or item.checklist is not ChecklistName.POST_INCIDENT)
    ]
