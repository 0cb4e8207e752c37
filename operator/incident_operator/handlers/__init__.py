"""kopf glue: parse into the models, decide with reconcile/domain, write the difference.

Importing this package registers every handler with kopf.
"""

from incident_operator.handlers import incidents, policies, settings

__all__ = ["incidents", "policies", "settings"]
