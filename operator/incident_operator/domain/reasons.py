"""Condition types and reasons: closed sets of CamelCase constants, one comment each.

Tools (Argo CD, Flux, kstatus, our own plugin) read these; renaming one is an API change.
"""

from typing import Final


class ConditionType:
    # Both kinds: the last reconcile understood the object and wrote its status.
    READY: Final = "Ready"
    # Incident: someone has acknowledged it.
    ACKNOWLEDGED: Final = "Acknowledged"
    # Incident: a commander is named in spec.roles.
    COMMANDER_ASSIGNED: Final = "CommanderAssigned"


class Reason:
    # Ready=True: the spec was read and the status reflects it.
    RECONCILED: Final = "Reconciled"
    # Ready=False: the spec does not match the schema (written before a schema change?).
    INVALID_SPEC: Final = "InvalidSpec"
    # Ready=False: the status could not be read; the operator leaves it as it is.
    INVALID_STATUS: Final = "InvalidStatus"
    # Ready=False: the incident could not be given an ID yet; it is retried.
    ID_ALLOCATION_FAILED: Final = "IdAllocationFailed"
    # CommanderAssigned: a commander is named.
    ASSIGNED: Final = "Assigned"
    # CommanderAssigned: nobody is named yet.
    NOT_ASSIGNED: Final = "NotAssigned"
