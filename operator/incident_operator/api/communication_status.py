"""The customer communication part of an Incident's status, written by the operator.

reconcile/customer_messages.py keeps it: a draft of the next customer message, rendered
from the runbook's customer templates (or the policy's overrides) for the communications
lead to publish with ``kubectl incident publish``; the clock of the next message owed;
and what was already recorded for sending, so nothing is sent or reminded twice.
"""

from datetime import datetime
from typing import Annotated

from pydantic import Field

from incident_operator.api.base import ApiModel
from incident_operator.domain.customer_communication import CustomerMessageKind


class CustomerDraft(ApiModel):
    """The operator's draft of the next customer message; people edit and publish it."""

    kind: CustomerMessageKind
    subject: Annotated[str, Field(max_length=512)]
    text: Annotated[str, Field(max_length=16384)]
    prepared_at: datetime = Field(description="When the draft last changed.")


class CommunicationStatus(ApiModel):
    """Customer communication: what is drafted, what is owed by when, what was recorded."""

    draft: CustomerDraft | None = None
    customer_due_at: datetime | None = Field(
        default=None,
        description="When the next customer message is due: the first within 15 minutes "
        "(P0) or 30 (P1) of detection, then on the update cadence while active, and a "
        "resolution message once resolved. Unset when none is owed.",
    )
    first_published_at: datetime | None = Field(
        default=None, description="When the first customer message was published."
    )
    messages_recorded: Annotated[int, Field(ge=0)] = Field(
        default=0,
        description="How many of spec.customerMessages were recorded for sending (each once).",
    )
    reminded_for: datetime | None = Field(
        default=None, description="The customerDueAt a reminder was recorded for."
    )
