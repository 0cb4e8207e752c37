"""The EscalationPolicies the operator has read, kept in memory from one listing and the watch.

Detection's polling loop and the incident pipeline read policies from here instead of
listing them on every cycle. Only policies that parsed are kept: a policy with an invalid
spec governs nothing (its own Ready condition says why).

Nothing may decide on an incident before the policies are known: an incident decided
against an empty registry gets the runbook's defaults and no channels. So the registry
starts *unseeded*; ``seed`` fills it from one complete listing (made at start-up, before
any incident is decided) and only then is ``ready`` set. After that the policy watch keeps
it current, and ``put``/``remove`` say whether what governs incidents changed, so the
caller re-plans the incidents of that namespace.
"""

import asyncio
import logging
import random
from collections.abc import Iterable

from pydantic import ValidationError

from incident_operator.adapters.incident_store import list_escalation_policies
from incident_operator.adapters.kubernetes import CALL_ERRORS, call_error_reason
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.backoff import RECONCILE_RETRY

logger = logging.getLogger(__name__)

PolicyKey = tuple[str, str]


def _governs_the_same(old: EscalationPolicy, new: EscalationPolicy) -> bool:
    """Status and resourceVersion change often (detection writes breaches); the spec is
    what decides for incidents."""
    return old.spec == new.spec and old.metadata.generation == new.metadata.generation


class PolicyRegistry:
    def __init__(self) -> None:
        self._policies: dict[PolicyKey, EscalationPolicy] = {}
        self._ready: asyncio.Event | None = None

    @property
    def ready(self) -> asyncio.Event:
        """Set once ``seed`` has run: the registry holds every policy that existed then."""
        if self._ready is None:
            self._ready = asyncio.Event()
        return self._ready

    def seed(self, policies: Iterable[EscalationPolicy]) -> None:
        for policy in policies:
            self._policies.setdefault((policy.metadata.namespace, policy.metadata.name), policy)
        self.ready.set()

    def put(self, policy: EscalationPolicy) -> bool:
        """Keeps ``policy``; True when it is new or governs differently than before."""
        key = (policy.metadata.namespace, policy.metadata.name)
        old = self._policies.get(key)
        self._policies[key] = policy
        return old is None or not _governs_the_same(old, policy)

    def remove(self, namespace: str, name: str) -> bool:
        """Forgets the policy; True when there was one."""
        return self._policies.pop((namespace, name), None) is not None

    def get(self, namespace: str, name: str) -> EscalationPolicy | None:
        return self._policies.get((namespace, name))

    def in_namespace(self, namespace: str) -> list[EscalationPolicy]:
        return [p for (ns, _), p in sorted(self._policies.items()) if ns == namespace]

    def all(self) -> list[EscalationPolicy]:
        return [policy for _, policy in sorted(self._policies.items())]


POLICIES = PolicyRegistry()


async def seed_policies(registry: PolicyRegistry, namespaces: tuple[str, ...]) -> None:
    """Fills ``registry`` from one complete listing, retrying until the API server answers;
    then ``registry.ready`` is set. Policies that do not parse are left out, as the watch
    leaves them out (their own Ready condition says why)."""
    failures = 0
    while True:
        try:
            bodies = await asyncio.to_thread(list_escalation_policies, namespaces)
            break
        except Exception as error:  # anything: incidents wait for this listing
            failures += 1
            delay = RECONCILE_RETRY.delay(failures, random.random()).total_seconds()
            reason = call_error_reason(error) if isinstance(error, CALL_ERRORS) else repr(error)
            logger.warning(
                "listing EscalationPolicies failed (%s); incidents wait; again in %.1f s",
                reason,
                delay,
            )
            await asyncio.sleep(delay)
    parsed = []
    for body in bodies:
        try:
            parsed.append(EscalationPolicy.model_validate(body))
        except ValidationError:
            continue
    registry.seed(parsed)
    logger.info("%d EscalationPolicies read; deciding incidents", len(parsed))
