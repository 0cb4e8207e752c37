"""`kubectl incident show`'s related links: the governing policy's, validated only when it
sets links of its own (the appendix's need no models: the command starts faster)."""

from typing import Any, cast

import pytest

from incident_operator.cli.cluster import Cluster
from incident_operator.cli.main import _related_links
from incident_operator.domain.links import related_links

INCIDENT = {"status": {"escalation": {"policy": "team"}}}
APPENDIX = related_links((), ())


class _Policies:
    def __init__(self, body: dict[str, Any] | None) -> None:
        self.body = body

    def read_policy(self, name: str) -> dict[str, Any] | None:
        assert name == "team"
        return self.body


def _links(body: dict[str, Any] | None, incident: dict[str, Any] = INCIDENT) -> Any:
    return _related_links(cast(Cluster, _Policies(body)), incident)


def _policy(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "team", "namespace": "n"}, "spec": spec}


@pytest.mark.parametrize("body", [None, _policy(), _policy(links={}), _policy(links=None)], ids=str)
def test_a_policy_without_links_shows_the_appendix(body: dict[str, Any] | None) -> None:
    assert _links(body) == APPENDIX


def test_no_governing_policy_shows_the_appendix() -> None:
    assert _links({"spec": {"links": {"dashboardBaseUrl": "https://x"}}}, {}) == APPENDIX


def test_the_policys_own_links_are_shown() -> None:
    links = _links(_policy(links={"dashboardBaseUrl": "https://grafana.example"}))
    assert links.dashboards
    assert all(link.url.startswith("https://grafana.example/") for link in links.dashboards)


def test_an_invalid_policy_shows_the_appendix() -> None:
    assert _links(_policy(links={"dashboardBaseUrl": "not a url"})) == APPENDIX
