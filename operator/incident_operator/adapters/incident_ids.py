"""Allocates INC-NNNN IDs: unique per namespace, never reused, safe with racing replicas.

A ConfigMap per namespace holds the last number handed out. Allocation is a
compare-and-swap on its resourceVersion, so two operator replicas can never hand out the
same number. The ID is then written into the Incident's status guarded by the
Incident's own resourceVersion; if another replica got there first, its ID stands and
our number is left unused: IDs may have gaps, never duplicates. (The incident
pipeline records the ID in the same status write as the rest of its first decision.)

The ConfigMap also remembers which incident (by UID) took the last number, so an
operator that crashed between the two writes reuses that number instead of skipping one.
"""

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    FIELD_MANAGER,
    is_conflict,
    is_not_found,
)
from incident_operator.domain.ids import format_incident_id

COUNTER_CONFIGMAP = "incident-operator-ids"
_LAST_NUMBER = "lastNumber"
_LAST_UID = "lastAssignedTo"
_MAX_ATTEMPTS = 20


class IdAllocationError(RuntimeError):
    """The ID could not be allocated after repeated conflicts."""


class IncidentIdAllocator:
    def __init__(self, core: client.CoreV1Api) -> None:
        self._core = core
        # The counter as this allocator last read or wrote it, per namespace: the next
        # compare-and-swap starts from it instead of a read (one call an ID, not two).
        # Stale when someone else wrote the counter; the swap then fails and it is read.
        self._known: dict[str, client.V1ConfigMap] = {}

    def allocate(self, namespace: str, uid: str) -> str:
        """The next ID of ``namespace`` for the incident ``uid``. Blocking; one caller at a
        time per namespace.

        Asked again for the same incident before another one took a number (its status
        write lost a race, or the operator died before it), the same ID comes back.
        """
        return format_incident_id(self._next_number(namespace, uid))

    def _read(self, namespace: str) -> client.V1ConfigMap | None:
        known = self._known.pop(namespace, None)
        if known is not None:
            return known
        try:
            counter: client.V1ConfigMap = self._core.read_namespaced_config_map(
                COUNTER_CONFIGMAP, namespace
            )
        except client.ApiException as error:
            if not is_not_found(error):
                raise
            return None
        return counter

    def _next_number(self, namespace: str, uid: str) -> int:
        for _ in range(_MAX_ATTEMPTS):
            counter = self._read(namespace)
            if counter is None:
                if self._create_counter(namespace, uid):
                    return 1
                continue
            data = counter.data or {}
            if data.get(_LAST_UID) == uid:
                self._known[namespace] = counter
                return int(data[_LAST_NUMBER])
            number = int(data.get(_LAST_NUMBER, "0")) + 1
            counter.data = {_LAST_NUMBER: str(number), _LAST_UID: uid}
            try:
                # replace carries the resourceVersion we read: a compare-and-swap.
                self._known[namespace] = self._core.replace_namespaced_config_map(
                    COUNTER_CONFIGMAP, namespace, counter, field_manager=FIELD_MANAGER
                )
                return number
            except client.ApiException as error:
                if not is_conflict(error):
                    raise
        raise IdAllocationError(f"could not allocate an incident number in {namespace}")

    def _create_counter(self, namespace: str, uid: str) -> bool:
        body = client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name=COUNTER_CONFIGMAP,
                labels={"app.kubernetes.io/managed-by": "incident-operator"},
            ),
            data={_LAST_NUMBER: "1", _LAST_UID: uid},
        )
        try:
            self._known[namespace] = self._core.create_namespaced_config_map(
                namespace, body, field_manager=FIELD_MANAGER
            )
            return True
        except client.ApiException as error:
            if is_conflict(error):
                return False
            raise
