"""The EscalationPolicies the operator has seen, kept in memory from the watch.

Detection's polling loop and the incident reconciler read policies from here instead of
listing them from the API on every cycle; the policy event handler keeps it current.
Only policies that parsed are kept: a policy with an invalid spec governs nothing.
"""

from incident_operator.api.escalation_policy import EscalationPolicy

PolicyKey = tuple[str, str]


class PolicyRegistry:
    def __init__(self) -> None:
        self._policies: dict[PolicyKey, EscalationPolicy] = {}

    def put(self, policy: EscalationPolicy) -> None:
        self._policies[(policy.metadata.namespace, policy.metadata.name)] = policy

    def remove(self, namespace: str, name: str) -> None:
        self._policies.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> EscalationPolicy | None:
        return self._policies.get((namespace, name))

    def in_namespace(self, namespace: str) -> list[EscalationPolicy]:
        return [p for (ns, _), p in sorted(self._policies.items()) if ns == namespace]

    def all(self) -> list[EscalationPolicy]:
        return [policy for _, policy in sorted(self._policies.items())]


POLICIES = PolicyRegistry()
