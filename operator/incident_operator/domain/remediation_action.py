"""The kind-independent half of the remediation contract (reconcile/remediation_kind.py):
what a kind's adapter reads and applies.

It lives in the domain because both sides use it: the pure planners (reconcile/) and
the adapters (adapters/), which import-linter keeps apart. reconcile/remediation_kind.py
re-exports every name, so kinds import them from there.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

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
    # Why the object could not be read (the operator may not read it, or its kind is not
    # served); the record is refused or waits, and the other records go on.
    error: str | None = None


Observations = Mapping[tuple[str, str], Observation]


def observed(target: Target, metadata: Mapping[str, Any], state: JSON) -> Observation:
    """An object that exists, from the metadata the API server served with it."""
    return Observation(
        target,
        exists=True,
        resource_version=metadata.get("resourceVersion"),
        labels=metadata.get("labels") or {},
        annotations=metadata.get("annotations") or {},
        state=state,
    )


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


class ActionConflict(Exception):
    """The object changed since it was read (resourceVersion precondition failed)."""


class ActionRejected(Exception):
    """The API server refused the action (the message says why)."""


class KindAdapter(Protocol):
    """The I/O half of a kind (blocking; the runtime runs it in a thread)."""

    def read(self, namespace: str, target: Target) -> Observation: ...

    def apply(self, namespace: str, incident: str, record_id: str, action: Action) -> None: ...
