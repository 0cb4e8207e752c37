"""Annotations on an Incident that are part of the API: people set them, the operator reads.

The shipped admission policy (manifests/admission/identity.yaml) makes sure the value of
each is the name of the user who set it.
"""

from typing import Final

# Who acknowledged the incident.
ACKNOWLEDGED_BY: Final = "sre.agentos.io/acknowledged-by"
# Who made the latest change; the timeline names them as its actor.
CHANGED_BY: Final = "sre.agentos.io/changed-by"
