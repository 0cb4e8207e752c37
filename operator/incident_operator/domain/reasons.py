"""Condition types, condition reasons and timeline entry types: closed sets, one comment each.

Tools (Argo CD, Flux, kstatus, our own plugin) read these; renaming one is an API change.
They are string enums, so they go onto the wire as their values and mypy catches a typo.
A timeline entry is also posted as an Event with the entry's type as its reason;
``event_type`` says, in this one place, which of them are Warnings.
"""

from enum import StrEnum
from typing import Final


class ConditionType(StrEnum):
    # Both kinds: the last reconcile understood the object and wrote its status.
    READY = "Ready"
    # Incident: someone acknowledged it (the sre.agentos.io/acknowledged-by annotation).
    ACKNOWLEDGED = "Acknowledged"
    # Incident: a commander is named in spec.roles.
    COMMANDER_ASSIGNED = "CommanderAssigned"
    # Incident: True when nobody acknowledged it before its response deadline.
    RESPONSE_OVERDUE = "ResponseOverdue"
    # Incident: True when it is still open past its resolution target.
    RESOLUTION_OVERDUE = "ResolutionOverdue"
    # Incident: True when a status update is due and none was posted.
    UPDATE_OVERDUE = "UpdateOverdue"
    # Incident: True when a customer message is due (status.communication.customerDueAt)
    # and the communications lead has not published one.
    CUSTOMER_COMMUNICATION_OVERDUE = "CustomerCommunicationOverdue"
    # Incident: True when the triage questions (spec.triage) are unanswered past their
    # deadline (P0/P1: 15 minutes after detection).
    TRIAGE_OVERDUE = "TriageOverdue"
    # Incident: detection sees its metrics back under their thresholds.
    METRICS_RECOVERED = "MetricsRecovered"
    # Incident: True when the post-mortem is not scheduled or not final in time.
    POST_MORTEM_OVERDUE = "PostMortemOverdue"
    # Incident: True when an action item is past its due date.
    ACTION_ITEMS_OVERDUE = "ActionItemsOverdue"
    # Incident: nothing required stands between it and Closed.
    READY_TO_CLOSE = "ReadyToClose"
    # Incident: True when people asked for a phase change the lifecycle does not allow.
    TRANSITION_REFUSED = "TransitionRefused"
    # Incident: an EscalationPolicy governs it.
    POLICY_RESOLVED = "PolicyResolved"
    # Incident: True once an escalation step is reached (status.escalation says which).
    ESCALATED = "Escalated"
    # Incident: True while a notification is failing (retrying) or has failed for good.
    NOTIFICATIONS_FAILING = "NotificationsFailing"
    # EscalationPolicy: every template override renders; False names template and line.
    TEMPLATES_VALID = "TemplatesValid"
    # EscalationPolicy: every role an escalation target names has a row in spec.contacts;
    # False names the target (it pages the channels' routing key instead).
    CONTACTS_RESOLVED = "ContactsResolved"
    # EscalationPolicy: False when it uses the operator's Slack app (a slackApp channel,
    # spec.chat.incidentChannel) and the operator runs without --slack-app-secret.
    CHAT_READY = "ChatReady"
    # EscalationPolicy: detection can measure what the policy's rules watch (detection's).
    METRICS_AVAILABLE = "MetricsAvailable"
    # EscalationPolicy: every rotation's time zone is known; False names the rotation.
    ROTATIONS_VALID = "RotationsValid"
    # Incident: a rollback of an affected workload (status.rollback): False while proposed
    # or when refused or failed, Unknown while it runs, True once detection sees recovery.
    ROLLED_BACK = "RolledBack"
    # Incident: True once it was merged into another (status.mergedInto): it is closed
    # without the resolution gate or a post-mortem, and its escalation stopped.
    MERGED = "Merged"


