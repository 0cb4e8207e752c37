"""kopf glue: parse into the models, decide with reconcile/domain, write the difference.

Importing this package registers every handler with kopf.
"""

from incident_operator.handlers import (
    detection,
    escalation,
    health,
    incidents,
    policies,
    rollback,
    settings,
)

__all__ = ["detection", "escalation", "health", "incidents", "policies", "rollback", "settings"]
