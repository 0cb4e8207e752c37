"""The public status page at run time: rendered from what the operator's watches already
keep in memory, served by adapters/status_page_server.py.

Incidents come from detection's incident index (every Incident the watch delivered, open
or resolved, with its published customer messages), policies from the policy registry,
windows from the window registry and workload labels from detection's workload index.
So a page view makes no API call, however many people look, and the page keeps
answering while the API server does not. The documents are rendered at most once per
``RENDER_EVERY`` and shared by every request in between. It runs where kopf runs: on
the replica holding the leader Lease (docs/status-page.md).
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from incident_operator.adapters.status_page_server import NotReady, StatusPageServer
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.api.maintenance import MaintenanceWindow
from incident_operator.config import Settings
from incident_operator.domain.status_page import Document
from incident_operator.reconcile.status_page import LabelsOf, build_page
from incident_operator.reconcile.status_page_render import render_documents
from incident_operator.runtime import clock
from incident_operator.runtime.detection_state import INCIDENTS, WORKLOADS
from incident_operator.runtime.maintenance import WINDOWS
from incident_operator.runtime.policies import POLICIES

logger = logging.getLogger(__name__)

# Seconds one rendering is served before the next request renders again.
RENDER_EVERY: Final = 1.0


@dataclass(frozen=True)
class Sources:
    """Where the page's data comes from: the operator's in-memory registries."""

    policies: Callable[[], list[EscalationPolicy]]
    incidents: Callable[[], list[Incident]]
    windows: Callable[[], list[MaintenanceWindow]]
    labels_of: LabelsOf
    # Whether the policies and windows have been listed once: before, the page would
    # say "All Systems Operational" about no components at all.
    ready: Callable[[], bool] = lambda: True


def _windows() -> list[MaintenanceWindow]:
    return [w for key in WINDOWS.window_keys() if (w := WINDOWS.get(*key)) is not None]


REGISTRIES = Sources(
    policies=POLICIES.all,
    incidents=INCIDENTS.all,
    windows=_windows,
    labels_of=WORKLOADS.labels,
    ready=lambda: POLICIES.ready.is_set() and WINDOWS.ready.is_set(),
)


class PageRenderer:
    """Renders the page from ``sources`` when asked, at most once per ``every`` seconds."""

    def __init__(
        self,
        title: str,
        sources: Sources = REGISTRIES,
        now: Callable[[], datetime] = clock.now,
        every: float = RENDER_EVERY,
    ) -> None:
        self._title = title
        self._sources = sources
        self._now = now
        self._every = every
        self._rendered: tuple[float, str, Mapping[str, Document]] | None = None

    def documents(self, base_url: str) -> Mapping[str, Document]:
        """Every document by path; what it raises, the server answers with the last
        (NotReady until the registries have been listed once)."""
        if not self._sources.ready():
            raise NotReady
        at = time.monotonic()
        if self._rendered is not None:
            rendered_at, rendered_for, documents = self._rendered
            if rendered_for == base_url and at - rendered_at < self._every:
                return documents
        page = build_page(
            title=self._title,
            policies=self._sources.policies(),
            incidents=self._sources.incidents(),
            windows=self._sources.windows(),
            labels_of=self._sources.labels_of,
            now=self._now(),
        )
        documents = render_documents(page, base_url)
        self._rendered = (at, base_url, documents)
        return documents


async def start_status_page(settings: Settings) -> StatusPageServer | None:
    """The page's server when ``--status-page-listen`` is set; None when it is off or
    its port is taken (logged: the rest of the operator goes on)."""
    if settings.status_page_listen is None:
        logger.info("no --status-page-listen: the status page is off")
        return None
    host, port = settings.status_page_listen
    page = PageRenderer(settings.status_page_title)
    server = StatusPageServer(host, port, page.documents, base_url=settings.status_page_url)
    try:
        await server.start()
    except OSError as error:
        logger.error("the status page could not start: %s", error)
        return None
    return server
