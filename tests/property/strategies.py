"""Hypothesis strategies for both kinds' specs and Alertmanager's webhook payloads.

Specs are generated from the schema the models render (``openapi_schema``), so a field
added to a model is generated without a change here:

- ``raw_specs`` follows the schema loosely: every field's type, enum, pattern, bounds and
  sizes, with now and then a value just outside them (a duration a hair past its bound
  or one that overflows Go, an unknown key in a severity map, a list one too long, a
  string one too long, an integer below its minimum). Model and API server judge these.
- ``valid_specs`` repairs what the CEL rules check across fields (one of signal or query,
  thresholds in order, channels with their secrets, steps in order, unique names), so
  most of its specs are valid; callers keep the ones the model accepts.
"""

import json
import re
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from incident_operator.api.crd import openapi_schema
from incident_operator.api.escalation_policy import EscalationPolicySpec
from incident_operator.api.incident import IncidentSpec
from incident_operator.domain.detection_queries import CATALOG
from incident_operator.domain.durations import DURATION_PATTERN, duration_nanoseconds
from incident_operator.domain.signals import Direction, Signal

Json = Any
POLICY_SCHEMA = openapi_schema(EscalationPolicySpec)
INCIDENT_SCHEMA = openapi_schema(IncidentSpec)
SEVERITIES = ["P0", "P1", "P2", "P3", "P4"]
ROLES = sorted({role for entry in CATALOG.values() for role in entry.metrics})
# The longest list and string generated within bounds: larger ones add time, not cases.
MAX_ITEMS = 3
MAX_TEXT = 24
_BOUND = re.compile(r"duration\('([^']+)'\)")
_WELL_FORMED = re.compile(f"(?={DURATION_PATTERN[1:-1]}$).{{1,20}}")

# Characters for free text: any but surrogates, which JSON cannot carry as UTF-8.
TEXT = st.characters(codec="utf-8", max_codepoint=0x2FFF)


# ------------------------------------------------------------------------ durations


def _number(digits: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**digits - 1).map(str)


_UNITS = st.sampled_from(["ms", "s", "m", "h"])
_PART = st.tuples(
    _number(6), st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=10)), _UNITS
).map(lambda p: f"{p[0]}{'.' + p[1] if p[1] else ''}{p[2]}")


def _fitting(parts: list[str]) -> str:
    """The longest prefix of ``parts`` within the format's 20 characters (one always fits)."""
    text = parts[0]
    for part in parts[1:]:
        if len(text + part) > 20:
            break
        text += part
    return text


WELL_FORMED = st.lists(_PART, min_size=1, max_size=4).map(_fitting)
MALFORMED = st.sampled_from(
    [
        "9999999999999h",  # overflows Go's duration
        "2562048h",  # 7 digits, beyond Go's limit
        "1000000ms",  # 7 digits, within Go's limit
        "999999h999999h999999h",  # 21 characters
        "1d",
        "-5m",
        "500us",
        "5 m",
        "",
        "h",
        "1.h",
    ]
)


def _text_of(nanoseconds: int) -> str:
    """``1h0m0.000000001s``: hours, minutes, seconds with nanoseconds, as Go prints."""
    seconds, rest = divmod(nanoseconds, 10**9)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f".{rest:09d}" if rest else ""
    return f"{hours}h{minutes}m{seconds}{fraction}s"


def _near(bound: str) -> st.SearchStrategy[str]:
    """Values at a bound and a hair either side of it, written in several ways."""
    seconds = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"([0-9]+)(ms|s|m|h)", bound)
    assert match, bound
    ns = int(match.group(1)) * int(seconds[match.group(2)] * 10**9)
    candidates = [bound, _text_of(ns)]
    candidates += [_text_of(ns + delta) for delta in (1, 100, 10**6)]
    candidates += [_text_of(ns - delta) for delta in (1, 100, 10**6) if ns - delta >= 0]
    return st.sampled_from([c for c in candidates if _WELL_FORMED.fullmatch(c)] + [f"{bound}1ms"])


def durations(node: dict[str, Any], valid: bool) -> st.SearchStrategy[str]:
    bounds = [_BOUND.findall(v["rule"]) for v in node.get("x-kubernetes-validations", [])]
    bounds = [b for b in bounds if len(b) == 2]
    near = [_near(b) for b in bounds[0]] if bounds else []
    options = [WELL_FORMED, *near]
    if not valid:
        options.append(MALFORMED)
    return st.one_of(*options)


# --------------------------------------------------------------------- schema to data


