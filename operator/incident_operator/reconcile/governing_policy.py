"""Which EscalationPolicy governs an incident, and the severity levels it makes.

Resolution order: ``spec.policyRef``; else a policy whose selector matches the
incident's labels (the labels detection stamps, or people's) or the labels of one of its
affected workloads (read from the cluster by the caller); else the namespace's default
policy; else none, and the runbook's defaults apply.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from incident_operator.api.base import LabelSelector
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.durations import parse_duration
from incident_operator.domain.reasons import Reason
from incident_operator.domain.severity import Severity, SeverityLevel, level

# The runbook: P0 and P1 are resolved by a person; lower severities may resolve themselves.
_AUTO_RESOLVE_DEFAULT = {Severity.P0: False, Severity.P1: False}


@dataclass(frozen=True)
class GoverningPolicy:
    policy: EscalationPolicy | None
    # One of Reason.BY_REFERENCE, BY_SELECTOR, BY_DEFAULT, NO_POLICY, POLICY_NOT_FOUND.
    reason: Reason
    message: str


def selector_matches(selector: LabelSelector, labels: dict[str, str]) -> bool:
    """Kubernetes label selector semantics; an empty selector matches everything."""
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.match_expressions or []:
        present = requirement.key in labels
        value = labels.get(requirement.key, "")
        matched = {
            "In": present and value in requirement.values,
            "NotIn": not present or value not in requirement.values,
            "Exists": present,
            "DoesNotExist": not present,
        }[requirement.operator]
        if not matched:
            return False
    return True


def _is_empty(selector: LabelSelector) -> bool:
    return not selector.match_labels and not selector.match_expressions


def governing_policy(
    incident: Incident,
    policies: list[EscalationPolicy],
    workload_labels: Sequence[Mapping[str, str]] = (),
) -> GoverningPolicy:
    ref = incident.spec.policy_ref
    if ref is not None:
        named = next((p for p in policies if p.metadata.name == ref.name), None)
        if named is None:
            return GoverningPolicy(
                None,
                Reason.POLICY_NOT_FOUND,
                f"spec.policyRef names {ref.name!r}, which does not exist here or is invalid; "
                "the runbook's defaults apply",
            )
        return GoverningPolicy(named, Reason.BY_REFERENCE, f"policy {ref.name} (policyRef)")
    label_sets = [incident.metadata.labels, *(dict(labels) for labels in workload_labels)]
    selected = [
        p
        for p in policies
        if not _is_empty(p.spec.selector)
        and any(selector_matches(p.spec.selector, labels) for labels in label_sets)
    ]
    if selected:
        chosen = selected[0]
        return GoverningPolicy(
            chosen, Reason.BY_SELECTOR, f"policy {chosen.metadata.name} (selector matches)"
        )
    defaults = [p for p in policies if p.spec.default]
    if defaults:
        chosen = defaults[0]
        return GoverningPolicy(
            chosen, Reason.BY_DEFAULT, f"policy {chosen.metadata.name} (namespace default)"
        )
    return GoverningPolicy(
        None, Reason.NO_POLICY, "no EscalationPolicy governs this incident; runbook defaults apply"
    )


def _duration_or(text: str | None, default: timedelta | None) -> timedelta | None:
    return parse_duration(text) if text is not None else default


def effective_level(severity: Severity, policy: EscalationPolicy | None) -> SeverityLevel:
    """The runbook's level for ``severity`` with the policy's overrides applied."""
    base = _postmortem_overridden(level(severity), policy)
    override = getattr(policy.spec.severities, severity.value) if policy else None
    if override is None:
        return base
    return replace(
        base,
        response_time=_duration_or(override.response_time, base.response_time),
        response_next_business_day=base.response_next_business_day
        and override.response_time is None,
        resolution_target=_duration_or(override.resolution_target, base.resolution_target)
        or base.resolution_target,
        update_every=_duration_or(override.update_every, base.update_every),
    )


def _postmortem_overridden(base: SeverityLevel, policy: EscalationPolicy | None) -> SeverityLevel:
    """The level with the policy's spec.postMortem deadlines for its severity, where set."""
    override = getattr(policy.spec.post_mortem, base.severity.value) if policy else None
    if override is None:
        return base
    return replace(
        base,
        postmortem_schedule_within=_duration_or(
            override.schedule_within, base.postmortem_schedule_within
        ),
        postmortem_complete_within=_duration_or(
            override.complete_within, base.postmortem_complete_within
        ),
    )


def auto_resolve_allowed(severity: Severity, policy: EscalationPolicy | None) -> bool:
    override = getattr(policy.spec.severities, severity.value) if policy else None
    if override is not None and override.auto_resolve is not None:
        return bool(override.auto_resolve)
    return _AUTO_RESOLVE_DEFAULT.get(severity, True)


def monitoring_window(policy: EscalationPolicy | None) -> timedelta:
    return parse_duration(policy.spec.detection.monitoring_window if policy else "15m")
