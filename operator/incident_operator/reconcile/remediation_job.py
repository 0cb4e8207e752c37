"""The ``job`` remediation kind, pure half: run a Job made from the catalog entry's JobSpec
template with the request's parameters substituted (the runbook's database migration
rollback, ``--version {{ params.version }}``; its "useful commands" as read-only
diagnostics with requiresApproval: false). Success is the Job completing; the tail of its
log goes into the record's output and the timeline.

A Job replaces nothing, so ``previous`` is ``{}`` and the guard is its name, not a
resourceVersion: the name is deterministic from the record (``job_name``), so applying
again after a restart finds the Job it created (AlreadyExists) instead of a second one.

The name is ``<remediation>-<record id>-<digest>``, at most 63 characters. The planner
sees the record, not the incident, so the digest (``record_key``) is of what makes a
record unique in a namespace: its id, its requester and the microsecond it was
requested. The Job's labels carry the incident's name and the record id, its annotation
the incident's uid and the record key, and an ownerReference makes the Incident its
owner (adapters/remediation_job.py sets those three).

The adapter reads the Job into ``Observation.state``::

    {"conditions": [{"type", "status", "reason", "message"}], "active": n,
     "succeeded": n, "failed": n,
     "logs": "<tail>" | None, "logsUnavailable": "<why>" | None}   # once finished

and the record's progress is judged from it::

    Job                                    progress
    -------------------------------------  ---------------------------------------------
    absent, never seen                     NOT_TAKEN: create it (again; the name guards)
    absent, seen before (record.output)    FAILED: deleted by someone; not run twice
    not the record's (record-key differs)  FAILED: names it
    condition Complete=True                DONE, with the log tail
    condition Failed=True                  FAILED with its reason and the log tail

The record's output holds the tail (logsTailLines); the message, and so the timeline
entry, its last lines.
    otherwise                              RUNNING
"""

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from incident_operator.api.job_template import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RECORD_KEY_ANNOTATION,
    RECORD_LABEL,
    REMEDIATION_LABEL,
    logs_extra,
    template_problem,
)
from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import JobSettings, Remediation
from incident_operator.domain.durations import parse_duration
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
from incident_operator.reconcile.remediation_parameters import ParameterError, substitute_all

BATCH = "batch/v1"
JOB = "Job"
# A Job's name is a DNS label (its pods' job-name label carries it).
NAME_LIMIT = 63
# The record's output while the Job runs: also the mark that the Job was seen created.
RUNNING_OUTPUT = "(the Job is running; its log tail comes when it finishes)"
# How much of the log tail the message (and so the timeline entry) carries.
TIMELINE_LINES = 3
TIMELINE_CHARS = 300
_NOT_LABEL = re.compile(r"[^a-z0-9-]+")


def _settings(entry: Remediation) -> JobSettings:
    if entry.job is None:
        raise ParameterError(f"remediation {entry.name} has no job settings")
    return entry.job


def record_key(record: RemediationRecord) -> str:
    """A digest of what makes a record unique in a namespace (it names no incident)."""
    at = record.requested_at
    # A naive time (the pipeline's placeholder for a request not yet recorded) is UTC.
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    requested_at = at.isoformat()
    material = f"{record.id}\n{record.requested_by}\n{requested_at}\n{record.remediation}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _suffix(record: RemediationRecord) -> str:
    return f"-{record.id}-{record_key(record)[:8]}"


def _prefix(record: RemediationRecord) -> str:
    """The remediation's name as far as it fits in a DNS label beside the suffix."""
    prefix = _NOT_LABEL.sub("-", record.remediation.lower())
    return prefix[: NAME_LIMIT - len(_suffix(record))].strip("-") or "remediation"


def job_name(record: RemediationRecord) -> str:
    """``<remediation>-<record id>-<8 hex>``, shortened to a DNS label of 63."""
    return _prefix(record) + _suffix(record)


def _target(entry: Remediation, record: RemediationRecord) -> Target:
    lines = _settings(entry).logs_tail_lines
    return Target(BATCH, JOB, job_name(record), extras=frozenset({logs_extra(lines)}))


def _command_line(container: Mapping[str, Any]) -> str:
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    return " ".join([str(container.get("image", "")), *words])


