"""POST /slack/interactions and /slack/commands, once their Slack signature is verified:
the card's buttons and the ``/incident`` slash command, performed as the person.

The Slack member is mapped to a Kubernetes user (and groups) through the contacts of the
incident's governing policy (reconcile/slack_commands.py ``acting_contact``); an unmapped
member is told how to be mapped and nothing is written. The action is then made through
adapters/incident_actions.py, the plugin's own writes, with a client that impersonates
that user and those groups: the API server authorizes the request as them (RBAC, the
admission policies, the audit log's user with the operator as impersonator), and its
refusal is what the person is told. The operator may impersonate only whom the chart
allows (slackApp.impersonate); otherwise the person is told which value to set.

Slack wants an answer within 3 seconds. A slash command is answered in the HTTP response
when the action is done by then, else "working on it" and the outcome is posted to the
command's response_url; a button press is acknowledged at once and its outcome posted to
its response_url. Every answer is ephemeral: only the person sees it.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import aiohttp
from kubernetes import client

from incident_operator.adapters import incident_actions as actions
from incident_operator.adapters.client_transport import ClientTransport, impersonating
from incident_operator.adapters.incident_client import IncidentClient
from incident_operator.adapters.kube_http import KubeApiError
from incident_operator.adapters.kubernetes import api_client
from incident_operator.adapters.refusals import ActionRefused
from incident_operator.api.contacts import Contact
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.incident import Incident
from incident_operator.domain.ids import parse_incident_id
from incident_operator.reconcile.alerts import PayloadError
from incident_operator.reconcile.detection import is_open
from incident_operator.reconcile.governing_policy import governing_policy
from incident_operator.reconcile.pagerduty_intake import policy_contacts
from incident_operator.reconcile.slack_commands import (
    Action,
    CommandError,
    Request,
    acting_contact,
    member_mention,
    parse_command,
    parse_interaction,
    reference_number,
    unmapped,
)
from incident_operator.runtime.detection_state import IncidentIndex
from incident_operator.runtime.policies import POLICIES, PolicyRegistry

logger = logging.getLogger(__name__)

# How long a slash command's action may take before it is answered "working on it"
# (Slack gives up on an answer after 3 s).
ANSWER_WITHIN: Final = 2.0
# Seconds per API request made as the person, and for posting to a response_url.
REQUEST_TIMEOUT: Final = 10.0
# How long a Resolved waits for the operator's decision (the pre-resolution gate) before
# answering that it is undecided, as `kubectl incident resolve` does.
RESOLVE_WAIT: Final = 15.0
FIELD_MANAGER: Final = "incident-operator-slack"
# Actions performed at once; their own threads, so a Resolve waiting for the gate's
# decision never holds one of the operator's API threads (the loop's default executor).
ACTIONS_IN_PARALLEL: Final = 4
IMPERSONATION_VALUES: Final = "slackApp.impersonate.users and slackApp.impersonate.groups"


@dataclass
class ActingClient(IncidentClient):
    """Incidents of one namespace through a client impersonating the person."""

    api: client.ApiClient
    namespace: str
    field_manager: ClassVar[str] = FIELD_MANAGER

    def _transport(self) -> ClientTransport:
        return ClientTransport(self.api, REQUEST_TIMEOUT)


@dataclass(frozen=True)
class Target:
    """The incident an action is for (None: a declaration), its namespace, and the
    policy whose contacts map the member."""

    namespace: str
    name: str | None
    policy: EscalationPolicy | None
    contacts: list[Contact]


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}


class SlackActions:
    """The buttons' and the slash command's intakes (two callables for the receiver)."""

    def __init__(
        self,
        incidents: IncidentIndex,
        declare_in: str,
        policies: PolicyRegistry = POLICIES,
        api: Callable[[], client.ApiClient] = api_client,
    ) -> None:
        self._incidents = incidents
        # Where `/incident declare` creates incidents: the Slack app Secret's namespace.
        self._declare_in = declare_in
        self._policies = policies
        self._api = api
        # Answers still being worked on or posted; kept so they are not collected.
        self._tasks: set[asyncio.Task[None]] = set()
        self._threads = ThreadPoolExecutor(ACTIONS_IN_PARALLEL, thread_name_prefix="slack-action")

    async def commands(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = parse_command(body)
        except CommandError as error:
            return 200, ephemeral(str(error))
        except PayloadError as error:
            return 400, {"error": str(error)}
        acting = asyncio.create_task(self.act(request))
        done, _ = await asyncio.wait({acting}, timeout=ANSWER_WITHIN)
        if done:
            return 200, ephemeral(acting.result())
        self._later(self._answer(request, acting))
        return 200, ephemeral("Working on it…")

    async def interactions(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = parse_interaction(body)
        except PayloadError as error:
            return 400, {"error": str(error)}
        self._later(self._answer(request, asyncio.create_task(self.act(request))))
        return 200, {}

    def _later(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: Request, acting: "asyncio.Task[str]") -> None:
        text = await acting
        if request.response_url is None:
            verb, user = request.action.verb, request.user
            logger.info("Slack %s by %s: %s (no response_url)", verb, user, text)
            return
        body = ephemeral(text) | {"replace_original": False}
        try:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(request.response_url, json=body) as answer,
            ):
                if answer.status >= 300:
                    logger.warning("Slack's response_url answered %s", answer.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("answering on Slack's response_url failed: %r", error)

    async def act(self, request: Request) -> str:
        """Performs ``request`` as the person; what to tell them."""
        try:
            target = self._target(request)
            contact = acting_contact(request.user, target.contacts)
            if contact is None or contact.user is None:
                where = (
                    f"EscalationPolicy {target.namespace}/{target.policy.metadata.name}"
                    if target.policy is not None
                    else f"an EscalationPolicy of namespace {target.namespace}"
                )
                return unmapped(request.user, where)
            performing = asyncio.get_running_loop().run_in_executor(
                self._threads, self._perform, request.action, target, contact
            )
            return await performing
        except ActionRefused as refused:
            return str(refused)
        except Exception as error:  # a bug or the API server: the person is told, not left waiting
            logger.exception("the Slack action %s failed", request.action.verb)
            return f"Failed: {type(error).__name__}; the operator's log has the details"

    def _target(self, request: Request) -> Target:
        action = request.action
        if action.verb == "declare":
            policies = self._policies.in_namespace(self._declare_in)
            contacts = [c for policy in policies for c in policy_contacts(policy)]
            default = next((p for p in policies if p.spec.default), None)
            return Target(self._declare_in, None, default, contacts)
        incident = self._incident(request)
        namespace, name = incident.metadata.namespace, incident.metadata.name
        policy = governing_policy(incident, self._policies.in_namespace(namespace)).policy
        return Target(namespace, name, policy, policy_contacts(policy))

    def _incident(self, request: Request) -> Incident:
        action = request.action
        if action.key is not None:
            found = self._incidents.get(*action.key)
            if found is None:
                raise ActionRefused(f"incident {'/'.join(action.key)} no longer exists")
            return found
        if action.reference is not None:
            number = reference_number(action.reference)
            named = [
                i
                for i in self._incidents.all()
                if i.status.id and parse_incident_id(i.status.id) == number
            ]
            named.sort(key=lambda i: not is_open(i))
            if not named:
                raise ActionRefused(f"no incident {action.reference}")
            return named[0]
        held = self._incidents.by_chat_channel(request.channel)
        if held is None:
            raise ActionRefused(
                "This is not an incident's channel: name the incident, e.g. "
                f"`/incident {action.verb} INC-42`"
            )
        return held

    def _perform(self, action: Action, target: Target, contact: Contact) -> str:
        """The action as ``contact``'s Kubernetes user (in a thread: the client blocks)."""
        assert contact.user is not None
        acting_as = impersonating(self._api(), contact.user, contact.groups)
        try:
            incidents = ActingClient(acting_as, target.namespace)
            try:
                me = incidents.whoami()
            except KubeApiError as error:
                raise _refusal(error, contact) from None
            try:
                return _done(incidents, action, target, me, contact)
            except KubeApiError as error:
                raise _refusal(error, contact) from None
        finally:
            acting_as.close()  # type: ignore[no-untyped-call]


