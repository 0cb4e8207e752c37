"""Which contacts of a policy a target reaches, and how: pure look-ups for escalation.

A target names a role; the role's row of ``spec.contacts`` holds a primary and a backup.
A role without a row falls back (``executives`` to the VP Engineering, CTO and CEO
rows), and a role with none at all is left to the step's channels, as before contacts.
"""

from dataclasses import dataclass
from datetime import datetime

from incident_operator.api.contacts import Contact, ContactRole
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.domain.conditions import (
    Condition,
    ConditionStatus,
    changed_condition,
)
from incident_operator.domain.escalation import (
    ROLE_FALLBACKS,
    RUNBOOK_MATRIX,
    ContactMethod,
    PlannedStep,
)
from incident_operator.domain.reasons import ConditionType, Reason
from incident_operator.reconcile.rotations import on_call_in

PAGING_METHODS = frozenset({ContactMethod.PAGER, ContactMethod.PHONE})
PRIMARY, BACKUP = "primary", "backup"


def contact_roles(policy: EscalationPolicy | None, role: str) -> list[ContactRole]:
    """The rows of spec.contacts that ``role`` reaches (its own, or its fallbacks')."""
    if policy is None:
        return []
    own = policy.spec.contact_role(role)
    if own is not None:
        return [own]
    fallbacks = (policy.spec.contact_role(r) for r in ROLE_FALLBACKS.get(role, ()))
    return [row for row in fallbacks if row is not None]


def contact_key(role: str, which: str) -> str:
    """How records and pages name a contact: vp-engineering/primary."""
    return f"{role}/{which}"


def find_contact(policy: EscalationPolicy | None, key: str) -> Contact | None:
    """The contact a ``contact_key`` names, if the policy still has it."""
    role, _, which = key.partition("/")
    row = policy.spec.contact_role(role) if policy else None
    if row is None:
        return None
    return row.backup if which == BACKUP else row.primary


def reaches_by_method(contact: Contact, method: ContactMethod) -> bool:
    if method in PAGING_METHODS:
        return contact.pagerduty is not None
    if method is ContactMethod.CHAT:
        return contact.slack is not None
    if method is ContactMethod.EMAIL:
        return contact.email is not None
    return False


def own_methods(contact: Contact) -> list[ContactMethod]:
    """Every way ``contact`` can be reached; a page to its own service is a phone call."""
    methods = []
    if contact.pagerduty is not None:
        methods.append(ContactMethod.PHONE)
    if contact.slack is not None:
        methods.append(ContactMethod.CHAT)
    if contact.email is not None:
        methods.append(ContactMethod.EMAIL)
    return methods


@dataclass(frozen=True)
class RoleReach:
    """A row of spec.contacts a step reaches, and the methods it is reached by."""

    row: ContactRole
    methods: tuple[ContactMethod, ...]
    # Reached for another role that has no row (the VP for executives): told for
    # information, so its backup is not chased.
    stands_in: bool = False


def step_reaches(policy: EscalationPolicy | None, step: PlannedStep) -> list[RoleReach]:
    """The contact rows ``step``'s targets reach, each once with all its methods."""
    methods: dict[str, list[ContactMethod]] = {}
    rows: dict[str, ContactRole] = {}
    own: set[str] = set()
    for name, method in step.targets:
        for role in step.roles_of(name):
            for row in contact_roles(policy, role):
                rows[row.role] = row
                if row.role == role:
                    own.add(role)
                if method not in methods.setdefault(row.role, []):
                    methods[row.role].append(method)
    return [
        RoleReach(rows[role], tuple(found), stands_in=role not in own)
        for role, found in methods.items()
    ]


def pages_every_target_itself(policy: EscalationPolicy | None, step: PlannedStep) -> bool:
    """Whether every pager and phone target of ``step`` has contacts paged on their own
    services; then the channel-level routing key is not triggered as well."""
    paging = [name for name, method in step.targets if method in PAGING_METHODS]
    if not paging:
        return False
    for name in paging:
        rows = [row for role in step.roles_of(name) for row in contact_roles(policy, role)]
        if not rows or any(row.primary.pagerduty is None for row in rows):
            return False
    return True


def contact_problems(policy: EscalationPolicy) -> list[str]:
    """Roles escalation targets name that reach no row of spec.contacts, by field.

    A policy without contacts has none: it pages the channels' routing keys, as before
    contacts existed. With the runbook's matrix (no steps), its roles are checked.
    """
    spec = policy.spec
    if not spec.contacts:
        return []
    problems = []
    for i, step in enumerate(spec.escalation.steps):
        for j, target in enumerate(step.targets):
            if target.role is not None and not contact_roles(policy, target.role):
                problems.append(
                    f"spec.escalation.steps[{i}].targets[{j}].role: no {target.role!r} in "
                    "spec.contacts"
                )
    if not spec.escalation.steps:
        roles = dict.fromkeys(role for row in RUNBOOK_MATRIX for role in row.target.roles)
        missing = [role for role in roles if not contact_roles(policy, role)]
        if missing:
            problems.append(
                f"the runbook's matrix names roles not in spec.contacts: {', '.join(missing)}"
            )
    return problems


def contacts_condition(
    conditions: list[Condition], problems: list[str], now: datetime, generation: int | None
) -> Condition | None:
    """The policy's ContactsResolved condition, or None when it would not change."""
    if problems:
        status, reason = ConditionStatus.FALSE, Reason.UNKNOWN_ROLE
        message = "; ".join(problems)[:900] + "; those targets page the channels' routing keys"
    else:
        status, reason = ConditionStatus.TRUE, Reason.CONTACTS_FOUND
        message = "every role escalation names has a contact"
    return changed_condition(
        conditions, ConditionType.CONTACTS_RESOLVED, status, reason, message, now, generation
    )


def describe_contact(contact: Contact, policy: EscalationPolicy | None, at: datetime) -> str:
    """The contact as messages name it; a rotation's contact with whoever is on call in it
    at ``at`` ("SRE primary rotation (rotation primary: alice on call)")."""
    if contact.rotation is None or policy is None:
        return contact.describe()
    shift = on_call_in(policy.spec.rotations, contact.rotation, at)
    if shift is None:
        return contact.describe()
    return f"{contact.name} (rotation {contact.rotation}: {shift.person} on call)"
