"""The public status page in a real browser (Debian's Chromium), served by the real
operator from what its watches hold: an outage on one component, what customers are
told (and not told), the recovery; axe-core finds nothing on either page."""

import json
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page
from tests.harness.browser import accessibility_violations, screenshot
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import (
    PRE_RESOLUTION_TICKED,
    create_incident,
    patch_incident,
    policy_manifest,
)
from tests.harness.loopback import get_ok
from tests.harness.operator import OperatorProcess
from tests.harness.plugin import run_plugin
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.support.intake_http import free_port

pytestmark = pytest.mark.timeout(120)
TITLE = "Acme Status"
COMPONENTS = [
    {
        "name": "API",
        "group": "Platform",
        "description": "REST API and webhooks",
        "workloads": [{"kind": "Deployment", "name": "api"}],
    },
    {"name": "Website", "workloads": [{"kind": "Deployment", "name": "web"}]},
]
CUSTOMER_TEXT = "We are investigating failed API calls. Next update within 15 minutes."


@pytest.fixture
def status_page(cluster: ClusterInfo, namespace: str, tmp_path: Path) -> Iterator[str]:
    """The operator serving its status page, watching only the test's namespace."""
    port = free_port()
    args = ("--namespace", namespace, "--status-page-listen", f"127.0.0.1:{port}")
    args += ("--status-page-title", TITLE)
    with OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log", extra_args=args):
        yield f"http://127.0.0.1:{port}"


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def _states(url: str) -> dict[str, str]:
    components = _json(f"{url}/api/v2/summary.json")["components"]
    return {c["name"]: c["status"] for c in components if not c["group"]}


def _wait_states(url: str, expected: dict[str, str]) -> None:
    wait_until(lambda: _states(url) == expected, what=f"components {expected}", timeout=30)


def _row(page: Page, name: str) -> str:
    return page.locator("li[data-component]", has_text=name).inner_text()


def test_an_outage_and_its_recovery_as_customers_see_them(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, status_page: str, page: Page
) -> None:
    url = status_page
    policy = policy_manifest("team", default=True, statusPage={"components": COMPONENTS})
    kubectl("apply", "-n", namespace, "-f", "-", input=policy)
    _wait_states(url, {"API": "operational", "Website": "operational"})
    page.goto(url)
    assert page.locator("h1").inner_text() == TITLE
    assert page.locator("#overall-status").inner_text() == "All Systems Operational"
    assert "Operational" in _row(page, "API")
    assert "Operational" in _row(page, "Website")

    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    internal = {"message": "internal: db-7 ran out of memory", "author": me, "time": now}
    create_incident(
        kubectl,
        namespace,
        "api-down",
        title="Primary database node db-7 crashed",
        severity="P0",
        affected=[{"kind": "Deployment", "name": "api"}],
        roles={"commsLead": me, "commander": "alice"},
        updates=[internal],
    )
    _wait_states(url, {"API": "major_outage", "Website": "operational"})
    page.reload()
    assert "Major outage" in _row(page, "API")
    assert "Operational" in _row(page, "Website")
    assert page.locator("#overall-status").inner_text() == "Major Service Outage"
    content = page.content()
    # Neither the title nor the internal update, nor anyone's name.
    for internal_text in ("db-7", "Primary database", me, "alice", namespace):
        assert internal_text not in content, internal_text
    assert page.locator("#active-incidents ~ p", has_text="No incidents").count() == 1

    run_plugin(
        cluster.kubeconfig,
        namespace,
        "publish",
        "api-down",
        "--kind",
        "initial",
        "-m",
        CUSTOMER_TEXT,
    )
    wait_until(
        lambda: _json(f"{url}/api/v2/incidents.json")["incidents"],
        what="the published incident in incidents.json",
        timeout=30,
    )
    (incident,) = _json(f"{url}/api/v2/incidents.json")["incidents"]
    assert incident["name"] == "[Service Disruption] AgentOS Platform"
    assert (incident["status"], incident["impact"]) == ("investigating", "critical")
    assert [u["body"] for u in incident["incident_updates"]] == [CUSTOMER_TEXT]
    assert [c["name"] for c in incident["components"]] == ["API"]
    page.reload()
    active = page.locator("section[aria-labelledby=active-incidents] article")
    assert active.count() == 1
    assert CUSTOMER_TEXT in active.inner_text()
    assert "Investigating" in active.inner_text()
    with urllib.request.urlopen(f"{url}/history.atom", timeout=2) as response:
        atom = response.read().decode()
    assert CUSTOMER_TEXT in atom
    assert "db-7" not in atom
    assert accessibility_violations(page) == []
    screenshot(page, "status-page-outage")

    patch_incident(
        kubectl, namespace, "api-down", state="Resolved", checklist=PRE_RESOLUTION_TICKED
    )
    _wait_states(url, {"API": "operational", "Website": "operational"})
    wait_until(
        lambda: _json(f"{url}/api/v2/incidents.json")["incidents"][0]["status"] == "resolved",
        what="the incident resolved in incidents.json",
        timeout=30,
    )
    assert _json(f"{url}/api/v2/incidents/unresolved.json")["incidents"] == []
    page.reload()
    assert page.locator("#overall-status").inner_text() == "All Systems Operational"
    assert "Operational" in _row(page, "API")
    assert page.locator("section[aria-labelledby=active-incidents] article").count() == 0
    past = page.locator("section[aria-labelledby=past-incidents] article")
    assert past.count() == 1
    assert CUSTOMER_TEXT in past.inner_text()
    assert "Resolved" in past.inner_text()
    assert accessibility_violations(page) == []
    screenshot(page, "status-page-resolved")


def _api_server_answers(cluster: ClusterInfo) -> bool:
    try:
        return get_ok(
            f"{cluster.api_server_url}/readyz", token=cluster.admin_token, ca_file=cluster.ca_file
        )
    except OSError:
        return False


def test_the_page_keeps_answering_while_the_api_server_is_down(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, status_page: str
) -> None:
    """It answers from the operator's memory: a restart of kube-apiserver (SIGTERM, then
    started again) changes nothing customers see, and no request fails."""
    if not cluster.controllable:
        pytest.skip("the cluster was not started by the harness: cannot restart its API server")
    url = status_page
    policy = policy_manifest("team", default=True, statusPage={"components": COMPONENTS})
    kubectl("apply", "-n", namespace, "-f", "-", input=policy)
    create_incident(
        kubectl,
        namespace,
        "api-down",
        severity="P0",
        affected=[{"kind": "Deployment", "name": "api"}],
    )
    expected = {"API": "major_outage", "Website": "operational"}
    _wait_states(url, expected)

    restarting = threading.Thread(target=cluster.restart_api_server, kwargs={"grace": 5})
    restarting.start()
    answers: list[tuple[bool, dict[str, str]]] = []
    while restarting.is_alive():
        # Any HTTP error or refused connection raises here and fails the test.
        answers.append((_api_server_answers(cluster), _states(url)))
    restarting.join()

    while_down = [states for api_up, states in answers if not api_up]
    assert while_down, "the page was never asked while the API server was down"
    assert all(states == expected for _, states in answers), answers
