"""Rollback planning as kubectl does it: history, target, annotations rule, patch, diff."""

from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.adapters.workloads_rollback import label_selector
from incident_operator.domain.reasons import Reason
from incident_operator.domain.rollback_plan import (
    JSON_PATCH,
    STRATEGIC_MERGE_PATCH,
    Refusal,
    Revision,
    current_revision,
    find_target,
    normalise_template,
    plan_rollback,
    rollback_annotations,
    rollback_patch,
    template_diff,
    template_digest,
    workload_from_objects,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UID = "uid-1"


def _template(image: str, **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": image, **container}]},
    }


def _owner(uid: str = UID) -> list[dict[str, Any]]:
    return [{"controller": True, "uid": uid, "kind": "Deployment", "name": "web"}]


def _replica_set(
    revision: str | None,
    image: str,
    created: str = "2026-03-01T11:00:00Z",
    owner: str = UID,
    annotations: dict[str, str] | None = None,
    managed: list[str] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    template = _template(image)
    template["metadata"]["labels"]["pod-template-hash"] = f"h{revision}"
    notes = dict(annotations or {})
    if revision is not None:
        notes["deployment.kubernetes.io/revision"] = revision
    return {
        "metadata": {
            "name": f"web-{revision}",
            "annotations": notes,
            "ownerReferences": _owner(owner),
            "creationTimestamp": created,
            "managedFields": [{"manager": "kube-controller-manager", "time": t} for t in managed],
        },
        "spec": {"template": template},
    }


def _controller_revision(number: int, image: str, owner: str = UID) -> dict[str, Any]:
    template = {**_template(image), "$patch": "replace"}
    return {
        "metadata": {
            "name": f"web-{number}",
            "ownerReferences": _owner(owner),
            "creationTimestamp": "2026-03-01T11:00:00Z",
        },
        "revision": number,
        "data": {"spec": {"template": template}},
    }


def _deployment(image: str, history: list[dict[str, Any]], **spec: Any) -> Any:
    raw = {
        "metadata": {
            "name": "web",
            "uid": UID,
            "resourceVersion": "42",
            "annotations": {"deployment.kubernetes.io/revision": "3", "team": "pay"},
        },
        "spec": {"template": _template(image), **spec},
    }
    return workload_from_objects("Deployment", raw, history)


def _history(*images: str) -> list[dict[str, Any]]:
    return [_replica_set(str(n), image) for n, image in enumerate(images, start=1)]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            {"metadata": {"labels": {"app": "a", "pod-template-hash": "x"}}, "spec": {}},
            {"metadata": {"labels": {"app": "a"}}},
        ),
        ({"$patch": "replace", "metadata": {"creationTimestamp": None}}, {}),
        (
            {"spec": {"containers": [{"name": "c", "resources": {}, "env": None}]}},
            {"spec": {"containers": [{"name": "c"}]}},
        ),
        ({"spec": {"containers": []}}, {"spec": {"containers": []}}),
    ],
    ids=["hash-label", "patch-and-null", "empty-values", "empty-list-kept"],
)
def test_normalise_template(template: dict[str, Any], expected: dict[str, Any]) -> None:
    assert normalise_template(template) == expected


def test_digest_ignores_what_kubectl_ignores() -> None:
    with_hash = _replica_set("1", "web:1")["spec"]["template"]
    assert template_digest(with_hash) == template_digest(_template("web:1"))
    assert template_digest(_template("web:1")) != template_digest(_template("web:2"))


def test_history_keeps_only_what_the_workload_controls_sorted_by_revision() -> None:
    items = [
        _replica_set("3", "web:3"),
        _replica_set("1", "web:1"),
        _replica_set("2", "web:2", owner="someone-else"),
        _replica_set(None, "web:0"),
        _replica_set("x", "web:bad"),
    ]
    workload = _deployment("web:3", items)
    assert [(r.number, r.name) for r in workload.history] == [
        (0, "web-None"),
        (1, "web-1"),
        (3, "web-3"),
    ]
    assert "pod-template-hash" not in workload.history[1].template["metadata"]["labels"]
    assert "pod-template-hash" in workload.history[1].stored["metadata"]["labels"]


