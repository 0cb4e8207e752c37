"""The chat log's pure rules (reconcile/slack_events.py, reconcile/chat_log.py): Slack's
events read, the marker, the author, a line logged once, and the pipeline telling each
line once as a ChatLogged timeline entry; and /slack/events' signature check over HTTP."""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from incident_operator.adapters.alertmanager_receiver import (
    SLACK_EVENTS_PATH,
    AlertmanagerReceiver,
    CachedToken,
    SlackSignedIntake,
)
from incident_operator.api.chat import ChatLogEntry, ChatStatus
from incident_operator.api.contacts import Contact
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.reasons import EntryType
from incident_operator.reconcile.alerts import PayloadError
from incident_operator.reconcile.chat_log import (
    logged_text,
    slack_author,
    with_line,
)
from incident_operator.reconcile.slack_events import (
    ChatLine,
    Ignored,
    UrlVerification,
    parse_event,
    ts_time,
)
from incident_operator.runtime import chat_log as chat_log_runtime
from incident_operator.runtime.chat_log import ChatLogIntake
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.detection_writer import Writer
from incident_operator.runtime.policies import PolicyRegistry
from tests.support.slack_signing import (
    encoded,
    event_callback,
    message_event,
    pin_added_event,
    signed_headers,
    url_verification,
)
from tests.unit.test_pipeline import T0, _decide, _new, _written

CHANNEL = "C0INC42"
TS = "1795780800.000100"


def _line(text: str, pinned: bool = False) -> ChatLine:
    return ChatLine(CHANNEL, TS, "U0DANA", text, pinned)


# ------------------------------------------------------------------ reading Slack's events


def test_url_verification_is_answered_with_its_challenge() -> None:
    assert parse_event(encoded(url_verification("3eZbrw1a"))) == UrlVerification("3eZbrw1a")


def test_a_persons_message_is_a_line_of_the_channel() -> None:
    event = message_event(CHANNEL, "U0DANA", "!log rolled back", TS)
    assert parse_event(encoded(event_callback(event))) == ChatLine(
        CHANNEL, TS, "U0DANA", "!log rolled back", pinned=False
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"bot_id": "B0OPERATOR"}, "a bot's message"),
        ({"subtype": "bot_message"}, "a bot's message"),
        ({"subtype": "message_changed"}, "a message of subtype message_changed"),
        ({"subtype": "channel_join"}, "a message of subtype channel_join"),
    ],
)
def test_bots_edits_and_joins_are_not_lines(extra: dict[str, Any], reason: str) -> None:
    event = message_event(CHANNEL, "U0DANA", "!log x", TS, **extra)
    assert parse_event(encoded(event_callback(event))) == Ignored(reason)


@pytest.mark.parametrize("subtype", ["thread_broadcast", "file_share"])
def test_broadcast_thread_replies_and_shared_files_are_peoples_lines(subtype: str) -> None:
    event = message_event(CHANNEL, "U0DANA", "!log see graph", TS, subtype=subtype)
    assert isinstance(parse_event(encoded(event_callback(event))), ChatLine)


def test_a_pinned_message_is_a_pinned_line_by_its_author() -> None:
    message = message_event(CHANNEL, "U0BOB", "DB failover done", TS)
    parsed = parse_event(encoded(event_callback(pin_added_event(CHANNEL, "U0DANA", message))))
    assert parsed == ChatLine(CHANNEL, TS, "U0BOB", "DB failover done", pinned=True)


