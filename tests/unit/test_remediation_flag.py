"""The ``featureFlag`` remediation kind's pure half (reconcile/remediation_flag.py) and the
flag file rules (domain/feature_flags.py)."""

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes.client import ApiException

from incident_operator.adapters.remediation_flag import _object_missing
from incident_operator.api.incident import IncidentStatus
from incident_operator.api.remediation_status import (
    RemediationKind,
    RemediationPhase,
    RemediationRecord,
    TargetState,
)
from incident_operator.api.remediations import Remediation
from incident_operator.domain.feature_flags import (
    FlagFileError,
    data_key,
    parse_flag_file,
    summaries,
    with_flag_set,
)
from incident_operator.domain.reasons import Reason
from incident_operator.reconcile.remediation_flag import FeatureFlagPlanner, flag_target
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediations import PLANNERS, remediation_failed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PLANNER = FeatureFlagPlanner()
FLAGS = {
    "new-checkout": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on",
        "targeting": {"if": [{"==": [{"var": "tier"}, "beta"]}, "on", "off"]},
    },
    "dark-mode": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "on",
    },
}


def _entry(source: str = "FeatureFlag", **flag: Any) -> Remediation:
    return Remediation.model_validate(
        {
            "name": "disable-flag",
            "kind": "featureFlag",
            "parameters": [{"name": "flag", "allowed": ["new-checkout", "dark-mode", "gone"]}],
            "featureFlag": {
                "source": source,
                "name": "shop-flags",
                "flag": "{{ params.flag }}",
                **flag,
            },
        }
    )


def _record(**changes: Any) -> RemediationRecord:
    record = RemediationRecord(
        id="r1",
        remediation="disable-flag",
        kind=RemediationKind.FEATURE_FLAG,
        parameters={"flag": "new-checkout"},
        requested_by="bob",
        requested_at=T0,
        phase=RemediationPhase.PROPOSED,
    )
    return record.model_copy(update=changes)


def _seen(
    entry: Remediation, flags: Any = FLAGS, version: str = "7", invalid: str | None = None
) -> Observations:
    target = flag_target(entry.feature_flag, {"flag": "new-checkout"})  # type: ignore[arg-type]
    state = {"flags": summaries(flags), "invalid": invalid}
    return {target.key: Observation(target, True, resource_version=version, state=state)}


PARAMS = {"flag": "new-checkout"}


def test_the_kind_is_registered() -> None:
    assert isinstance(PLANNERS[RemediationKind.FEATURE_FLAG], FeatureFlagPlanner)


def test_targets_name_the_source_and_the_configmap_data_key() -> None:
    (flag,) = PLANNER.targets(_entry(), PARAMS, _record())
    assert (flag.api_version, flag.kind, flag.name) == (
        "core.openfeature.dev/v1beta1",
        "FeatureFlag",
        "shop-flags",
    )
    assert data_key(flag) is None
    (config,) = PLANNER.targets(_entry("ConfigMap"), PARAMS, _record())
    assert (config.api_version, config.kind) == ("v1", "ConfigMap")
    assert data_key(config) == "flags.flagd.json"
    (custom,) = PLANNER.targets(_entry("ConfigMap", key="app.json"), PARAMS, _record())
    assert data_key(custom) == "app.json"


@pytest.mark.parametrize(
    ("flag", "wanted", "previous"),
    [
        ({}, {"state": "DISABLED"}, {"state": "ENABLED", "defaultVariant": "on"}),
        (
            {"offVariant": "off"},
            {"defaultVariant": "off"},
            {"state": "ENABLED", "defaultVariant": "on"},
        ),
    ],
    ids=["state", "offVariant"],
)
@pytest.mark.parametrize("source", ["FeatureFlag", "ConfigMap"])
def test_plan_disables_the_flag_and_records_what_it_was(
    source: str, flag: dict[str, str], wanted: dict[str, str], previous: dict[str, str]
) -> None:
    entry = _entry(source, **flag)
    action = PLANNER.plan(entry, PARAMS, _record(), _seen(entry))
    assert isinstance(action, Action), action
    assert action.payload == {"flag": "new-checkout", "set": wanted}
    assert action.previous == previous
    (target,) = action.targets
    assert action.guards == {target.key: "7"}
    assert "disable flag new-checkout" in action.summary
    field, value = next(iter(wanted.items()))
    assert f"flags.new-checkout.{field}: {previous[field]} -> {value}" in action.diff


@pytest.mark.parametrize(
    ("entry", "observations", "reason", "message"),
    [
        (
            _entry(),
            {},
            Reason.FLAG_NOT_FOUND,
            "FeatureFlag/shop-flags does not exist (featureFlag.name shop-flags)",
        ),
        (
            _entry(),
            _seen(_entry(), flags={"dark-mode": FLAGS["dark-mode"]}),
            Reason.FLAG_NOT_FOUND,
            "FeatureFlag/shop-flags has no flag 'new-checkout'; its flags: dark-mode",
        ),
        (
            _entry(offVariant="disabled"),
            _seen(_entry()),
            Reason.FLAG_NOT_FOUND,
            "has no variant 'disabled' (featureFlag.offVariant); its variants: off, on",
        ),
        (
            _entry(),
            _seen(_entry(), flags={"new-checkout": {**FLAGS["new-checkout"], "state": "DISABLED"}}),
            Reason.NOTHING_TO_DO,
            "already off (state DISABLED, defaultVariant on)",
        ),
        (
            _entry(offVariant="off"),
            _seen(
                _entry(), flags={"new-checkout": {**FLAGS["new-checkout"], "defaultVariant": "off"}}
            ),
            Reason.NOTHING_TO_DO,
            "already off (state ENABLED, defaultVariant off)",
        ),
        (
            _entry("ConfigMap"),
            _seen(_entry("ConfigMap"), flags={}, invalid="data[flags.flagd.json] not JSON: x"),
            Reason.FLAG_NOT_FOUND,
            "ConfigMap/shop-flags data[flags.flagd.json]: data[flags.flagd.json] not JSON",
        ),
    ],
    ids=[
        "no-object",
        "no-flag",
        "no-variant",
        "already-disabled",
        "already-off-variant",
        "bad-file",
    ],
)
def test_plan_refuses_naming_what_is_wrong(
    entry: Remediation, observations: Observations, reason: Reason, message: str
) -> None:
    refusal = PLANNER.plan(entry, PARAMS, _record(), observations)
    assert isinstance(refusal, Refusal), refusal
    assert refusal.reason == reason
    assert message in refusal.message


