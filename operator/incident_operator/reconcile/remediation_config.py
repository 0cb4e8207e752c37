"""The ``configRollback`` remediation kind, pure half: restore a ConfigMap's or Secret's
data to a version the operator kept (domain/config_history.py), then restart the
workloads that read it, as ``kubectl rollout restart`` does.

The adapter (adapters/remediation_config.py) reads the object into ``Observation.state``
(never a Secret's values)::

    {"digest": data digest, "keys": {key: digest}, "data": ConfigMap data (None: Secret),
     "changedBy": field manager, "snapshots": [{"version", "digest", "keys", "data",
     "objectName", "createdAt", "changedBy"}]}

and each workload in ``restart`` into ``{"restartedAt", "generation",
"observedGeneration"}``. ``previous`` records what was there and what is restored::

    {"version": the version of the data replaced (kept before restoring if it was not),
     "digest": its digest, "restoringVersion": N, "restoringDigest": its digest}

Progress, from the object's data digest alone (a restart between recording and acting
sees one of these)::

    data digest              progress
    ----------------------   ----------------------------------------------------------
    == restoringDigest       restarts made after the attempt started (restartedAt >=
                             startedAt): DONE once the controllers observed them, else
                             RUNNING; restarts missing: NOT_TAKEN (the re-plan restarts
                             only those, so none restarts twice)
    == previous digest       NOT_TAKEN: apply again (guarded by the resourceVersion)
    anything else            FAILED: someone else changed it; the message says who
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from incident_operator.api.remediation_status import RemediationPhase, RemediationRecord
from incident_operator.api.remediations import ConfigRollbackSettings, Remediation
from incident_operator.domain.config_history import Snapshot, diff, resolve_version
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError, substitute

APPS = "apps/v1"
# Target.extras of the config object: read its snapshots too.
SNAPSHOTS = "snapshots"
# Lines of the data diff that go into the proposal.
PROPOSAL_DIFF_LINES = 120


def _settings(entry: Remediation) -> ConfigRollbackSettings:
    if entry.config_rollback is None:
        raise ParameterError(f"remediation {entry.name} has no configRollback settings")
    return entry.config_rollback


def config_target(entry: Remediation) -> Target:
    settings = _settings(entry)
    return Target("v1", settings.kind.value, settings.name, extras=frozenset({SNAPSHOTS}))


def _workloads(entry: Remediation, parameters: Mapping[str, str]) -> list[Target]:
    return [
        Target(APPS, w.kind.value, substitute(w.name, parameters)) for w in _settings(entry).restart
    ]


def snapshots_in(state: Mapping[str, Any]) -> list[Snapshot]:
    """The snapshots an Observation's state lists."""
    return [
        Snapshot(
            version=int(s["version"]),
            digest=str(s["digest"]),
            object_name=str(s.get("objectName") or ""),
            created_at=str(s.get("createdAt") or ""),
            changed_by=str(s.get("changedBy") or ""),
            keys=dict(s.get("keys") or {}),
            data=s.get("data"),
        )
        for s in state.get("snapshots") or []
    ]


def _current(state: Mapping[str, Any]) -> Snapshot:
    """What is there now, as a snapshot (version 0: not a kept one)."""
    return Snapshot(
        version=0,
        digest=str(state.get("digest") or ""),
        object_name="",
        keys=dict(state.get("keys") or {}),
        data=state.get("data"),
    )


def _seconds(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).replace(microsecond=0)
    except ValueError:
        return None


def restart_pending(record: RemediationRecord, seen: Observation) -> bool:
    """True unless the workload was restarted after the record's attempt started (the
    restart annotation is whole seconds, so the start is compared at whole seconds)."""
    started = record.started_at
    restarted = _seconds(seen.state.get("restartedAt"))
    if started is None or restarted is None:
        return True
    return restarted < started.replace(microsecond=0)


def _in_flight(record: RemediationRecord) -> bool:
    return record.phase is RemediationPhase.IN_PROGRESS and bool(
        (record.previous or {}).get("restoringDigest")
    )


