"""One active operator among replicas, by a coordination.k8s.io Lease.

The replica holding the Lease runs the operator; the others wait. The holder renews it
every ``renew_every``; a standby takes it over when it has seen the same record for a
whole ``lease_duration`` (measured on its own clock, so clock skew between nodes does
not matter, as in client-go's leader election). Every write carries the resourceVersion
it was decided from, so two standbys cannot both take over. A holder that cannot renew
within the lease duration stops the operator: by then a standby may have taken over.

The caller hears of two things through callbacks: every Lease read the API server
answered while standing by (the standby's readiness), and every renewal (the leader
label on the Pod is retried there until it is set).
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    CALL_ERRORS,
    FIELD_MANAGER,
    api_client,
    call_error_reason,
    is_conflict,
    is_not_found,
)

logger = logging.getLogger(__name__)


# Seconds one Lease call may take; a hung connection then fails like a refused one,
# well inside the lease duration.
CALL_TIMEOUT_SECONDS = 5.0


def _nothing() -> None:
    pass


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_every: float = 5.0
    retry_every: float = 2.0


class LeaderElector:
    def __init__(self, settings: LeaseSettings) -> None:
        self.settings = settings
        self._api = client.CoordinationV1Api(api_client())
        # The record last seen and when (monotonic) it was first seen unchanged.
        self._observed: tuple[str | None, str | None] = (None, None)
        self._observed_since = 0.0

    def _now(self) -> datetime:
        return datetime.now(UTC)

    def _spec(self, acquired: bool, previous: Any) -> client.V1LeaseSpec:
        transitions = (previous.lease_transitions or 0) if previous is not None else 0
        return client.V1LeaseSpec(
            holder_identity=self.settings.identity,
            lease_duration_seconds=int(self.settings.lease_duration),
            acquire_time=self._now() if acquired else previous.acquire_time,
            renew_time=self._now(),
            lease_transitions=transitions + (1 if acquired and previous is not None else 0),
        )

    def try_acquire_or_renew(self) -> bool:
        """True when this replica holds the Lease after the call."""
        s = self.settings
        try:
            lease = self._api.read_namespaced_lease(
                s.name, s.namespace, _request_timeout=CALL_TIMEOUT_SECONDS
            )
        except client.ApiException as error:
            if not is_not_found(error):
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=s.name, namespace=s.namespace),
                spec=self._spec(acquired=True, previous=None),
            )
            try:
                self._api.create_namespaced_lease(
                    s.namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                    _request_timeout=CALL_TIMEOUT_SECONDS,
                )
                return True
            except client.ApiException as create_error:
                if is_conflict(create_error):
                    return False
                raise
        spec = lease.spec
        holder = spec.holder_identity if spec else None
        renewed = str(spec.renew_time) if spec else None
        if holder == s.identity:
            lease.spec = self._spec(acquired=False, previous=spec)
        else:
            if (holder, renewed) != self._observed:
                self._observed = (holder, renewed)
                self._observed_since = time.monotonic()
            expired = holder is None or time.monotonic() - self._observed_since >= s.lease_duration
            if not expired:
                return False
            logger.info("taking over the lease from %s", holder)
            lease.spec = self._spec(acquired=True, previous=spec)
        try:
            self._api.replace_namespaced_lease(
                s.name,
                s.namespace,
                lease,
                field_manager=FIELD_MANAGER,
                _request_timeout=CALL_TIMEOUT_SECONDS,
            )
        except client.ApiException as error:
            if is_conflict(error):
                return False
            raise
        return True

    def wait_until_leader(
        self, stop: threading.Event, answered: Callable[[], object] = _nothing
    ) -> bool:
        """Blocks until this replica holds the Lease (True) or ``stop`` is set (False).

        ``answered`` is called after every attempt the API server answered.
        """
        while not stop.is_set():
            try:
                leading = self.try_acquire_or_renew()
            except CALL_ERRORS as error:
                logger.warning("leader election: %s", call_error_reason(error))
            else:
                answered()
                if leading:
                    logger.info("leading as %s", self.settings.identity)
                    return True
            stop.wait(self.settings.retry_every)
        return False

    def keep_leading(
        self,
        stop: threading.Event,
        lost: threading.Event,
        renewed: Callable[[], object] = _nothing,
    ) -> None:
        """Renews until ``stop``; sets ``lost`` when the Lease could not be kept.

        ``renewed`` is called after every successful renewal.
        """
        last_renewed = time.monotonic()
        while not stop.wait(self.settings.renew_every):
            try:
                held = self.try_acquire_or_renew()
            # Connection errors too: one escaping this thread would end it without
            # setting ``lost``, and the replica would act on after a standby took over.
            except CALL_ERRORS as error:
                logger.warning("renewing the lease failed: %s", call_error_reason(error))
                if time.monotonic() - last_renewed < self.settings.lease_duration:
                    continue
                held = False
            if held:
                last_renewed = time.monotonic()
                renewed()
                continue
            logger.error("lost the lease; stopping so the new leader acts alone")
            lost.set()
            return

    def release(self) -> None:
        """Gives the Lease up on a clean shutdown, so a standby takes over at once."""
        s = self.settings
        try:
            lease = self._api.read_namespaced_lease(
                s.name, s.namespace, _request_timeout=CALL_TIMEOUT_SECONDS
            )
            if lease.spec and lease.spec.holder_identity == s.identity:
                lease.spec.holder_identity = None
                self._api.replace_namespaced_lease(
                    s.name,
                    s.namespace,
                    lease,
                    field_manager=FIELD_MANAGER,
                    _request_timeout=CALL_TIMEOUT_SECONDS,
                )
        except CALL_ERRORS as error:
            logger.warning("releasing the lease failed: %s", call_error_reason(error))
