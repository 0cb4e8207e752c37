"""Acting from Slack, the pure half: the card's buttons, and what a button press or a
``/incident`` slash command asks for (docs/chat-ops.md#acting-from-slack).

Slack posts both form-encoded once their signature is verified: a slash command as the
fields ``command``, ``text``, ``user_id``, ``channel_id``, ``response_url``; a button
press as one field ``payload`` holding the JSON of a ``block_actions`` interaction. Each
becomes a ``Request``: who (the Slack member), where (the channel), what (``Action``),
and where to answer. Which incident: a button carries ``namespace/name`` in its value
(and an approval the proposal it showed); a command names ``INC-42`` as its first
argument, or is typed in the incident's own channel, which implies it.
"""

import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from incident_operator.api.contacts import Contact
from incident_operator.api.incident import Incident
from incident_operator.domain.checklists import RESPONDER_ITEMS
from incident_operator.domain.ids import parse_incident_reference
from incident_operator.domain.phases import Phase
from incident_operator.domain.responder_words import ROLES, SEVERITIES, STATES
from incident_operator.reconcile.alerts import PayloadError

# The slash command's verbs and their arguments (the usage Slack shows and we answer).
USAGE: Final = {
    "declare": "declare P0|P1|P2|P3|P4 TITLE",
    "ack": "ack [INC-42]",
    "update": "update [INC-42] MESSAGE",
    "state": "state [INC-42] Investigating|Identified|Mitigating|Monitoring|Resolved",
    "severity": "severity [INC-42] P0|P1|P2|P3|P4",
    "assign": "assign [INC-42] commander|tech-lead|comms-lead|scribe me|@member|USER",
    "publish": "publish [INC-42] [MESSAGE] (the operator's draft when no message)",
    "check": "check [INC-42] ITEM... (the pre-resolution items, e.g. manualVerification)",
    "resolve": "resolve [INC-42] [override REASON] (the override: the commander's)",
}
# Button action_ids, by the verb each performs.
BUTTONS: Final = {
    "incident-ack": "ack",
    "incident-commander": "commander",
    "incident-approve-rollback": "approve-rollback",
    "incident-approve-remediation": "approve-remediation",
    "incident-resolve": "resolve",
}
_BUTTON_OF = {verb: action_id for action_id, verb in BUTTONS.items()}
# Slack bounds a button's value.
_VALUE_LIMIT = 2000


class CommandError(PayloadError):
    """A command that cannot be read; the message says how to write it."""


@dataclass(frozen=True)
class Action:
    """What to do: ``verb`` with its ``arguments``, on the incident named by
    ``reference`` (an INC id), ``key`` (namespace, name, from a button) or the channel."""

    verb: str
    arguments: tuple[str, ...] = ()
    reference: str | None = None
    key: tuple[str, str] | None = None
    # For an approval: the proposal the button showed (refused if it changed since).
    proposal: str | None = None
    # For approve-remediation: the request's id.
    request_id: str | None = None


@dataclass(frozen=True)
class Request:
    """Who asked, where, what, and where the answer goes (a button's response_url)."""

    user: str
    channel: str
    action: Action
    response_url: str | None = None


def reference_number(text: str) -> int | None:
    """The number of an incident reference as typed in Slack (``INC-42``, ``inc-0042``,
    ``INC42``; a bare number is a word of the command); None when ``text`` is none."""
    return parse_incident_reference(text, bare_number=False)


def usage() -> str:
    return "Usage: /incident " + "\n/incident ".join(USAGE.values())


def parse_command(body: bytes) -> Request:
    """A slash command's form body; CommandError says how to write it."""
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    user, channel = form.get("user_id", ""), form.get("channel_id", "")
    if not user:
        raise PayloadError("a slash command without user_id")
    return Request(user, channel, command_action(form.get("text", "")), form.get("response_url"))


