"""Renders CustomResourceDefinitions from the pydantic models.

pydantic emits JSON Schema; a CRD wants a *structural* OpenAPI v3 schema. The
differences handled here:

- ``$ref``/``$defs`` are inlined (CRDs allow no references);
- ``Optional[X]`` arrives as ``anyOf: [X, {type: null}]`` and becomes plain ``X``
  (absent fields are how Kubernetes says "unset"; we never write nulls);
- keywords Kubernetes rejects or ignores (``title``, ``examples``, ``const``) go;
- defaults are kept only for non-empty scalars, so the API server fills in ``state``
  or ``interval`` without stamping whole objects and lists into every stored object
  (and object defaults would carry pydantic's nulls, which the API server refuses).
"""

from typing import Any

import yaml
from pydantic import BaseModel

from incident_operator.api import CATEGORY, GROUP, VERSION
from incident_operator.api.escalation_policy import EscalationPolicySpec, EscalationPolicyStatus
from incident_operator.api.incident import IncidentSpec, IncidentStatus
from incident_operator.api.maintenance import MaintenanceWindowSpec, MaintenanceWindowStatus

_DROPPED_KEYS = {"title", "examples", "$defs"}
Schema = dict[str, Any]


def _inline(node: Any, defs: dict[str, Schema]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **siblings}, defs)
    return {key: _inline(value, defs) for key, value in node.items()}


def _structural(node: Schema) -> Schema:
    """One schema node (and its children) in the form the API server accepts."""
    node = dict(node)
    any_of = node.pop("anyOf", None)
    if any_of is not None:
        options = [option for option in any_of if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot render a union of {options} as a structural schema")
        node = {**options[0], **node}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    default = node.get("default")
    if "default" in node and (default in (None, "") or isinstance(default, dict | list)):
        del node["default"]
    if "enum" in node and "type" not in node:
        node["type"] = "string"
    for key in _DROPPED_KEYS:
        node.pop(key, None)
    if (
        node.get("x-kubernetes-preserve-unknown-fields")
        and node.get("additionalProperties") is True
    ):
        # A free-form object (dict[str, Any]): `additionalProperties: true` would give its
        # values an empty schema, and the API server would prune every field nested in them.
        del node["additionalProperties"]
    if "properties" in node:
        node["properties"] = {name: _structural(sub) for name, sub in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _structural(node[key])
    return node


def openapi_schema(model: type[BaseModel]) -> Schema:
    """The structural schema of ``model`` as the API server wants it."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    schema: Schema = _structural(_inline(raw, defs))
    return schema


def _column(name: str, path: str, type_: str = "string", priority: int = 0) -> Schema:
    column: Schema = {"name": name, "type": type_, "jsonPath": path}
    if priority:
        column["priority"] = priority
    return column


def _crd(
    kind: str,
    plural: str,
    short_names: list[str],
    spec: type[BaseModel],
    status: type[BaseModel],
    columns: list[Schema],
    description: str,
) -> Schema:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": [CATEGORY],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "description": description,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": openapi_schema(spec),
                                "status": openapi_schema(status),
                            },
                        }
                    },
                }
            ],
        },
    }


def incident_crd() -> Schema:
    return _crd(
        kind="Incident",
        plural="incidents",
        short_names=["inc"],
        spec=IncidentSpec,
        status=IncidentStatus,
        columns=[
            _column("ID", ".status.id"),
            _column("Severity", ".spec.severity"),
            _column("Phase", ".status.phase"),
            _column("State", ".spec.state"),
            _column("Commander", ".spec.roles.commander"),
            _column("Age", ".metadata.creationTimestamp", "date"),
            _column("Title", ".spec.title", priority=1),
            _column("Escalation", ".status.escalation.level", "integer", priority=1),
            # A string, not a date: kubectl prints a date column as an age, and a time in
            # the future as "<invalid>".
            _column("Next Update", ".status.nextUpdateDueAt", priority=1),
        ],
        description="An incident, walked through the runbook's lifecycle by incident-operator.",
    )


def escalation_policy_crd() -> Schema:
    return _crd(
        kind="EscalationPolicy",
        plural="escalationpolicies",
        short_names=["escpol"],
        spec=EscalationPolicySpec,
        status=EscalationPolicyStatus,
        columns=[
            _column("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Default", ".spec.default", "boolean"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        description="A team's incident runbook: severities, detection, escalation, channels.",
    )


def maintenance_window_crd() -> Schema:
    return _crd(
        kind="MaintenanceWindow",
        plural="maintenancewindows",
        short_names=["mw"],
        spec=MaintenanceWindowSpec,
        status=MaintenanceWindowStatus,
        columns=[
            _column("Active", ".status.active", "boolean"),
            # Strings, not dates: kubectl prints a date column as an age.
            _column("Start", ".status.currentStart"),
            _column("End", ".status.currentEnd"),
            _column("Owner", ".spec.owner"),
            _column("Reason", ".spec.reason"),
            _column("Age", ".metadata.creationTimestamp", "date"),
        ],
        description="Planned work: signals matching its selector open no incident and page "
        "nobody while it holds (docs/maintenance.md).",
    )


def render_all() -> dict[str, str]:
    """File name to YAML text, for every CRD the operator owns."""
    crds = {
        "incidents.yaml": incident_crd(),
        "escalationpolicies.yaml": escalation_policy_crd(),
        "maintenancewindows.yaml": maintenance_window_crd(),
    }
    header = "# Rendered from operator/incident_operator/api by `make crds`. Do not edit.\n"
    return {
        name: header + yaml.safe_dump(crd, sort_keys=False, width=100) for name, crd in crds.items()
    }