def _refusal(error: KubeApiError, contact: Contact) -> ActionRefused:
    message = actions.api_message(error)
    if error.status == 403 and "impersonate" in message:
        groups = f" and groups {', '.join(contact.groups)}" if contact.groups else ""
        return ActionRefused(
            f"The operator is not allowed to act as {contact.user}{groups}, so nothing was "
            f"done: add them to the chart values {IMPERSONATION_VALUES} "
            f"(docs/chat-ops.md#identity-and-impersonation). The API server said: {message}"
        )
    return ActionRefused(message)


def _done(
    incidents: ActingClient, action: Action, target: Target, me: str, contact: Contact
) -> str:
    """Performs ``action`` as ``me``; what was done (ActionRefused: what was not)."""
    now = datetime.now(UTC)
    if action.verb == "declare":
        severity, title = action.arguments
        created = actions.declare(
            incidents, actions.incident_name(title), {"title": title, "severity": severity}, me
        )
        return f"{created['metadata']['name']} declared as {me}; the operator assigns its ID"
    assert target.name is not None
    incident = incidents.find(target.name)
    label = actions.label(incident)
    verb = action.verb
    if verb == "ack":
        already = actions.acknowledge(incidents, incident, me)
        return f"already acknowledged by {already}" if already else f"{label} acknowledged by {me}"
    if verb == "commander":
        return f"{label}: commander is {actions.assign(incidents, incident, me, 'commander', 'me')}"
    if verb == "assign":
        role, who = action.arguments
        member = member_mention(who)
        if member is not None:
            mapped = acting_contact(member, target.contacts)
            if mapped is None or mapped.user is None:
                raise ActionRefused(f"<@{member}> is not mapped to a Kubernetes user")
            who = mapped.user
        return f"{label}: {role} is {actions.assign(incidents, incident, me, role.lower(), who)}"
    if verb == "update":
        count = actions.post_update(incidents, incident, me, action.arguments[0], now)
        return f"{label}: update posted ({count} in all)"
    if verb == "severity":
        actions.set_spec(incidents, incident, me, {"severity": action.arguments[0]})
        return f"{label}: severity {action.arguments[0]}"
    if verb == "check":
        actions.set_spec(
            incidents, incident, me, {"checklist": dict.fromkeys(action.arguments, True)}
        )
        return f"{label}: ticked {', '.join(action.arguments)}"
    if verb in ("resolve", "state") and (verb == "resolve" or action.arguments[0] == "Resolved"):
        override = action.arguments[0] if verb == "resolve" and action.arguments else None
        patched = actions.resolve(incidents, incident, me, override)
        decision = actions.resolution_decision(patched["metadata"]["generation"], _how_to_tick)
        phase = incidents.wait_for(incident["metadata"]["name"], decision, RESOLVE_WAIT)
        if phase is None:
            return f"{label}: state Resolved set as {me}; the operator has not decided yet"
        return f"{label}: resolved as {me}{' (override)' if override else ''}; phase {phase}"
    if verb == "state":
        actions.set_spec(incidents, incident, me, {"state": action.arguments[0]})
        return f"{label}: state {action.arguments[0]}"
    if verb == "approve-rollback":
        shown = actions.rollback_proposal(incident)
        actions.approve_rollback(incidents, incident, me, action.proposal or "")
        return f"{label}: approved rolling back {actions.rollback_what(shown)} as {me}"
    if verb == "approve-remediation":
        record_id = action.request_id or ""
        actions.approve_remediation(incidents, incident, me, record_id, action.proposal or "")
        return f"{label}: approved {record_id} as {me}"
    if verb == "publish":
        message = _customer_message(incident, action)
        count = actions.publish(incidents, incident, me, message, now)
        return f"{label}: {message['kind']} customer message published as {me} ({count} in all)"
    raise ActionRefused(f"unknown action {verb}")


def _how_to_tick(label: str) -> str:
    return (
        f"(`/incident check {label} ITEM...`) or, as the commander, resolve with "
        f"`/incident resolve {label} override REASON`"
    )


def _customer_message(incident: dict[str, Any], action: Action) -> dict[str, Any]:
    """The operator's draft, or its kind with the text given."""
    draft = ((incident.get("status") or {}).get("communication") or {}).get("draft") or {}
    if not draft.get("kind"):
        raise ActionRefused(
            f"{actions.label(incident)} has no customer draft yet; publish with "
            "`kubectl incident publish --kind KIND --message TEXT`"
        )
    text = action.arguments[0] if action.arguments else draft.get("text") or ""
    if not text.strip():
        raise ActionRefused("the message is empty; nothing was published")
    message = {"kind": draft["kind"], "text": text}
    if draft.get("subject"):
        message["subject"] = draft["subject"]
    return message
