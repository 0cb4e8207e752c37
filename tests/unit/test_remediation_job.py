"""The ``job`` remediation kind's pure half (reconcile/remediation_job.py) and the template
rules (api/job_template.py), plus the kind through the pipeline."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from incident_operator.api.crd import escalation_policy_crd
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.job_template import (
    RECORD_KEY_ANNOTATION,
    logs_tail_lines,
    template_problem,
)
from incident_operator.api.remediation_status import (
    RemediationKind,
    RemediationPhase,
    RemediationRecord,
)
from incident_operator.api.remediations import Remediation
from incident_operator.cli.render import remediations_section
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.remediation_job import (
    NAME_LIMIT,
    RUNNING_OUTPUT,
    JobPlanner,
    job_name,
    record_key,
)
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    ProgressState,
    Refusal,
)
from incident_operator.reconcile.remediations import (
    RemediationInputs,
    decide_remediations,
    remediation_targets,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
PLANNER = JobPlanner()


def _template(**spec: Any) -> dict[str, Any]:
    container = {
        "name": "rollback",
        "image": "registry.example/db-tools:1.4",
        "command": ["./scripts/db-rollback.sh"],
        "args": ["--version", "{{ params.version }}"],
    }
    pod_spec = {"containers": [container], "serviceAccountName": "db-migrator"}
    return {"template": {"spec": pod_spec}, **spec}


def _entry(template: dict[str, Any] | None = None, **job: Any) -> Remediation:
    return Remediation.model_validate(
        {
            "name": "db-migration-rollback",
            "kind": "job",
            "parameters": [{"name": "version", "pattern": "^[0-9]{1,14}$"}],
            "job": {"template": template or _template(), **job},
        }
    )


def _record(**changes: Any) -> RemediationRecord:
    record = RemediationRecord(
        id="r1",
        remediation="db-migration-rollback",
        kind=RemediationKind.JOB,
        parameters={"version": "20240101"},
        requested_by="bob",
        requested_at=T0,
        phase=RemediationPhase.PROPOSED,
    )
    return record.model_copy(update=changes)


def _job(
    record: RemediationRecord | None = None,
    conditions: list[dict[str, str]] | None = None,
    key: str | None = None,
    **state: Any,
) -> Observations:
    record = record or _record()
    target = PLANNER.targets(_entry(), {}, record)[0]
    seen = Observation(
        target,
        True,
        "9",
        annotations={RECORD_KEY_ANNOTATION: key or record_key(record)},
        state={"conditions": conditions or [], "active": 1, **state},
    )
    return {target.key: seen}


# ------------------------------------------------------------------ the template


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"template": {"spec": {}}}, "job.template.template.spec.containers is empty"),
        ({"backoffLimit": 1}, "job.template.template.spec.containers is empty"),
        (
            {"template": {"spec": {"containers": [{"name": "x", "image": "{{ params.i }}"}]}}},
            "job.template.template.spec.containers[0].image refers to a parameter",
        ),
        (
            {
                "template": {
                    "spec": {
                        "initContainers": [{"name": "i", "image": "a:{{ params.tag }}"}],
                        "containers": [{"name": "x", "image": "a"}],
                    }
                }
            },
            "job.template.template.spec.initContainers[0].image refers to a parameter",
        ),
        (
            _template()
            | {
                "template": {
                    "spec": {
                        "containers": [{"name": "x", "image": "a"}],
                        "serviceAccountName": "{{ params.sa }}",
                    }
                }
            },
            "job.template.template.spec.serviceAccountName refers to a parameter",
        ),
        (
            {"template": {"spec": {"containers": [{"name": "x"}]}}},
            "job.template.template.spec.containers[0].image is missing",
        ),
        (_template(activeDeadlineSeconds=5), "job.template.activeDeadlineSeconds must not"),
        (_template(ttlSecondsAfterFinished=5), "job.template.ttlSecondsAfterFinished must not"),
    ],
)
def test_templates_that_cannot_run_are_named_by_field(template: dict[str, Any], field: str) -> None:
    problem = template_problem(template)
    assert problem is not None
    assert problem.startswith(field)
    with pytest.raises(ValidationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        _entry(template)


def test_a_runnable_template_passes() -> None:
    assert template_problem(_template(backoffLimit=2)) is None


def test_a_bad_template_that_reached_the_planner_is_refused_naming_the_field() -> None:
    # A policy written before the rule (or bypassing the model) still never runs a Job.
    entry = _entry().model_copy(deep=True)
    assert entry.job is not None
    entry.job.template["template"]["spec"]["containers"] = []
    planned = PLANNER.plan(entry, {"version": "1"}, _record(), {})
    assert isinstance(planned, Refusal)
    assert planned.reason == Reason.INVALID_JOB_TEMPLATE
    assert "job.template.template.spec.containers is empty" in planned.message


# ------------------------------------------------------------------ the name


def test_the_job_name_is_deterministic_short_and_unique_per_record() -> None:
    record = _record()
    assert job_name(record) == job_name(_record())
    assert job_name(record).startswith("db-migration-rollback-r1-")
    assert job_name(record) != job_name(_record(id="r2"))
    assert job_name(record) != job_name(_record(requested_at=T0 + timedelta(microseconds=1)))
    assert job_name(record) != job_name(_record(requested_by="alice"))
    # The request time read back from status (another zone spelling) names the same Job.
    assert job_name(record) == job_name(_record(requested_at=T0.astimezone()))


def test_a_long_remediation_name_is_shortened_to_a_dns_label() -> None:
    record = _record(remediation="a." + "b" * 250, id="r16")
    name = job_name(record)
    assert len(name) == NAME_LIMIT
    assert name.startswith("a-bbb")
    assert name.endswith(f"b-r16-{record_key(record)[:8]}")
    assert "." not in name


# ------------------------------------------------------------------ plan


def test_plan_renders_the_job_with_parameters_timeout_and_no_retry() -> None:
    record = _record()
    planned = PLANNER.plan(_entry(timeout="10m"), {"version": "20240101"}, record, {})
    assert isinstance(planned, Action)
    name = job_name(record)
    assert planned.summary == (
        f"run Job/{name}: registry.example/db-tools:1.4 ./scripts/db-rollback.sh --version "
        "20240101 (a new Job; it replaces nothing)"
    )
    assert "args: ['--version', '20240101']" in planned.diff
    assert planned.previous == {}
    assert planned.guards == {("Job", name): None}
    job = planned.payload["job"]
    assert job["metadata"]["name"] == name
    assert job["metadata"]["labels"]["sre.agentos.io/remediation-record"] == "r1"
    assert job["metadata"]["annotations"][RECORD_KEY_ANNOTATION] == record_key(record)
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 600
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["template"]["spec"]["serviceAccountName"] == "db-migrator"
    # The catalog entry itself is not changed by rendering.
    entry = _entry()
    PLANNER.plan(entry, {"version": "1"}, record, {})
    assert entry.job is not None
    assert "activeDeadlineSeconds" not in entry.job.template


def test_plan_keeps_the_templates_backoff_limit_and_restart_policy() -> None:
    template = _template(backoffLimit=3)
    template["template"]["spec"]["restartPolicy"] = "OnFailure"
    planned = PLANNER.plan(_entry(template), {"version": "1"}, _record(), {})
    assert isinstance(planned, Action)
    spec = planned.payload["job"]["spec"]
    assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (3, "OnFailure")


def test_the_target_asks_for_the_log_tail() -> None:
    (target,) = PLANNER.targets(_entry(logsTailLines=7), {}, _record())
    assert (target.api_version, target.kind) == ("batch/v1", "Job")
    assert logs_tail_lines(target.extras) == 7


# ------------------------------------------------------------------ progress


def _progress(observations: Observations, **record: Any) -> Any:
    return PLANNER.progress(_entry(), {"version": "1"}, _record(**record), observations)


def test_progress_table() -> None:
    complete = [{"type": "Complete", "status": "True"}]
    failed = [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
               "message": "Job was active longer than specified deadline"}]  # fmt: skip
    done = _progress(_job(conditions=complete, logs="rolled back to 20240101"))
    assert (done.state, done.output) == (ProgressState.DONE, "rolled back to 20240101")
    no_logs = _progress(_job(conditions=complete, logs=None, logsUnavailable="kubelet says no"))
    assert no_logs.state is ProgressState.DONE
    assert no_logs.output == "(no log tail: kubelet says no)"
    gone_wrong = _progress(_job(conditions=failed, logs="boom"))
    assert gone_wrong.state is ProgressState.FAILED
    assert "failed (DeadlineExceeded: Job was active longer" in gone_wrong.message
    assert gone_wrong.output == "boom"
    running = _progress(_job(conditions=[{"type": "Complete", "status": "False"}]))
    assert (running.state, running.output) == (ProgressState.RUNNING, RUNNING_OUTPUT)
    assert "is running (1 active pod)" in running.message


def test_a_job_never_seen_is_not_taken_and_one_seen_then_deleted_fails() -> None:
    assert _progress({}).state is ProgressState.NOT_TAKEN
    deleted = _progress({}, output=RUNNING_OUTPUT)
    assert deleted.state is ProgressState.FAILED
    assert "was deleted before it finished" in deleted.message


def test_a_job_of_the_same_name_not_made_for_the_record_fails_naming_it() -> None:
    progress = _progress(_job(key="someone-else"))
    assert progress.state is ProgressState.FAILED
    assert f"Job/{job_name(_record())} exists but was not made for r1" in progress.message


# ------------------------------------------------------------------ through the pipeline


def _policy(**entry: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {
            "metadata": {"name": "shop", "namespace": "shop"},
            "spec": {
                "remediations": [
                    {
                        "name": "health-check",
                        "kind": "job",
                        "requiresApproval": False,
                        "verify": {"rulesRecover": False},
                        "job": {
                            "template": {
                                "template": {
                                    "spec": {
                                        "containers": [
                                            {
                                                "name": "check",
                                                "image": "registry.example/sre-tools:2",
                                                "command": ["./scripts/health-check.sh"],
                                            }
                                        ]
                                    }
                                }
                            }
                        },
                        **entry,
                    }
                ],
            },
        }
    )


def _incident(annotations: dict[str, str], records: list[RemediationRecord]) -> Incident:
    return Incident.model_validate(
        {
            "metadata": {
                "name": "checkout",
                "namespace": "shop",
                "uid": "u",
                "annotations": annotations,
            },
            "spec": {"title": "Checkout errors", "severity": "P1"},
            "status": {
                "id": "INC-0042",
                "phase": "Investigating",
                "remediations": [r.to_wire() for r in records],
            },
        }
    )


def test_a_diagnostic_job_runs_at_once_and_succeeds_with_its_log_tail() -> None:
    request = {
        "sre.agentos.io/remediate": json.dumps({"remediation": "health-check"}),
        "sre.agentos.io/remediate-by": "bob",
    }
    policy = _policy()
    # The runtime reads what a pending request needs: no Job yet.
    ((_, pending_target),) = remediation_targets(_incident(request, []), policy)["r1"]
    absent = {"r1": {pending_target.key: Observation(pending_target, False)}}
    first = decide_remediations(
        RemediationInputs(_incident(request, []), policy, T0, absent, attempt_id="a1")
    )
    (record,) = first.records
    assert record.phase is RemediationPhase.IN_PROGRESS
    (pending,) = first.actions
    assert pending.action.payload["job"]["metadata"]["name"] == job_name(record)
    # The next pass reads the Job under the name the record gives, and it completed.
    wanted = remediation_targets(_incident({}, [record]), policy)
    ((kind, target),) = wanted["r1"]
    assert (kind, target.name) == (RemediationKind.JOB, job_name(record))
    seen = Observation(
        target,
        True,
        "3",
        annotations={RECORD_KEY_ANNOTATION: record_key(record)},
        state={"conditions": [{"type": "Complete", "status": "True"}], "logs": "all healthy"},
    )
    second = decide_remediations(
        RemediationInputs(
            _incident({}, [record]),
            policy,
            T0 + timedelta(seconds=5),
            observations={"r1": {target.key: seen}},
            attempt_id="a2",
            own_attempts=frozenset({"a1"}),
        )
    )
    (done,) = second.records
    assert done.phase is RemediationPhase.SUCCEEDED
    assert done.output == "all healthy"
    assert not second.actions


def test_the_message_and_so_the_timeline_carry_the_last_lines_of_the_log() -> None:
    complete = [{"type": "Complete", "status": "True"}]
    logs = "\n".join(f"line {n}" for n in range(1, 11))
    done = _progress(_job(conditions=complete, logs=logs))
    assert done.output == logs
    assert done.message.endswith("completed; log: line 8 | line 9 | line 10")


def test_the_crd_keeps_what_is_nested_in_the_template() -> None:
    # `additionalProperties: true` beside preserve-unknown-fields would give the template's
    # values an empty schema, and the API server would prune template.spec.containers.
    schema = escalation_policy_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    entry = schema["properties"]["spec"]["properties"]["remediations"]["items"]
    template = entry["properties"]["job"]["properties"]["template"]
    assert template["x-kubernetes-preserve-unknown-fields"] is True
    assert "additionalProperties" not in template


def test_show_prints_a_jobs_output_line_by_line() -> None:
    record = _record(phase=RemediationPhase.SUCCEEDED, output="ok: api\nok: queue\t3")
    lines = remediations_section({"id": "INC-0042", "remediations": [record.to_wire()]})
    assert lines[-3:] == ["      output:", "        ok: api", "        ok: queue\\t3"]
