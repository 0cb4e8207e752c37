"""A rollback proposal's identifier: what an approval names.

A proposal follows its workload until someone approves it (a hotfix rolled out after
the proposal makes the hotfix the new starting point), so "approve the rollback" alone
could approve something the person never saw. The identifier is a short digest of
everything the rollback would do — the workload, the revision and template it starts
from and the revision and template it returns to — so it changes exactly when the
proposal changes meaning, and the same plan always gets the same identifier (across
re-plans, restarts and replicas). People see it in ``kubectl incident show``; the
approval carries it in ``sre.agentos.io/approve-rollback-proposal``.
"""

import hashlib
import json

# Hex digits kept: enough to tell an incident's few proposals apart, short to type.
PROPOSAL_ID_LENGTH = 12


def proposal_id(
    kind: str,
    name: str,
    current_revision: int | None,
    current_digest: str | None,
    target_revision: int,
    target_digest: str,
) -> str:
    """The identifier of rolling ``kind/name`` from the current to the target revision."""
    text = json.dumps(
        [kind, name, current_revision, current_digest, target_revision, target_digest],
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()[:PROPOSAL_ID_LENGTH]
