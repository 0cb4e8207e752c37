"""The leader label on the operator's own Pod, so a Service can select the working replica.

The replica that holds the Lease (or runs alone) sets ``LEADER_LABEL: "true"`` on its Pod
right after taking it, and removes it on a clean shutdown. Each replica only ever labels
its own Pod, so a new leader depends on nothing its predecessor did:

- a killed leader's Pod is going away, label and all;
- a leader whose container restarts in the same Pod (it lost the Lease, or crashed)
  clears the label before it stands by, so the Service stops sending it webhooks.

Labelling is best effort. A failure is a warning and is retried (by the caller, on the
next Lease renewal); it never stops the operator. Without the Pod's name and namespace
(env POD_NAME and POD_NAMESPACE from the downward API; absent when run locally or in
the tests) there is nothing to label, and every call does nothing.
"""

import logging

from kubernetes import client

from incident_operator.adapters.kubernetes import (
    CALL_ERRORS,
    FIELD_MANAGER,
    call_error_reason,
    core,
)
from incident_operator.api.annotations import LEADER_LABEL

logger = logging.getLogger(__name__)

# Seconds one call may take: the label is not worth holding up a Lease renewal or a
# shutdown for.
REQUEST_TIMEOUT_SECONDS = 5.0


class LeaderLabel:
    """Sets or removes ``LEADER_LABEL`` on one Pod; writes only when the value differs."""

    def __init__(
        self, namespace: str | None, name: str | None, api: client.CoreV1Api | None = None
    ) -> None:
        # The Pod; None when unknown, and then there is nothing to label.
        self.namespace = namespace
        self.name = name
        self._api = api
        # Whether the label was last written (or found) present; None until a call worked.
        self._labelled: bool | None = None

    @classmethod
    def of_pod(cls, namespace: str | None, name: str | None) -> "LeaderLabel":
        """The Pod the downward API names (settings' pod_namespace and pod_name), if both are."""
        if namespace is None or name is None:
            logger.info("POD_NAME or POD_NAMESPACE is unset: no pod gets the leader label")
        return cls(namespace, name)

    def mark(self) -> bool:
        """Labels the Pod as the leader's; True when it is labelled after the call."""
        return self._ensure(True)

    def clear(self) -> bool:
        """Removes the label; True when the Pod is without it after the call."""
        return self._ensure(False)

    def _ensure(self, leading: bool) -> bool:
        if self.namespace is None or self.name is None or self._labelled is leading:
            return True
        api = self._api or core()
        try:
            pod = api.read_namespaced_pod(
                self.name, self.namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
            labels = (pod.metadata.labels if pod.metadata else None) or {}
            if (labels.get(LEADER_LABEL) == "true") is not leading:
                # A JSON merge patch: null removes the key.
                body = {"metadata": {"labels": {LEADER_LABEL: "true" if leading else None}}}
                api.patch_namespaced_pod(
                    self.name,
                    self.namespace,
                    body,
                    field_manager=FIELD_MANAGER,
                    _content_type="application/merge-patch+json",
                    _request_timeout=REQUEST_TIMEOUT_SECONDS,
                )
                logger.info(
                    "%s %s on pod %s/%s",
                    "set" if leading else "removed",
                    LEADER_LABEL,
                    self.namespace,
                    self.name,
                )
        except CALL_ERRORS as error:
            reason = call_error_reason(error)
            action = "setting" if leading else "removing"
            logger.warning(
                "%s the leader label on pod %s/%s failed: %s",
                action,
                self.namespace,
                self.name,
                reason,
            )
            self._labelled = None
            return False
        self._labelled = leading
        return True