def _started(entry: Remediation, version: str = "7") -> RemediationRecord:
    (target,) = PLANNER.targets(entry, PARAMS, _record())
    return _record(
        phase=RemediationPhase.IN_PROGRESS,
        attempt="a1",
        previous={"state": "ENABLED", "defaultVariant": "on"},
        targets=[
            TargetState(
                api_version=target.api_version,
                kind=target.kind,
                name=target.name,
                resource_version=version,
            )
        ],
    )


def _flag(**changes: Any) -> dict[str, Any]:
    return {"new-checkout": {**FLAGS["new-checkout"], **changes}}


@pytest.mark.parametrize(
    ("flag", "flags", "version", "state", "message"),
    [
        ({}, _flag(state="DISABLED"), "8", ProgressState.DONE, "is off"),
        ({"offVariant": "off"}, _flag(defaultVariant="off"), "8", ProgressState.DONE, "is off"),
        ({}, _flag(), "7", ProgressState.NOT_TAKEN, ""),
        (
            {},
            _flag(defaultVariant="off"),
            "8",
            ProgressState.FAILED,
            "changed by someone else to state ENABLED, defaultVariant off",
        ),
        ({}, _flag(), "8", ProgressState.FAILED, "resourceVersion 7 -> 8"),
        ({}, {}, "8", ProgressState.FAILED, "flag new-checkout was removed"),
    ],
    ids=["disabled", "off-variant", "not-taken", "changed", "object-changed", "removed"],
)
def test_progress_from_the_flag_and_the_recorded_version(
    flag: dict[str, str], flags: dict[str, Any], version: str, state: ProgressState, message: str
) -> None:
    entry = _entry(**flag)
    progress = PLANNER.progress(entry, PARAMS, _started(entry), _seen(entry, flags, version))
    assert progress.state == state
    assert message in progress.message


def test_progress_of_a_deleted_object_fails() -> None:
    entry = _entry()
    progress = PLANNER.progress(entry, PARAMS, _started(entry), {})
    assert progress.state == ProgressState.FAILED
    assert "FeatureFlag/shop-flags was deleted" in progress.message


FILE = {
    "$schema": "https://flagd.dev/schema/v0/flags.json",
    "flags": FLAGS,
    "$evaluators": {"beta": {"in": ["beta", {"var": "tier"}]}},
}


def test_setting_a_flag_in_a_flagd_file_keeps_everything_else() -> None:
    text = with_flag_set(json.dumps(FILE), "new-checkout", {"state": "DISABLED"})
    written = json.loads(text)
    assert list(written) == ["$schema", "flags", "$evaluators"]
    assert written["flags"]["new-checkout"] == {**FLAGS["new-checkout"], "state": "DISABLED"}
    assert written["flags"]["dark-mode"] == FLAGS["dark-mode"]
    assert written["$evaluators"] == FILE["$evaluators"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "the data key is missing"),
        ("{", "not JSON"),
        ('{"flag": {}}', 'no "flags" object'),
    ],
)
def test_a_bad_flag_file_says_why(text: str | None, message: str) -> None:
    with pytest.raises(FlagFileError, match=message):
        parse_flag_file(text)


def test_summaries_keep_names_not_values() -> None:
    assert summaries(FLAGS)["new-checkout"] == {
        "state": "ENABLED",
        "defaultVariant": "on",
        "variants": ["off", "on"],
    }
    assert summaries("nonsense") == {}


def test_target_extras_carry_only_the_data_key() -> None:
    assert data_key(Target("v1", "ConfigMap", "x", frozenset({"data:a.json"}))) == "a.json"


def test_a_long_failure_message_still_fits_the_escalation_trigger() -> None:
    """What changed can be long; the remediationFailed trigger's record holds 256."""
    status = IncidentStatus(
        remediations=[_record(phase=RemediationPhase.FAILED, message="x" * 1024)]
    )
    found = remediation_failed(status)
    assert found is not None
    assert found[0] == "r1"
    assert len(found[1]) == 256
    assert found[1].startswith("remediation r1 (disable-flag): ")


@pytest.mark.parametrize(
    ("status", "body", "missing"),
    [
        (
            404,
            {"reason": "NotFound", "details": {"name": "shop-flags", "kind": "featureflags"}},
            True,
        ),
        (
            404,
            {"reason": "NotFound", "message": "the server could not find the requested resource"},
            False,
        ),
        (404, {"reason": "NotFound", "details": {"name": "other"}}, False),
        (403, {"reason": "Forbidden", "details": {"name": "shop-flags"}}, False),
    ],
    ids=["object", "kind-not-served", "another-object", "forbidden"],
)
def test_the_adapter_tells_a_missing_object_from_an_unserved_kind(
    status: int, body: dict[str, Any], missing: bool
) -> None:
    error = ApiException(status=status)
    error.body = json.dumps(body)
    target = Target("core.openfeature.dev/v1beta1", "FeatureFlag", "shop-flags")
    assert _object_missing(error, target) is missing
