"""Which policy governs an incident, with its affected workloads' labels read when needed.

Both the lifecycle and the escalation handlers call this, so they agree. The workloads
are read only when a selector could make a difference: no policyRef, some affected
workloads, and a policy in the namespace with a selector.
"""

import asyncio

from incident_operator.adapters.workloads import workload_labels
from incident_operator.api.incident import Incident
from incident_operator.handlers.registry import POLICIES
from incident_operator.reconcile.governing_policy import GoverningPolicy, governing_policy


async def resolve_governing(incident: Incident) -> GoverningPolicy:
    namespace = incident.metadata.namespace
    policies = POLICIES.in_namespace(namespace)
    affected = [(w.kind.value, w.name) for w in incident.spec.affected]
    selectors = any(
        p.spec.selector.match_labels or p.spec.selector.match_expressions for p in policies
    )
    labels: list[dict[str, str]] = []
    if incident.spec.policy_ref is None and affected and selectors:
        found = await asyncio.to_thread(workload_labels, namespace, affected)
        labels = list(found.values())
    return governing_policy(incident, policies, labels)
