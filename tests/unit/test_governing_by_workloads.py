"""A policy's selector matches an incident through its affected workloads' labels."""

from typing import Any

import pytest

from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.governing_policy import governing_policy


def _policy(name: str, **spec: Any) -> EscalationPolicy:
    return EscalationPolicy.model_validate(
        {"metadata": {"name": name, "namespace": "n"}, "spec": spec}
    )


POLICIES = [
    _policy("fallback", default=True),
    _policy("payments", selector={"matchLabels": {"team": "payments"}}),
    _policy(
        "search",
        selector={"matchExpressions": [{"key": "tier", "operator": "In", "values": ["search"]}]},
    ),
]
INCIDENT = Incident.model_validate(
    {
        "metadata": {"name": "i", "namespace": "n"},
        "spec": {"title": "t", "severity": "P1", "affected": [{"kind": "Deployment", "name": "a"}]},
    }
)


@pytest.mark.parametrize(
    ("workload_labels", "expected", "reason"),
    [
        ([{"team": "payments", "app": "a"}], "payments", Reason.BY_SELECTOR),
        ([{"app": "x"}, {"tier": "search"}], "search", Reason.BY_SELECTOR),
        ([{"team": "other"}], "fallback", Reason.BY_DEFAULT),
        ([], "fallback", Reason.BY_DEFAULT),
    ],
)
def test_selector_matches_affected_workloads(
    workload_labels: list[dict[str, str]], expected: str, reason: str
) -> None:
    governing = governing_policy(INCIDENT, POLICIES, workload_labels)
    assert governing.policy is not None
    assert (governing.policy.metadata.name, governing.reason) == (expected, reason)


def test_policy_ref_still_wins_over_workload_labels() -> None:
    wire = INCIDENT.model_dump(by_alias=True)
    incident = Incident.model_validate(
        {**wire, "spec": {**wire["spec"], "policyRef": {"name": "search"}}}
    )
    governing = governing_policy(incident, POLICIES, [{"team": "payments"}])
    assert governing.policy is not None
    assert governing.policy.metadata.name == "search"
