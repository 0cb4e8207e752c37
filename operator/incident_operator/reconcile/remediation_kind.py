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
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import Remediation

JSON = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One object a request acts on or needs to see, in the incident's namespace."""

    api_version: str  # "apps/v1", "batch/v1", "core.openfeature.dev/v1beta1", "v1"
    kind: str  # "Deployment", "Job", "FeatureFlag", "ConfigMap", "Secret", ...
    name: str
    # What the adapter should read beside the object (e.g. a Job's log tail, a workload's
    # revision history, a config object's snapshots); kind-specific, documented there.
    extras: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)


@dataclass(frozen=True)
class Observation:
    """One target as read; ``exists`` False when it is not there (404)."""

    target: Target
    exists: bool
    resource_version: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    # The kind-specific view the planner needs (a FeatureFlag's flag, a Job's conditions,
    # replicas, a config object's data digest and its snapshots' numbers and digests).
    # Never a Secret's values.
    state: JSON = field(default_factory=dict)


Observations = Mapping[tuple[str, str], Observation]


@dataclass(frozen=True)
class Refusal:
    reason: str  # a domain.reasons.Reason value
    message: str  # names the field or object, and what to do


@dataclass(frozen=True)
class Action:
    """What acting means, decided purely; the adapter carries it out as given."""

    # One sentence for people ("disable flag new-checkout in FeatureFlag/flags: state
    # ENABLED -> DISABLED").
    summary: str
    # What changes, as a unified diff or a short before/after list; "" when nothing to show.
    diff: str
    # The objects acted on, with the resourceVersions the action is guarded by.
    targets: tuple[Target, ...]
    guards: Mapping[tuple[str, str], str | None]
    # What is replaced, recorded in status before acting (never a Secret's data).
    previous: JSON
    # Kind-specific instructions for the adapter (a patch body, a Job manifest, a
    # snapshot to restore, workloads to restart).
    payload: JSON


class ProgressState(StrEnum):
    # Not taken yet (the object is as planned): apply.
    NOT_TAKEN = "NotTaken"
    # Taken and still running (a Job running, a rollout progressing): look again soon.
    RUNNING = "Running"
    # Taken and completed: verification (rules recover) starts.
    DONE = "Done"
    # Taken and failed, or cannot be taken (the object changed under it): Failed.
    FAILED = "Failed"


@dataclass(frozen=True)
class Progress:
    state: ProgressState
    message: str = ""
    # Lines for the timeline (a Job's log tail), bounded by the kind.
    output: str | None = None


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


class ActionConflict(Exception):
    """The object changed since it was read (resourceVersion precondition failed)."""


class ActionRejected(Exception):
    """The API server refused the action (the message says why)."""


class KindAdapter(Protocol):
    """The I/O half of a kind (blocking; the runtime runs it in a thread)."""

    def read(self, namespace: str, target: Target) -> Observation: ...

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None: ...
