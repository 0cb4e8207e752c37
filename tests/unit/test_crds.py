"""The committed CRDs are what the models render, and they are structural."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_operator.api.crd import escalation_policy_crd, incident_crd, render_all
from incident_operator.domain.durations import DURATION_PATTERN

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
        # A free-form object (a JobSpec template, a record's previous) is opaque on purpose
        # and keeps what is nested in it.
        free_form = node.get("x-kubernetes-preserve-unknown-fields") is True
        if node["type"] == "object" and path != ".metadata" and not free_form:
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


def _spec_schema(crd: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    return spec


@pytest.mark.parametrize("crd", [incident_crd(), escalation_policy_crd()], ids=["inc", "escpol"])
def test_every_size_count_and_duration_of_the_spec_is_bounded(crd: dict[str, Any]) -> None:
    """docs/api-bounds.md: strings, lists, maps, integers and durations have both bounds."""
    for path, node in _schema_nodes(_spec_schema(crd), ".spec"):
        kind = node["type"]
        if kind == "string" and "enum" not in node and "format" not in node:
            assert "maxLength" in node, f"{path} has no maxLength"
        if kind == "array":
            assert "maxItems" in node, f"{path} has no maxItems"
        if kind == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path} has no maxProperties"
        if kind == "integer":
            assert {"minimum", "maximum"} <= node.keys(), f"{path} is an unbounded integer"
        if node.get("pattern") == DURATION_PATTERN:
            rules = [v["rule"] for v in node.get("x-kubernetes-validations", [])]
            bounded = [r for r in rules if "duration(self) >= " in r and "duration(self) <= " in r]
            assert bounded, f"{path} is a duration without bounds"
            # The format is checked first, so duration() never overflows in the rule.
            assert bounded[0].startswith("size(self) <= 20 && self.matches("), path


def test_keys_of_severity_maps_are_checked_by_the_api_server() -> None:
    spec = _spec_schema(escalation_policy_crd())["properties"]
    for name in ("severities", "postMortem"):
        node = spec[name]
        assert "properties" not in node, f"{name}: fixed properties are pruned silently"
        assert node["maxProperties"] == 5
        rule = node["x-kubernetes-validations"][0]
        assert rule["rule"] == "self.all(k, k in ['P0', 'P1', 'P2', 'P3', 'P4'])"
        assert "unknown severity" in rule["messageExpression"]


def _rules(node: dict[str, Any]) -> list[str]:
    found = [v["rule"] for v in node.get("x-kubernetes-validations", [])]
    for sub in node.get("properties", {}).values():
        found += _rules(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _rules(node[key])
    return found


@pytest.mark.parametrize("crd", [incident_crd(), escalation_policy_crd()], ids=["inc", "escpol"])
def test_every_cel_duration_is_checked_for_its_format_first(crd: dict[str, Any]) -> None:
    """CEL's duration() overflows on huge values; the rule must test the format before."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for rule in _rules(schema):
        for value in re.findall(r"duration\(([^')]+)\)", rule):
            guard = f"size({value}) <= 20 && {value}.matches("
            assert guard in rule, f"duration({value}) unguarded in: {rule}"
            assert rule.index(guard) < rule.index(f"duration({value})"), rule
