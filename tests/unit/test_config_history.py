"""Config history (domain/config_history.py), the configRollback kind's pure half
(reconcile/remediation_config.py), the keeper's choice of objects and the
config-history listing."""

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.adapters.config_snapshots import changed_by, name_label, snapshot_name
from incident_operator.api.escalation_policy import EscalationPolicy
from incident_operator.api.escalation_status import TriggerRecord
from incident_operator.api.incident import IncidentStatus
from incident_operator.api.remediation_status import RemediationPhase, RemediationRecord
from incident_operator.api.remediations import Remediation
from incident_operator.cli.config_history_command import history_text
from incident_operator.domain.config_history import (
    Snapshot,
    data_of,
    diff,
    digest,
    key_digests,
    needs_snapshot,
    next_version,
    resolve_version,
    to_prune,
)
from incident_operator.domain.reasons import Reason
from incident_operator.domain.triggers import TriggerName
from incident_operator.reconcile.remediation_config import ConfigRollbackPlanner
from incident_operator.reconcile.remediation_kind import (
    Action,
    Observation,
    Observations,
    ProgressState,
    Refusal,
    Target,
)
from incident_operator.reconcile.remediations import PLANNERS, remediation_failed
from incident_operator.runtime.config_history import kept_objects
from incident_operator.runtime.policies import PolicyRegistry

T0 = datetime(2026, 3, 1, 12, 0, 30, 500000, tzinfo=UTC)


def _data(**values: str) -> dict[str, dict[str, str]]:
    return {"data": dict(values), "binaryData": {}}


def _snapshot(version: int, **values: str) -> Snapshot:
    data = _data(**values)
    return Snapshot(version, digest(data), f"app.v{version}", keys=key_digests(data), data=data)


# ------------------------------------------------------------------ domain


def test_the_digest_ignores_key_order_and_empty_parts() -> None:
    assert digest({"data": {"a": "1", "b": "2"}}) == digest(
        {"data": {"b": "2", "a": "1"}, "binaryData": {}}
    )
    assert digest({"data": {"a": "1"}}) != digest({"data": {"a": "2"}})


def test_data_of_keeps_binary_data_only_for_config_maps() -> None:
    body = {"data": {"a": "1"}, "binaryData": {"b": "AA=="}, "stringData": {"c": "x"}}
    assert data_of("ConfigMap", body) == {"data": {"a": "1"}, "binaryData": {"b": "AA=="}}
    assert data_of("Secret", body) == {"data": {"a": "1"}}


def test_a_snapshot_is_taken_only_when_the_data_differs_from_the_newest() -> None:
    kept = [_snapshot(1, a="1"), _snapshot(2, a="2")]
    assert not needs_snapshot(kept, kept[1].digest)
    assert needs_snapshot(kept, kept[0].digest), "back to an older version is a new version"
    assert needs_snapshot([], "x")
    assert next_version(kept) == 3
    assert next_version([]) == 1


@pytest.mark.parametrize(
    ("versions", "keep", "pruned"),
    [([1, 2, 3], 3, []), ([1, 2, 3, 4], 2, [2, 1]), ([5], 1, []), ([1, 2], 0, [1])],
)
def test_pruning_drops_the_oldest_beyond_keep(
    versions: list[int], keep: int, pruned: list[int]
) -> None:
    kept = [_snapshot(v, a=str(v)) for v in versions]
    assert [s.version for s in to_prune(kept, keep)] == pruned


@pytest.mark.parametrize(
    ("text", "current", "expected"),
    [
        ("previous", "3", 2),
        ("previous", "new", 3),  # changed since the newest was kept: the newest
        ("1", "3", 1),
        ("7", "3", "version 7 is not kept; versions kept: 1, 2, 3"),
        ("latest", "3", "not a number or `previous`; versions kept: 1, 2, 3"),
    ],
)
def test_versions_resolve(text: str, current: str, expected: int | str) -> None:
    kept = [_snapshot(v, a=str(v)) for v in (1, 2, 3)]
    current_digest = digest(_data(a=current))
    found = resolve_version(text, kept, current_digest)
    if isinstance(expected, int):
        assert isinstance(found, Snapshot)
        assert found.version == expected
    else:
        assert isinstance(found, str)
        assert expected in found


