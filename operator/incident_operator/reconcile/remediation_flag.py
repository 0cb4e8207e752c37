"""The ``featureFlag`` remediation kind, pure half: disable one flag, recording its state
and default variant so a person can turn it back on (docs/remediation/feature-flag.md).

Two sources (featureFlag.source):

* ``FeatureFlag``: the OpenFeature Operator's core.openfeature.dev/v1beta1 resource, the
  flag at ``spec.flagSpec.flags.<flag>``;
* ``ConfigMap``: a flagd flag definition file (JSON) under ``data[featureFlag.key]``
  (default ``flags.flagd.json``), the flag at ``flags.<flag>``.

Disabling means ``defaultVariant -> featureFlag.offVariant`` when the entry names one
(refused when the flag has no such variant), else ``state -> DISABLED``.

The adapter (adapters/remediation_flag.py) reads the source into ``Observation.state``::

    {"flags": {"<key>": {"state": "ENABLED", "defaultVariant": "on",
                         "variants": ["on", "off"]}, ...},
     "invalid": "<why the flags cannot be read>" | None}

and applies ``payload`` ``{"flag": key, "set": {"state": "DISABLED"}}`` (or
``{"defaultVariant": "<offVariant>"}``) guarded by the resourceVersion read. The
record's progress is judged from the flag and the resourceVersion::

    flag now                                        progress
    ---------------------------------------------   ------------------------------------
    in the target state                             DONE
    as recorded in previous, object at the          NOT_TAKEN: apply again (guarded)
    recorded resourceVersion
    anything else (or the object changed at all     FAILED, naming what changed; the
    while the flag is still as it was)              operator leaves it alone
"""

from collections.abc import Mapping
from typing import Any

from incident_operator.api.remediation_status import RemediationRecord
from incident_operator.api.remediations import FeatureFlagSettings, FlagSource, Remediation
from incident_operator.domain.feature_flags import data_key_extra
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    Progress,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediation_parameters import ParameterError, substitute

OPENFEATURE = "core.openfeature.dev/v1beta1"
DISABLED = "DISABLED"


def _settings(entry: Remediation) -> FeatureFlagSettings:
    if entry.feature_flag is None:
        raise ParameterError(f"remediation {entry.name} has no featureFlag settings")
    return entry.feature_flag


def flag_target(settings: FeatureFlagSettings, parameters: Mapping[str, str]) -> Target:
    name = substitute(settings.name, parameters)
    if settings.source is FlagSource.CONFIG_MAP:
        return Target("v1", "ConfigMap", name, frozenset({data_key_extra(settings.key)}))
    return Target(OPENFEATURE, "FeatureFlag", name)


def _where(settings: FeatureFlagSettings, target: Target) -> str:
    if settings.source is FlagSource.CONFIG_MAP:
        return f"ConfigMap/{target.name} data[{settings.key}]"
    return f"FeatureFlag/{target.name}"


def _wanted(settings: FeatureFlagSettings) -> dict[str, str]:
    """The fields disabling sets."""
    if settings.off_variant is not None:
        return {"defaultVariant": settings.off_variant}
    return {"state": DISABLED}


def _describe(flag: Mapping[str, Any]) -> str:
    return f"state {flag.get('state') or 'unset'}, defaultVariant {flag.get('defaultVariant')}"


def _in(flag: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return all(flag.get(name) == value for name, value in fields.items())


class FeatureFlagPlanner:
    """KindPlanner for ``featureFlag`` (reconcile/remediation_kind.py)."""

    def targets(
        self, entry: Remediation, parameters: Mapping[str, str], record: RemediationRecord
    ) -> list[Target]:
        return [flag_target(_settings(entry), parameters)]

    def _flag(
        self, entry: Remediation, parameters: Mapping[str, str], observations: Observations
    ) -> tuple[FeatureFlagSettings, Target, str, str, Observation | None]:
        settings = _settings(entry)
        target = flag_target(settings, parameters)
        key = substitute(settings.flag, parameters)
        return settings, target, key, _where(settings, target), observations.get(target.key)

    def plan(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Action | Refusal:
        settings, target, key, where, seen = self._flag(entry, parameters, observations)
        if seen is None or not seen.exists:
            return Refusal(
                Reason.FLAG_NOT_FOUND, f"{where} does not exist (featureFlag.name {target.name})"
            )
        if seen.state.get("invalid"):
            return Refusal(Reason.FLAG_NOT_FOUND, f"{where}: {seen.state['invalid']}")
        flags: Mapping[str, Any] = seen.state.get("flags") or {}
        flag = flags.get(key)
        if not isinstance(flag, Mapping):
            return Refusal(
                Reason.FLAG_NOT_FOUND,
                f"{where} has no flag {key!r}; its flags: {', '.join(sorted(flags)) or 'none'}",
            )
        variants = list(flag.get("variants") or [])
        if settings.off_variant is not None and settings.off_variant not in variants:
            return Refusal(
                Reason.FLAG_NOT_FOUND,
                f"flag {key} in {where} has no variant {settings.off_variant!r} "
                f"(featureFlag.offVariant); its variants: {', '.join(variants) or 'none'}",
            )
        wanted = _wanted(settings)
        if _in(flag, wanted):
            return Refusal(
                Reason.NOTHING_TO_DO, f"flag {key} in {where} is already off ({_describe(flag)})"
            )
        previous = {"state": flag.get("state"), "defaultVariant": flag.get("defaultVariant")}
        changes = [f"{name}: {previous[name]} -> {value}" for name, value in wanted.items()]
        return Action(
            summary=f"disable flag {key} in {where}: {'; '.join(changes)}",
            diff="\n".join(f"{where} flags.{key}.{change}" for change in changes),
            targets=(target,),
            guards={target.key: seen.resource_version},
            previous=previous,
            payload={"flag": key, "set": wanted},
        )

    def progress(
        self,
        entry: Remediation,
        parameters: Mapping[str, str],
        record: RemediationRecord,
        observations: Observations,
    ) -> Progress:
        settings, target, key, where, seen = self._flag(entry, parameters, observations)
        if seen is None or not seen.exists:
            return Progress(ProgressState.FAILED, f"{where} was deleted")
        flag = (seen.state.get("flags") or {}).get(key)
        if not isinstance(flag, Mapping):
            return Progress(ProgressState.FAILED, f"flag {key} was removed from {where}")
        wanted = _wanted(settings)
        if _in(flag, wanted):
            return Progress(ProgressState.DONE, f"flag {key} in {where} is off ({_describe(flag)})")
        previous = record.previous or {}
        recorded = next(
            (t.resource_version for t in record.targets if (t.kind, t.name) == target.key), None
        )
        if _in(flag, previous) and seen.resource_version == recorded:
            return Progress(ProgressState.NOT_TAKEN)
        if _in(flag, previous):
            changed = f"{where} was changed by someone else (resourceVersion {recorded} -> "
            changed += f"{seen.resource_version}) though flag {key} is still on"
        else:
            changed = (
                f"flag {key} in {where} was changed by someone else to {_describe(flag)} "
                f"(the remediation recorded {_describe(previous)})"
            )
        return Progress(ProgressState.FAILED, f"{changed}; the operator leaves it alone")
