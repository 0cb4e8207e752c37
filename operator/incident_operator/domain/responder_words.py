"""The words people use for an incident's roles, states and severities, the same in
``kubectl incident`` and in Slack's ``/incident``."""

# The plugin's role words and the spec.roles keys they set.
ROLES = {
    "commander": "commander",
    "tech-lead": "techLead",
    "comms-lead": "commsLead",
    "scribe": "scribe",
}
STATES = ["Investigating", "Identified", "Mitigating", "Monitoring", "Resolved"]
SEVERITIES = ["P0", "P1", "P2", "P3", "P4"]