def test_previous_needs_a_version_before_the_current_one() -> None:
    only = [_snapshot(1, a="1")]
    found = resolve_version("previous", only, only[0].digest)
    assert found == "there is no version before the current one; versions kept: 1"


def test_a_config_map_diff_shows_values_and_a_secret_diff_only_keys() -> None:
    before, after = _snapshot(1, a="one", b="same"), _snapshot(2, a="two", b="same", c="new")
    lines = diff("ConfigMap", before, after, "v1", "v2")
    assert "-a: one" in lines
    assert "+a: two" in lines
    assert "+c: new" in lines
    secret_before = Snapshot(1, "d1", "s.v1", keys=key_digests(_data(a="s3cret-1", gone="x")))
    secret_after = Snapshot(2, "d2", "s.v2", keys=key_digests(_data(a="s3cret-2", c="s3cret-3")))
    keys = diff("Secret", secret_before, secret_after, "v1", "v2")
    assert keys == ["+ c (added)", "- gone (removed)", "~ a (changed)"]
    assert not any(value in "".join(keys) for value in ("s3cret", "x"))


# ------------------------------------------------------------------ the kind

ENTRY = Remediation.model_validate(
    {
        "name": "app-config",
        "kind": "configRollback",
        "configRollback": {
            "kind": "ConfigMap",
            "name": "app",
            "restart": [{"kind": "Deployment", "name": "web"}],
        },
    }
)
CONFIG = Target("v1", "ConfigMap", "app", extras=frozenset({"snapshots"}))
WEB = Target("apps/v1", "Deployment", "web")
KEPT = [_snapshot(1, mode="safe"), _snapshot(2, mode="fast")]


def _record(**changes: Any) -> RemediationRecord:
    fields: dict[str, Any] = {
        "id": "r1",
        "remediation": "app-config",
        "kind": "configRollback",
        "requested_by": "bob",
        "requested_at": T0,
        "phase": RemediationPhase.PROPOSED,
    }
    return RemediationRecord.model_validate({**fields, **changes})


def _seen(
    mode: str | None, restarted_at: str | None = None, generation: int = 2, observed: int = 2
) -> Observations:
    data = _data(mode=mode or "")
    config = (
        Observation(CONFIG, False)
        if mode is None
        else Observation(
            CONFIG,
            True,
            "10",
            state={
                "digest": digest(data),
                "keys": key_digests(data),
                "data": data,
                "changedBy": "kubectl-edit",
                "snapshots": [
                    {
                        "version": s.version,
                        "digest": s.digest,
                        "keys": dict(s.keys),
                        "data": s.data,
                        "objectName": s.object_name,
                    }
                    for s in KEPT
                ],
            },
        )
    )
    web = Observation(
        WEB,
        True,
        "20",
        state={
            "restartedAt": restarted_at,
            "generation": generation,
            "observedGeneration": observed,
        },
    )
    return {CONFIG.key: config, WEB.key: web}


def test_the_kind_is_registered() -> None:
    assert isinstance(PLANNERS[ENTRY.kind], ConfigRollbackPlanner)
    assert ConfigRollbackPlanner().targets(ENTRY, {}, _record()) == [CONFIG, WEB]


def test_previous_restores_the_version_before_the_newest_and_restarts() -> None:
    planned = ConfigRollbackPlanner().plan(ENTRY, {}, _record(), _seen("fast"))
    assert isinstance(planned, Action)
    assert planned.summary == (
        "restore ConfigMap/app to version 1 (from version 2), then restart Deployment/web"
    )
    assert "-mode: fast" in planned.diff
    assert "+mode: safe" in planned.diff
    assert planned.guards == {CONFIG.key: "10", WEB.key: "20"}
    assert planned.previous == {
        "version": 2,
        "digest": KEPT[1].digest,
        "restoringVersion": 1,
        "restoringDigest": KEPT[0].digest,
    }
    assert planned.payload == {
        "keep": 10,
        "restore": {"version": 1, "objectName": "app.v1"},
        "restart": [{"kind": "Deployment", "name": "web"}],
    }


def test_data_not_kept_yet_is_the_version_after_the_newest() -> None:
    planned = ConfigRollbackPlanner().plan(ENTRY, {}, _record(), _seen("reckless"))
    assert isinstance(planned, Action)
    assert "to version 2 (from version 3)" in planned.summary
    assert planned.previous["version"] == 3


