"""The related runbooks and dashboards an incident shows: its policy's, or the runbook's."""

from incident_operator.api.escalation_policy import EscalationPolicy, LinkSpec
from incident_operator.domain.links import Link, RelatedLinks, related_links


def _links(specs: list[LinkSpec]) -> tuple[Link, ...]:
    return tuple(Link(spec.name, spec.url, spec.purpose) for spec in specs)


def policy_links(policy: EscalationPolicy | None) -> RelatedLinks:
    """``spec.links`` of the governing policy; a list it leaves empty is the appendix's."""
    if policy is None:
        return related_links((), ())
    links = policy.spec.links
    return related_links(
        _links(links.dashboards),
        _links(links.runbooks),
        links.dashboard_base_url,
        links.runbook_base_url,
    )