class Reason(StrEnum):
    # Ready=True: the spec was read and the status reflects it.
    RECONCILED = "Reconciled"
    # Ready=False: the spec does not match the schema (written before a schema change?).
    INVALID_SPEC = "InvalidSpec"
    # Ready=False: the status could not be read; the operator leaves it as it is.
    INVALID_STATUS = "InvalidStatus"
    # Ready=False: the incident could not be given an ID yet; it is retried.
    ID_ALLOCATION_FAILED = "IdAllocationFailed"
    # Ready=False: deciding or writing the incident failed (the message says how); it is
    # retried with backoff while the other incidents go on.
    RECONCILE_FAILED = "ReconcileFailed"
    # Merged=True: merged into another incident (status.mergedInto names it).
    MERGED_INTO = "MergedInto"
    # CommanderAssigned: a commander is named.
    ASSIGNED = "Assigned"
    # CommanderAssigned: nobody is named yet, and it is not yet late.
    NOT_ASSIGNED = "NotAssigned"
    # CommanderAssigned=False past the runbook's deadline (5 minutes for P0).
    COMMANDER_OVERDUE = "CommanderOverdue"
    # Acknowledged=True: by the user in the message.
    ACKNOWLEDGED = "Acknowledged"
    # Acknowledged=False: nobody has yet.
    NOT_ACKNOWLEDGED = "NotAcknowledged"
    # *Overdue=True: the deadline in the message passed.
    DEADLINE_PASSED = "DeadlinePassed"
    # *Overdue=False: the deadline in the message is still ahead.
    WITHIN_DEADLINE = "WithinDeadline"
    # *Overdue=False: the clock does not run (met, not applicable, or stopped).
    NOT_APPLICABLE = "NotApplicable"
    # MetricsRecovered=True / False.
    RECOVERED = "Recovered"
    BREACHING = "Breaching"
    # ReadyToClose=True / False (the message lists what is open).
    ALL_DONE = "AllDone"
    ITEMS_OPEN = "ItemsOpen"
    # TransitionRefused=True: the message says which change and why.
    ILLEGAL_TRANSITION = "IllegalTransition"
    # TransitionRefused=True: state Resolved is held until the pre-resolution verification
    # is done (the message names each open item) or the commander overrides it.
    PRE_RESOLUTION_OPEN = "PreResolutionOpen"
    # TransitionRefused=False.
    NONE_REFUSED = "NoneRefused"
    # PolicyResolved=True: by spec.policyRef, by selector, or the namespace default.
    BY_REFERENCE = "ByReference"
    BY_SELECTOR = "BySelector"
    BY_DEFAULT = "NamespaceDefault"
    # PolicyResolved=False: the runbook's defaults apply.
    NO_POLICY = "NoPolicy"
    # PolicyResolved=False: spec.policyRef names a policy that does not exist or is invalid.
    POLICY_NOT_FOUND = "PolicyNotFound"
    # Escalated=True: the last step was reached on the matrix's schedule.
    ON_SCHEDULE = "OnSchedule"
    # Escalated=True: the last step was reached early, by an escalation trigger.
    TRIGGERED = "Triggered"
    # Escalated=False: no step reached yet (the message says when the first is due).
    NOT_ESCALATED = "NotEscalated"
    # NotificationsFailing=True: at least one notification was given up.
    DELIVERY_FAILED = "DeliveryFailed"
    # NotificationsFailing=True: at least one notification is being retried.
    DELIVERY_RETRYING = "DeliveryRetrying"
    # NotificationsFailing=False: everything recorded was delivered or is on its way.
    DELIVERING = "Delivering"
    # Chat-ops (Events, Warning): Slack refused or failed a call of the operator's Slack
    # app (the message has Slack's error code); the rest of the incident pass went on.
    CHAT_FAILED = "ChatFailed"
    # Chat-ops (Event, Warning): the policy uses the Slack app (a slackApp channel or
    # spec.chat.incidentChannel) and the operator runs without --slack-app-secret.
    SLACK_APP_NOT_CONFIGURED = "SlackAppNotConfigured"
    # ChatReady=True: the Slack app the policy uses is configured, or it uses none now.
    SLACK_APP_CONFIGURED = "SlackAppConfigured"
    # TemplatesValid=True / False.
    TEMPLATES_RENDER = "TemplatesRender"
    TEMPLATE_ERROR = "TemplateError"
    # RotationsValid=True / False (a timeZone the zone database does not have).
    TIME_ZONES_KNOWN = "TimeZonesKnown"
    UNKNOWN_TIME_ZONE = "UnknownTimeZone"
    # ContactsResolved=True / False.
    CONTACTS_FOUND = "ContactsFound"
    UNKNOWN_ROLE = "UnknownRole"
    # RolledBack=False: a rollback is proposed and waits for approval.
    ROLLBACK_PROPOSED = "RollbackProposed"
    # RolledBack=False: an approval was ignored (no proposal, or it named no proposal).
    APPROVAL_IGNORED = "ApprovalIgnored"
    # RolledBack=False: an approval named another proposal than the current one (the
    # proposal moved after the approver looked at it); it was ignored.
    APPROVAL_MISMATCH = "ApprovalMismatch"
    # RolledBack=Unknown: approved, being applied.
    ROLLBACK_IN_PROGRESS = "RollbackInProgress"
    # RolledBack=Unknown: patched; the workload is rolling out.
    ROLLING_OUT = "RollingOut"
    # RolledBack=Unknown: rolled out; watching detection for the monitoring window.
    VERIFYING = "Verifying"
    # RolledBack=True: rolled back and rolled out, and detection sees recovery (or none watches).
    ROLLED_BACK = "RolledBack"
    # RolledBack=False (refused): Argo CD or Flux manages the workload; the message says which.
    GITOPS_MANAGED = "GitOpsManaged"
    # RolledBack=False (refused): the Deployment is paused.
    PAUSED = "Paused"
    # RolledBack=False (refused): the workload already runs the target revision's template.
    ALREADY_AT_TARGET = "AlreadyAtTarget"
    # RolledBack=False (refused): the revision asked for, or any earlier one, does not exist.
    REVISION_NOT_FOUND = "RevisionNotFound"
    # RolledBack=False (refused): the workload does not exist.
    WORKLOAD_NOT_FOUND = "WorkloadNotFound"
    # RolledBack=False (refused): the workload's template changed since the proposal.
    CONCURRENT_CHANGE = "ConcurrentChange"
    # RolledBack=False (refused): the incident is no longer active; the proposal is dropped.
    INCIDENT_NOT_ACTIVE = "IncidentNotActive"
    # RolledBack=False (failed): the API server rejected the patch.
    PATCH_FAILED = "PatchFailed"
    # RolledBack=False (failed): the rolled-back workload did not roll out.
    ROLLOUT_FAILED = "RolloutFailed"
    # RolledBack=False (failed): detection saw no recovery, or a regression, in the window.
    VERIFICATION_FAILED = "VerificationFailed"
    # status.remediations[].reason (docs/remediation.md), one per step:
    # Proposed: waiting for an approval of the proposal in the message.
    REMEDIATION_PROPOSED = "RemediationProposed"
    # Approved: by the person (or the catalog needs none); the action is next.
    REMEDIATION_APPROVED = "RemediationApproved"
    # InProgress: the attempt is recorded and the action taken or being taken.
    REMEDIATION_STARTED = "RemediationStarted"
    # InProgress: another record acts on the same object; this one waits for it.
    TARGET_BUSY = "TargetBusy"
    # Verifying: the action completed; the incident's rules must recover.
    REMEDIATION_COMPLETED = "RemediationCompleted"
    # Succeeded: the action completed and the rules recovered (or none watch).
    REMEDIATION_SUCCEEDED = "RemediationSucceeded"
    # Failed: the action failed (the API server refused it, the object changed under it).
    REMEDIATION_FAILED = "RemediationFailed"
    # Refused: the request names no entry of the governing policy's catalog (or is not
    # the JSON the plugin writes).
    UNKNOWN_REMEDIATION = "UnknownRemediation"
    # Refused: a parameter is unknown, missing or not allowed; the message names it.
    INVALID_PARAMETER = "InvalidParameter"
    # Refused: the incident's severity is not in the entry's severities.
    SEVERITY_NOT_ALLOWED = "SeverityNotAllowed"
    # Refused: the incident already has status.remediations' limit of records.
    TOO_MANY_REMEDIATIONS = "TooManyRemediations"
    # Refused: the kind's planner found nothing to do, or cannot act (the message says).
    NOTHING_TO_DO = "NothingToDo"
    # Refused: the catalog entry's kind is not installed in this operator.
    KIND_NOT_SUPPORTED = "KindNotSupported"
    # Refused (or InProgress, waiting): an object the remediation needs cannot be read (the
    # operator's RBAC for the kind, or the kind's CRD, is not installed).
    TARGET_UNREADABLE = "TargetUnreadable"
    # Refused: a job entry's template is not a runnable JobSpec (the message names the
    # field; api/job_template.py).
    INVALID_JOB_TEMPLATE = "InvalidJobTemplate"
    # Refused (configRollback): the ConfigMap or Secret named does not exist.
    CONFIG_NOT_FOUND = "ConfigNotFound"
    # Refused (configRollback): the version asked for is not kept; the message lists those kept.
    CONFIG_VERSION_NOT_KEPT = "ConfigVersionNotKept"
    # Refused: a featureFlag entry's flag, its variant (offVariant) or its flag file is not
    # there; the message lists the flags or variants there are.
    FLAG_NOT_FOUND = "FlagNotFound"
    # MetricsAvailable=True: every rule returned a usable value for every workload it watches.
    METRICS_RECEIVED = "MetricsReceived"
    # MetricsAvailable=True: the rules select no workload, so there is nothing to measure.
    NO_WORKLOADS_SELECTED = "NoWorkloadsSelected"
    # MetricsAvailable=False, most serious first (domain.detection.PROBLEM_ORDER):
    # Prometheus did not answer (refused, timed out);
    PROMETHEUS_UNREACHABLE = "PrometheusUnreachable"
    # Prometheus answered with an error (bad PromQL, overload);
    QUERY_FAILED = "QueryFailed"
    # a rule cannot be turned into a query (an unknown metric role, say);
    INVALID_RULE = "InvalidRule"
    # the policy's detection raised (an interval it cannot schedule, say): it is skipped;
    DETECTION_FAILED = "DetectionFailed"
    # no series for some watched workloads;
    NO_DATA = "NoData"
    # only NaN or infinite values for some watched workloads;
    NOT_A_NUMBER = "NotANumber"
    # only samples older than the staleness bound.
    STALE_DATA = "StaleData"
    # (least serious) a rule's range (rate over 5m, offset 1d) still overlaps a data gap.
    WINDOW_OVERLAPS_GAP = "WindowOverlapsGap"
    # MaintenanceWindow Ready=True: the window holds back matching signals now;
    WINDOW_ACTIVE = "Active"
    # Ready=True: the window is valid and outside its time (before, between occurrences, over);
    WINDOW_INACTIVE = "Inactive"
    # Ready=False: the window is longer than its namespace's spec.maintenance.maxWindow
    # (admission missed it, or the policy changed since): it holds nothing;
    WINDOW_TOO_LONG = "WindowTooLong"
    # Ready=False: the spec does not parse (a cron cronsim refuses, an unknown time zone).
    INVALID_SCHEDULE = "InvalidSchedule"


