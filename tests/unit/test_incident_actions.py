"""The writes the plugin and the Slack actions share (adapters/incident_actions.py):
the patch each action is, and what it refuses, with a recording stand-in for the client."""

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from incident_operator.adapters import incident_actions as actions
from incident_operator.adapters.incident_actions import ActionRefused

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PROPOSED = {
    "phase": "Proposed",
    "proposal": "9c8b41441f37",
    "target": {"kind": "Deployment", "name": "web"},
    "currentRevision": 2,
    "targetRevision": 1,
}


def _incident(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "checkout", "resourceVersion": "7", "annotations": {}},
        "spec": {"title": "Checkout is down", "severity": "P1", "updates": [{"message": "x"}]},
        "status": {"id": "INC-0042", **status},
    }


class _Recorder:
    """Writes are kept; ``meanwhile`` is the incident a guarded patch finds on a conflict."""

    def __init__(self, meanwhile: dict[str, Any] | None = None) -> None:
        self.meanwhile = meanwhile
        self.patches: list[dict[str, Any]] = []

    def whoami(self) -> str:
        return "dana"

    def find(self, reference: str) -> dict[str, Any]:
        return _incident()

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(body)
        merged = copy.deepcopy(incident)
        merged["spec"].update(body.get("spec", {}))
        return merged

    def patch_from(self, incident: dict[str, Any], build: actions.Build) -> dict[str, Any]:
        return self.patch(incident, build(self.meanwhile or incident))


def test_acknowledging_sets_who_once() -> None:
    recorder = _Recorder()
    assert actions.acknowledge(recorder, _incident(), "dana") is None
    assert recorder.patches == [
        {
            "metadata": {
                "annotations": {
                    "sre.agentos.io/changed-by": "dana",
                    "sre.agentos.io/acknowledged-by": "dana",
                }
            }
        }
    ]
    done = _incident()
    done["metadata"]["annotations"]["sre.agentos.io/acknowledged-by"] = "erin"
    assert actions.acknowledge(recorder, done, "dana") == "erin"
    assert len(recorder.patches) == 1


def test_updates_append_to_the_list_as_it_is_and_roles_are_set_as_the_caller() -> None:
    recorder = _Recorder()
    assert actions.post_update(recorder, _incident(), "dana", "rolled back", NOW) == 2
    assert recorder.patches[-1]["spec"]["updates"] == [
        {"message": "x"},
        {"message": "rolled back", "author": "dana", "time": NOW.isoformat()},
    ]
    assert actions.assign(recorder, _incident(), "dana", "comms-lead", "me") == "dana"
    assert recorder.patches[-1]["spec"] == {"roles": {"commsLead": "dana"}}
    with pytest.raises(ActionRefused, match="no role 'boss'"):
        actions.assign(recorder, _incident(), "dana", "boss", "me")
    actions.resolve(recorder, _incident(), "dana", "customer confirmed")
    assert recorder.patches[-1]["spec"] == {
        "state": "Resolved",
        "resolution": {"override": {"by": "dana", "reason": "customer confirmed"}},
    }


def test_a_rollback_is_approved_only_for_the_proposal_shown() -> None:
    recorder = _Recorder()
    actions.approve_rollback(recorder, _incident(rollback=PROPOSED), "dana", "9c8b41441f37")
    assert recorder.patches[-1] == {
        "metadata": {
            "annotations": {
                "sre.agentos.io/approve-rollback": "dana",
                "sre.agentos.io/approve-rollback-proposal": "9c8b41441f37",
                "sre.agentos.io/changed-by": "dana",
            }
        }
    }
    changed = _Recorder(meanwhile=_incident(rollback={**PROPOSED, "proposal": "0000aaaa"}))
    with pytest.raises(ActionRefused, match="the proposal changed while you approved it"):
        actions.approve_rollback(changed, _incident(rollback=PROPOSED), "dana", "9c8b41441f37")
    assert changed.patches == []
    with pytest.raises(ActionRefused, match="has no rollback proposal"):
        actions.rollback_proposal(_incident())
    assert actions.rollback_what(PROPOSED) == "Deployment/web from revision 2 to revision 1"


def test_a_remediation_is_approved_only_while_it_awaits_approval() -> None:
    record = {"id": "r1", "phase": "Proposed", "proposal": "ab12", "summary": "scale web"}
    recorder = _Recorder()
    actions.approve_remediation(recorder, _incident(remediations=[record]), "dana", "r1", "ab12")
    annotations = recorder.patches[-1]["metadata"]["annotations"]
    assert annotations["sre.agentos.io/approve-remediation-request"] == "r1:ab12"
    with pytest.raises(ActionRefused, match="has no remediation r2"):
        actions.remediation_proposed(_incident(remediations=[record]), "r2")


def test_a_declaration_is_made_as_the_caller() -> None:
    created: list[dict[str, Any]] = []

    class _Creates:
        def create(self, body: dict[str, Any]) -> dict[str, Any]:
            created.append(body)
            return body

    name = actions.incident_name("Checkout is DOWN!")
    assert name.startswith("checkout-is-down-")
    actions.declare(_Creates(), name, {"title": "Checkout is DOWN!", "severity": "P0"}, "dana")
    assert created[0]["metadata"] == {
        "name": name,
        "annotations": {"sre.agentos.io/changed-by": "dana"},
    }
