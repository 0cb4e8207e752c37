"""Recent rollouts of a workload, for ``kubectl incident deploys --last 24h``.

A workload's revision history is read exactly as the rollback reads it
(``rollback_plan.workload_from_objects``: the ReplicaSets or ControllerRevisions it
controls, their revision numbers, and when each became current, a rollback's renumbered
entry included). A rollout is a revision that became current within the window; what it
changed is ``rollback_plan.template_diff`` from the revision numbered just before it (the
one it replaced, as ``kubectl rollout history`` numbers them), and why is the
``kubernetes.io/change-cause`` annotation people set with ``kubectl annotate`` (or
``--record``), on the ReplicaSet or ControllerRevision.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from incident_operator.domain.rollback_plan import Workload, current_revision, template_diff

CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"


@dataclass(frozen=True)
class Rollout:
    """One revision that became current within the window."""

    namespace: str
    kind: str
    name: str
    revision: int
    # When it became current, as the rollback reads it.
    rolled_out_at: datetime
    # The revision it replaced; None for the first revision kept.
    previous: int | None
    # What changed from ``previous``, one line each; empty for the first revision kept.
    changes: tuple[str, ...]
    # kubernetes.io/change-cause, when someone recorded one.
    change_cause: str | None
    # Whether the workload runs this revision now.
    current: bool

    @property
    def reference(self) -> str:
        return f"{self.kind}/{self.name}"


def change_causes(history: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The change-cause annotation of each history object (by its name), where set."""
    causes: dict[str, str] = {}
    for item in history:
        metadata = item.get("metadata") or {}
        cause = (metadata.get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION)
        if cause:
            causes[str(metadata.get("name", ""))] = str(cause)
    return causes


def recent_rollouts(
    namespace: str, workload: Workload, causes: Mapping[str, str], since: datetime
) -> list[Rollout]:
    """The revisions of ``workload`` that became current at or after ``since``, oldest first;
    ``causes``: ``change_causes`` of its history objects."""
    running = current_revision(workload)
    rollouts = []
    previous = None
    for revision in workload.history:  # oldest first, by number
        at = revision.rolled_out_at
        if at is not None and at >= since:
            changes = (
                tuple(template_diff(previous.template, revision.template).splitlines())
                if previous is not None
                else ()
            )
            rollouts.append(
                Rollout(
                    namespace=namespace,
                    kind=workload.kind,
                    name=workload.name,
                    revision=revision.number,
                    rolled_out_at=at,
                    previous=previous.number if previous is not None else None,
                    changes=changes,
                    change_cause=causes.get(revision.name),
                    current=running is not None and running.number == revision.number,
                )
            )
        previous = revision
    return rollouts