def _keys(path: str, valid: bool) -> st.SearchStrategy[str]:
    if path.endswith((".severities", ".postMortem")):
        known = st.sampled_from(SEVERITIES)
        return st.one_of(known, st.sampled_from(["p1", "P5", "critical"])) if not valid else known
    if path.endswith(".metrics"):
        known = st.sampled_from(ROLES)
        return known if valid else st.one_of(known, st.text(string.ascii_lowercase, max_size=8))
    label = st.from_regex(r"\A([a-z0-9]{1,10}\.)?[a-z][a-z0-9-]{0,10}[a-z0-9]\Z")
    return label if valid else st.one_of(label, st.text(TEXT, max_size=8))


def _strings(node: dict[str, Any], valid: bool) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength", 1 << 16)
    if "enum" in node:
        enum = st.sampled_from(node["enum"])
        return enum if valid else st.one_of(enum, st.text(string.ascii_letters, max_size=6))
    if node.get("pattern") == DURATION_PATTERN:
        return durations(node, valid)
    if node.get("format") == "date-time":
        moments = st.datetimes(
            datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)
        ).map(lambda d: d.isoformat().replace("+00:00", "Z"))
        odd = [
            "yesterday",
            "1",
            "2026-01-01T00:00:00",  # no zone
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00+01:00",
            "2026-01-01t00:00:00z",
            "2026-01-01T00:00:00.123456789Z",
            "2026-01-01T24:00:00Z",
            "2026-02-30T00:00:00Z",
        ]
        return moments if valid else st.one_of(moments, st.sampled_from(odd))
    if node.get("format") == "date":
        days = st.dates().map(lambda d: d.isoformat())
        odd = ["1", "2026-1-1", "2026-02-30", "20260101", "2026-01-01T00:00:00Z"]
        return days if valid else st.one_of(days, st.sampled_from(odd))
    if "pattern" in node:
        base = st.from_regex(node["pattern"], fullmatch=True).filter(
            lambda t: low <= len(t) <= min(high, MAX_TEXT * 4)
        )
    else:
        base = st.text(TEXT, min_size=low, max_size=min(high, MAX_TEXT))
    if valid:
        return base
    wrong = [st.text(TEXT, max_size=8)]
    if high < 1 << 16:
        wrong.append(st.just("a" * (high + 1)))
    if low > 0:
        wrong.append(st.just(""))
    return st.one_of(base, *wrong)


def _integers(node: dict[str, Any], valid: bool) -> st.SearchStrategy[int]:
    low, high = node.get("minimum"), node.get("maximum")
    within = st.integers(low, high)
    if valid:
        return within
    edges = [v for v in (low and low - 1, high and high + 1, -1, 0, 2**31, 2**53) if v is not None]
    return st.one_of(within, st.sampled_from(edges))


# A JobSpec both the model and the API server accept (api/job_template.py's rules).
RUNNABLE_JOB_TEMPLATE: Json = {
    "template": {"spec": {"containers": [{"name": "run", "image": "registry.example/tool:1"}]}}
}


def from_schema(node: dict[str, Any], valid: bool, path: str = "") -> st.SearchStrategy[Json]:
    """Data for one schema node; ``valid`` keeps within what the node itself says."""
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        required = set(node.get("required", []))
        fields = {k: from_schema(v, valid, f"{path}.{k}") for k, v in node["properties"].items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    if kind == "object" and "additionalProperties" not in node:
        # Free-form on purpose (x-kubernetes-preserve-unknown-fields: a job remediation's
        # JobSpec template): only the model judges what is inside (docs/api-bounds.md), so
        # a template both accept stands in for it.
        assert node.get("x-kubernetes-preserve-unknown-fields"), path
        return st.just(RUNNABLE_JOB_TEMPLATE)
    if kind == "object":
        values = from_schema(node["additionalProperties"], valid, f"{path}{{}}")
        most = node.get("maxProperties", MAX_ITEMS)
        return st.dictionaries(
            _keys(path, valid), values, max_size=min(most, MAX_ITEMS) if valid else most + 1
        )
    if kind == "array":
        items = from_schema(node["items"], valid, f"{path}[]")
        low, high = node.get("minItems", 0), node.get("maxItems", MAX_ITEMS)
        if valid:
            return st.lists(items, min_size=low, max_size=max(low, min(high, MAX_ITEMS)))
        return st.lists(items, min_size=max(0, low - 1), max_size=high + 1 if high <= 5 else 4)
    if kind == "string":
        return _strings(node, valid)
    if kind == "integer":
        return _integers(node, valid)
    if kind == "number":
        return st.one_of(
            st.integers(-(10**6), 10**6),
            st.floats(allow_nan=False, allow_infinity=False, width=64),
        )
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"{path}: no strategy for {node}")


