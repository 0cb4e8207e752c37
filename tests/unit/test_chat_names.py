"""An incident's own Slack channel name: derived from the incident alone, within Slack's rules."""

import re

import pytest

from incident_operator.domain.chat import CHANNEL_NAME_LIMIT, incident_channel_name


@pytest.mark.parametrize(
    ("prefix", "incident_id", "title", "expected"),
    [
        ("inc", "INC-0042", "Checkout errors", "inc-0042-checkout-errors"),
        ("inc", "INC-0042", "API latency > 10x normal!", "inc-0042-api-latency-10x-normal"),
        ("war", "INC-0007", "Ünïcode & spaces", "war-0007-n-code-spaces"),
        ("inc", "INC-0042", "!!!", "inc-0042"),
    ],
)
def test_the_name_is_the_prefix_number_and_slug(
    prefix: str, incident_id: str, title: str, expected: str
) -> None:
    assert incident_channel_name(prefix, incident_id, title) == expected


def test_a_long_title_is_cut_at_a_word_within_slacks_limit() -> None:
    name = incident_channel_name("inc", "INC-12345", "payments " * 20)
    assert len(name) <= CHANNEL_NAME_LIMIT
    assert re.fullmatch(r"[a-z0-9_-]+", name)
    assert name.startswith("inc-12345-payments-")
    assert not name.endswith("-")
    assert name.split("-")[-1] == "payments"