def test_other_events_and_envelopes_are_ignored() -> None:
    reaction = {"type": "reaction_added", "user": "U0DANA", "reaction": "eyes"}
    assert isinstance(parse_event(encoded(event_callback(reaction))), Ignored)
    assert isinstance(parse_event(encoded({"type": "app_rate_limited"})), Ignored)


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"type": "event_callback"}'])
def test_what_is_no_slack_envelope_is_refused(body: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_event(body)


def test_a_ts_is_its_time_to_the_microsecond() -> None:
    assert ts_time("1795780800.000100") == datetime(2026, 11, 27, 12, 0, 0, 100, tzinfo=UTC)


# ------------------------------------------------------------------ marker and author


@pytest.mark.parametrize(
    ("text", "pinned", "marker", "logged"),
    [
        ("!log rolled back checkout to v41", False, "!log", "rolled back checkout to v41"),
        ("!LOG  error rate falling ", False, "!log", "error rate falling"),
        ("!log\nmultiline\nnote", False, "!log", "multiline\nnote"),
        ("!logged in to the bastion", False, "!log", None),
        ("!log", False, "!log", None),
        ("no marker here", False, "!log", None),
        ("see !log later", False, "!log", None),
        ("#scribe cache flushed", False, "#scribe", "cache flushed"),
        ("!log p99 &lt; 2s &amp; falling", False, "!log", "p99 < 2s & falling"),
        ("DB failover done", True, "!log", "DB failover done"),
        ("!log DB failover done", True, "!log", "DB failover done"),
        ("   ", True, "!log", None),
    ],
)
def test_the_marker_opens_a_line_and_a_pin_needs_none(
    text: str, pinned: bool, marker: str, logged: str | None
) -> None:
    assert logged_text(_line(text, pinned), marker) == logged


def test_a_long_line_is_cut_to_what_status_holds() -> None:
    assert logged_text(_line("!log " + "x" * 5000), "!log") == "x" * 4096


def _contact(name: str, mention: str, user: str | None) -> Contact:
    return Contact.model_validate({"name": name, "user": user, "slack": {"mention": mention}})


@pytest.mark.parametrize(
    ("slack_user", "author"),
    [
        ("U0DANA", "dana@example.com"),
        ("U0BOB", "bob"),
        ("U0CAROL", "slack:U0CAROL"),
        ("U0EVE", "slack:U0EVE"),
    ],
)
def test_the_author_is_the_contacts_kubernetes_user_else_the_slack_id(
    slack_user: str, author: str
) -> None:
    contacts = [
        _contact("Dana", "U0DANA", "dana@example.com"),
        _contact("Bob", "@U0BOB", "bob"),
        # Mapped in Slack, but no Kubernetes user: not a verified identity.
        _contact("Eve", "U0EVE", None),
    ]
    assert slack_author(slack_user, contacts) == author


# ------------------------------------------------------------------ each line once


def _entry(ts: str, text: str = "x") -> ChatLogEntry:
    return ChatLogEntry(ts=ts, author="bob", text=text, time=ts_time(ts))


def test_a_line_already_logged_writes_nothing_and_a_full_log_drops_its_oldest() -> None:
    log = [_entry("1.000001"), _entry("2.000001")]
    assert with_line(log, _entry("2.000001", "retried")) is None
    assert with_line(log, _entry("3.000001"), limit=2) == [_entry("2.000001"), _entry("3.000001")]


def _chatting(incident: Incident, *lines: ChatLogEntry) -> Incident:
    status = incident.status.model_copy(update={"chat": ChatStatus(log=list(lines))})
    return incident.model_copy(update={"status": status})


def _told(entries: list[Any]) -> list[tuple[str, str]]:
    return [(e.actor, e.message) for e in entries if e.type == EntryType.CHAT_LOGGED]


def test_each_line_becomes_one_timeline_entry_and_a_restart_repeats_none() -> None:
    first = _new("P1")
    started = _written(first, _decide(first, T0, incident_id="INC-0042"))
    line = _entry("1795780800.000100", "rolled back")
    one = _chatting(started, line)
    decision = _decide(one, T0)
    assert _told(decision.entries) == [("bob", "rolled back")]
    assert _told(decision.status.timeline) == [("bob", "rolled back")]
    assert decision.status.recorded.chat_log == "1795780800.000100"
    again = _written(one, decision)
    assert _told(_decide(again, T0).entries) == []
    # A pin of an older message arrives last: it is new all the same.
    two = _chatting(again, line, _entry("1795780000.000001", "pinned"))
    assert _told(_decide(two, T0).entries) == [("bob", "pinned")]


def test_lines_dropped_from_a_full_log_before_being_told_leave_the_rest_new() -> None:
    first = _new("P1")
    started = _written(first, _decide(first, T0, incident_id="INC-0042"))
    status = started.status.model_copy()
    status.recorded.chat_log = "1.000001"
    trimmed = _chatting(
        started.model_copy(update={"status": status}), _entry("2.000001"), _entry("3.000001")
    )
    assert len(_told(_decide(trimmed, T0).entries)) == 2


# ------------------------------------------------------------------ finding the incident


def _held(name: str, channel: str | None, phase: str = "Investigating") -> dict[str, Any]:
    chat = {"channel": {"id": channel, "name": f"inc-{name}", "createdAt": T0.isoformat()}}
    return {
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "1"},
        "spec": {"title": "t", "severity": "P1"},
        "status": {"phase": phase, **({"chat": chat} if channel else {})},
    }


def test_the_index_finds_an_incident_by_its_channel_and_keeps_nothing_else_of_chat() -> None:
    index = IncidentIndex()
    body = _held("a", CHANNEL)
    body["status"]["chat"]["log"] = [_entry("1.000001").to_wire()]
    index.put_raw(body)
    index.put_raw(_held("b", None))
    found = index.by_chat_channel(CHANNEL)
    assert found is not None
    assert found.metadata.name == "a"
    assert found.status.chat is not None
    assert found.status.chat.log == []
    assert index.by_chat_channel("C0OTHER") is None


