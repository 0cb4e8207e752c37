"""A request's parameters, checked against its catalog entry, and substituted into the
entry's settings as ``{{ params.NAME }}``.

Substitution is plain text replacement, not a template language: a catalog entry is
reviewed in Git and a request only fills the holes it declares, each checked against its
type and allowed values or pattern first, so a request cannot reach beyond them.
"""

import re
from collections.abc import Mapping
from typing import Any

from incident_operator.api.remediations import ParameterType, Remediation, RemediationParameter

_REFERENCE = re.compile(r"\{\{\s*params\.([A-Za-z0-9]+)\s*\}\}")
_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_BOOLEAN = ("true", "false")


class ParameterError(ValueError):
    """A request's parameter is unknown, missing or not allowed; the message names it."""


def _check(declared: RemediationParameter, value: str) -> None:
    name = declared.name
    if declared.allowed is not None and value not in declared.allowed:
        raise ParameterError(
            f"parameter {name}: {value!r} is not allowed; allowed values: "
            + ", ".join(declared.allowed)
        )
    if declared.type is ParameterType.INTEGER:
        if not _INTEGER.match(value):
            raise ParameterError(f"parameter {name}: {value!r} is not an integer")
        number = int(value)
        if declared.minimum is not None and number < declared.minimum:
            raise ParameterError(f"parameter {name}: {number} is less than {declared.minimum}")
        if declared.maximum is not None and number > declared.maximum:
            raise ParameterError(f"parameter {name}: {number} is more than {declared.maximum}")
    if declared.type is ParameterType.BOOLEAN and value not in _BOOLEAN:
        raise ParameterError(f"parameter {name}: {value!r} is not true or false")
    if declared.pattern is not None:
        try:
            matched = re.fullmatch(declared.pattern, value)
        except re.error as error:
            raise ParameterError(
                f"parameter {name}: the catalog's pattern does not compile ({error})"
            ) from error
        if matched is None:
            raise ParameterError(
                f"parameter {name}: {value!r} does not match the pattern {declared.pattern}"
            )


def resolve_parameters(entry: Remediation, given: Mapping[str, str]) -> dict[str, str]:
    """The parameters a request gives, with defaults filled in; ParameterError names the
    first one that is unknown, missing or not allowed."""
    declared = {parameter.name: parameter for parameter in entry.parameters}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ParameterError(
            f"remediation {entry.name} has no parameter {unknown[0]}; its parameters: {known}"
        )
    resolved: dict[str, str] = {}
    for name, parameter in declared.items():
        value = given.get(name, parameter.default)
        if value is None:
            if parameter.required:
                allowed = (
                    f" (allowed values: {', '.join(parameter.allowed)})"
                    if parameter.allowed
                    else ""
                )
                raise ParameterError(f"parameter {name} is required{allowed}")
            continue
        _check(parameter, value)
        resolved[name] = value
    return resolved


def substitute(text: str, parameters: Mapping[str, str]) -> str:
    """``text`` with every ``{{ params.NAME }}`` replaced; ParameterError for a reference
    to a parameter the request does not have."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise ParameterError(f"{{{{ params.{name} }}}} refers to no parameter given")
        return parameters[name]

    return _REFERENCE.sub(value, text)


def references(value: Any) -> set[str]:
    """The parameter names a settings value (strings, lists, objects) refers to."""
    if isinstance(value, str):
        return set(_REFERENCE.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    return set()


def substitute_all(value: Any, parameters: Mapping[str, str]) -> Any:
    """A copy of a JSON value with every string substituted."""
    if isinstance(value, str):
        return substitute(value, parameters)
    if isinstance(value, Mapping):
        return {key: substitute_all(item, parameters) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute_all(item, parameters) for item in value]
    return value
