"""Exactly-once steps, rollout progress, verification and GitOps ownership, as tables."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incident_operator.domain.rollback_gitops import gitops_owner, refusal_message
from incident_operator.domain.rollback_state import (
    TAKEOVER_AFTER,
    DetectionView,
    ExecutionStep,
    RolloutState,
    VerificationStep,
    execution_step,
    rollout_progress,
    verification_step,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("actual", "ours", "started", "expected"),
    [
        # Killed after marking, before patching: the workload still runs "from".
        ("from", True, T0, ExecutionStep.PATCH),
        # Killed after patching, before recording: it runs "target"; never patch again.
        ("target", True, T0, ExecutionStep.RECORD_DONE),
        ("target", False, T0, ExecutionStep.RECORD_DONE),
        # Someone changed it meanwhile: leave it alone.
        ("other", True, T0, ExecutionStep.ABORT_CHANGED),
        # Another replica's fresh attempt is its own business...
        ("from", False, T0, ExecutionStep.WAIT_FOR_OWNER),
        ("other", False, T0, ExecutionStep.WAIT_FOR_OWNER),
        # ...until it is old enough to be abandoned.
        ("from", False, T0 - TAKEOVER_AFTER, ExecutionStep.PATCH),
        ("other", False, T0 - TAKEOVER_AFTER - S, ExecutionStep.ABORT_CHANGED),
    ],
)
def test_execution_step(
    actual: str, ours: bool, started: datetime, expected: ExecutionStep
) -> None:
    step = execution_step(
        from_digest="from",
        target_digest="target",
        actual_digest=actual,
        attempt_is_ours=ours,
        started_at=started,
        now=T0,
    )
    assert step is expected


def _deployment(generation: int = 2, observed: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": observed, **status},
    }


_DONE = {"replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}


@pytest.mark.parametrize(
    ("kind", "workload", "state", "words"),
    [
        ("Deployment", _deployment(**_DONE), RolloutState.COMPLETE, "3 replicas updated"),
        ("Deployment", _deployment(observed=1, **_DONE), RolloutState.PROGRESSING, "not seen"),
        (
            "Deployment",
            _deployment(replicas=3, updatedReplicas=1, availableReplicas=3),
            RolloutState.PROGRESSING,
            "1 of 3 replicas updated",
        ),
        (
            "Deployment",
            _deployment(replicas=4, updatedReplicas=3, availableReplicas=3),
            RolloutState.PROGRESSING,
            "1 old replicas",
        ),
        (
            "Deployment",
            _deployment(replicas=3, updatedReplicas=3, availableReplicas=2),
            RolloutState.PROGRESSING,
            "2 of 3 updated replicas available",
        ),
        (
            "Deployment",
            _deployment(
                conditions=[
                    {
                        "type": "Progressing",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "web has timed out progressing",
                    }
                ]
            ),
            RolloutState.FAILED,
            "timed out",
        ),
        (
            "StatefulSet",
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 1,
                    "readyReplicas": 2,
                    "currentRevision": "db-1",
                    "updateRevision": "db-1",
                },
            },
            RolloutState.COMPLETE,
            "2 pods",
        ),
        (
            "StatefulSet",
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 2},
                "status": {
                    "observedGeneration": 1,
                    "readyReplicas": 2,
                    "updatedReplicas": 1,
                    "currentRevision": "db-1",
                    "updateRevision": "db-2",
                },
            },
            RolloutState.PROGRESSING,
            "1 of 2 pods updated",
        ),
        (
            "StatefulSet",
            {
                "metadata": {"generation": 1},
                "spec": {
                    "replicas": 4,
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
                },
                "status": {"observedGeneration": 1, "readyReplicas": 4, "updatedReplicas": 2},
            },
            RolloutState.COMPLETE,
            "partitioned",
        ),
        (
            "StatefulSet",
            {
                "metadata": {"generation": 1},
                "spec": {"replicas": 2, "updateStrategy": {"type": "OnDelete"}},
                "status": {"observedGeneration": 1, "readyReplicas": 2},
            },
            RolloutState.COMPLETE,
            "OnDelete",
        ),
        (
            "DaemonSet",
            {
                "metadata": {"generation": 3},
                "status": {
                    "observedGeneration": 3,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 3,
                },
            },
            RolloutState.COMPLETE,
            "3 pods",
        ),
        (
            "DaemonSet",
            {
                "metadata": {"generation": 3},
                "status": {
                    "observedGeneration": 3,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": 3,
                    "numberAvailable": 1,
                },
            },
            RolloutState.PROGRESSING,
            "1 of 3 updated pods available",
        ),
    ],
)
def test_rollout_progress(
    kind: str, workload: dict[str, Any], state: RolloutState, words: str
) -> None:
    progress = rollout_progress(kind, workload)
    assert progress.state is state
    assert words in progress.message


ROLLED_OUT = T0
UNTIL = T0 + timedelta(minutes=15)


@pytest.mark.parametrize(
    ("now", "recovered_at", "detection", "expected"),
    [
        # Detection evaluated after the rollout and sees recovery.
        (T0 + S, None, DetectionView(False, T0 + S), VerificationStep.RECOVERED),
        # Its last word predates the rollout: not evidence either way.
        (T0 + S, None, DetectionView(False, T0 - S), VerificationStep.WAIT),
        (T0 + S, None, DetectionView(True, T0 + S), VerificationStep.WAIT),
        # Recovered, then breaching again: a regression.
        (T0 + 9 * S, T0 + S, DetectionView(True, T0 + 5 * S), VerificationStep.REGRESSED),
        # Recovered and still so when the window ends.
        (UNTIL, T0 + S, DetectionView(False, T0 + 9 * S), VerificationStep.SUCCEEDED),
        (UNTIL - S, T0 + S, DetectionView(False, T0 + 9 * S), VerificationStep.WAIT),
        # The window ends without a recovery.
        (UNTIL, None, DetectionView(True, UNTIL - S), VerificationStep.NO_RECOVERY),
        (UNTIL, None, None, VerificationStep.NO_RECOVERY),
    ],
)
def test_verification_step(
    now: datetime,
    recovered_at: datetime | None,
    detection: DetectionView | None,
    expected: VerificationStep,
) -> None:
    step = verification_step(
        rolled_out_at=ROLLED_OUT,
        verify_until=UNTIL,
        recovered_at=recovered_at,
        detection=detection,
        now=now,
    )
    assert step is expected


@pytest.mark.parametrize(
    ("labels", "annotations", "tool", "owner"),
    [
        (
            {},
            {"argocd.argoproj.io/tracking-id": "checkout:apps/Deployment:shop/web"},
            "Argo CD",
            "Application checkout",
        ),
        ({"argocd.argoproj.io/instance": "checkout"}, {}, "Argo CD", "Application checkout"),
        (
            {
                "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
            },
            {},
            "Flux",
            "Kustomization flux-system/apps",
        ),
        (
            {"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop"},
            {},
            "Flux",
            "HelmRelease shop/web",
        ),
        # Flux skips objects annotated reconcile=disabled: a rollback there lasts.
        (
            {"kustomize.toolkit.fluxcd.io/name": "apps"},
            {"kustomize.toolkit.fluxcd.io/reconcile": "disabled"},
            None,
            None,
        ),
        # The recommended label alone (Helm, plain manifests) is no sign of Argo CD.
        (
            {"app.kubernetes.io/instance": "web", "app.kubernetes.io/managed-by": "Helm"},
            {},
            None,
            None,
        ),
        ({}, {}, None, None),
    ],
    ids=[
        "argo-annotation",
        "argo-label",
        "flux-kustomize",
        "flux-helm",
        "flux-off",
        "helm",
        "none",
    ],
)
def test_gitops_owner(
    labels: dict[str, str], annotations: dict[str, str], tool: str | None, owner: str | None
) -> None:
    found = gitops_owner(labels, annotations)
    if tool is None:
        assert found is None
        return
    assert found is not None
    assert (found.tool, found.owner) == (tool, owner)
    message = refusal_message("Deployment/web", found)
    assert message.startswith(f"Deployment/web is managed by {tool} ({owner})")
    assert "Git" in message
