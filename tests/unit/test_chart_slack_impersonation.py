"""The chart's impersonation rights for acting from Slack (templates/slack-impersonation.yaml):
none by default; with slackApp.impersonate, exactly the users and groups listed, bound to
the operator's ServiceAccount; the same rules as manifests/rbac/slack-impersonation.yaml."""

from pathlib import Path

import yaml

from tests.helm import REPO, by_kind, render

NAME = "incident-operator-slack-impersonation"


def test_the_operator_may_impersonate_nobody_by_default() -> None:
    for manifest in render():
        for rule in manifest.get("rules") or []:
            assert "impersonate" not in rule.get("verbs", []), manifest["metadata"]["name"]


def test_it_may_impersonate_exactly_the_listed_users_and_groups() -> None:
    rendered = render(
        "--set",
        "slackApp.impersonate.users={dana@example.com,erin@example.com}",
        "--set",
        "slackApp.impersonate.groups={incident-approvers}",
    )
    roles = [m for m in by_kind(rendered, "ClusterRole") if m["metadata"]["name"] == NAME]
    assert len(roles) == 1
    shipped = list(
        yaml.safe_load_all(Path(REPO / "manifests/rbac/slack-impersonation.yaml").read_text())
    )
    assert roles[0]["rules"] == shipped[0]["rules"]
    binding = next(
        m for m in by_kind(rendered, "ClusterRoleBinding") if m["metadata"]["name"] == NAME
    )
    assert binding["roleRef"]["name"] == NAME
    assert binding["subjects"] == shipped[1]["subjects"]
    without_rbac = render("--set", "rbac.create=false", "--set", "slackApp.impersonate.users={x}")
    assert all(m["metadata"]["name"] != NAME for m in without_rbac)
