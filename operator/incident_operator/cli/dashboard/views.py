"""What the dashboard's pages show, from Incidents as the API server returns them.

Pure: the incidents and the time are passed in, so the pages are tested without a
cluster or a browser. Text stays text here; the templates escape it (Jinja2 autoescape),
the way render.py escapes it for a terminal.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from incident_operator.api.annotations import ACKNOWLEDGED_BY
from incident_operator.cli.customer_commands import KINDS
from incident_operator.domain.durations import format_duration
from incident_operator.domain.phases import Phase
from incident_operator.domain.responder_words import STATES

ROLE_NAMES = (
    ("commander", "Commander"),
    ("techLead", "Tech lead"),
    ("commsLead", "Comms lead"),
    ("scribe", "Scribe"),
)
# The kinds `kubectl incident publish --kind` takes, by the API's word.
MESSAGE_KINDS = {word: option for option, word in KINDS.items()}


@dataclass(frozen=True)
class Clock:
    """An SLA deadline from status, and whether it is met or overdue at ``now``."""

    label: str
    due: datetime | None
    met_at: datetime | None  # when what it waits for happened (the clock stopped)
    now: datetime

    @property
    def due_iso(self) -> str:
        return self.due.isoformat().replace("+00:00", "Z") if self.due else ""

    @property
    def due_text(self) -> str:
        return self.due.strftime("%Y-%m-%d %H:%M:%SZ") if self.due else "-"

    @property
    def running(self) -> bool:
        return self.due is not None and self.met_at is None

    @property
    def overdue(self) -> bool:
        return self.running and self.due is not None and self.due < self.now

    @property
    def relative(self) -> str:
        """``in 4m 10s``, ``OVERDUE by 2m``, ``met``, or ``-`` without a deadline."""
        if self.due is None:
            return "-"
        if self.met_at is not None:
            return "met" if self.met_at <= self.due else "met late"
        seconds = int((self.due - self.now).total_seconds())
        if seconds >= 0:
            return f"in {format_duration(_seconds(seconds))}"
        return f"OVERDUE by {format_duration(_seconds(-seconds))}"


def _seconds(count: int) -> timedelta:
    return timedelta(seconds=count)


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _phase(status: dict[str, Any]) -> Phase | None:
    try:
        return Phase(str(status.get("phase")))
    except ValueError:
        return None


def clocks(incident: dict[str, Any], now: datetime) -> list[Clock]:
    """The response, resolution and next-update deadlines, each stopped by what meets it."""
    status = incident.get("status") or {}
    phase = _phase(status)
    over = _moment(status.get("resolvedAt")) or (
        now if phase is not None and not phase.is_active else None
    )
    return [
        Clock(
            "Response",
            _moment(status.get("responseDueAt")),
            _moment(status.get("acknowledgedAt")),
            now,
        ),
        Clock("Resolution", _moment(status.get("resolutionDueAt")), over, now),
        Clock("Next update", _moment(status.get("nextUpdateDueAt")), over, now),
    ]


@dataclass(frozen=True)
class Row:
    """One incident in the list."""

    namespace: str
    name: str
    id: str
    title: str
    severity: str
    phase: str
    state: str
    commander: str
    clocks: list[Clock]

    @property
    def overdue(self) -> bool:
        return any(clock.overdue for clock in self.clocks)


def row(incident: dict[str, Any], now: datetime) -> Row:
    spec, status = incident.get("spec") or {}, incident.get("status") or {}
    metadata = incident["metadata"]
    return Row(
        namespace=metadata["namespace"],
        name=metadata["name"],
        id=status.get("id") or metadata["name"],
        title=spec.get("title", ""),
        severity=spec.get("severity", "?"),
        phase=status.get("phase", "-"),
        state=spec.get("state", "-"),
        commander=(spec.get("roles") or {}).get("commander", "-"),
        clocks=clocks(incident, now)[:2],
    )


def rows(incidents: list[dict[str, Any]], now: datetime, closed: bool = False) -> list[Row]:
    """The list, open incidents only unless ``closed``: most severe first, then newest ID."""
    shown = [
        row(i, now)
        for i in incidents
        if closed or (i.get("status") or {}).get("phase") != Phase.CLOSED
    ]
    shown.sort(key=lambda r: (r.namespace, r.name))
    shown.sort(key=lambda r: r.severity)
    return shown


def _draft(status: dict[str, Any]) -> dict[str, Any]:
    draft: dict[str, Any] = (status.get("communication") or {}).get("draft") or {}
    return draft


@dataclass(frozen=True)
class Detail:
    """One incident's page: everything `kubectl incident show` prints, and the forms."""

    row: Row
    incident: dict[str, Any]
    clocks: list[Clock]

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.incident.get("spec") or {}
        return spec

    @property
    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.incident.get("status") or {}
        return status

    @property
    def roles(self) -> list[tuple[str, str]]:
        roles = self.spec.get("roles") or {}
        return [(title, roles.get(key, "-")) for key, title in ROLE_NAMES]

    @property
    def acknowledged_by(self) -> str | None:
        annotations = self.incident["metadata"].get("annotations") or {}
        found = annotations.get(ACKNOWLEDGED_BY)
        return str(found) if found else None

    @property
    def rollback(self) -> dict[str, Any]:
        rollback: dict[str, Any] = self.status.get("rollback") or {}
        return rollback

    @property
    def rollback_awaits_approval(self) -> bool:
        return self.rollback.get("phase") == "Proposed" and bool(self.rollback.get("proposal"))

    @property
    def remediations(self) -> list[dict[str, Any]]:
        return list(self.status.get("remediations") or [])

    @property
    def draft(self) -> dict[str, Any]:
        return _draft(self.status)

    @property
    def draft_kind(self) -> str:
        """The kind of message the publish form starts at: the draft's, else progress."""
        return MESSAGE_KINDS.get(self.draft.get("kind", ""), "progress")

    @property
    def message_kinds(self) -> list[str]:
        return list(KINDS)

    @property
    def states(self) -> list[str]:
        return STATES

    @property
    def timeline(self) -> list[dict[str, Any]]:
        """Newest first: what happened last is what people look for."""
        return list(reversed(self.status.get("timeline") or []))


def detail(incident: dict[str, Any], now: datetime) -> Detail:
    return Detail(row=row(incident, now), incident=incident, clocks=clocks(incident, now))