@pytest.mark.parametrize(
    ("annotations", "managed", "expected"),
    [
        ({}, ["2026-03-01T11:30:00Z"], "2026-03-01T11:00:00+00:00"),
        (
            {"deployment.kubernetes.io/revision-history": "2"},
            ["2026-03-01T11:10:00Z", "2026-03-01T11:40:00Z"],
            "2026-03-01T11:40:00+00:00",
        ),
        ({"deployment.kubernetes.io/revision-history": "2"}, [], "2026-03-01T11:00:00+00:00"),
    ],
    ids=["created", "reused-by-a-rollback", "reused-no-fields"],
)
def test_when_a_replica_set_revision_rolled_out(
    annotations: dict[str, str], managed: list[str], expected: str
) -> None:
    item = _replica_set("1", "web:1", annotations=annotations, managed=managed)
    workload = _deployment("web:1", [item])
    assert workload.history[0].rolled_out_at == datetime.fromisoformat(expected)


@pytest.mark.parametrize(
    ("numbers", "to_revision", "expected"),
    [
        ([1, 2, 3], None, 2),
        ([1, 3, 7], None, 3),
        ([2, 5], 2, 2),
        ([1, 2, 3], 3, 3),
        ([4], None, Reason.REVISION_NOT_FOUND),
        ([], None, Reason.REVISION_NOT_FOUND),
        ([1, 2, 3], 9, Reason.REVISION_NOT_FOUND),
    ],
)
def test_find_target_is_kubectls_choice(
    numbers: list[int], to_revision: int | None, expected: int | str
) -> None:
    items = [_replica_set(str(n), f"web:{n}") for n in numbers]
    found = find_target(_deployment("web:x", items), to_revision)
    if isinstance(expected, int):
        assert isinstance(found, Revision)
        assert found.number == expected
    else:
        assert isinstance(found, Refusal)
        assert found.reason == expected


def test_plan_previous_revision() -> None:
    workload = _deployment("web:3", _history("web:1", "web:2", "web:3"))
    plan = plan_rollback(workload, None)
    assert not isinstance(plan, Refusal)
    assert plan.current is not None
    assert (plan.current.number, plan.target.number) == (3, 2)
    assert plan.current_digest == template_digest(_template("web:3"))
    assert plan.diff == "container app: image web:3 -> web:2"


def test_plan_refuses_a_template_already_at_the_target() -> None:
    workload = _deployment("web:2", _history("web:1", "web:2", "web:2b", "web:2"))
    plan = plan_rollback(workload, 2)
    assert isinstance(plan, Refusal)
    assert plan.reason == Reason.ALREADY_AT_TARGET
    assert "already runs the template of revision 2" in plan.message


def test_current_revision_is_the_newest_with_the_running_template() -> None:
    workload = _deployment("web:1", _history("web:1", "web:2", "web:1"))
    found = current_revision(workload)
    assert found is not None
    assert found.number == 3
    assert current_revision(_deployment("web:new", _history("web:1"))) is None


@pytest.mark.parametrize(
    ("deployment", "replica_set", "expected"),
    [
        (
            {
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{now}",
                "team": "pay",
            },
            {
                "deployment.kubernetes.io/revision": "1",
                "deployment.kubernetes.io/revision-history": "0",
                "deployment.kubernetes.io/desired-replicas": "3",
                "deployment.kubernetes.io/max-replicas": "4",
                "kubectl.kubernetes.io/last-applied-configuration": "{then}",
                "team": "payments",
                "owner": "alice",
            },
            {
                "deployment.kubernetes.io/revision": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{now}",
                "team": "payments",
                "owner": "alice",
            },
        ),
        ({"only-on-deployment": "x"}, {}, {}),
        ({}, {"deprecated.deployment.rollback.to": "2", "a": "b"}, {"a": "b"}),
    ],
    ids=["skipped-kept-others-copied", "others-dropped", "rollback-to-skipped"],
)
def test_annotations_rule(
    deployment: dict[str, str], replica_set: dict[str, str], expected: dict[str, str]
) -> None:
    assert rollback_annotations(deployment, replica_set) == expected


