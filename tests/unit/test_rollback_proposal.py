"""A proposal's identifier: the same plan always gets the same one, any change another."""

from typing import Any

import pytest

from incident_operator.domain.rollback_proposal import PROPOSAL_ID_LENGTH, proposal_id

PLAN: dict[str, Any] = {
    "kind": "Deployment",
    "name": "web",
    "current_revision": 3,
    "current_digest": "c3c3c3c3c3c3c3c3",
    "target_revision": 2,
    "target_digest": "b2b2b2b2b2b2b2b2",
}


def test_the_same_plan_has_the_same_identifier() -> None:
    first = proposal_id(**PLAN)
    assert first == proposal_id(**dict(PLAN))
    assert len(first) == PROPOSAL_ID_LENGTH
    assert int(first, 16) >= 0, "hex digits, easy to copy"
    # Pinned: a restart, another replica or a new version of the operator must name an
    # unchanged proposal alike, or every pending approval would stop matching.
    assert first == "9c8b41441f37"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "StatefulSet"),
        ("name", "web2"),
        ("current_revision", 4),
        ("current_revision", None),
        ("current_digest", "d4d4d4d4d4d4d4d4"),
        ("target_revision", 1),
        ("target_digest", "a1a1a1a1a1a1a1a1"),
    ],
)
def test_any_change_of_the_plan_changes_the_identifier(field: str, value: Any) -> None:
    assert proposal_id(**(PLAN | {field: value})) != proposal_id(**PLAN)
