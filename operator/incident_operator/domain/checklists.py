"""The runbook's checklists, and who can tick each item.

Items the operator can verify from the cluster are ticked by it; the rest only people
know, and they tick them in ``spec.checklist``. Items marked required must be done
before an incident may close; "if needed" and "if applicable" items are not required.

Some items the operator ticks only when it has the evidence, and people tick otherwise:
"Monitoring confirms normal operation" and the metric items of the pre-resolution
verification need detection to watch the incident (nothing monitored, nothing
confirmed); "Customer communication sent" and "Fix implemented in production" are
ticked by the operator when it sent a customer message or a rollback helped, and by
people when it happened out of band.

The Pre-Resolution Verification is the gate in front of Resolved: a person's state word
Resolved is held until its items are done, or the commander overrides them
(reconcile/resolution_gate.py).
"""

from dataclasses import dataclass
from enum import StrEnum


class ChecklistName(StrEnum):
    DETECTION = "detection"
    RESOLUTION = "resolution"
    # The runbook's "Pre-Resolution Verification": the gate before Resolved.
    PRE_RESOLUTION = "preResolution"
    POST_INCIDENT = "postIncident"


class TickedBy(StrEnum):
    OPERATOR = "operator"
    RESPONDER = "responder"
    # The operator when it has the evidence, people when it happened out of band.
    OPERATOR_OR_RESPONDER = "operatorOrResponder"


@dataclass(frozen=True)
class ChecklistItem:
    checklist: ChecklistName
    # The key in status (and, for responder items, in spec.checklist).
    key: str
    # The runbook's wording.
    text: str
    ticked_by: TickedBy
    required: bool
    # Ticked by the operator only when detection watches the incident, by people otherwise.
    needs_monitoring: bool = False

    def who_ticks(self, monitored: bool) -> TickedBy:
        """Who ticks the item for an incident that detection does or does not watch."""
        if self.needs_monitoring and not monitored:
            return TickedBy.RESPONDER
        return self.ticked_by


_D, _R, _P = ChecklistName.DETECTION, ChecklistName.RESOLUTION, ChecklistName.POST_INCIDENT
_V = ChecklistName.PRE_RESOLUTION
_OP, _PEOPLE, _EITHER = TickedBy.OPERATOR, TickedBy.RESPONDER, TickedBy.OPERATOR_OR_RESPONDER


def _watched(checklist: ChecklistName, key: str, text: str) -> ChecklistItem:
    """A required item the operator ticks when detection watches the incident."""
    return ChecklistItem(checklist, key, text, _OP, True, needs_monitoring=True)


RUNBOOK_CHECKLISTS: tuple[ChecklistItem, ...] = (
    ChecklistItem(_D, "alertAcknowledged", "Alert received and acknowledged", _OP, True),
    ChecklistItem(_D, "severityAssessed", "Initial severity assessed", _OP, True),
    ChecklistItem(_D, "ticketCreated", "Incident ticket created", _OP, True),
    ChecklistItem(_D, "onCallNotified", "On-call notified (if applicable)", _OP, False),
    ChecklistItem(_R, "rootCauseIdentified", "Root cause identified", _PEOPLE, True),
    ChecklistItem(_R, "fixVerified", "Fix implemented and verified", _PEOPLE, True),
    ChecklistItem(_R, "systemsRecovered", "All affected systems recovered", _PEOPLE, True),
    _watched(_R, "metricsNormal", "Monitoring confirms normal operation"),
    ChecklistItem(_R, "customerCommunicationSent", "Customer communication sent", _EITHER, True),
    ChecklistItem(_R, "ticketUpdated", "Incident ticket updated", _OP, True),
    # Also ticked when the post-mortem's root cause is written (spec.postMortem.rootCause).
    ChecklistItem(_V, "rootCauseDocumented", "Root cause identified and documented", _EITHER, True),
    # Also ticked once a rollback helped (RolledBack=True: rolled back and recovered).
    ChecklistItem(_V, "fixInProduction", "Fix implemented in production", _EITHER, True),
    _watched(_V, "normalMetrics", "Affected systems show normal metrics"),
    _watched(_V, "errorRatesAtBaseline", "Error rates returned to baseline"),
    _watched(_V, "noNewAlerts", "No new related alerts triggered"),
    ChecklistItem(_V, "manualVerification", "Manual verification completed", _PEOPLE, True),
    ChecklistItem(
        _V, "customerImpactResolved", "Customer-facing impact confirmed resolved", _PEOPLE, True
    ),
    ChecklistItem(_P, "timelineDocumented", "Timeline documented", _OP, True),
    ChecklistItem(_P, "postMortemScheduled", "Post-mortem scheduled", _OP, True),
    ChecklistItem(_P, "actionItemsCreated", "Action items created", _OP, True),
    ChecklistItem(_P, "lessonsLearned", "Lessons learned captured", _PEOPLE, True),
    ChecklistItem(_P, "runbooksUpdated", "Runbooks updated if needed", _PEOPLE, False),
)

# Every item people may tick in spec.checklist (some only count when the operator cannot).
RESPONDER_ITEMS = tuple(
    i.key for i in RUNBOOK_CHECKLISTS if i.ticked_by is not TickedBy.OPERATOR or i.needs_monitoring
)
PRE_RESOLUTION_ITEMS = tuple(i for i in RUNBOOK_CHECKLISTS if i.checklist is _V)


def open_required(
    done: dict[str, bool], include_post_incident: bool, include_pre_resolution: bool = True
) -> list[ChecklistItem]:
    """Required items not yet done, in the runbook's order."""
    return [
        item
        for item in RUNBOOK_CHECKLISTS
        if item.required
        and not done.get(item.key, False)
        and (include_post_incident or item.checklist is not ChecklistName.POST_INCIDENT)
        and (include_pre_resolution or item.checklist is not ChecklistName.PRE_RESOLUTION)
    ]


def open_pre_resolution(done: dict[str, bool]) -> list[ChecklistItem]:
    """The pre-resolution verification's items not yet done, in the runbook's order."""
    return [item for item in PRE_RESOLUTION_ITEMS if not done.get(item.key, False)]