def command_action(text: str) -> Action:
    """``ack INC-42``, ``update rolled back web``, ... as an Action."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if not words or words[0].lower() not in USAGE:
        raise CommandError(usage())
    verb, rest = words[0].lower(), words[1:]
    if verb == "declare":
        if len(rest) < 2 or rest[0].upper() not in SEVERITIES:
            raise CommandError(f"Usage: /incident {USAGE['declare']}")
        return Action(verb, (rest[0].upper(), " ".join(rest[1:])))
    reference = None
    if rest and reference_number(rest[0]) is not None:
        reference, rest = rest[0], rest[1:]
    wanted = {"ack": 0, "state": 1, "severity": 1, "assign": 2}
    if verb in wanted and len(rest) != wanted[verb]:
        raise CommandError(f"Usage: /incident {USAGE[verb]}")
    if verb == "update" and not rest:
        raise CommandError(f"Usage: /incident {USAGE[verb]}")
    if verb in ("update", "publish"):
        # Free text: as typed, less the verb and the reference.
        return Action(verb, (_rest_of(text, 2 if reference else 1),) if rest else (), reference)
    if verb == "state":
        state = next((s for s in STATES if s.lower() == rest[0].lower()), None)
        if state is None:
            raise CommandError(f"Usage: /incident {USAGE[verb]}")
        rest = [state]
    if verb == "severity":
        if rest[0].upper() not in SEVERITIES:
            raise CommandError(f"Usage: /incident {USAGE[verb]}")
        rest = [rest[0].upper()]
    if verb == "assign" and rest[0].lower() not in ROLES:
        raise CommandError(f"Usage: /incident {USAGE[verb]}")
    if verb == "check":
        return Action(verb, _checklist_items(rest), reference)
    if verb == "resolve":
        if rest and (rest[0].lower() != "override" or len(rest) < 2):
            raise CommandError(f"Usage: /incident {USAGE[verb]}")
        # The override's reason, as typed.
        return Action(verb, (_rest_of(text, 3 if reference else 2),) if rest else (), reference)
    return Action(verb, tuple(rest), reference)


def _checklist_items(words: Sequence[str]) -> tuple[str, ...]:
    """The checklist keys named (in any case); CommandError lists the keys there are."""
    keys = {item.lower(): item for item in RESPONDER_ITEMS}
    unknown = [word for word in words if word.lower() not in keys]
    if not words or unknown:
        said = f"No checklist item {', '.join(unknown)}. " if unknown else ""
        raise CommandError(
            f"{said}Usage: /incident {USAGE['check']}; the items: {', '.join(RESPONDER_ITEMS)}"
        )
    return tuple(keys[word.lower()] for word in words)


def _rest_of(text: str, words: int) -> str:
    """``text`` after its first ``words`` words, as typed."""
    rest = text.strip()
    for _ in range(words):
        rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    return rest.strip()


def parse_interaction(body: bytes) -> Request:
    """A button press (block_actions) from its form body; PayloadError when it is none
    of the card's buttons."""
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        payload: Any = json.loads(form.get("payload", ""))
    except ValueError as error:
        raise PayloadError(f"the payload is not JSON: {error}") from None
    if not isinstance(payload, Mapping) or payload.get("type") != "block_actions":
        raise PayloadError("not a block_actions interaction")
    user = str((payload.get("user") or {}).get("id") or "")
    channel = str((payload.get("channel") or {}).get("id") or "")
    pressed = (payload.get("actions") or [{}])[0]
    verb = BUTTONS.get(str(pressed.get("action_id") or ""))
    if not user or verb is None:
        raise PayloadError("not one of the incident card's buttons")
    value = str(pressed.get("value") or "")
    namespace, _, rest = value.partition("/")
    name, _, extra = rest.partition("/")
    if not namespace or not name:
        raise PayloadError(f"a button value {value!r} that names no incident")
    proposal = request_id = None
    if verb == "approve-rollback":
        proposal = extra
    elif verb == "approve-remediation":
        request_id, _, proposal = extra.partition(":")
    response_url = payload.get("response_url")
    return Request(
        user,
        channel,
        Action(verb, key=(namespace, name), proposal=proposal, request_id=request_id),
        str(response_url) if response_url else None,
    )


def _button(verb: str, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": _BUTTON_OF[verb],
        "text": {"type": "plain_text", "text": text},
        "value": value[:_VALUE_LIMIT],
    }
    if style:
        button["style"] = style
    return button


def action_buttons(incident: Incident) -> dict[str, Any] | None:
    """The card's actions block: Acknowledge (until acknowledged), I'm commander, Approve
    rollback (while one is Proposed: its value names the proposal), Approve remediation
    (each awaiting approval), Resolve (until resolved); None for a closed incident."""
    status, meta = incident.status, incident.metadata
    phase = status.phase or Phase.DETECTED
    if phase == Phase.CLOSED:
        return None
    key = f"{meta.namespace}/{meta.name}"
    buttons = []
    if status.acknowledged_at is None:
        buttons.append(_button("ack", "Acknowledge", key, "primary"))
    buttons.append(_button("commander", "I'm commander", key))
    rollback = status.rollback
    if rollback is not None and rollback.phase == "Proposed" and rollback.proposal:
        buttons.append(
            _button("approve-rollback", "Approve rollback", f"{key}/{rollback.proposal}", "danger")
        )
    for record in status.remediations:
        if record.phase == "Proposed" and record.proposal and not record.approved_by:
            value = f"{key}/{record.id}:{record.proposal}"
            buttons.append(
                _button("approve-remediation", f"Approve {record.id}"[:75], value, "danger")
            )
    if phase not in (Phase.RESOLVED, Phase.POST_INCIDENT):
        buttons.append(_button("resolve", "Resolve", key))
    return {"type": "actions", "block_id": "incident-actions", "elements": buttons[:25]}


def acting_contact(member: str, contacts: Sequence[Contact]) -> Contact | None:
    """The contact a Slack member acts as: the one whose slack.mention is their member
    ID (with or without its @) and that names a Kubernetes user."""
    for contact in contacts:
        mention = contact.slack.mention if contact.slack else None
        if mention and contact.user and mention.removeprefix("@") == member:
            return contact
    return None


def unmapped(member: str, where: str) -> str:
    """What an unmapped member is told: which policy, which fields."""
    return (
        f"Your Slack account ({member}) is not mapped to a Kubernetes user, so nothing was "
        f"done. Ask for a contact in {where} spec.contacts with `slack: {{mention: {member}}}`, "
        "`user: <your Kubernetes user name>` and, to approve rollbacks, "
        "`groups: [<the approver group>]` (docs/chat-ops.md#identity-and-impersonation)."
    )


def member_mention(word: str) -> str | None:
    """The member ID in a Slack mention as a command's text carries it (``<@U0123|dana>``)."""
    if word.startswith("<@") and word.endswith(">"):
        return word[2:-1].partition("|")[0] or None
    return None
