"""Feature flags as the ``featureFlag`` remediation kind sees them (pure; used by both its
planner, reconcile/remediation_flag.py, and its adapter, adapters/remediation_flag.py).

A flag is the OpenFeature / flagd flag definition: ``{"state": "ENABLED" | "DISABLED",
"variants": {...}, "defaultVariant": "<name>", "targeting": {...}}``, found under
``spec.flagSpec.flags`` of an OpenFeature FeatureFlag, or under ``flags`` of a flagd flag
file (JSON) held in a ConfigMap's data key.
"""

import json
from collections.abc import Mapping
from typing import Any

from incident_operator.domain.remediation_action import JSON, Target

# Target.extras of a ConfigMap source: "data:<key>", the data key holding the flagd file.
DATA_KEY_PREFIX = "data:"


def data_key_extra(key: str) -> str:
    return DATA_KEY_PREFIX + key


def data_key(target: Target) -> str | None:
    """The ConfigMap data key ``target``'s extras name (None for a FeatureFlag)."""
    for extra in target.extras:
        if extra.startswith(DATA_KEY_PREFIX):
            return extra[len(DATA_KEY_PREFIX) :]
    return None


def summaries(flags: Any) -> JSON:
    """Each flag's state, default variant and variant names (what the planner needs;
    never the variants' values or the targeting)."""
    if not isinstance(flags, Mapping):
        return {}
    found: JSON = {}
    for key, flag in flags.items():
        if isinstance(flag, Mapping):
            variants = flag.get("variants")
            found[str(key)] = {
                "state": flag.get("state"),
                "defaultVariant": flag.get("defaultVariant"),
                "variants": sorted(variants) if isinstance(variants, Mapping) else [],
            }
    return found


class FlagFileError(ValueError):
    """A flagd flag file that is not a JSON object with a ``flags`` object."""


def parse_flag_file(text: str | None) -> JSON:
    """The flagd file ``text`` as JSON (key order kept, so writing it back keeps
    ``$schema``, ``$evaluators`` and the other flags where they were)."""
    if text is None:
        raise FlagFileError("the data key is missing")
    try:
        document = json.loads(text)
    except ValueError as error:
        raise FlagFileError(f"not JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
        raise FlagFileError('not a flagd flag file (no "flags" object)')
    return document


def with_flag_set(text: str, flag: str, fields: Mapping[str, Any]) -> str:
    """The flagd file ``text`` with ``fields`` set on ``flag``; everything else kept (the
    JSON re-serialised, two-space indented, as flagd's examples are)."""
    document = parse_flag_file(text)
    target = document["flags"].get(flag)
    if not isinstance(target, dict):
        raise FlagFileError(f"has no flag {flag!r}")
    target.update(fields)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
