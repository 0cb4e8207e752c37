"""The ``scale`` remediation kind, pure half: scale a Deployment or StatefulSet to a
replica count (0 is the kill switch), recording the count it had.

The adapter (adapters/remediation_scale.py) reads the workload's replicas and generations
into ``Observation.state``::

    {"replicas": spec.replicas, "generation": metadata.generation,
     "observedGeneration": status.observedGeneration}

and applies ``payload`` ``{"replicas": n}`` as a merge patch guarded by the resourceVersion
read. Progress is judged from the replicas alone, so a status write by the controller
(which changes the resourceVersion) is not taken for somebody else's change::

    spec.replicas          progress
    --------------------   -------------------------------------------------------
    == target              DONE once the controller observed it (observedGeneration
                           >= generation), else RUNNING
    == previous            NOT_TAKEN: apply again (guarded)
    anything else          FAILED: someone else scaled it; the operator leaves it alone
"""

from collections.abc import Mapping
from typing import Any

from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import Remediation, ScaleSettings
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError, substitute

APPS = "apps/v1"
SCALABLE = ("Deployment", "StatefulSet")
# The most replicas a scale remediation sets (a typo of 1000 is not a remediation).
MAX_REPLICAS = 1000


def _settings(entry: Remediation) -> ScaleSettings:
    if entry.scale is None:
        raise ParameterError(f"remediation {entry.name} has no scale settings")
    return entry.scale


def _target(entry: Remediation, parameters: Mapping[str, str]) -> Target:
    workload = _settings(entry).workload
    return Target(APPS, workload.kind.value, substitute(workload.name, parameters))


def _replicas(entry: Remediation, parameters: Mapping[str, str]) -> int:
    text = substitute(_settings(entry).replicas, parameters).strip()
    if not text.isdigit() or int(text) > MAX_REPLICAS:
        raise ParameterError(
            f"scale.replicas of {entry.name} is {text!r}: not a replica count from 0 to "
            f"{MAX_REPLICAS}"
        )
    return int(text)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


class ScalePlanner:
    """KindPlanner for ``scale`` (reconcile/remediation_kind.py)."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        return [_target(entry, parameters)]

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        target = _target(entry, parameters)
        ref = f"{target.kind}/{target.name}"
        if target.kind not in SCALABLE:
            return Refusal(
                Reason.NOTHING_TO_DO,
                f"scale.workload is a {target.kind}; only a Deployment or StatefulSet scales",
            )
        replicas = _replicas(entry, parameters)
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            return Refusal(Reason.WORKLOAD_NOT_FOUND, f"{ref} does not exist (scale.workload)")
        current = _int(seen.state.get("replicas"))
        if current == replicas:
            return Refusal(Reason.NOTHING_TO_DO, f"{ref} already has {replicas} replicas")
        before = "unset" if current is None else str(current)
        return Action(
            summary=f"scale {ref} from {before} to {replicas} replicas",
            diff=f"{ref} spec.replicas: {before} -> {replicas}",
            targets=(target,),
            guards={target.key: seen.resource_version},
            previous={"replicas": current},
            payload={"replicas": replicas},
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        target = _target(entry, parameters)
        ref = f"{target.kind}/{target.name}"
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            return Progress(ProgressState.FAILED, f"{ref} was deleted")
        replicas = _replicas(entry, parameters)
        previous = (record.previous or {}).get("replicas")
        now = _int(seen.state.get("replicas"))
        if now == replicas:
            generation = _int(seen.state.get("generation")) or 1
            observed = _int(seen.state.get("observedGeneration")) or 0
            if observed >= generation:
                return Progress(ProgressState.DONE, f"{ref} has {replicas} replicas")
            return Progress(
                ProgressState.RUNNING,
                f"{ref} scaled to {replicas}; its controller has not seen it yet",
            )
        if now == previous:
            return Progress(ProgressState.NOT_TAKEN)
        return Progress(
            ProgressState.FAILED,
            f"{ref} was scaled by someone else to {now} replicas (the remediation set "
            f"{previous} -> {replicas}); the operator leaves it alone",
        )