class ConfigRollbackPlanner:
    """KindPlanner for ``configRollback`` (reconcile/remediation_kind.py)."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        return [config_target(entry), *_workloads(entry, parameters)]

    def _restarts(
        self, entry: Remediation, parameters: Mapping[str, str], observations: Observations
    ) -> list[Target] | Refusal:
        workloads = _workloads(entry, parameters)
        for workload in workloads:
            seen = observations.get(workload.key)
            if seen is None or not seen.exists:
                return Refusal(
                    Reason.WORKLOAD_NOT_FOUND,
                    f"{workload.kind}/{workload.name} does not exist (configRollback.restart)",
                )
        return workloads

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        target = config_target(entry)
        ref = f"{target.kind}/{target.name}"
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            return Refusal(Reason.CONFIG_NOT_FOUND, f"{ref} does not exist (configRollback.name)")
        workloads = self._restarts(entry, parameters, observations)
        if isinstance(workloads, Refusal):
            return workloads
        current = _current(seen.state)
        snapshots = snapshots_in(seen.state)
        if _in_flight(record):
            return self._resume(entry, record, target, seen, workloads, observations)
        found = resolve_version(
            substitute(_settings(entry).version, parameters), snapshots, current.digest
        )
        if isinstance(found, str):
            return Refusal(Reason.CONFIG_VERSION_NOT_KEPT, f"{ref}: {found}")
        if found.digest == current.digest:
            return Refusal(
                Reason.NOTHING_TO_DO, f"nothing to do: {ref} is at version {found.version}"
            )
        newest = snapshots[-1] if snapshots else None
        kept_now = newest is not None and newest.digest == current.digest
        replaced = (
            newest.version
            if kept_now and newest is not None
            else ((newest.version if newest is not None else 0) + 1)
        )
        restarts = ", ".join(f"{w.kind}/{w.name}" for w in workloads)
        summary = f"restore {ref} to version {found.version} (from version {replaced})" + (
            f", then restart {restarts}" if workloads else ""
        )
        lines = diff(
            target.kind, current, found, f"{ref} now (v{replaced})", f"{ref} v{found.version}"
        )
        if len(lines) > PROPOSAL_DIFF_LINES:
            lines = [*lines[:PROPOSAL_DIFF_LINES], f"... {len(lines) - PROPOSAL_DIFF_LINES} more"]
        guards: dict[tuple[str, str], str | None] = {target.key: seen.resource_version}
        for workload in workloads:
            guards[workload.key] = observations[workload.key].resource_version
        return Action(
            summary=summary,
            diff="\n".join(lines),
            targets=(target, *workloads),
            guards=guards,
            previous={
                "version": replaced,
                "digest": current.digest,
                "restoringVersion": found.version,
                "restoringDigest": found.digest,
            },
            payload={
                "keep": _settings(entry).keep,
                "restore": {"version": found.version, "objectName": found.object_name},
                "restart": [{"kind": w.kind, "name": w.name} for w in workloads],
            },
        )

    def _resume(
        self,
        entry: Remediation,
        record: RemediationRecord,
        target: Target,
        seen: Observation,
        workloads: list[Target],
        observations: Observations,
    ) -> Action | Refusal:
        """The attempt recorded but not (wholly) taken: the same restore again, or, when the
        data is restored already, only the restarts not made yet."""
        previous = record.previous or {}
        restored = seen.state.get("digest") == previous.get("restoringDigest")
        pending = [w for w in workloads if restart_pending(record, observations[w.key])]
        snapshots = {s.version: s for s in snapshots_in(seen.state)}
        version = int(previous.get("restoringVersion") or 0)
        kept = snapshots.get(version)
        if not restored and kept is None:
            return Refusal(
                Reason.CONFIG_VERSION_NOT_KEPT,
                f"{target.kind}/{target.name}: version {version} is no longer kept",
            )
        return Action(
            summary=record.summary or f"restore {target.kind}/{target.name}",
            diff=record.diff or "",
            targets=(target, *workloads),
            guards={
                target.key: seen.resource_version,
                **{w.key: observations[w.key].resource_version for w in workloads},
            },
            previous=dict(previous),
            payload={
                "keep": _settings(entry).keep,
                "restore": None
                if restored or kept is None
                else {"version": version, "objectName": kept.object_name},
                "restart": [{"kind": w.kind, "name": w.name} for w in pending],
            },
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        target = config_target(entry)
        ref = f"{target.kind}/{target.name}"
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            return Progress(ProgressState.FAILED, f"{ref} was deleted")
        previous = record.previous or {}
        now = seen.state.get("digest")
        version = previous.get("restoringVersion")
        if now == previous.get("restoringDigest"):
            workloads = _workloads(entry, parameters)
            missing = [w for w in workloads if observations.get(w.key) is None]
            gone = [w for w in workloads if w not in missing and not observations[w.key].exists]
            if missing or gone:
                names = ", ".join(f"{w.kind}/{w.name}" for w in missing + gone)
                return Progress(
                    ProgressState.FAILED, f"{ref} restored to version {version}; {names} gone"
                )
            pending = [w for w in workloads if restart_pending(record, observations[w.key])]
            if pending:
                return Progress(ProgressState.NOT_TAKEN)
            rolling = [
                w
                for w in workloads
                if (observations[w.key].state.get("observedGeneration") or 0)
                < (observations[w.key].state.get("generation") or 1)
            ]
            if rolling:
                names = ", ".join(f"{w.kind}/{w.name}" for w in rolling)
                return Progress(
                    ProgressState.RUNNING,
                    f"{ref} restored to version {version}; waiting for {names} to restart",
                )
            restarted = ", ".join(f"{w.kind}/{w.name}" for w in workloads)
            return Progress(
                ProgressState.DONE,
                f"{ref} restored to version {version}"
                + (f"; restarted {restarted}" if workloads else ""),
            )
        if now == previous.get("digest"):
            return Progress(ProgressState.NOT_TAKEN)
        who = seen.state.get("changedBy") or "someone else"
        return Progress(
            ProgressState.FAILED,
            f"{ref} was changed by {who}: its data is neither version "
            f"{previous.get('version')} nor version {version}; their change stands",
        )
