"""Shared pieces of both kinds: the model base, field types, references, metadata."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from incident_operator.domain.durations import DURATION_PATTERN


class ApiModel(BaseModel):
    """Base of every API type: camelCase on the wire, unknown fields ignored on read.

    Unknown fields are ignored rather than refused because the API server prunes them
    anyway, and an object written by a newer operator version must still be readable.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for the API server: camelCase, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel(rule: str, message: str, field_path: str | None = None) -> dict[str, JsonValue]:
    """One ``x-kubernetes-validations`` entry."""
    entry: dict[str, JsonValue] = {"rule": rule, "message": message}
    if field_path:
        entry["fieldPath"] = field_path
    return entry


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=32,
        description="A duration such as 500ms, 90s, 5m or 1h30m: Go's time.ParseDuration "
        "without signs and without the units us, µs and ns.",
    ),
]
DNSName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", max_length=253
    ),
]
ShortText = Annotated[str, Field(max_length=256)]
LongText = Annotated[str, Field(max_length=8192)]
UserName = Annotated[str, Field(min_length=1, max_length=256)]


class LocalObjectReference(ApiModel):
    """A reference to an object of a known kind in the same namespace."""

    name: DNSName


class SecretKeyReference(ApiModel):
    """A key of a Secret in the same namespace as the object that names it."""

    name: DNSName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class LabelSelectorRequirement(ApiModel):
    key: Annotated[str, Field(min_length=1, max_length=317)]
    operator: Annotated[str, Field(pattern=r"^(In|NotIn|Exists|DoesNotExist)$")]
    values: Annotated[list[Annotated[str, Field(max_length=63)]], Field(max_length=64)] = []


class LabelSelector(ApiModel):
    """Kubernetes' label selector; an empty selector matches everything."""

    match_labels: dict[str, Annotated[str, Field(max_length=63)]] | None = None
    match_expressions: Annotated[list[LabelSelectorRequirement], Field(max_length=32)] | None = None


class ObjectMeta(ApiModel):
    """The part of metav1.ObjectMeta the operator reads."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    creation_timestamp: datetime | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
