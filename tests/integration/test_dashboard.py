"""The responders' dashboard in a real browser, acting as real people.

One operator, one namespace, two dashboards (the installed plugin's ``kubectl incident
dashboard``): alice's, with a client certificate in the approver group, and bob's,
outside it. Chromium clicks the buttons; the API server and the shipped admission
policies decide, and the page says what they decided.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from playwright.sync_api import Page, expect
from tests.harness.browser import accessibility_violations, screenshot
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until
from tests.integration.rollback_support import (
    APPROVE,
    APPROVERS,
    PLUGIN,
    build_history,
    get,
    incident,
    let_approve,
    rollback_of,
    user_kubeconfig,
    wait_rollback,
)

pytestmark = pytest.mark.timeout(240)
WEB = ("Deployment", "web")
ACKNOWLEDGED_BY = "sre.agentos.io/acknowledged-by"


@contextmanager
def _dashboard(kubeconfig: Path, namespace: str) -> Iterator[str]:
    """``kubectl incident dashboard`` as the kubeconfig's user; yields its URL."""
    process = subprocess.Popen(
        [str(PLUGIN), "-n", namespace, "dashboard", "--no-open"],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        with ThreadPoolExecutor(1) as reader:
            first = reader.submit(process.stdout.readline).result(timeout=30)
        assert first.startswith("Dashboard: http://127.0.0.1:"), first + _stderr(process)
        yield first.removeprefix("Dashboard: ").strip()
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _moment(text: str | None) -> datetime:
    assert text, "no deadline"
    return datetime.fromisoformat(text)


def _stderr(process: subprocess.Popen[str]) -> str:
    if process.poll() is None or process.stderr is None:
        return ""
    return process.stderr.read()


def _annotations(kubectl: Kubectl, namespace: str, name: str) -> dict[str, str]:
    found: dict[str, str] = get(kubectl, "Incident", namespace, name)["metadata"].get(
        "annotations", {}
    )
    return found


def _status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    status: dict[str, Any] = get(kubectl, "Incident", namespace, name).get("status") or {}
    return status


def test_responders_run_an_incident_from_the_dashboard(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    admission_policies: None,
    page: Page,
    tmp_path: Path,
) -> None:
    build_history(kubectl, k8s_api, "Deployment", namespace, "web", revisions=2)
    let_approve(kubectl, namespace, "alice", "bob")
    incident(kubectl, namespace, "outage", target=WEB)
    alice = user_kubeconfig(cluster, kubectl, tmp_path, "alice", (APPROVERS,))
    bob = user_kubeconfig(cluster, kubectl, tmp_path, "bob", ())
    proposed = wait_rollback(kubectl, namespace, "outage", "Proposed", operator.log_tail)
    incident_id = _status(kubectl, namespace, "outage")["id"]

    with _dashboard(alice, namespace) as alices, _dashboard(bob, namespace) as bobs:
        # The list: the incident, its clocks, as alice.
        page.goto(alices)
        expect(page.locator("header")).to_contain_text("Acting as alice")
        row = page.locator("tr", has_text=incident_id)
        expect(row).to_contain_text("outage is failing")
        expect(row).to_contain_text("P1")
        response_clock = row.locator(".clock").first
        due = _status(kubectl, namespace, "outage")["responseDueAt"]
        assert _moment(response_clock.get_attribute("data-due")) == _moment(due)
        expect(response_clock.locator(".relative")).to_have_text(
            # Counting down in the browser, in the plugin's words.
            re.compile(r"^(in \d|⚠ OVERDUE by \d)")
        )
        assert accessibility_violations(page) == []
        screenshot(page, "dashboard-list")

        # Live: an incident declared while the page is open appears without a reload.
        page.locator("body[data-live=connected]").wait_for()
        incident(kubectl, namespace, "second", severity="P2")
        expect(page.locator("#incidents")).to_contain_text("second is failing")

        # Bob, outside the approver group: the API server's refusal, on the page.
        page.goto(f"{bobs}incidents/{namespace}/outage")
        page.get_by_role("button", name="Approve rollback").click()
        refusal = page.locator("#result[role=alert]")
        expect(refusal).to_contain_text("Refused")
        expect(refusal).to_contain_text(
            f"only members of group {APPROVERS} may approve rollbacks of this incident; "
            "bob is not one"
        )
        assert APPROVE not in _annotations(kubectl, namespace, "outage")
        assert rollback_of(kubectl, namespace, "outage")["phase"] == "Proposed"

        # Alice: acknowledge, then approve; the status shows her.
        page.goto(alices)
        page.get_by_role("link", name=incident_id).click()
        expect(page.locator("h1")).to_contain_text(f"{incident_id}: outage is failing")
        expect(page.locator("#rollback")).to_contain_text(proposed["proposal"])
        assert accessibility_violations(page) == []
        screenshot(page, "dashboard-incident")
        page.get_by_role("button", name="Acknowledge as alice").click()
        expect(page.locator("#result[role=status]")).to_contain_text("acknowledged by alice")
        assert _annotations(kubectl, namespace, "outage")[ACKNOWLEDGED_BY] == "alice"
        wait_until(
            lambda: _status(kubectl, namespace, "outage").get("acknowledgedAt"),
            what="the acknowledgement in status",
            timeout=30,
            detail=operator.log_tail,
        )
        expect(page.locator("#acknowledged")).to_contain_text("by alice")

        page.get_by_role("button", name="Approve rollback").click()
        expect(page.locator("#result[role=status]")).to_contain_text(
            "approved rolling back Deployment/web from revision 2 to revision 1 as alice"
        )
        approved = wait_until(
            lambda: (r := rollback_of(kubectl, namespace, "outage")).get("approvedBy") and r,
            what="alice's approval in status.rollback",
            timeout=60,
            detail=operator.log_tail,
        )
        assert approved["approvedBy"] == "alice"
        # The page hears of it live and shows who approved.
        expect(page.locator("#rollback-approved")).to_contain_text("Approved by alice")