@pytest.mark.parametrize(
    ("version", "mode", "reason", "message"),
    [
        ("2", "fast", Reason.NOTHING_TO_DO, "nothing to do: ConfigMap/app is at version 2"),
        ("9", "fast", Reason.CONFIG_VERSION_NOT_KEPT, "versions kept: 1, 2"),
        ("1", None, Reason.CONFIG_NOT_FOUND, "ConfigMap/app does not exist"),
    ],
)
def test_refusals(version: str, mode: str | None, reason: Reason, message: str) -> None:
    entry = ENTRY.model_copy(
        update={"config_rollback": ENTRY.config_rollback.model_copy(update={"version": version})}  # type: ignore[union-attr]
    )
    planned = ConfigRollbackPlanner().plan(entry, {}, _record(), _seen(mode))
    assert isinstance(planned, Refusal)
    assert planned.reason == reason
    assert message in planned.message


def test_the_version_may_come_from_a_parameter() -> None:
    entry = Remediation.model_validate(
        {
            **ENTRY.model_dump(by_alias=True, exclude_none=True),
            "parameters": [{"name": "version", "pattern": "[0-9]+"}],
            "configRollback": {
                "kind": "ConfigMap",
                "name": "app",
                "version": "{{ params.version }}",
            },
        }
    )
    planned = ConfigRollbackPlanner().plan(entry, {"version": "1"}, _record(), _seen("fast"))
    assert isinstance(planned, Action)
    assert "to version 1" in planned.summary


def _in_flight(**changes: Any) -> RemediationRecord:
    return _record(
        phase=RemediationPhase.IN_PROGRESS,
        started_at=T0,
        attempt="a0",
        summary="restore ConfigMap/app to version 1 (from version 2), then restart Deployment/web",
        previous={
            "version": 2,
            "digest": KEPT[1].digest,
            "restoringVersion": 1,
            "restoringDigest": KEPT[0].digest,
        },
        **changes,
    )


@pytest.mark.parametrize(
    ("observations", "state"),
    [
        (_seen("safe", "2026-03-01T12:00:31Z"), ProgressState.DONE),
        # The annotation is whole seconds: the second the attempt started counts.
        (_seen("safe", "2026-03-01T12:00:30Z"), ProgressState.DONE),
        (_seen("safe", "2026-03-01T12:00:31Z", generation=3), ProgressState.RUNNING),
        (_seen("safe", "2026-03-01T11:00:00Z"), ProgressState.NOT_TAKEN),
        (_seen("safe"), ProgressState.NOT_TAKEN),
        (_seen("fast"), ProgressState.NOT_TAKEN),
        (_seen("other"), ProgressState.FAILED),
        (_seen(None), ProgressState.FAILED),
    ],
)
def test_progress(observations: Observations, state: ProgressState) -> None:
    progress = ConfigRollbackPlanner().progress(ENTRY, {}, _in_flight(), observations)
    assert progress.state is state, progress.message


def test_someone_elses_change_is_named() -> None:
    progress = ConfigRollbackPlanner().progress(ENTRY, {}, _in_flight(), _seen("other"))
    assert "ConfigMap/app was changed by kubectl-edit" in progress.message


@pytest.mark.parametrize(
    ("mode", "restarted_at", "restore", "restart"),
    [
        # Restored, not restarted (killed between the two): only the restart.
        ("safe", None, None, [{"kind": "Deployment", "name": "web"}]),
        # Not restored: the same restore again, then the restart.
        (
            "fast",
            None,
            {"version": 1, "objectName": "app.v1"},
            [{"kind": "Deployment", "name": "web"}],
        ),
        # Restored and restarted: nothing is done twice.
        ("safe", "2026-03-01T12:00:31Z", None, []),
    ],
)
def test_a_resumed_attempt_does_only_what_is_missing(
    mode: str, restarted_at: str | None, restore: Any, restart: list[dict[str, str]]
) -> None:
    planned = ConfigRollbackPlanner().plan(ENTRY, {}, _in_flight(), _seen(mode, restarted_at))
    assert isinstance(planned, Action)
    assert planned.payload["restore"] == restore
    assert planned.payload["restart"] == restart


