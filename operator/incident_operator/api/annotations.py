"""Annotations and labels that are part of the API.

People set the annotations on an Incident and the operator reads them; the shipped
admission policy (manifests/admission/identity.yaml) makes sure the value of each is the
name of the user who set it. The operator sets the leader label on its own Pod, and the
install's Service selects it.
"""

from typing import Final

# Who acknowledged the incident.
ACKNOWLEDGED_BY: Final = "sre.agentos.io/acknowledged-by"
# Who made the latest change; the timeline names them as its actor.
CHANGED_BY: Final = "sre.agentos.io/changed-by"

# The prefix of the operator's own annotations (kopf's progress) and labels.
OPERATOR_PREFIX: Final = "incident-operator.sre.agentos.io"
# "true" on the operator's Pod while it holds the leader Lease (or runs alone): the
# Service in front of the Alertmanager receiver selects it, so webhooks reach the leader.
LEADER_LABEL: Final = f"{OPERATOR_PREFIX}/leader"

# A remediation request (`kubectl incident remediate`): JSON
# {"remediation": NAME, "parameters": {...}}, and who asked (the admission policy makes it
# the requesting user). The operator records it in status.remediations and removes both.
REMEDIATE: Final = "sre.agentos.io/remediate"
REMEDIATE_BY: Final = "sre.agentos.io/remediate-by"
# A remediation approval (`kubectl incident approve`): who approves (the caller, a member
# of the record's approverGroup) and what: "rN:<status.remediations[].proposal>".
APPROVE_REMEDIATION: Final = "sre.agentos.io/approve-remediation"
APPROVE_REMEDIATION_REQUEST: Final = "sre.agentos.io/approve-remediation-request"
# A merge (`kubectl incident merge INTO FROM`), set on the incident merged away: the name
# of the incident it merges into, and who asked. The operator moves its signals there and
# closes it (status.mergedInto); a refused merge has both removed (docs/merge-split.md).
MERGE_INTO: Final = "sre.agentos.io/merge-into"
MERGE_BY: Final = "sre.agentos.io/merge-by"
# A split (`kubectl incident split INC SIGNAL`): the id of the signal (s3) to open a new
# incident for, and who asked. Removed once done or refused.
SPLIT: Final = "sre.agentos.io/split"
SPLIT_BY: Final = "sre.agentos.io/split-by"
# A rollback approval (`kubectl incident approve-rollback`): who approves (the caller) and
# which proposal they were shown (status.rollback.proposal), so an approval never applies
# to a proposal that changed in the meantime.
APPROVE_ROLLBACK: Final = "sre.agentos.io/approve-rollback"
APPROVE_ROLLBACK_PROPOSAL: Final = "sre.agentos.io/approve-rollback-proposal"
