"""kopf's registrations: the table of contents of what the operator reacts to.

Each handler delegates to runtime/ in a line or two. Importing this package registers
every handler with kopf.
"""

from incident_operator.handlers import (
    config_history,
    detection,
    health,
    incidents,
    maintenance,
    policies,
    settings,
    status_page,
)

__all__ = [
    "config_history",
    "detection",
    "health",
    "incidents",
    "maintenance",
    "policies",
    "settings",
    "status_page",
]
