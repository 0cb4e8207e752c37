"""Shared pieces of both kinds: the model base, field types, references, metadata."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from incident_operator.domain.durations import (
    DURATION_MAX_LENGTH,
    DURATION_PATTERN,
    duration_nanoseconds,
)


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


def cel(
    rule: str,
    message: str,
    field_path: str | None = None,
    message_expression: str | None = None,
) -> dict[str, JsonValue]:
    """One ``x-kubernetes-validations`` entry."""
    entry: dict[str, JsonValue] = {"rule": rule, "message": message}
    if message_expression:
        entry["messageExpression"] = message_expression
    if field_path:
        entry["fieldPath"] = field_path
    return entry


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        max_length=DURATION_MAX_LENGTH,
        description="A duration such as 500ms, 90s, 5m or 1h30m: Go's time.ParseDuration "
        "without signs and without the units us, µs and ns; at most 6 digits before the "
        "decimal point of each number, at most 20 characters.",
    ),
]


def duration_well_formed_cel(value: str = "self") -> str:
    """A CEL test that ``value`` is a duration ``duration()`` converts without overflowing.

    Every rule that calls ``duration()`` checks it first, so a malformed or huge value
    fails with the field's own message (and the pattern's), never with a type-conversion
    error that blames the rule.
    """
    pattern = DURATION_PATTERN.replace("\\", "\\\\")
    return f"size({value}) <= {DURATION_MAX_LENGTH} && {value}.matches('{pattern}')"


@dataclass(frozen=True)
class Within:
    """Bounds of a duration field, inclusive, as ``Annotated[Duration, Within("1s", "1h")]``.

    The model refuses a value outside them, and the rendered schema carries the same test
    as a CEL rule, so pydantic and the API server agree and both name the bounds.
    """

    minimum: str
    maximum: str

    @property
    def message(self) -> str:
        return f"must be between {self.minimum} and {self.maximum}"

    def check(self, text: str) -> str:
        lowest, highest = duration_nanoseconds(self.minimum), duration_nanoseconds(self.maximum)
        if not lowest <= duration_nanoseconds(text) <= highest:
            raise ValueError(self.message)
        return text

    def cel_rule(self) -> str:
        return (
            f"{duration_well_formed_cel()} && duration(self) >= duration('{self.minimum}') && "
            f"duration(self) <= duration('{self.maximum}')"
        )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        rules = json_schema.setdefault("x-kubernetes-validations", [])
        rules.append(cel(self.cel_rule(), self.message))
        return json_schema


DNSName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", max_length=253
    ),
]
# The API server's formats date-time (RFC 3339 with a zone) and date (YYYY-MM-DD). pydantic
# alone would also take a naive time or a number of seconds ("1") that the server refuses.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _wire_format(pattern: re.Pattern[str], what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if not isinstance(value, datetime | date) and not (
            isinstance(value, str) and pattern.fullmatch(value)
        ):
            raise ValueError(f"must be {what}")
        return value

    return check


Timestamp = Annotated[
    datetime,
    BeforeValidator(
        _wire_format(_RFC3339, "an RFC 3339 time with a zone, e.g. 2026-01-01T12:00:00Z")
    ),
]
CalendarDate = Annotated[
    date, BeforeValidator(_wire_format(_CALENDAR_DATE, "a date such as 2026-01-31"))
]
ShortText = Annotated[str, Field(max_length=256)]
LongText = Annotated[str, Field(max_length=8192)]
UserName = Annotated[str, Field(min_length=1, max_length=256)]


def unique_by(*keys: str) -> AfterValidator:
    """Refuses two items with the same keys, as the API server does for a list-type map."""

    def check(items: list[Any]) -> list[Any]:
        seen: set[tuple[Any, ...]] = set()
        for item in items:
            key = tuple(getattr(item, name) for name in keys)
            if key in seen:
                raise ValueError(f"Duplicate value: {dict(zip(keys, key, strict=True))}")
            seen.add(key)
        return items

    return AfterValidator(check)


# A label key: an optional DNS prefix and a slash, then a name of at most 63 characters.
_LABEL_KEY_LENGTH = 317


class LocalObjectReference(ApiModel):
    """A reference to an object of a known kind in the same namespace."""

    name: DNSName


class SecretKeyReference(ApiModel):
    """A key of a Secret in the same namespace as the object that names it."""

    name: DNSName
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]


class LabelSelectorRequirement(ApiModel):
    key: Annotated[str, Field(min_length=1, max_length=317)]
    operator: Annotated[str, Field(max_length=12, pattern=r"^(In|NotIn|Exists|DoesNotExist)$")]
    values: Annotated[list[Annotated[str, Field(max_length=63)]], Field(max_length=64)] = []


def _label_keys(labels: dict[str, str]) -> dict[str, str]:
    if any(not 1 <= len(key) <= _LABEL_KEY_LENGTH for key in labels):
        raise ValueError(f"label keys have 1 to {_LABEL_KEY_LENGTH} characters")
    return labels


class LabelSelector(ApiModel):
    """Kubernetes' label selector; an empty selector matches everything."""

    match_labels: (
        Annotated[
            dict[str, Annotated[str, Field(max_length=63)]],
            Field(
                max_length=64,
                json_schema_extra={
                    "x-kubernetes-validations": [
                        cel(
                            f"self.all(k, size(k) >= 1 && size(k) <= {_LABEL_KEY_LENGTH})",
                            f"label keys have 1 to {_LABEL_KEY_LENGTH} characters",
                        )
                    ]
                },
            ),
            AfterValidator(_label_keys),
        ]
        | None
    ) = None
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
