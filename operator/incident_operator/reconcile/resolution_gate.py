"""The pre-resolution gate: what the runbook asks before a person's Resolved takes effect.

The runbook's "Pre-Resolution Verification" (seven items) stands between the response
and Resolved. When people set ``spec.state: Resolved`` (by hand, or with
``kubectl incident state|resolve``), the lifecycle holds the command while items are
open: TransitionRefused is True with reason PreResolutionOpen and a message naming each
open item by the ``spec.checklist`` key that ticks it, and the command takes effect as
soon as the last item is done. The incident commander may resolve anyway with
``spec.resolution.override`` (``by`` and ``reason``); the admission policy
manifests/admission/resolution-override.yaml makes sure ``by`` is the requesting user
and the commander, and this module checks the commander again (the role may change).

Resolution by detection (P2-P4 after a monitoring window without regression) is not
gated: it already rests on recovered metrics, which is what the metric items check.

     spec.state Resolved, phase active
            |
      items open? --no--> Resolved
            |yes
      valid override? --yes--> Resolved, ResolutionOverridden entry naming the items
            |no
      held: TransitionRefused/PreResolutionOpen, status.resolution.openItems
"""

from dataclasses import dataclass

from incident_operator.api.incident import Incident, ResolutionOverride
from incident_operator.domain.checklists import ChecklistItem, TickedBy, open_pre_resolution


@dataclass(frozen=True)
class Gate:
    # The pre-resolution items not done, in the runbook's order.
    open_items: tuple[ChecklistItem, ...]
    # The commander's override, when there is one and it is valid.
    override: ResolutionOverride | None
    # Why an override in the spec does not count (None when there is none or it counts).
    override_ignored: str | None
    # Detection watches the incident: its metric items are the operator's to tick.
    monitored: bool = False

    @property
    def holds(self) -> bool:
        """True when a Resolved state word must wait."""
        return bool(self.open_items) and self.override is None


def resolution_gate(incident: Incident, done: dict[str, bool], monitored: bool = False) -> Gate:
    """The gate as it stands for ``incident`` with the checklist ticks ``done``."""
    open_items = tuple(open_pre_resolution(done))
    requested = incident.spec.resolution.override if incident.spec.resolution else None
    commander = incident.spec.roles.commander
    if requested is None:
        return Gate(open_items, None, None, monitored)
    if requested.by != commander:
        why = (
            f"resolution.override.by ({requested.by}) is not the incident commander "
            f"({commander or 'none named'})"
        )
        return Gate(open_items, None, why, monitored)
    return Gate(open_items, requested, None, monitored)


def _name(item: ChecklistItem, monitored: bool) -> str:
    """An open item by what ticks it: a spec.checklist field, or the operator's evidence."""
    if item.who_ticks(monitored) is TickedBy.OPERATOR:
        return f"{item.key} ({item.text}; the operator ticks it once no watched rule breaches)"
    return f"spec.checklist.{item.key} ({item.text})"


def held_message(gate: Gate) -> str:
    """The TransitionRefused message: each open item, and the ways forward."""
    names = ", ".join(_name(item, gate.monitored) for item in gate.open_items)
    message = (
        f"state Resolved is held: pre-resolution verification open: {names}; "
        "tick them (kubectl incident check) or the commander overrides "
        '(kubectl incident resolve INCIDENT --override "reason")'
    )
    if gate.override_ignored:
        message += f"; {gate.override_ignored}"
    return message


def override_message(gate: Gate) -> str:
    """The timeline's record of an override: the open items, who and why."""
    assert gate.override is not None
    keys = ", ".join(item.key for item in gate.open_items)
    return (
        f"resolved with open items {keys} overridden by {gate.override.by}: {gate.override.reason}"
    )