class FixCriterion(StrEnum):
    """Which of the runbook's "When to Rollback" criteria a fix attempt met
    (status.rollback.criterion of a FixAttempt proposal)."""

    # "Fix causes new issues": a rule of the incident breaches again after recovering.
    NEW_ISSUES = "NewIssues"
    # "Fix causes wider impact than original issue": more rules or workloads breach.
    WIDER_IMPACT = "WiderImpact"
    # "Fix does not resolve original problem": still breaching a monitoring window later.
    NOT_RESOLVED = "NotResolved"
    # "Time to fix exceeds acceptable threshold": the resolution deadline passed.
    TIME_EXCEEDED = "TimeExceeded"


class EntryType(StrEnum):
    """What a timeline entry (and the Event posted with it) tells."""

    # The incident was opened (by detection, Alertmanager or a person).
    DECLARED = "Declared"
    # spec.severity changed; the message says from what to what and why.
    SEVERITY_CHANGED = "SeverityChanged"
    # A role in spec.roles was assigned or cleared.
    ROLE_ASSIGNED = "RoleAssigned"
    # A status update was posted in spec.updates.
    UPDATE_POSTED = "UpdatePosted"
    # A customer message was published in spec.customerMessages (sent to customers).
    CUSTOMER_MESSAGE_PUBLISHED = "CustomerMessagePublished"
    # The post-mortem's status word changed.
    POST_MORTEM_STATUS = "PostMortemStatus"
    # Someone acknowledged the incident.
    ACKNOWLEDGED = "Acknowledged"
    # The phase changed; the message says from what, to what and why.
    PHASE_CHANGED = "PhaseChanged"
    # People asked for a phase change the lifecycle does not allow. Warning.
    TRANSITION_REFUSED = "TransitionRefused"
    # SLA clocks that ran out. Warnings.
    RESPONSE_OVERDUE = "ResponseOverdue"
    RESOLUTION_OVERDUE = "ResolutionOverdue"
    UPDATE_OVERDUE = "UpdateOverdue"
    CUSTOMER_COMMUNICATION_OVERDUE = "CustomerCommunicationOverdue"
    COMMANDER_OVERDUE = "CommanderOverdue"
    POST_MORTEM_OVERDUE = "PostMortemOverdue"
    TRIAGE_OVERDUE = "TriageOverdue"
    # Triage answers in spec.triage were given or changed; the message lists them.
    TRIAGE_ANSWERED = "TriageAnswered"
    # spec.mitigation was set or changed: what was done to mitigate.
    MITIGATION_RECORDED = "MitigationRecorded"
    # The commander resolved with pre-resolution items open; the message has the reason.
    RESOLUTION_OVERRIDDEN = "ResolutionOverridden"
    # An escalation step was reached (on schedule or by a trigger).
    ESCALATED = "Escalated"
    # A trigger fired with no further step in the matrix.
    ESCALATION_TRIGGERED = "EscalationTriggered"
    # A step passed while the severity was lowered; nobody was notified.
    ESCALATION_SUPERSEDED = "EscalationSuperseded"
    # A role's contact was told outside the matrix (the Security Lead on a breach).
    CONTACT_NOTIFIED = "ContactNotified"
    # Nobody acknowledged within a step's window: the role's backup was told.
    BACKUP_NOTIFIED = "BackupNotified"
    # A notification was delivered.
    NOTIFICATION_SENT = "NotificationSent"
    # A notification was given up after its attempts. Warning.
    NOTIFICATION_FAILED = "NotificationFailed"
    # A notification attempt failed and will be retried (an Event only). Warning.
    NOTIFICATION_RETRYING = "NotificationRetrying"
    # Rollback: proposed, withdrawn, approved, started, patched, rolled out, recovered,
    # succeeded.
    ROLLBACK_PROPOSED = "RollbackProposed"
    PROPOSAL_WITHDRAWN = "ProposalWithdrawn"
    ROLLBACK_APPROVED = "RollbackApproved"
    ROLLBACK_STARTED = "RollbackStarted"
    ROLLED_BACK = "RolledBack"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ROLLBACK_RECOVERED = "RollbackRecovered"
    ROLLBACK_SUCCEEDED = "RollbackSucceeded"
    # Rollback: refused (nothing was changed), an approval ignored, or failed. Warnings.
    ROLLBACK_REFUSED = "RollbackRefused"
    APPROVAL_IGNORED = "ApprovalIgnored"
    ROLLBACK_FAILED = "RollbackFailed"
    # Remediations (status.remediations): requested, proposed (or the proposal changed),
    # approved, started, completed (the action is done), recovered, succeeded.
    REMEDIATION_REQUESTED = "RemediationRequested"
    REMEDIATION_PROPOSED = "RemediationProposed"
    REMEDIATION_APPROVED = "RemediationApproved"
    REMEDIATION_STARTED = "RemediationStarted"
    REMEDIATION_COMPLETED = "RemediationCompleted"
    REMEDIATION_RECOVERED = "RemediationRecovered"
    REMEDIATION_SUCCEEDED = "RemediationSucceeded"
    # Remediations: refused or withdrawn (nothing was changed), an approval that names
    # another proposal or record, or failed (an escalation trigger). Warnings.
    REMEDIATION_REFUSED = "RemediationRefused"
    REMEDIATION_WITHDRAWN = "RemediationWithdrawn"
    REMEDIATION_APPROVAL_IGNORED = "RemediationApprovalIgnored"
    REMEDIATION_FAILED = "RemediationFailed"
    # A signal joined the incident (grouping); the message names source, rule, workload.
    SIGNAL_JOINED = "SignalJoined"
    # A line of the incident's Slack channel was logged (its marker or a pin); the actor
    # is its author, the message its text (reconcile/chat_log.py).
    CHAT_LOGGED = "ChatLogged"
    # Merge (`kubectl incident merge`): on both incidents, naming the other.
    MERGED = "Merged"
    # Split (`kubectl incident split`): on both incidents, naming the other.
    SIGNAL_SPLIT = "SignalSplit"
    # A merge or split that was refused (the message says why). Warnings.
    MERGE_REFUSED = "MergeRefused"
    SPLIT_REFUSED = "SplitRefused"
    # Older entries folded into a count when the timeline is full.
    SUMMARIZED = "Summarized"


