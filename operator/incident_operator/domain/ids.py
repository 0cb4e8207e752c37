"""Incident IDs as the runbook writes them: INC-0001, INC-0042, INC-12345."""

import re

ID_PATTERN = r"^INC-[0-9]{4,}$"
_ID = re.compile(r"INC-([0-9]{4,})")
# What people type for an incident: INC-0042, inc-42, INC42, or 42.
_REFERENCE = re.compile(r"(INC-?)?0*([1-9][0-9]{0,8})")


def format_incident_id(number: int) -> str:
    if number < 1:
        raise ValueError(f"incident numbers start at 1, got {number}")
    return f"INC-{number:04d}"


def parse_incident_id(text: str) -> int | None:
    """The number in ``INC-0042`` (case-insensitive), or None when ``text`` is no ID."""
    match = _ID.fullmatch(text.upper())
    return int(match.group(1)) if match else None


def parse_incident_reference(text: str, bare_number: bool = True) -> int | None:
    """The incident number people mean by ``INC-0042``, ``inc-42``, ``INC42`` or ``42``
    (the runbook's ``INC-42`` too); None when ``text`` is none of these (a resource name,
    say). Without ``bare_number``, ``42`` is no reference (a word in a Slack command)."""
    match = _REFERENCE.fullmatch(text.upper())
    if match is None or (match.group(1) is None and not bare_number):
        return None
    return int(match.group(2))
