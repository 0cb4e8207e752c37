"""``kubectl incident approve-rollback`` without a cluster: what it shows, writes and refuses."""

import argparse
import copy
from collections.abc import Callable
from typing import Any, cast

import pytest

from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.rollback_commands import add_approve_rollback, cmd_approve_rollback

PROPOSAL = {
    "phase": "Proposed",
    "target": {"kind": "Deployment", "name": "web"},
    "currentRevision": 2,
    "targetRevision": 1,
    "proposal": "9c8b41441f37",
    "diff": "container app: image shop:1.1.0 -> shop:1.0.0",
}
INCIDENT: dict[str, Any] = {
    "metadata": {"name": "outage", "namespace": "shop", "resourceVersion": "7"},
    "spec": {"title": "Checkout errors", "severity": "P1"},
    "status": {"id": "INC-0042", "rollback": PROPOSAL},
}


def _incident(rollback: dict[str, Any], **annotations: str) -> dict[str, Any]:
    found = copy.deepcopy(INCIDENT)
    found["status"]["rollback"] = rollback
    found["metadata"]["annotations"] = annotations
    return found


class _Cluster:
    """Shows ``INCIDENT``; ``meanwhile`` is what a re-read after a conflict finds."""

    def __init__(self, meanwhile: dict[str, Any] | None = None) -> None:
        self.meanwhile = meanwhile
        self.patched: dict[str, Any] | None = None

    def find(self, name: str) -> dict[str, Any]:
        return copy.deepcopy(INCIDENT)

    def whoami(self) -> str:
        return "carol"

    def patch_from(
        self, incident: dict[str, Any], build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        body = build(incident)
        if self.meanwhile is not None:  # the guarded patch conflicted: computed again
            body = build(self.meanwhile)
        self.patched = body
        return body


def _approve(cluster: _Cluster) -> int:
    parser = argparse.ArgumentParser()
    add_approve_rollback(parser.add_subparsers())
    args = parser.parse_args(["approve-rollback", "outage"])
    return cmd_approve_rollback(cast(Cluster, cluster), args)


def test_it_shows_what_it_approves_and_names_the_proposal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = _Cluster()
    assert _approve(cluster) == 0
    assert cluster.patched == {
        "metadata": {
            "annotations": {
                "sre.agentos.io/approve-rollback": "carol",
                "sre.agentos.io/approve-rollback-proposal": "9c8b41441f37",
                "sre.agentos.io/changed-by": "carol",
            }
        }
    }
    assert capsys.readouterr().out.splitlines() == [
        "INC-0042: approving proposal 9c8b41441f37: roll back Deployment/web from revision 2 "
        "to revision 1",
        "  container app: image shop:1.1.0 -> shop:1.0.0",
        "INC-0042: approved rolling back Deployment/web from revision 2 to revision 1 as carol",
    ]


@pytest.mark.parametrize(
    ("meanwhile", "words"),
    [
        (
            _incident(PROPOSAL | {"currentRevision": 3, "targetRevision": 2, "proposal": "5f0c"}),
            "INC-0042: the proposal changed while you approved it (it is now 5f0c: roll back "
            "Deployment/web from revision 3 to revision 2); nothing was approved. Look at it "
            "again (kubectl incident show INC-0042) and approve again",
        ),
        (
            _incident(PROPOSAL, **{"sre.agentos.io/approve-rollback": "dave"}),
            "INC-0042: the rollback was already approved by dave (the operator is recording it)",
        ),
        (
            _incident(PROPOSAL | {"phase": "InProgress", "approvedBy": "dave"}),
            "INC-0042: the rollback was already approved by dave (it is InProgress)",
        ),
    ],
    ids=["proposal-moved", "approved-by-another", "recorded-for-another"],
)
def test_what_changed_in_between_approves_nothing(
    meanwhile: dict[str, Any], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = _Cluster(meanwhile)
    with pytest.raises(PluginError) as refused:
        _approve(cluster)
    assert str(refused.value).startswith(words)
    assert cluster.patched is None
    assert "approved rolling back" not in capsys.readouterr().out