class EventType(StrEnum):
    """The type of a Kubernetes Event."""

    NORMAL = "Normal"
    WARNING = "Warning"


# A breached SLA, a failed notification, a refused transition, a failed rollback.
_WARNINGS: Final = frozenset(
    {
        EntryType.TRANSITION_REFUSED,
        EntryType.RESPONSE_OVERDUE,
        EntryType.RESOLUTION_OVERDUE,
        EntryType.UPDATE_OVERDUE,
        EntryType.CUSTOMER_COMMUNICATION_OVERDUE,
        EntryType.COMMANDER_OVERDUE,
        EntryType.POST_MORTEM_OVERDUE,
        EntryType.TRIAGE_OVERDUE,
        EntryType.RESOLUTION_OVERRIDDEN,
        EntryType.NOTIFICATION_FAILED,
        EntryType.NOTIFICATION_RETRYING,
        EntryType.ROLLBACK_REFUSED,
        EntryType.APPROVAL_IGNORED,
        EntryType.ROLLBACK_FAILED,
        EntryType.REMEDIATION_REFUSED,
        EntryType.REMEDIATION_WITHDRAWN,
        EntryType.REMEDIATION_APPROVAL_IGNORED,
        EntryType.REMEDIATION_FAILED,
        EntryType.MERGE_REFUSED,
        EntryType.SPLIT_REFUSED,
    }
)


def event_type(entry_type: str) -> EventType:
    """Warning or Normal for the Event posted with a timeline entry of ``entry_type``."""
    return EventType.WARNING if entry_type in _WARNINGS else EventType.NORMAL