def _diff(spec: Mapping[str, Any]) -> str:
    lines = []
    for container in spec["template"]["spec"]["containers"]:
        lines.append(f"container {container.get('name')}: image {container.get('image')}")
        for field in ("command", "args"):
            if container.get(field):
                lines.append(f"  {field}: {[str(w) for w in container[field]]}")
    return "\n".join(lines)


def render_job(
    entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
) -> dict[str, Any]:
    """The Job manifest (without the incident's label, uid and ownerReference, which the
    adapter adds): the template with parameters substituted, activeDeadlineSeconds from
    ``timeout``, backoffLimit 0 unless the template sets it, restartPolicy Never unless
    the template sets it. ParameterError for a reference to a parameter not given."""
    settings = _settings(entry)
    spec: dict[str, Any] = substitute_all(settings.template, parameters)
    spec["activeDeadlineSeconds"] = int(parse_duration(settings.timeout).total_seconds())
    spec.setdefault("backoffLimit", 0)
    spec["template"]["spec"].setdefault("restartPolicy", "Never")
    return {
        "apiVersion": BATCH,
        "kind": JOB,
        "metadata": {
            "name": job_name(record),
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY,
                REMEDIATION_LABEL: _prefix(record),
                RECORD_LABEL: record.id,
            },
            "annotations": {RECORD_KEY_ANNOTATION: record_key(record)},
        },
        "spec": spec,
    }


def _condition(seen: Observation, kind: str) -> Mapping[str, Any] | None:
    for condition in seen.state.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def _last_lines(output: str) -> str:
    """The end of the output for the message (and so the timeline): the record's output
    holds all logsTailLines of it."""
    return " | ".join(output.splitlines()[-TIMELINE_LINES:])[-TIMELINE_CHARS:]


def _output(seen: Observation) -> str:
    logs = seen.state.get("logs")
    if isinstance(logs, str):
        return logs if logs else "(the Job's log is empty)"
    why = seen.state.get("logsUnavailable") or "not read"
    return f"(no log tail: {why})"


class JobPlanner:
    """KindPlanner for ``job`` (reconcile/remediation_kind.py)."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        return [_target(entry, record)]

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        problem = template_problem(_settings(entry).template)
        if problem is not None:
            return Refusal(Reason.INVALID_JOB_TEMPLATE, f"remediation {entry.name}: {problem}")
        manifest = render_job(entry, parameters, record)
        spec = manifest["spec"]
        target = _target(entry, record)
        commands = "; ".join(_command_line(c) for c in spec["template"]["spec"]["containers"])
        return Action(
            summary=f"run Job/{target.name}: {commands} (a new Job; it replaces nothing)",
            diff=_diff(spec),
            targets=(target,),
            guards={target.key: None},
            previous={},
            payload={"job": manifest},
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        target = _target(entry, record)
        ref = f"Job/{target.name}"
        seen = observations.get(target.key)
        if seen is None or not seen.exists:
            if record.output is not None:
                return Progress(
                    ProgressState.FAILED,
                    f"{ref} was deleted before it finished; the operator does not run it "
                    "again (request the remediation again to run a new Job)",
                )
            return Progress(ProgressState.NOT_TAKEN)
        if seen.annotations.get(RECORD_KEY_ANNOTATION) != record_key(record):
            return Progress(
                ProgressState.FAILED,
                f"{ref} exists but was not made for {record.id} (annotation "
                f"{RECORD_KEY_ANNOTATION}); the operator leaves it alone",
            )
        complete = _condition(seen, "Complete")
        if complete is not None:
            output = _output(seen)
            return Progress(
                ProgressState.DONE, f"{ref} completed; log: {_last_lines(output)}", output=output
            )
        failed = _condition(seen, "Failed")
        if failed is not None:
            why = failed.get("reason") or "Failed"
            if failed.get("message"):
                why = f"{why}: {failed['message']}"
            output = _output(seen)
            return Progress(
                ProgressState.FAILED,
                f"{ref} failed ({why}); log: {_last_lines(output)}",
                output=output,
            )
        active = seen.state.get("active") or 0
        return Progress(
            ProgressState.RUNNING,
            f"{ref} is running ({active} active pod{'s' if active != 1 else ''})",
            output=RUNNING_OUTPUT,
        )
