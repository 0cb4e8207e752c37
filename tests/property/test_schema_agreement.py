"""The models and the API server agree on which specs are valid.

Each generated spec is judged twice: by the pydantic model and by the real API server
(a server-side dry run from a client that does not ask for strict field validation, as
a GitOps tool or a Python client would). A spec one accepts and the other refuses is a
bug in the models or the schema, unless it is listed in docs/api-bounds.md ("Where the
model and the API server differ"), which ``_documented`` recognises.
"""

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel, ValidationError

from incident_operator.api import GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from tests.property.strategies import (
    mutated_incident_specs,
    mutated_policy_specs,
    raw_incident_specs,
    raw_policy_specs,
    valid_incident_specs,
    valid_policy_specs,
)

pytestmark = pytest.mark.integration

# (accepted, the reasons given for a refusal)
Verdict = tuple[bool, list[str]]
DryRun = Callable[[str, dict[str, Any]], Verdict]
# Dry runs create nothing, so any existing namespace serves.
NAMESPACE = "default"
# The admission policy of customer messages (installed when an earlier test in the
# session needed the shipped policies): it judges who publishes, not the schema.
_AUTHORSHIP_POLICY = "'incident-operator-customer-messages'"
# The model leaves unknown metric roles to detection (docs/api-bounds.md).
_ROLE_MESSAGES = ("unknown metric role", "a rule with a custom query takes no metrics")


@pytest.fixture(scope="module")
def dry_run(k8s_api: k8s.ApiClient) -> DryRun:
    api = k8s.CustomObjectsApi(k8s_api)

    def create(plural: str, manifest: dict[str, Any]) -> Verdict:
        try:
            api.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, plural, manifest, dry_run="All"
            )
        except ApiException as error:
            if error.status == 403 and _AUTHORSHIP_POLICY in error.body:
                # Refused after the schema accepted it (the API server validates the
                # schema before admission): customerMessages by someone who is not the
                # requester, which the admission policy, not the schema, judges.
                return True, []
            if error.status not in (400, 422):
                raise
            body = json.loads(error.body)
            causes = body.get("details", {}).get("causes") or [{"message": body["message"]}]
            return False, [f"{c.get('field', '')}: {c['message']}" for c in causes]
        return True, []

    return create


def _model_verdict(model: type[BaseModel], manifest: dict[str, Any]) -> Verdict:
    try:
        model.model_validate(manifest)
    except ValidationError as error:
        return False, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    return True, []


def _documented(model: Verdict, server: Verdict) -> bool:
    """The model accepts and the server refuses only for reasons the docs list."""
    return (
        model[0]
        and not server[0]
        and all(any(m in reason for m in _ROLE_MESSAGES) for reason in server[1])
    )


def _judge(dry_run: DryRun, model: type[BaseModel], plural: str, spec: dict[str, Any]) -> None:
    kind = "Incident" if model is Incident else "EscalationPolicy"
    manifest = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": "sample"},
        "spec": spec,
    }
    note(json.dumps(spec, indent=1))
    by_model = _model_verdict(model, manifest)
    by_server = dry_run(plural, manifest)
    event(f"model {by_model[0]}, API server {by_server[0]}")
    if _documented(by_model, by_server):
        return
    assert by_model[0] == by_server[0], (
        f"model {'accepts' if by_model[0] else 'refuses'}, API server "
        f"{'accepts' if by_server[0] else 'refuses'}:\n  model: {by_model[1]}\n"
        f"  server: {by_server[1]}"
    )


@given(spec=st.one_of(valid_policy_specs(), mutated_policy_specs(), raw_policy_specs()))
def test_policy_specs(dry_run: DryRun, spec: dict[str, Any]) -> None:
    _judge(dry_run, EscalationPolicy, "escalationpolicies", spec)


@given(spec=st.one_of(valid_incident_specs(), mutated_incident_specs(), raw_incident_specs()))
def test_incident_specs(dry_run: DryRun, spec: dict[str, Any]) -> None:
    _judge(dry_run, Incident, "incidents", spec)