# ------------------------------------------------------------------ the signature over HTTP

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def _post(
    reader: Any, requests: list[tuple[bytes, dict[str, str]]], recheck: float = 5.0
) -> list[tuple[int, dict[str, Any]]]:
    taken: list[bytes] = []

    async def intake(body: bytes) -> tuple[int, dict[str, Any]]:
        taken.append(body)
        return 200, {"taken": len(taken)}

    async def run() -> list[tuple[int, dict[str, Any]]]:
        signed = SlackSignedIntake(CachedToken(reader, recheck=recheck), intake)
        receiver = AlertmanagerReceiver("127.0.0.1", 0, None, None, slack_events=signed)
        await receiver.start()
        answers = []
        try:
            url = f"http://127.0.0.1:{receiver.bound_port}{SLACK_EVENTS_PATH}"
            async with aiohttp.ClientSession() as session:
                for body, headers in requests:
                    async with session.post(url, data=body, headers=headers) as response:
                        answers.append((response.status, await response.json()))
        finally:
            await receiver.stop()
        return answers

    return asyncio.run(run())


def test_only_requests_signed_with_the_secret_in_the_last_five_minutes_get_through() -> None:
    body = encoded(url_verification("c"))
    now = int(time.time())
    tampered = signed_headers(body, SECRET) | {"X-Slack-Signature": "v0=" + "0" * 64}
    answers = _post(
        lambda: SECRET,
        [
            (body, signed_headers(body, SECRET)),
            (body, signed_headers(body, "another secret")),
            (body, signed_headers(body, SECRET, timestamp=now - 301)),
            (body, signed_headers(body, SECRET, timestamp=now + 301)),
            (body, tampered),
            (body + b" ", signed_headers(body, SECRET)),
            (body, {}),
            (body, signed_headers(body, SECRET) | {"X-Slack-Request-Timestamp": "soon"}),
        ],
    )
    assert [status for status, _ in answers] == [200, 401, 401, 401, 401, 401, 401, 401]
    assert answers[0][1] == {"taken": 1}


def test_a_rotated_signing_secret_is_taken_without_a_restart() -> None:
    secrets = iter(["old", "new", "new"])
    body = encoded(url_verification("c"))
    answers = _post(lambda: next(secrets), [(body, signed_headers(body, "new"))], recheck=0.0)
    assert answers == [(200, {"taken": 1})]


def test_an_unreadable_signing_secret_is_503() -> None:
    body = encoded(url_verification("c"))
    answers = _post(lambda: None, [(body, signed_headers(body, SECRET))])
    assert answers[0][0] == 503


# ------------------------------------------------------------------ the intake's writes


class _Api:
    """The incident as the API server holds it, and the guarded writes made to it; the
    first ``conflicts`` writes lose a race (another writer got in first)."""

    def __init__(self, body: dict[str, Any], conflicts: int = 0) -> None:
        self.body = body
        self.conflicts = conflicts
        self.reads = 0
        self.writes: list[dict[str, Any]] = []

    def read(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads += 1
        return self.body

    def write(
        self, namespace: str, name: str, version: str, difference: dict[str, Any]
    ) -> dict[str, Any] | None:
        if self.conflicts:
            self.conflicts -= 1
            return None
        self.writes.append(difference)
        return self.body


def _intake(monkeypatch: pytest.MonkeyPatch, api: _Api, marker: str = "#log") -> ChatLogIntake:
    monkeypatch.setattr(chat_log_runtime, "read_incident", api.read)
    monkeypatch.setattr(chat_log_runtime, "write_status", api.write)
    index = IncidentIndex()
    index.put_raw(api.body)
    policies = PolicyRegistry()
    dana = {"name": "Dana", "user": "dana@example.com", "slack": {"mention": "U0DANA"}}
    policy = {
        "metadata": {"name": "team", "namespace": "shop"},
        "spec": {
            "default": True,
            "chat": {"logMarker": marker},
            "contacts": [{"role": "commander", "primary": dana}],
        },
    }
    policies.put(EscalationPolicy.model_validate(policy))
    return ChatLogIntake(Writer(index), index, policies)


def _say(intake: ChatLogIntake, text: str, user: str = "U0DANA") -> tuple[int, dict[str, Any]]:
    event = event_callback(message_event(CHANNEL, user, text, TS))
    return asyncio.run(intake(encoded(event)))


def test_chatter_without_the_policys_marker_costs_no_api_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _Api(_held("a", CHANNEL))
    intake = _intake(monkeypatch, api)
    assert _say(intake, "!log the default marker is not this policy's") == (
        200,
        {"ignored": "not a line to log (no '#log' first)"},
    )
    assert (api.reads, api.writes) == (0, [])


def test_a_write_that_loses_a_race_is_decided_again_from_a_fresh_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = _Api(_held("a", CHANNEL), conflicts=2)
    status, answer = _say(_intake(monkeypatch, api), "#log flushed the cache")
    assert (status, answer["author"]) == (200, "dana@example.com")
    assert api.reads == 3
    [written] = api.writes
    assert written["chat"]["log"][0] | {"time": None} == {
        "ts": TS,
        "author": "dana@example.com",
        "text": "flushed the cache",
        "time": None,
    }
