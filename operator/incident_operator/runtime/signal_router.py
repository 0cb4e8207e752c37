"""Where a new signal goes: suppressed by a maintenance window, joined to an open
incident by grouping, or opened as an incident of its own.

Every intake (detection polling, Alertmanager, PagerDuty, the generic webhook) hands its
``NewIncident`` decisions here instead of opening them itself, so all of them are
suppressed and grouped the same way. The monitoring-gap incident is not a signal of a
workload and is opened directly.
"""

from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol

from incident_operator.reconcile.detection import NewIncident
from incident_operator.runtime.detection_writer import Writer


@dataclass(frozen=True)
class Routed:
    """What became of one signal: the incident it opened or joined, or the window that
    suppressed it (``namespace/name``)."""

    incident: str | None = None
    joined: bool = False
    suppressed_by: str | None = None


class MaintenanceGate(Protocol):
    async def suppress(self, new: NewIncident) -> str | None:
        """Records ``new`` on the active window that matches it and returns the window's
        name; None when no window matches (the signal goes on)."""
        ...

    async def resolved(self, namespace: str, fingerprint: str) -> None:
        """An inbound alert resolved with no incident open for it: a window holding it
        opens nothing for it when it ends."""
        ...


@dataclass(frozen=True)
class Joining:
    """A signal on its way into an open incident: ``written`` completes (or raises what
    the API raised) once status.signals holds it."""

    incident: str
    written: Awaitable[None]


class GroupingGate(Protocol):
    async def join(self, new: NewIncident) -> Joining | None:
        """Starts adding ``new`` to an open incident it groups with; None when it groups
        with none (it opens its own)."""
        ...

    def opening(self, new: NewIncident) -> AbstractAsyncContextManager[None]:
        """Held from ``join`` until ``new``'s own incident is opened, so signals of one
        group arriving together open one incident and join it."""
        ...


class _NoMaintenance:
    async def suppress(self, new: NewIncident) -> str | None:
        return None

    async def resolved(self, namespace: str, fingerprint: str) -> None:
        return None


class _NoGrouping:
    async def join(self, new: NewIncident) -> Joining | None:
        return None

    def opening(self, new: NewIncident) -> AbstractAsyncContextManager[None]:
        return nullcontext()


class SignalRouter:
    def __init__(
        self,
        writer: Writer,
        maintenance: MaintenanceGate | None = None,
        grouping: GroupingGate | None = None,
    ) -> None:
        self._writer = writer
        self.maintenance: MaintenanceGate = maintenance or _NoMaintenance()
        self.grouping: GroupingGate = grouping or _NoGrouping()

    async def route(self, new: NewIncident) -> Routed:
        window = await self.maintenance.suppress(new)
        if window is not None:
            return Routed(suppressed_by=window)
        async with self.grouping.opening(new):
            joining = await self.grouping.join(new)
            if joining is None:
                return Routed(incident=await self._writer.open(new))
        # Waited for outside the group's lock: the signals of a storm that join one
        # incident meanwhile are written with it, in one write.
        await joining.written
        return Routed(incident=joining.incident, joined=True)