def test_deployment_patch_is_kubectls_json_patch_plus_a_guard() -> None:
    items = [
        _replica_set("1", "web:1", annotations={"team": "old"}),
        _replica_set("2", "web:2"),
    ]
    workload = _deployment("web:2", items)
    patch = rollback_patch(workload, workload.history[0])
    assert patch.content_type == JSON_PATCH
    assert (patch.kind, patch.name) == ("Deployment", "web")
    ops = {op["path"]: op for op in patch.body}
    assert ops["/metadata/resourceVersion"] == {
        "op": "replace",
        "path": "/metadata/resourceVersion",
        "value": "42",
    }
    assert ops["/spec/template"]["value"] == _template("web:1")
    assert ops["/metadata/annotations"]["value"] == {
        "deployment.kubernetes.io/revision": "3",
        "team": "old",
    }
    # The stored revision is untouched.
    assert "pod-template-hash" in workload.history[0].stored["metadata"]["labels"]


def test_controller_revision_patch_is_its_data_plus_a_guard() -> None:
    raw = {
        "metadata": {"name": "web", "uid": UID, "resourceVersion": "7"},
        "spec": {"template": _template("web:2")},
    }
    items = [_controller_revision(1, "web:1"), _controller_revision(2, "web:2")]
    workload = workload_from_objects("StatefulSet", raw, items)
    patch = rollback_patch(workload, workload.history[0])
    assert patch.content_type == STRATEGIC_MERGE_PATCH
    assert patch.body == {
        "spec": {"template": {**_template("web:1"), "$patch": "replace"}},
        "metadata": {"resourceVersion": "7"},
    }
    assert "metadata" not in workload.history[0].stored
    assert workload.paused is False


def test_unknown_kinds_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cannot roll back a CronJob"):
        workload_from_objects("CronJob", {}, [])


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (_template("web:2"), _template("web:1"), ["container app: image web:2 -> web:1"]),
        (
            _template("w", env=[{"name": "FLAG", "value": "on"}, {"name": "GONE", "value": "1"}]),
            _template("w", env=[{"name": "FLAG", "value": "off"}, {"name": "NEW", "value": "2"}]),
            [
                'container app: env FLAG "on" -> "off"',
                'container app: env GONE "1" -> (unset)',
                'container app: env NEW (unset) -> "2"',
            ],
        ),
        (
            _template("w", resources={"limits": {"cpu": "1", "memory": "1Gi"}}),
            _template("w", resources={"limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}}),
            [
                "container app: resources.limits.cpu 1 -> 500m",
                "container app: resources.limits.memory 1Gi -> (unset)",
                "container app: resources.requests.cpu (unset) -> 100m",
            ],
        ),
        (
            _template("w", args=["--fast"], command=["srv"]),
            _template("w", args=["--safe", "-v"], command=["srv"]),
            ['container app: args ["--fast"] -> ["--safe","-v"]'],
        ),
        (
            _template("w", readinessProbe={"tcpSocket": {"port": 80}}),
            _template("w"),
            ["container app: readinessProbe changed"],
        ),
        (
            {"spec": {"containers": [{"name": "a", "image": "x"}]}},
            {"spec": {"containers": [{"name": "b", "image": "y"}], "serviceAccountName": "s"}},
            [
                "container a: removed (image x)",
                "container b: added (image y)",
                "pod serviceAccountName (unset) -> s",
            ],
        ),
        (
            {"metadata": {"labels": {"v": "2"}}, "spec": {"volumes": [{"name": "a"}]}},
            {"metadata": {"labels": {"v": "1"}}, "spec": {}},
            ["pod volumes changed", 'pod label v "2" -> "1"'],
        ),
        (_template("w"), _template("w"), ["no difference in the pod template"]),
    ],
    ids=["image", "env", "resources", "args", "other", "containers", "pod", "same"],
)
def test_template_diff(before: dict[str, Any], after: dict[str, Any], expected: list[str]) -> None:
    assert template_diff(before, after).splitlines() == expected


def test_a_long_diff_is_cut_with_a_count() -> None:
    before = {"metadata": {"labels": {f"k{i}": "a" for i in range(80)}}}
    after = {"metadata": {"labels": {f"k{i}": "b" for i in range(80)}}}
    lines = template_diff(before, after).splitlines()
    assert len(lines) == 61
    assert lines[-1] == "... and 20 more"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"app": "web", "tier": "api"}}, "app=web,tier=api"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "canary"]},
                    {"key": "track", "operator": "NotIn", "values": ["beta"]},
                    {"key": "owner", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
            "app=web,env in (prod,canary),track notin (beta),owner,!legacy",
        ),
        ({}, ""),
    ],
)
def test_the_history_is_listed_by_the_workloads_selector(
    selector: dict[str, Any], expected: str
) -> None:
    assert label_selector(selector) == expected
