"""The committed CRDs are what the models render, and they are structural."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator.api.crd import escalation_policy_crd, incident_crd, render_all

CRDS = Path(__file__).parents[2] / "crds"
FORBIDDEN_KEYWORDS = {"$ref", "$defs", "anyOf", "oneOf", "allOf", "const", "title", "examples"}


@pytest.mark.parametrize("name", sorted(render_all()))
def test_committed_crd_matches_the_models(name: str) -> None:
    committed = (CRDS / name).read_text() if (CRDS / name).exists() else None
    assert committed == render_all()[name], f"crds/{name} is stale: run `make crds`"


def _schema_nodes(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _schema_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _schema_nodes(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("crd", [incident_crd(), escalation_policy_crd()], ids=["inc", "escpol"])
def test_schema_is_structural(crd: dict[str, Any]) -> None:
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _schema_nodes(schema):
        assert "type" in node, f"{path} has no type"
        assert not FORBIDDEN_KEYWORDS & node.keys(), (
            f"{path} uses {FORBIDDEN_KEYWORDS & node.keys()}"
        )
        if node["type"] == "object" and path != ".metadata":
            assert "properties" in node or "additionalProperties" in node, f"{path} is opaque"
        if "default" in node:
            default = node["default"]
            assert isinstance(default, str | int | float | bool), f"{path} has a non-scalar default"
            assert default != "", f"{path} stamps an empty default"


def test_incident_printer_columns() -> None:
    columns = incident_crd()["spec"]["versions"][0]["additionalPrinterColumns"]
    default = [c["name"] for c in columns if not c.get("priority")]
    wide = [c["name"] for c in columns if c.get("priority")]
    assert default == ["ID", "Severity", "Phase", "State", "Commander", "Age"]
    assert wide == ["Title", "Escalation", "Next Update"]
    # kubectl shows a date column as an age; only times in the past may be dates.
    dates = [c["jsonPath"] for c in columns if c["type"] == "date"]
    assert dates == [".metadata.creationTimestamp"]


@pytest.mark.parametrize(
    ("crd", "plural", "short", "kind"),
    [
        (incident_crd(), "incidents", "inc", "Incident"),
        (escalation_policy_crd(), "escalationpolicies", "escpol", "EscalationPolicy"),
    ],
)
def test_names(crd: dict[str, Any], plural: str, short: str, kind: str) -> None:
    names = crd["spec"]["names"]
    assert (names["plural"], names["shortNames"], names["kind"]) == (plural, [short], kind)
    assert names["categories"] == ["incident-response"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}
    assert crd["metadata"]["name"] == f"{plural}.sre.agentos.io"


def test_conditions_are_a_list_map_keyed_by_type() -> None:
    for crd in (incident_crd(), escalation_policy_crd()):
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        conditions = status["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert set(conditions["items"]["required"]) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
        }


def test_rendered_yaml_parses_back() -> None:
    for text in render_all().values():
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"
