"""Condition types and reasons: closed sets of CamelCase constants, one comment each.

Tools (Argo CD, Flux, kstatus, our own plugin) read these; renaming one is an API change.
"""

from typing import Final


class ConditionType:
    # Both kinds: the last reconcile understood the object and wrote its status.
    READY: Final = "Ready"
    # Incident: someone acknowledged it (the sre.agentos.io/acknowledged-by annotation).
    ACKNOWLEDGED: Final = "Acknowledged"
    # Incident: a commander is named in spec.roles.
    COMMANDER_ASSIGNED: Final = "CommanderAssigned"
    # Incident: True when nobody acknowledged it before its response deadline.
    RESPONSE_OVERDUE: Final = "ResponseOverdue"
    # Incident: True when it is still open past its resolution target.
    RESOLUTION_OVERDUE: Final = "ResolutionOverdue"
    # Incident: True when a status update is due and none was posted.
    UPDATE_OVERDUE: Final = "UpdateOverdue"
    # Incident: detection sees its metrics back under their thresholds.
    METRICS_RECOVERED: Final = "MetricsRecovered"
    # Incident: True when the post-mortem is not scheduled or not final in time.
    POST_MORTEM_OVERDUE: Final = "PostMortemOverdue"
    # Incident: True when an action item is past its due date.
    ACTION_ITEMS_OVERDUE: Final = "ActionItemsOverdue"
    # Incident: nothing required stands between it and Closed.
    READY_TO_CLOSE: Final = "ReadyToClose"
    # Incident: True when people asked for a phase change the lifecycle does not allow.
    TRANSITION_REFUSED: Final = "TransitionRefused"
    # Incident: an EscalationPolicy governs it.
    POLICY_RESOLVED: Final = "PolicyResolved"
    # Incident: True once an escalation step is reached (status.escalation says which).
    ESCALATED: Final = "Escalated"
    # Incident: True while a notification is failing (retrying) or has failed for good.
    NOTIFICATIONS_FAILING: Final = "NotificationsFailing"
    # EscalationPolicy: every template override renders; False names template and line.
    TEMPLATES_VALID: Final = "TemplatesValid"
    # Incident: a rollback of an affected workload (status.rollback): False while proposed
    # or when refused or failed, Unknown while it runs, True once detection sees recovery.
    ROLLED_BACK: Final = "RolledBack"


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
    # CommanderAssigned: nobody is named yet, and it is not yet late.
    NOT_ASSIGNED: Final = "NotAssigned"
    # CommanderAssigned=False past the runbook's deadline (5 minutes for P0).
    COMMANDER_OVERDUE: Final = "CommanderOverdue"
    # Acknowledged=True: by the user in the message.
    ACKNOWLEDGED: Final = "Acknowledged"
    # Acknowledged=False: nobody has yet.
    NOT_ACKNOWLEDGED: Final = "NotAcknowledged"
    # *Overdue=True: the deadline in the message passed.
    DEADLINE_PASSED: Final = "DeadlinePassed"
    # *Overdue=False: the deadline in the message is still ahead.
    WITHIN_DEADLINE: Final = "WithinDeadline"
    # *Overdue=False: the clock does not run (met, not applicable, or stopped).
    NOT_APPLICABLE: Final = "NotApplicable"
    # MetricsRecovered=True / False.
    RECOVERED: Final = "Recovered"
    BREACHING: Final = "Breaching"
    # ReadyToClose=True / False (the message lists what is open).
    ALL_DONE: Final = "AllDone"
    ITEMS_OPEN: Final = "ItemsOpen"
    # TransitionRefused=True: the message says which change and why.
    ILLEGAL_TRANSITION: Final = "IllegalTransition"
    # TransitionRefused=False.
    NONE_REFUSED: Final = "NoneRefused"
    # PolicyResolved=True: by spec.policyRef, by selector, or the namespace default.
    BY_REFERENCE: Final = "ByReference"
    BY_SELECTOR: Final = "BySelector"
    BY_DEFAULT: Final = "NamespaceDefault"
    # PolicyResolved=False: the runbook's defaults apply.
    NO_POLICY: Final = "NoPolicy"
    # PolicyResolved=False: spec.policyRef names a policy that does not exist or is invalid.
    POLICY_NOT_FOUND: Final = "PolicyNotFound"
    # Escalated=True: the last step was reached on the matrix's schedule.
    ON_SCHEDULE: Final = "OnSchedule"
    # Escalated=True: the last step was reached early, by an escalation trigger.
    TRIGGERED: Final = "Triggered"
    # Escalated=False: no step reached yet (the message says when the first is due).
    NOT_ESCALATED: Final = "NotEscalated"
    # NotificationsFailing=True: at least one notification was given up.
    DELIVERY_FAILED: Final = "DeliveryFailed"
    # NotificationsFailing=True: at least one notification is being retried.
    DELIVERY_RETRYING: Final = "DeliveryRetrying"
    # NotificationsFailing=False: everything recorded was delivered or is on its way.
    DELIVERING: Final = "Delivering"
    # TemplatesValid=True / False.
    TEMPLATES_RENDER: Final = "TemplatesRender"
    TEMPLATE_ERROR: Final = "TemplateError"
    # RolledBack=False: a rollback is proposed and waits for approval.
    ROLLBACK_PROPOSED: Final = "RollbackProposed"
    # RolledBack=False: an approval was ignored (no proposal, or for another revision).
    APPROVAL_IGNORED: Final = "ApprovalIgnored"
    # RolledBack=Unknown: approved, being applied.
    ROLLBACK_IN_PROGRESS: Final = "RollbackInProgress"
    # RolledBack=Unknown: patched; the workload is rolling out.
    ROLLING_OUT: Final = "RollingOut"
    # RolledBack=Unknown: rolled out; watching detection for the monitoring window.
    VERIFYING: Final = "Verifying"
    # RolledBack=True: rolled back and rolled out, and detection sees recovery (or none watches).
    ROLLED_BACK: Final = "RolledBack"
    # RolledBack=False (refused): Argo CD or Flux manages the workload; the message says which.
    GITOPS_MANAGED: Final = "GitOpsManaged"
    # RolledBack=False (refused): the Deployment is paused.
    PAUSED: Final = "Paused"
    # RolledBack=False (refused): the workload already runs the target revision's template.
    ALREADY_AT_TARGET: Final = "AlreadyAtTarget"
    # RolledBack=False (refused): the revision asked for, or any earlier one, does not exist.
    REVISION_NOT_FOUND: Final = "RevisionNotFound"
    # RolledBack=False (refused): the workload does not exist.
    WORKLOAD_NOT_FOUND: Final = "WorkloadNotFound"
    # RolledBack=False (refused): the workload's template changed since the proposal.
    CONCURRENT_CHANGE: Final = "ConcurrentChange"
    # RolledBack=False (refused): the incident is no longer active; the proposal is dropped.
    INCIDENT_NOT_ACTIVE: Final = "IncidentNotActive"
    # RolledBack=False (failed): the API server rejected the patch.
    PATCH_FAILED: Final = "PatchFailed"
    # RolledBack=False (failed): the rolled-back workload did not roll out.
    ROLLOUT_FAILED: Final = "RolloutFailed"
    # RolledBack=False (failed): detection saw no recovery, or a regression, in the window.
    VERIFICATION_FAILED: Final = "VerificationFailed"
