"""Related runbooks and dashboards: the runbook's appendix, as the shipped defaults.

The runbook's appendix lists four Grafana-style dashboards (as paths, ``/d/...``) and
four related runbooks (as paths next to it, ``./...``). A policy may list its own in
``spec.links``; a list it leaves empty keeps these. Paths are shown as they are unless
the policy gives a base URL to put in front of them, so a message never carries a
made-up host.

The dashboards are the ones ``make monitoring`` generates (domain.dashboards): with
``spec.links.dashboardBaseUrl`` set to Grafana's URL, each link opens its dashboard (``/d/<uid>``).
"""

from dataclasses import dataclass

from incident_operator.domain.runbook_dashboards import (
    RUNBOOK_DASHBOARDS as GENERATED_DASHBOARDS,
)


@dataclass(frozen=True)
class Link:
    """One dashboard or runbook: what it is called, where it is, what it is for."""

    name: str
    # A full http(s) URL, or a path (``/d/system-overview``, ``./kill_switch.md``).
    url: str
    purpose: str


@dataclass(frozen=True)
class RelatedLinks:
    """The links an incident's messages, ``kubectl incident show`` and post-mortem carry."""

    dashboards: tuple[Link, ...]
    runbooks: tuple[Link, ...]


# The appendix's Dashboard Links table, row by row: the dashboards generated from the
# signal catalog (domain.dashboards), whose Grafana uids are these paths' last parts.
RUNBOOK_DASHBOARDS: tuple[Link, ...] = tuple(
    Link(board.title, board.path, board.purpose) for board in GENERATED_DASHBOARDS
)

# The appendix's Related Runbooks list, item by item.
RUNBOOK_RELATED_RUNBOOKS: tuple[Link, ...] = (
    Link("agent_troubleshooting.md", "./agent_troubleshooting.md", "Agent debugging"),
    Link("security_incidents.md", "./security_incidents.md", "Security response"),
    Link("kill_switch.md", "./kill_switch.md", "Emergency stop procedures"),
    Link("pii_redaction.md", "./pii_redaction.md", "PII handling"),
)


def with_base(url: str, base: str | None) -> str:
    """``url`` under ``base`` when it is a path and a base is given; otherwise as it is."""
    if base is None or url.startswith(("http://", "https://")):
        return url
    path = url.removeprefix("./").lstrip("/")
    return f"{base.rstrip('/')}/{path}"


def related_links(
    dashboards: tuple[Link, ...],
    runbooks: tuple[Link, ...],
    dashboard_base: str | None = None,
    runbook_base: str | None = None,
) -> RelatedLinks:
    """The links to show: the given ones, or the appendix's where none are given."""
    return RelatedLinks(
        dashboards=tuple(
            Link(link.name, with_base(link.url, dashboard_base), link.purpose)
            for link in dashboards or RUNBOOK_DASHBOARDS
        ),
        runbooks=tuple(
            Link(link.name, with_base(link.url, runbook_base), link.purpose)
            for link in runbooks or RUNBOOK_RELATED_RUNBOOKS
        ),
    )


def link_lines(links: RelatedLinks) -> list[str]:
    """Plain-text lines for people: a Dashboards block and a Runbooks block."""
    lines = ["Dashboards:"]
    lines += [f"- {link.name}: {link.url}" for link in links.dashboards]
    lines.append("Runbooks:")
    lines += [f"- {link.name}: {link.url}" for link in links.runbooks]
    return lines
