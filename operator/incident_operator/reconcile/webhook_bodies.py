"""A webhook channel's ``bodyTemplate``: the JSON body rendered from a Jinja2 template.

Microsoft Teams (a Workflows webhook taking an Adaptive Card) and Google Chat (a space's
incoming webhook) take JSON of their own shape, not the operator's; a template renders
it from a stable set of variables (``body_variables``, documented in docs/escalation.md).

Templates come from policy authors, so they run in Jinja2's immutable sandbox, with
``StrictUndefined`` (a misspelt variable is an error, not a blank) and a ``tojson``
filter that turns any value into a JSON literal: ``"text": {{ text|tojson }}`` stays
valid JSON whatever the text holds (quotes, newlines, ``{{``, ``</script>``).

A template that does not compile, fails to render, or renders something other than a
JSON object or array raises ``BodyTemplateError``: the same template fails the same way
every time, so the send is not worth retrying until the policy is fixed. The API server
cannot parse Jinja2, so the operator is what finds such a template: on the policy's
TemplatesValid condition when it sees the policy (``body_template_problems``, rendering
against sample messages), and on the incident's NotificationsFailing condition when a
real message does not render.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from incident_operator.api.escalation_policy import Channel
from incident_operator.domain.notifications import (
    Audience,
    NotificationKind,
    OutgoingMessage,
    alert_level,
)
from incident_operator.domain.severity import Severity
from incident_operator.reconcile.messages import template_line

JsonBody = dict[str, Any] | list[Any]

_MESSAGE_LIMIT = 200


def _tojson(value: Any) -> str:
    """A JSON literal of ``value``; non-ASCII kept as it is (receivers take UTF-8)."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises "'txt' is undefined", naming the variable
    return json.dumps(value, ensure_ascii=False)


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_ENV.filters["tojson"] = _tojson


class BodyTemplateError(Exception):
    """The template, or what it rendered, is wrong; ``line`` is the template's when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def describe(self) -> str:
        """``bodyTemplate line 3: unexpected '}'``."""
        where = f" line {self.line}" if self.line is not None else ""
        return f"bodyTemplate{where}: {self.message}"


@lru_cache(maxsize=64)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def body_variables(message: OutgoingMessage, channel: str, audience: Audience) -> dict[str, Any]:
    """What a body template sees: a stable set, documented in docs/escalation.md."""
    return {
        "kind": message.kind.value,
        "subject": message.subject,
        "text": message.text,
        "incident": {
            "id": message.incident_id,
            "name": message.name,
            "namespace": message.namespace,
            "title": message.title,
            "severity": message.severity.value,
            "level": alert_level(message.severity).value,
            "phase": message.phase,
        },
        "mention": message.mention,
        "targets": list(message.targets),
        "late": message.late,
        "audience": audience.value,
        "channel": channel,
        "key": message.key,
        "idempotency_key": message.idempotency_key,
        "timestamp": message.timestamp.isoformat(),
    }


def render_body(
    source: str, message: OutgoingMessage, channel: str, audience: Audience
) -> JsonBody:
    """The body ``source`` renders for ``message``; raises BodyTemplateError."""
    try:
        rendered = _compile(source).render(body_variables(message, channel, audience))
    except Exception as error:  # any failure of a policy's template is the template's
        text = error.message if isinstance(error, TemplateError) and error.message else str(error)
        raise BodyTemplateError(text[:_MESSAGE_LIMIT], template_line(error)) from None
    try:
        body = json.loads(rendered)
    except json.JSONDecodeError as error:
        raise BodyTemplateError(
            f"the rendered body is not valid JSON ({error.msg} at line {error.lineno} "
            f"column {error.colno}); quote values with |tojson"
        ) from None
    if not isinstance(body, dict | list):
        raise BodyTemplateError(
            f"the rendered body is a JSON {type(body).__name__}, not an object or array"
        )
    return body


# ------------------------------------------------------------------------------ samples

_SAMPLE_TIME = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def sample_messages() -> list[OutgoingMessage]:
    """Messages of every kind, one with every optional field set and one with none,
    that a policy's body templates are rendered against when the policy is seen."""
    messages = []
    for kind in NotificationKind:
        for full in (True, False):
            messages.append(
                OutgoingMessage(
                    key=f"{kind.value.lower()}/teams",
                    idempotency_key=f"00000000-0000-0000-0000-000000000000/{kind.value.lower()}",
                    kind=kind,
                    incident_id="INC-0042" if full else "blip",
                    namespace="shop",
                    name="checkout-down" if full else "blip",
                    title='Checkout "failing"\n{{ raw }} </script>' if full else "Blip",
                    severity=Severity.P0 if full else Severity.P4,
                    phase="Investigating" if full else "Detected",
                    subject="[P0] INC-0042 INCIDENT DECLARED: Checkout failing" if full else "",
                    text="🚨 INCIDENT DECLARED\n\n*Severity:* P0" if full else "",
                    dedup_key="incident-operator/shop/checkout-down/uid",
                    late=full,
                    targets=("VP Engineering (phone)", "Primary on-call (pager)") if full else (),
                    timestamp=_SAMPLE_TIME,
                    mention="<@U0123ABCD>" if full else None,
                )
            )
    return messages


@dataclass(frozen=True)
class BodyTemplateProblem:
    channel: str
    error: BodyTemplateError

    def describe(self) -> str:
        return f"spec.channels[{self.channel}].{self.error.describe()}"


def body_template_problems(channels: list[Channel]) -> list[BodyTemplateProblem]:
    """The first problem of each channel's body template, found by rendering it against
    ``sample_messages``."""
    problems = []
    for channel in channels:
        if channel.body_template is None:
            continue
        try:
            for message in sample_messages():
                render_body(channel.body_template, message, channel.name, channel.audience)
        except BodyTemplateError as error:
            problems.append(BodyTemplateProblem(channel.name, error))
    return problems
