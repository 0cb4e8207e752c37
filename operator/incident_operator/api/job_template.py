"""What makes a job remediation's template (EscalationPolicy.spec.remediations[].job
.template) a JobSpec the operator can run: checked when the policy is read (JobSettings'
validator) and again by the planner (reconcile/remediation_job.py), which refuses a
request naming the field rather than creating a Job the API server would refuse.

The rules, and why:

* ``template.spec.containers``: a non-empty list, each with a ``name`` and an ``image``
  (a Job without them is refused by the API server, after the request was approved);
* ``image`` (containers and initContainers) and ``serviceAccountName`` /
  ``serviceAccount`` never refer to ``{{ params.NAME }}``: what runs and with which rights
  is reviewed in the policy, never chosen by whoever requests;
* ``activeDeadlineSeconds`` is not in the template: the entry's ``timeout`` sets it (one
  place for it);
* ``ttlSecondsAfterFinished`` is not in the template: the record relies on the Job staying
  until its incident is deleted (the Job's ownerReference), so a restarted operator never
  mistakes a Job cleaned up after finishing for one never created.
"""

from collections.abc import Mapping
from typing import Any

# Where the template sits in the policy, for messages.
FIELD = "job.template"
# The start of a parameter reference ("{{ params.NAME }}").
_REFERENCE_START = "{{"


def _refers(value: Any) -> bool:
    return isinstance(value, str) and _REFERENCE_START in value


NO_DEADLINE = f"{FIELD}.activeDeadlineSeconds must not be set: the entry's timeout sets it"
NO_TTL = (
    f"{FIELD}.ttlSecondsAfterFinished must not be set: the Job stays until its incident is "
    "deleted, so a restart never runs it twice"
)
NEEDS_CONTAINERS = f"{FIELD}.template.spec.containers is empty: a Job needs a container to run"


def template_problem(template: Mapping[str, Any]) -> str | None:
    """Why ``template`` is not a runnable JobSpec, naming the field; None when it is."""
    if "activeDeadlineSeconds" in template:
        return NO_DEADLINE
    if "ttlSecondsAfterFinished" in template:
        return NO_TTL
    pod = template.get("template")
    spec = pod.get("spec") if isinstance(pod, Mapping) else None
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping) or not isinstance(containers, list) or not containers:
        return NEEDS_CONTAINERS
    for field in ("serviceAccountName", "serviceAccount"):
        if _refers(spec.get(field)):
            return (
                f"{FIELD}.template.spec.{field} refers to a parameter: only the policy sets "
                "the rights a Job runs with"
            )
    for list_name in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(list_name) or []):
            where = f"{FIELD}.template.spec.{list_name}[{index}]"
            if not isinstance(container, Mapping):
                return f"{where} is not an object"
            if not isinstance(container.get("name"), str) or not container.get("name"):
                return f"{where}.name is missing"
            image = container.get("image")
            if not isinstance(image, str) or not image:
                return f"{where}.image is missing"
            if _refers(image):
                return f"{where}.image refers to a parameter: only the policy chooses what runs"
    return None


# The labels and annotations a remediation Job carries (set by reconcile/remediation_job.py
# and adapters/remediation_job.py), so `kubectl get jobs -l` finds an incident's Jobs and
# the operator can tell its own Job from another of the same name.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "incident-operator"
INCIDENT_LABEL = "sre.agentos.io/incident"
REMEDIATION_LABEL = "sre.agentos.io/remediation"
RECORD_LABEL = "sre.agentos.io/remediation-record"
# The incident's uid (the label holds its name, which is not unique over time).
INCIDENT_UID_ANNOTATION = "sre.agentos.io/incident-uid"
# A digest of the record the Job was made for (its id, requester and request time).
RECORD_KEY_ANNOTATION = "sre.agentos.io/remediation-record-key"

# Target.extras of a Job target: "logs=N" asks the adapter for the last N log lines once
# the Job has finished.
LOGS_EXTRA = "logs="


def logs_extra(lines: int) -> str:
    return f"{LOGS_EXTRA}{lines}"


def logs_tail_lines(extras: frozenset[str]) -> int:
    """How many log lines a Job target's extras ask for (0: none)."""
    for extra in extras:
        if extra.startswith(LOGS_EXTRA) and extra[len(LOGS_EXTRA) :].isdigit():
            return int(extra[len(LOGS_EXTRA) :])
    return 0
