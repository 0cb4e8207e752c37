"""The ``rolloutUndo`` remediation kind, pure half: ``kubectl rollout undo`` of a
Deployment, StatefulSet or DaemonSet, requested like any remediation.

It is the rollback's planner and patch (domain/rollback_plan.py: kubectl's choice of
revision, kubectl's patch plus a resourceVersion guard) offered through the catalog, so
several can be requested per incident, e.g. for a second workload; the automatic
proposal in status.rollback is unchanged and separate.

Which workload: the entry's ``rolloutUndo.workload`` (its name may refer to
``{{ params.NAME }}``), else the incident's first affected workload as recorded with the
request (``record.affectedWorkload``). Which revision: ``rolloutUndo.toRevision``, else
kubectl's "previous" (the second highest).

The adapter (adapters/remediation_rollout.py) reads the workload with its revision
history through adapters/workloads_rollback.read_workload and puts the domain
``Workload`` in ``Observation.state["workload"]``. ``previous`` records both ends::

    {"revision": <current number or None>, "digest": <current template digest>,
     "targetRevision": <n>, "targetDigest": <target template digest>}

because a Deployment rollback renumbers the target revision: after acting, only the
template digests say what happened. Progress, from the template the workload runs::

    template digest    progress
    ---------------    --------------------------------------------------------------
    == targetDigest    DONE when the rollout is complete (domain/rollback_state.
                       rollout_progress), RUNNING while it rolls out, FAILED when it
                       failed (ProgressDeadlineExceeded)
    == digest          NOT_TAKEN: plan again (to the recorded revision) and apply,
                       guarded by the resourceVersion read
    anything else      FAILED: someone else changed the pod template; left alone

Refusals are the rollback's: no such revision, already at the target, paused. A
GitOps-managed workload is refused by the pipeline for every kind (reconcile/
remediations.py), with the catalog entry's allowGitOpsManaged as the way out.
"""

from collections.abc import Mapping

from pydantic import ValidationError

from incident_operator.api.incident import WorkloadReference
from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import Remediation, RolloutUndoSettings
from incident_operator.domain.reasons import Reason
from incident_operator.domain.rollback_plan import (
    KINDS,
    Workload,
    plan_rollback,
    rollback_patch,
    template_digest,
)
from incident_operator.domain.rollback_plan import Refusal as RollbackRefusal
from incident_operator.domain.rollback_state import RolloutState, rollout_progress
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError, substitute
from incident_operator.reconcile.rollback import paused_refusal

APPS = "apps/v1"
# Target.extras: read the revisions the workload controls too.
HISTORY = "history"
# What a person does after a paused-workload refusal (the record is final).
AFTERWARDS = "request the remediation again"


def _settings(entry: Remediation) -> RolloutUndoSettings:
    if entry.rollout_undo is None:
        raise ParameterError(f"remediation {entry.name} has no rolloutUndo settings")
    return entry.rollout_undo


def workload_target(
    entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
) -> Target | None:
    """The workload to roll back: the entry's, else the one recorded with the request;
    None when neither names one."""
    named = _settings(entry).workload
    if named is not None:
        name = substitute(named.name, parameters)
        try:
            reference = WorkloadReference(kind=named.kind, name=name)
        except ValidationError as error:
            raise ParameterError(
                f"rolloutUndo.workload.name of {entry.name} is {name!r}: not a workload name"
            ) from error
        return Target(APPS, reference.kind.value, reference.name, frozenset({HISTORY}))
    affected = record.affected_workload
    if affected is None:
        return None
    return Target(APPS, affected.kind, affected.name, frozenset({HISTORY}))


def to_revision(entry: Remediation, parameters: Mapping[str, str]) -> int | None:
    """rolloutUndo.toRevision substituted; None is kubectl's "previous"."""
    text = _settings(entry).to_revision
    if text is None:
        return None
    value = substitute(text, parameters).strip()
    if not value.isdigit() or int(value) < 1:
        raise ParameterError(
            f"rolloutUndo.toRevision of {entry.name} is {value!r}: not a revision number"
        )
    return int(value)


