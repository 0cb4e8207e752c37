"""The ``featureFlag`` remediation kind end to end on the local control plane
(docs/remediation/feature-flag.md), with both sources: an OpenFeature FeatureFlag (the
test CRD tests/harness/crds/openfeature-featureflag.yaml) disabled by state or by its
offVariant, and a flagd flag file in a ConfigMap. Request with the plugin, a bad parameter
and an outsider's approval refused, approval, the flag off with its previous state
recorded, verification; a killed operator acts exactly once and an edit made between
recording the attempt and acting is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.remediation_support import (
    APPROVE,
    APPROVE_REQUEST,
    APPROVERS,
    annotations,
    approve,
    approver,
    catalog_policy,
    open_incident,
    record,
    request,
    wait_phase,
    write_records,
)
from tests.integration.rollback_support import get, let_approve, timeline_types

CRD = Path(__file__).parents[1] / "harness" / "crds" / "openfeature-featureflag.yaml"
FLAGD_KEY = "flags.flagd.json"
SCHEMA = "https://flagd.dev/schema/v0/flags.json"


def _flag(default: str = "on") -> dict[str, Any]:
    return {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": default}


FLAGS = {"new-checkout": _flag(), "dark-mode": _flag()}


@pytest.fixture(autouse=True)
def _admission_enforced(admission_policies: None) -> None:
    """The session fixture waits until every shipped admission policy is enforced."""


@pytest.fixture(scope="module", autouse=True)
def _featureflag_crd(kubectl: Kubectl) -> Iterator[None]:
    """OpenFeature's FeatureFlag kind, served for this module only (the real operator is
    not installed; the CRD is the test stand-in): the session's other modules see a
    cluster without it, as before."""
    kubectl("apply", "--server-side", "--field-manager=test-harness", "-f", str(CRD))
    kubectl(
        "wait",
        "--for=condition=Established",
        "crd/featureflags.core.openfeature.dev",
        "--timeout=60s",
    )
    yield
    kubectl("delete", "-f", str(CRD), "--ignore-not-found", "--wait=true", timeout=90)


def _entry(source: str, off_variant: str | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "source": source,
        "name": "shop-flags",
        "flag": "{{ params.flag }}",
    }
    if off_variant:
        settings["offVariant"] = off_variant
    return {
        "name": "disable-flag",
        "kind": "featureFlag",
        "approverGroup": APPROVERS,
        "parameters": [{"name": "flag", "allowed": ["new-checkout", "dark-mode"]}],
        "featureFlag": settings,
    }


def _create_source(kubectl: Kubectl, namespace: str, source: str) -> dict[str, Any]:
    if source == "ConfigMap":
        document = {"$schema": SCHEMA, "flags": FLAGS, "$evaluators": {"beta": {"in": ["b"]}}}
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop-flags"},
            "data": {FLAGD_KEY: json.dumps(document, indent=2)},
        }
    else:
        body = {
            "apiVersion": "core.openfeature.dev/v1beta1",
            "kind": "FeatureFlag",
            "metadata": {"name": "shop-flags"},
            "spec": {"flagSpec": {"flags": FLAGS}},
        }
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))
    return _read(kubectl, namespace, source)


def _read(kubectl: Kubectl, namespace: str, source: str) -> dict[str, Any]:
    kind = "configmap" if source == "ConfigMap" else "featureflags.core.openfeature.dev"
    return get(kubectl, kind, namespace, "shop-flags")


def _flags(found: dict[str, Any], source: str) -> dict[str, Any]:
    if source == "ConfigMap":
        flags: dict[str, Any] = json.loads(found["data"][FLAGD_KEY])["flags"]
        return flags
    spec_flags: dict[str, Any] = found["spec"]["flagSpec"]["flags"]
    return spec_flags


SOURCES = [("FeatureFlag", None), ("FeatureFlag", "off"), ("ConfigMap", None)]


@pytest.mark.parametrize(
    ("source", "off_variant"),
    SOURCES,
    ids=["featureflag-state", "featureflag-offvariant", "configmap"],
)
def test_request_refusals_approval_and_the_flag_off(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    source: str,
    off_variant: str | None,
) -> None:
    _create_source(kubectl, namespace, source)
    catalog_policy(kubectl, namespace, [_entry(source, off_variant)])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    alice = approver(cluster, kubectl, namespace, tmp_path)
    let_approve(kubectl, namespace, "bob")  # a responder, not in the approver group

    bad = request(cluster.kubeconfig, namespace, incident_id, "disable-flag", flag="x", check=False)
    assert bad.returncode != 0
    assert "new-checkout" in bad.stderr, bad.stderr
    assert "dark-mode" in bad.stderr, bad.stderr

    requested = request(
        cluster.kubeconfig, namespace, incident_id, "disable-flag", flag="new-checkout"
    )
    assert "r1 Proposed: disable flag new-checkout" in requested.stdout, requested.stdout
    proposed = record(kubectl, namespace, "outage", "r1")
    assert _flags(_read(kubectl, namespace, source), source)["new-checkout"] == _flag()

    outsider = kubectl(
        "annotate",
        "--overwrite",
        "incident",
        "outage",
        "-n",
        namespace,
        f"{APPROVE}=bob",
        f"{APPROVE_REQUEST}=r1:{proposed['proposal']}",
        as_user="bob",
        check=False,
    )
    assert outsider.returncode != 0
    assert f"only members of group {APPROVERS} may approve remediation r1" in outsider.stderr

    approve(alice, namespace, incident_id, "r1")
    done = wait_phase(kubectl, namespace, "outage", "r1", "Succeeded", operator.log_tail)
    assert done["approvedBy"] == "alice"
    assert done["previous"] == {"state": "ENABLED", "defaultVariant": "on"}
    after = _read(kubectl, namespace, source)
    flags = _flags(after, source)
    wanted = {"defaultVariant": "off"} if off_variant else {"state": "DISABLED"}
    assert flags["new-checkout"] == {**_flag(), **wanted}
    assert flags["dark-mode"] == _flag(), "the other flags are left alone"
    if source == "ConfigMap":
        document = json.loads(after["data"][FLAGD_KEY])
        assert list(document) == ["$schema", "flags", "$evaluators"]
        assert document["$evaluators"] == {"beta": {"in": ["b"]}}
    wait_until(
        lambda: APPROVE not in annotations(kubectl, namespace, "outage"),
        what="the approval annotation to be removed",
        timeout=30,
    )
    types = timeline_types(kubectl, namespace, "outage")
    for expected in ("RemediationProposed", "RemediationApproved", "RemediationSucceeded"):
        assert types.count(expected) == 1, (expected, types)
    # What turning it back on needs (docs/remediation/feature-flag.md), where people look.
    shown = run_plugin(cluster.kubeconfig, namespace, "show", incident_id).stdout
    assert 'previous: {"defaultVariant": "on", "state": "ENABLED"}' in shown, shown

    again = request(
        cluster.kubeconfig, namespace, incident_id, "disable-flag", flag="new-checkout", check=False
    )
    refused = wait_phase(kubectl, namespace, "outage", "r2", "Refused", operator.log_tail)
    assert refused["reason"] == "NothingToDo", (refused, again.stdout, again.stderr)
    assert "already off" in refused["message"]


def _in_progress(source: str, found: dict[str, Any]) -> dict[str, Any]:
    """The record a killed operator left: approved, attempt recorded, not yet acted on."""
    started = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    api_version = "v1" if source == "ConfigMap" else "core.openfeature.dev/v1beta1"
    return {
        "id": "r1",
        "remediation": "disable-flag",
        "kind": "featureFlag",
        "parameters": {"flag": "new-checkout"},
        "requestedBy": "alice",
        "requestedAt": started,
        "phase": "InProgress",
        "approverGroup": APPROVERS,
        "summary": "disable flag new-checkout",
        "approvedBy": "alice",
        "approvedAt": started,
        "attempt": "deadbeef",
        "startedAt": started,
        "previous": {"state": "ENABLED", "defaultVariant": "on"},
        "targets": [
            {
                "apiVersion": api_version,
                "kind": source,
                "name": "shop-flags",
                "resourceVersion": found["metadata"]["resourceVersion"],
            }
        ],
    }


def _edit(kubectl: Kubectl, namespace: str, source: str, flags: dict[str, Any]) -> None:
    if source == "ConfigMap":
        document = {"$schema": SCHEMA, "flags": flags}
        patch = {"data": {FLAGD_KEY: json.dumps(document)}}
        kind = "configmap"
    else:
        patch = {"spec": {"flagSpec": {"flags": flags}}}
        kind = "featureflags.core.openfeature.dev"
    kubectl("patch", kind, "shop-flags", "-n", namespace, "--type=merge", "-p", json.dumps(patch))


@pytest.mark.parametrize(
    ("source", "left_behind"),
    [
        ("FeatureFlag", "marked"),
        ("ConfigMap", "disabled"),
        ("FeatureFlag", "changed-by-someone"),
        ("ConfigMap", "other-flag-edited"),
    ],
)
def test_a_killed_operator_acts_exactly_once_and_never_overwrites_an_edit(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    tmp_path: Path,
    source: str,
    left_behind: str,
) -> None:
    created = _create_source(kubectl, namespace, source)
    catalog_policy(kubectl, namespace, [_entry(source)])
    open_incident(kubectl, namespace, "outage")
    operator.stop(kill=True)
    try:
        write_records(kubectl, namespace, "outage", [_in_progress(source, created)])
        if left_behind == "disabled":
            _edit(
                kubectl,
                namespace,
                source,
                {**FLAGS, "new-checkout": {**_flag(), "state": "DISABLED"}},
            )
        elif left_behind == "changed-by-someone":
            _edit(kubectl, namespace, source, {"new-checkout": _flag(default="off")})
        elif left_behind == "other-flag-edited":
            _edit(kubectl, namespace, source, {**FLAGS, "dark-mode": _flag(default="off")})
        before = _read(kubectl, namespace, source)
        with OperatorProcess(cluster.kubeconfig, tmp_path / "restarted.log") as restarted:
            succeeds = left_behind in ("marked", "disabled")
            phase = "Succeeded" if succeeds else "Failed"
            done = wait_phase(kubectl, namespace, "outage", "r1", phase, restarted.log_tail)
            after = _read(kubectl, namespace, source)
            restarted.stop(kill=True)
    finally:
        operator.start()
    flag = _flags(after, source)["new-checkout"]
    versions = (before["metadata"]["resourceVersion"], after["metadata"]["resourceVersion"])
    if left_behind == "marked":
        assert flag["state"] == "DISABLED"
        assert versions[0] != versions[1], "written once"
    elif left_behind == "disabled":
        assert flag["state"] == "DISABLED"
        assert versions[0] == versions[1], "not written a second time"
    else:
        assert versions[0] == versions[1], "their edit stands"
        assert flag["state"] == "ENABLED"
        assert done["reason"] == "RemediationFailed"
        assert "changed by someone else" in done["message"], done["message"]
        assert "the operator leaves it alone" in done["message"]
    assert timeline_types(kubectl, namespace, "outage").count("RemediationStarted") == 0


def test_a_missing_flag_object_or_flag_is_refused_naming_it(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    catalog_policy(kubectl, namespace, [_entry("FeatureFlag")])
    incident_id = open_incident(kubectl, namespace, "outage")["status"]["id"]
    request(
        cluster.kubeconfig, namespace, incident_id, "disable-flag", flag="new-checkout", check=False
    )
    missing = wait_phase(kubectl, namespace, "outage", "r1", "Refused", operator.log_tail)
    assert missing["reason"] == "FlagNotFound"
    assert "FeatureFlag/shop-flags does not exist" in missing["message"]

    _create_source(kubectl, namespace, "FeatureFlag")
    _edit(kubectl, namespace, "FeatureFlag", {"new-checkout": None})  # merge patch: removed
    assert "new-checkout" not in _flags(_read(kubectl, namespace, "FeatureFlag"), "FeatureFlag")
    request(
        cluster.kubeconfig, namespace, incident_id, "disable-flag", flag="new-checkout", check=False
    )
    unknown = wait_phase(kubectl, namespace, "outage", "r2", "Refused", operator.log_tail)
    assert unknown["reason"] == "FlagNotFound"
    assert "has no flag 'new-checkout'; its flags: dark-mode" in unknown["message"]
