"""What every remediation kind provides to the remediation pipeline (reconcile/remediations.py).

A kind is two halves, so the decisions stay pure and the I/O stays in adapters:

* pure, in ``reconcile/remediation_<kind>.py``: an object satisfying ``KindPlanner``:
  which objects a request needs read (``targets``), what acting would do given what was
  read (``plan``: an ``Action`` or a ``Refusal``), and how far an action has got given what
  is read afterwards (``progress``);
* I/O, in ``adapters/remediation_<kind>.py``: an object satisfying ``KindAdapter``:
  ``read`` one target (an ``Observation``, never a Secret's data outside the objects it
  names) and ``apply`` an action (guarded: a resourceVersion precondition or a
  deterministic name, raising ``ActionConflict`` when someone else changed the object,
  ``ActionRejected`` with the API server's message otherwise).

The pipeline records an attempt (status.remediations[].attempt, targets' resourceVersions,
``previous``) before ``apply`` and reads the targets again after it, so a process killed
between the two finds, on restart, either the object untouched (applies again, guarded) or
the action taken (``progress`` says so); never both, never twice.
"""

from collections.abc import Mapping
from typing import Protocol

from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import Remediation

# The data both halves share live in the domain (adapters may not import reconcile/).
from incident_operator.domain.remediation_action import (
    JSON,
    Action,
    ActionConflict,
    ActionRejected,
    KindAdapter,
    Observation,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)

__all__ = [
    "JSON",
    "Action",
    "ActionConflict",
    "ActionRejected",
    "KindAdapter",
    "KindPlanner",
    "Observation",
    "Observations",
    "Progress",
    "ProgressState",
    "Refusal",
    "Target",
]


class KindPlanner(Protocol):
    """The pure half of a kind."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        """The objects to read for this record (parameters already validated)."""
        ...

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        """What acting would do now, or why it cannot."""
        ...

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        """How far the recorded attempt (record.targets, record.previous, record.attempt)
        has got, from what is read now. Must work after a restart, from the record alone:
        NOT_TAKEN (the targets are still at their recorded resourceVersions) lets the
        pipeline plan and apply again."""
        ...
