"""The snapshot keeper: keeps a history of every ConfigMap and Secret a ``configRollback``
catalog entry names, so there is a version to go back to when an incident needs one.

Which objects: those named by the configRollback entries of the policies the operator
has read (runtime/policies.POLICIES), each in its policy's namespace (the namespace of
the incidents the policy governs). It runs in the operator process, which holds the
leader Lease (entrypoint.py starts kopf only while leading), so only the leader writes
snapshots.

How changes are noticed: a periodic read of each object, every ``SNAPSHOT_EVERY``
seconds, rather than a watch per object. A read per object and period is cheap (a
catalog holds at most 32 entries a policy), needs only ``get`` with resourceNames, and
has no watch to resume. What it can miss: data changed and changed back between two
reads, and the states between two reads (the newest of them is kept; a restore keeps the
data it replaces itself, so a restore never loses a version). docs/remediation/
config-rollback.md says the same for users.
"""

import asyncio
import logging

from incident_operator.adapters.config_snapshots import take_snapshot
from incident_operator.adapters.kubernetes import CALL_ERRORS, call_error_reason
from incident_operator.runtime.lifetime import STOP_SECONDS
from incident_operator.runtime.policies import POLICIES, PolicyRegistry

logger = logging.getLogger(__name__)

# Seconds between two reads of each object.
SNAPSHOT_EVERY = 15.0

# (namespace, kind, name) of an object kept, and how many versions.
Kept = tuple[str, str, str]


def kept_objects(registry: PolicyRegistry) -> dict[Kept, int]:
    """Every object a configRollback entry names, with the most versions any asks to keep."""
    wanted: dict[Kept, int] = {}
    for policy in registry.all():
        for entry in policy.spec.remediations:
            settings = entry.config_rollback
            if settings is None:
                continue
            key = (policy.metadata.namespace, settings.kind.value, settings.name)
            wanted[key] = max(wanted.get(key, 0), settings.keep)
    return wanted


class ConfigHistoryKeeper:
    def __init__(self, registry: PolicyRegistry = POLICIES, every: float = SNAPSHOT_EVERY):
        self._registry = registry
        self._every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="config-history")

    async def stop(self, seconds: float = STOP_SECONDS) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.wait([self._task], timeout=seconds)

    async def keep_once(self) -> None:
        """One read of every object kept; one object failing does not stop the others."""
        for (namespace, kind, name), keep in kept_objects(self._registry).items():
            try:
                await asyncio.to_thread(take_snapshot, namespace, kind, name, keep)
            except CALL_ERRORS as error:
                logger.warning(
                    "config history of %s %s/%s: %s",
                    kind,
                    namespace,
                    name,
                    call_error_reason(error),
                )

    async def _run(self) -> None:
        await self._registry.ready.wait()
        while True:
            try:
                await self.keep_once()
            except Exception:
                # A bug must not end the history for good: log it and read again later.
                logger.exception("config history: a pass failed")
            await asyncio.sleep(self._every)