# ----------------------------------------------------------------- cross-field repair


def _by_name(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        seen.setdefault(tuple(item.get(k) for k in keys), item)
    return list(seen.values())


def _repair_rule(rule: dict[str, Any]) -> dict[str, Any]:
    if "signal" in rule:
        rule.pop("query", None)
        roles = CATALOG[Signal(rule["signal"])].metrics
        if "metrics" in rule:
            rule["metrics"] = {k: v for k, v in rule["metrics"].items() if k in roles}
    else:
        rule.setdefault("query", "up")
        rule.pop("metrics", None)
        if "warning" not in rule and "critical" not in rule:
            rule["critical"] = 1
    if "warning" in rule and "critical" in rule:
        direction = rule.get("direction") or (
            Direction.BELOW if rule.get("signal") == Signal.AGENT_SUCCESS_RATE else "above"
        )
        low, high = sorted([rule["warning"], rule["critical"]])
        rule["warning"], rule["critical"] = (high, low) if direction == "below" else (low, high)
    if "severity" in rule:
        levels = {"critical": "P1", "warning": "P2"} | rule["severity"]
        rule["severity"] = dict(zip(["critical", "warning"], sorted(levels.values()), strict=True))
    return rule


def _repair_channel(channel: dict[str, Any]) -> dict[str, Any]:
    secret = {"name": "secret", "key": "key"}
    kind = channel["type"]
    if kind in ("slack", "pagerduty") or channel.get("email", {}).get("username") is not None:
        channel.setdefault("secretRef", secret)
    if kind == "email":
        channel.setdefault("email", {"host": "smtp.example", "from": "a@b.c", "to": ["d@e.f"]})
        if "username" in channel["email"]:
            channel.setdefault("secretRef", secret)
    if kind == "webhook":
        channel.setdefault("url", "https://hooks.example/x")
    if kind == "pagerduty":
        channel["audience"] = "internal"
    return channel


def _repair_rotation(rotation: dict[str, Any]) -> dict[str, Any]:
    for override in rotation.get("overrides", []):
        start, end = sorted(datetime.fromisoformat(override[k]) for k in ("start", "end"))
        end = max(end, start + timedelta(seconds=1))
        override["start"], override["end"] = start.isoformat(), end.isoformat()
    return rotation


def _nanoseconds_key(step: dict[str, Any]) -> int:
    return duration_nanoseconds(step["after"])


def repair_policy(spec: dict[str, Any]) -> dict[str, Any]:
    detection = spec.get("detection", {})
    if "rules" in detection:
        detection["rules"] = _by_name([_repair_rule(r) for r in detection["rules"]], "name")
    if "channels" in spec:
        spec["channels"] = _by_name([_repair_channel(c) for c in spec["channels"]], "name")
    if "rotations" in spec:
        spec["rotations"] = _by_name([_repair_rotation(r) for r in spec["rotations"]], "name")
    names = {c["name"] for c in spec.get("channels", [])}
    steps = spec.get("escalation", {}).get("steps")
    if steps:
        for step in steps:
            if step.get("channel") not in names:
                step.pop("channel", None)
        steps.sort(key=_nanoseconds_key)
    return spec


def repair_incident(spec: dict[str, Any]) -> dict[str, Any]:
    spec["affected"] = _by_name(spec.get("affected", []), "kind", "name")
    if "actionItems" in spec:
        spec["actionItems"] = _by_name(spec["actionItems"], "id")
    if "rollback" in spec:
        target = spec["rollback"]["target"]
        if target not in spec["affected"]:
            spec["affected"] = [target, *spec["affected"]][:50]
    if spec.get("state") == "Mitigating" and not spec.get("mitigation"):
        spec["mitigation"] = "a workaround"
    # Who may override is the admission policy's judgement, not the schema's
    # (tests/integration/test_resolution_gate.py tests it).
    spec.pop("resolution", None)
    return spec


Where = tuple[Any, Any, dict[str, Any], str]


def _places(value: Any, node: dict[str, Any], path: str) -> Iterator[Where]:
    """(container, key, schema node, path) of every value in ``value``, and of every field
    an object may have but does not, for one mutation to replace or add."""
    if isinstance(value, dict) and "properties" in node:
        for key, sub in node["properties"].items():
            yield value, key, sub, f"{path}.{key}"
            if key in value:
                yield from _places(value[key], sub, f"{path}.{key}")
    elif isinstance(value, dict) and "additionalProperties" in node:
        for key in value:
            sub = node["additionalProperties"]
            yield value, key, sub, f"{path}{{}}"
            yield from _places(value[key], sub, f"{path}{{}}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield value, index, node["items"], f"{path}[]"
            yield from _places(item, node["items"], f"{path}[]")


@st.composite
def _one_mutation(
    draw: st.DrawFn, schema: dict[str, Any], valid: st.SearchStrategy[dict[str, Any]]
) -> dict[str, Any]:
    spec = draw(valid)
    container, key, node, path = draw(st.sampled_from(list(_places(spec, schema, "spec"))))
    container[key] = draw(from_schema(node, valid=False, path=path))
    return spec


def mutated_policy_specs() -> st.SearchStrategy[dict[str, Any]]:
    """A valid-looking spec with one value replaced by one that may be out of bounds."""
    return _one_mutation(POLICY_SCHEMA, valid_policy_specs())


def mutated_incident_specs() -> st.SearchStrategy[dict[str, Any]]:
    return _one_mutation(INCIDENT_SCHEMA, valid_incident_specs())


def raw_policy_specs() -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(POLICY_SCHEMA, valid=False, path="spec")


def raw_incident_specs() -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(INCIDENT_SCHEMA, valid=False, path="spec")


def valid_policy_specs() -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(POLICY_SCHEMA, valid=True, path="spec").map(repair_policy)


def valid_incident_specs() -> st.SearchStrategy[dict[str, Any]]:
    return from_schema(INCIDENT_SCHEMA, valid=True, path="spec").map(repair_incident)


# ------------------------------------------------------------- Alertmanager payloads

_MOMENTS = st.datetimes(datetime(1, 1, 1), datetime(9999, 12, 31), timezones=st.just(UTC))
_STAMP = _MOMENTS.map(lambda d: d.isoformat().replace("+00:00", "Z"))
_NAME = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z")
_SEVERITY = st.sampled_from(["critical", "high", "warning", "info", "none", "Critical "])


def _payloads(noisy: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Alertmanager's webhook payloads; ``noisy`` ones stray from the format anywhere."""

    def maybe(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return st.one_of(good, bad) if noisy else good

    text = st.text(TEXT, max_size=40)
    labels = st.fixed_dictionaries(
        {"alertname": maybe(st.sampled_from(["HighErrorRate", "Watchdog"]), text)},
        optional={
            "severity": maybe(_SEVERITY, st.text(TEXT, max_size=8)),
            "namespace": maybe(_NAME, text),
            "deployment": maybe(_NAME, text),
            "statefulset": _NAME,
            "pod": text,
        },
    ) | st.dictionaries(text, st.text(TEXT, max_size=300), max_size=4)
    annotations = st.dictionaries(
        st.sampled_from(["summary", "description", "message", "impact", "runbook_url"]),
        st.text(TEXT, max_size=50) | st.just("x" * 9000),
        max_size=4,
    )
    alert = st.fixed_dictionaries(
        {
            "status": st.sampled_from(["firing", "resolved"]),
            "labels": labels,
            "startsAt": maybe(_STAMP, text),
            "fingerprint": maybe(st.from_regex(r"\A[0-9a-f]{16}\Z"), st.text(TEXT, max_size=70)),
        },
        optional={
            "annotations": annotations,
            "endsAt": maybe(_STAMP | st.just("0001-01-01T00:00:00Z"), text),
            "generatorURL": text,
        },
    )
    return st.fixed_dictionaries(
        {
            "version": maybe(st.just("4"), st.sampled_from(["3", 4])),
            "groupKey": text,
            "status": st.sampled_from(["firing", "resolved"]),
            "receiver": maybe(st.just("team"), st.sampled_from(["", "x" * 254])),
            "alerts": st.lists(alert, max_size=4),
        },
        optional={
            "truncatedAlerts": st.integers(-1, 10),
            "groupLabels": st.dictionaries(text, text, max_size=2),
            "commonLabels": st.dictionaries(text, text, max_size=2),
            "commonAnnotations": annotations,
            "externalURL": text,
        },
    )


def _json_values() -> st.SearchStrategy[Json]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(TEXT),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT), inner, max_size=3)
        ),
        max_leaves=10,
    )


def payload_bodies() -> st.SearchStrategy[bytes]:
    """Webhook bodies: payloads as Alertmanager sends them, near misses, any JSON, bytes."""
    return st.one_of(
        _payloads(noisy=False).map(lambda p: json.dumps(p).encode()),
        _payloads(noisy=True).map(lambda p: json.dumps(p).encode()),
        _json_values().map(lambda v: json.dumps(v).encode()),
        st.binary(max_size=64),
    )


NOW = st.datetimes(datetime(2020, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))
DELAYS = st.timedeltas(timedelta(0), timedelta(days=60))