def _no_workload(entry: Remediation) -> Refusal:
    return Refusal(
        Reason.WORKLOAD_NOT_FOUND,
        f"remediation {entry.name} names no workload (rolloutUndo.workload) and the "
        "incident had no affected workload (spec.affected) when it was requested",
    )


def _workload(target: Target, observations: Observations) -> Workload | None:
    seen = observations.get(target.key)
    if seen is None or not seen.exists:
        return None
    workload = seen.state.get("workload")
    return workload if isinstance(workload, Workload) else None


def _recorded(record: RemediationRecord, key: str) -> object:
    return (record.previous or {}).get(key)


class RolloutUndoPlanner:
    """KindPlanner for ``rolloutUndo`` (reconcile/remediation_kind.py)."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        target = workload_target(entry, parameters, record)
        return [] if target is None else [target]

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        target = workload_target(entry, parameters, record)
        if target is None:
            return _no_workload(entry)
        ref = f"{target.kind}/{target.name}"
        if target.kind not in KINDS:
            return Refusal(Reason.NOTHING_TO_DO, f"cannot roll back a {target.kind}")
        workload = _workload(target, observations)
        if workload is None:
            return Refusal(Reason.WORKLOAD_NOT_FOUND, f"{ref} does not exist")
        # An attempt recorded but not taken goes to the revision recorded, not to
        # whatever "previous" means now.
        recorded = _recorded(record, "targetRevision")
        revision = recorded if isinstance(recorded, int) else to_revision(entry, parameters)
        planned = plan_rollback(workload, revision)
        if isinstance(planned, RollbackRefusal):
            return Refusal(planned.reason, planned.message)
        paused = paused_refusal(workload, AFTERWARDS)
        if paused is not None:
            return Refusal(paused.reason, paused.message)
        target_digest = template_digest(planned.target.template)
        approved = _recorded(record, "targetDigest")
        if approved is not None and approved != target_digest:
            return Refusal(
                Reason.REVISION_NOT_FOUND,
                f"revision {planned.target.number} of {ref} no longer holds the template "
                "this attempt was approved for",
            )
        current = planned.current.number if planned.current is not None else None
        start = f"revision {current}" if current is not None else "its current template"
        patch = rollback_patch(workload, planned.target)
        return Action(
            summary=f"roll back {ref} from {start} to revision {planned.target.number}",
            diff=planned.diff,
            targets=(target,),
            guards={target.key: workload.resource_version},
            previous={
                "revision": current,
                "digest": planned.current_digest,
                "targetRevision": planned.target.number,
                "targetDigest": target_digest,
            },
            payload={"contentType": patch.content_type, "body": patch.body},
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        target = workload_target(entry, parameters, record)
        if target is None:
            return Progress(ProgressState.FAILED, _no_workload(entry).message)
        ref = f"{target.kind}/{target.name}"
        workload = _workload(target, observations)
        if workload is None:
            return Progress(ProgressState.FAILED, f"{ref} was deleted")
        revision = _recorded(record, "targetRevision")
        actual = template_digest(workload.template)
        if actual == _recorded(record, "targetDigest"):
            rollout = rollout_progress(workload.kind, workload.raw)
            if rollout.state is RolloutState.COMPLETE:
                return Progress(
                    ProgressState.DONE, f"{ref} runs revision {revision}: {rollout.message}"
                )
            if rollout.state is RolloutState.FAILED:
                return Progress(
                    ProgressState.FAILED,
                    f"the rollout of {ref} to revision {revision} failed: {rollout.message}",
                )
            return Progress(
                ProgressState.RUNNING, f"{ref} rolling out revision {revision}: {rollout.message}"
            )
        if actual == _recorded(record, "digest"):
            return Progress(ProgressState.NOT_TAKEN)
        return Progress(
            ProgressState.FAILED,
            f"the pod template of {ref} was changed by someone else (it runs neither the "
            f"template rolled back from nor revision {revision}'s); the operator leaves it "
            "alone",
        )