def test_a_missing_workload_to_restart_refuses() -> None:
    observations = dict(_seen("fast"))
    observations[WEB.key] = Observation(WEB, False)
    planned = ConfigRollbackPlanner().plan(ENTRY, {}, _record(), observations)
    assert isinstance(planned, Refusal)
    assert planned.reason == Reason.WORKLOAD_NOT_FOUND


# ------------------------------------------------------------------ keeper, listing


def test_the_keeper_keeps_every_named_object_with_the_largest_keep() -> None:
    def policy(namespace: str, keep: int, kind: str = "ConfigMap") -> EscalationPolicy:
        return EscalationPolicy.model_validate(
            {
                "apiVersion": "sre.agentos.io/v1alpha1",
                "kind": "EscalationPolicy",
                "metadata": {"name": f"p{keep}{kind}", "namespace": namespace},
                "spec": {
                    "remediations": [
                        {
                            "name": "cfg",
                            "kind": "configRollback",
                            "configRollback": {"kind": kind, "name": "app", "keep": keep},
                        },
                        {
                            "name": "stop",
                            "kind": "scale",
                            "scale": {"workload": {"kind": "Deployment", "name": "web"}},
                        },
                    ]
                },
            }
        )

    registry = PolicyRegistry()
    registry.seed([policy("shop", 3), policy("shop", 7), policy("blog", 2, "Secret")])
    assert kept_objects(registry) == {
        ("shop", "ConfigMap", "app"): 7,
        ("blog", "Secret", "app"): 2,
    }


def test_the_listing_of_a_secret_never_shows_values() -> None:
    secret_value = base64.b64encode(b"hunter2").decode()
    first = _data(password=secret_value)
    second = _data(password=base64.b64encode(b"swordfish").decode(), user="YQ==")
    kept = [
        Snapshot(1, digest(first), "db.v1", "2026-03-01T10:00:00Z", "helm", key_digests(first)),
        Snapshot(2, digest(second), "db.v2", "2026-03-01T11:00:00Z", "", key_digests(second)),
    ]
    text = history_text("Secret", "db", "shop", kept, digest(second))
    assert "Secret/db in namespace shop: 2 versions kept; its data now is version 2" in text
    assert "~ password (changed)" in text
    assert "+ user (added)" in text
    assert secret_value not in text
    assert "hunter2" not in text
    assert "helm" in text


def test_the_listing_says_when_nothing_is_kept() -> None:
    assert "no versions kept of ConfigMap/app" in history_text("ConfigMap", "app", "shop", [], None)


# ------------------------------------------------------------------ snapshot objects


def test_snapshot_names_and_labels_fit_kubernetes_limits() -> None:
    long = "a" * 60 + "." + "b" * 190
    assert name_label("checkout-config") == "checkout-config"
    assert len(name_label(long)) <= 63
    assert name_label(long) != name_label(long[:-1] + "c"), "cut names stay apart"
    assert snapshot_name("app", 3) == "app.v3"
    assert len(snapshot_name(long, 50)) <= 253


def test_who_changed_the_data_is_the_latest_manager_of_data() -> None:
    body = {
        "metadata": {
            "managedFields": [
                {"manager": "helm", "time": "2026-03-01T10:00:00Z", "fieldsV1": {"f:data": {}}},
                {
                    "manager": "kubectl-edit",
                    "time": "2026-03-01T11:00:00Z",
                    "fieldsV1": {"f:data": {"f:mode": {}}},
                },
                {
                    "manager": "kubectl-label",
                    "time": "2026-03-01T12:00:00Z",
                    "fieldsV1": {"f:metadata": {"f:labels": {}}},
                },
            ]
        }
    }
    assert changed_by(body) == "kubectl-edit"
    assert changed_by({"metadata": {}}) == ""


def test_a_long_failure_message_fits_the_escalation_trigger() -> None:
    """A record's message may be 1024 characters, a trigger's 256: a long one once made the
    incident's whole pass fail (TriggerRecord's validation)."""
    failed = _record(phase=RemediationPhase.FAILED, message="x" * 1024)
    status = IncidentStatus.model_validate({"remediations": [failed.model_dump(by_alias=True)]})
    found = remediation_failed(status)
    assert found is not None
    assert len(found[1]) <= 256
    TriggerRecord(name=TriggerName.REMEDIATION_FAILED, instance="r1", fired_at=T0, message=found[1])
