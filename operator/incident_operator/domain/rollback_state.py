"""A rollback's execution as decisions over what is recorded and what is observed.

Exactly once
------------
The attempt is recorded (``InProgress``, with the digests of the template it rolls back
*from* and *to*) before the workload is patched, and the patch is recorded after it. A
process may die at any point; whoever picks the attempt up next decides from the
workload's actual template, never from memory::

    actual template    step
    ---------------    -------------------------------------------------------------
    == target          RECORD_DONE: the patch happened (just now, or before a crash)
    == from            PATCH: it did not; the guarded patch cannot apply twice, since
                       the first one changes the resourceVersion it is guarded by
    anything else      ABORT_CHANGED: someone else changed the workload; do not touch

Another replica's attempt is left alone until ``TAKEOVER_AFTER`` has passed since it
started (then its owner is presumed dead), so two live replicas never both patch.
Recording "done" is safe for anyone at any time: it only states what the workload shows.

Verification
------------
After the patch the rollout must complete (kubectl's ``rollout status`` rules), then the
incident's detection is watched for the monitoring window: recovery is detection, having
evaluated after the rollout, saying "not breaching"; a breach after that recovery is a
regression; the end of the window without recovery is "no recovery".
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from incident_operator.domain.rollback_plan import DAEMON_SET, DEPLOYMENT, STATEFUL_SET

# How long another replica's attempt is its own before it counts as abandoned.
TAKEOVER_AFTER = timedelta(seconds=10)


class ExecutionStep(StrEnum):
    # The workload runs the target template: record the rollback as done.
    RECORD_DONE = "RecordDone"
    # The workload still runs the template the rollback starts from: patch it.
    PATCH = "Patch"
    # The workload runs neither: someone else changed it; leave it alone.
    ABORT_CHANGED = "AbortChanged"
    # Another replica's attempt, too recent to take over: wait.
    WAIT_FOR_OWNER = "WaitForOwner"


def execution_step(
    *,
    from_digest: str,
    target_digest: str,
    actual_digest: str,
    attempt_is_ours: bool,
    started_at: datetime,
    now: datetime,
    takeover_after: timedelta = TAKEOVER_AFTER,
) -> ExecutionStep:
    """The next step of an attempt recorded as InProgress (see the module's table)."""
    if actual_digest == target_digest:
        return ExecutionStep.RECORD_DONE
    if not attempt_is_ours and now < started_at + takeover_after:
        return ExecutionStep.WAIT_FOR_OWNER
    if actual_digest == from_digest:
        return ExecutionStep.PATCH
    return ExecutionStep.ABORT_CHANGED


# ------------------------------------------------------------------ rollout


class RolloutState(StrEnum):
    # Every replica runs the new template and is available.
    COMPLETE = "Complete"
    # Still replacing pods, or the controller has not seen the change yet.
    PROGRESSING = "Progressing"
    # The Deployment controller gave up (ProgressDeadlineExceeded).
    FAILED = "Failed"


@dataclass(frozen=True)
class RolloutProgress:
    state: RolloutState
    message: str


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _deployment_progress(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutProgress:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return RolloutProgress(RolloutState.FAILED, str(condition.get("message", "")))
    wanted = _int(spec.get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    if updated < wanted:
        return RolloutProgress(RolloutState.PROGRESSING, f"{updated} of {wanted} replicas updated")
    if _int(status.get("replicas")) > updated:
        old = _int(status.get("replicas")) - updated
        return RolloutProgress(RolloutState.PROGRESSING, f"{old} old replicas pending termination")
    available = _int(status.get("availableReplicas"))
    if available < updated:
        return RolloutProgress(
            RolloutState.PROGRESSING, f"{available} of {updated} updated replicas available"
        )
    return RolloutProgress(RolloutState.COMPLETE, f"{updated} replicas updated and available")


def _stateful_set_progress(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutProgress:
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return RolloutProgress(
            RolloutState.COMPLETE, "updateStrategy OnDelete: pods change when deleted"
        )
    wanted = _int(spec.get("replicas"), 1)
    ready = _int(status.get("readyReplicas"))
    if ready < wanted:
        return RolloutProgress(RolloutState.PROGRESSING, f"{ready} of {wanted} pods ready")
    partition = _int((strategy.get("rollingUpdate") or {}).get("partition"))
    if partition > 0:
        updated = _int(status.get("updatedReplicas"))
        if updated < wanted - partition:
            return RolloutProgress(
                RolloutState.PROGRESSING,
                f"{updated} of {wanted - partition} pods above the partition updated",
            )
        return RolloutProgress(RolloutState.COMPLETE, "partitioned rollout complete")
    if status.get("updateRevision") != status.get("currentRevision"):
        updated = _int(status.get("updatedReplicas"))
        return RolloutProgress(RolloutState.PROGRESSING, f"{updated} of {wanted} pods updated")
    return RolloutProgress(RolloutState.COMPLETE, f"{wanted} pods at the new revision")


def _daemon_set_progress(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutProgress:
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return RolloutProgress(
            RolloutState.COMPLETE, "updateStrategy OnDelete: pods change when deleted"
        )
    wanted = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    if updated < wanted:
        return RolloutProgress(RolloutState.PROGRESSING, f"{updated} of {wanted} pods updated")
    available = _int(status.get("numberAvailable"))
    if available < wanted:
        return RolloutProgress(
            RolloutState.PROGRESSING, f"{available} of {wanted} updated pods available"
        )
    return RolloutProgress(RolloutState.COMPLETE, f"{wanted} pods updated and available")


def rollout_progress(kind: str, workload: Mapping[str, Any]) -> RolloutProgress:
    """How the rollout of ``workload`` (its JSON) stands, as ``kubectl rollout status``
    judges it; nothing is complete before the controller observed the latest generation."""
    metadata, spec = workload.get("metadata") or {}, workload.get("spec") or {}
    status = workload.get("status") or {}
    observed = _int(status.get("observedGeneration"))
    if observed < _int(metadata.get("generation"), 1):
        return RolloutProgress(RolloutState.PROGRESSING, "the controller has not seen it yet")
    judge = {
        DEPLOYMENT: _deployment_progress,
        STATEFUL_SET: _stateful_set_progress,
        DAEMON_SET: _daemon_set_progress,
    }[kind]
    return judge(spec, status)


# ------------------------------------------------------------------ verification


@dataclass(frozen=True)
class DetectionView:
    """What detection last said about the incident (status.detection)."""

    breaching: bool
    last_evaluated_at: datetime


class VerificationStep(StrEnum):
    # Nothing new: wait for detection or the end of the window.
    WAIT = "Wait"
    # Detection, evaluating after the rollout, sees the metrics recovered: record it.
    RECOVERED = "Recovered"
    # Breaching again after the recorded recovery.
    REGRESSED = "Regressed"
    # The window ended with the metrics recovered.
    SUCCEEDED = "Succeeded"
    # The window ended without a recovery.
    NO_RECOVERY = "NoRecovery"


def verification_step(
    *,
    rolled_out_at: datetime,
    verify_until: datetime,
    recovered_at: datetime | None,
    detection: DetectionView | None,
    now: datetime,
) -> VerificationStep:
    """The next step while watching detection after a rollback rolled out."""
    fresh = detection is not None and detection.last_evaluated_at >= rolled_out_at
    if detection is not None and fresh:
        if not detection.breaching and recovered_at is None:
            return VerificationStep.RECOVERED
        if (
            detection.breaching
            and recovered_at is not None
            and detection.last_evaluated_at > recovered_at
        ):
            return VerificationStep.REGRESSED
    if now < verify_until:
        return VerificationStep.WAIT
    if recovered_at is not None:
        return VerificationStep.SUCCEEDED
    return VerificationStep.NO_RECOVERY
