"""The operator's alerts and the Grafana dashboards: generated, committed, checked.

promtool checks the rule file and runs tests/promtool/incident-operator.test.yaml (each
alert fires on its failure and not on a healthy neighbour). The runbook dashboards'
panels are the detection catalog's PromQL and thresholds; the policy's default dashboard
links open them. tests/integration/test_monitoring_queries.py has a real Prometheus
evaluate every expression.
"""

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from incident_operator.adapters import metrics  # noqa: F401  (registers the metrics)
from incident_operator.api.monitoring import DASHBOARDS_DIR, RULES_FILE, render_monitoring
from incident_operator.domain.dashboards import (
    RUNBOOK_DASHBOARDS,
    SYSTEM_OVERVIEW,
    all_dashboards,
    operator_dashboard,
)
from incident_operator.domain.detection_queries import signal_query
from incident_operator.domain.grafana import threshold_steps
from incident_operator.domain.links import RUNBOOK_DASHBOARDS as DASHBOARD_LINKS
from incident_operator.domain.operator_alerts import OPERATOR_ALERTS, rule_groups
from incident_operator.domain.signals import RUNBOOK_THRESHOLDS, Signal
from tests.harness.binaries import promtool_binary

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "manifests" / "components" / "monitoring"
CHART_FILES = REPO / "charts" / "incident-operator" / "files" / "monitoring"
PROMTOOL_TESTS = REPO / "tests" / "promtool" / "incident-operator.test.yaml"
MONITORING_DOC = REPO / "docs" / "monitoring.md"
RUNBOOK_AREAS = [board for board in RUNBOOK_DASHBOARDS if board is not SYSTEM_OVERVIEW]


def _promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool_binary()), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ------------------------------------------------------------------ generated files


@pytest.mark.parametrize("name", sorted(render_monitoring()))
def test_committed_monitoring_files_are_the_rendered_ones(name: str) -> None:
    committed = COMPONENT / name
    text = committed.read_text() if committed.exists() else None
    assert text == render_monitoring()[name], f"{committed} is stale: run `make monitoring`"


def test_the_chart_carries_copies_of_the_rule_file_and_the_dashboards() -> None:
    rendered = render_monitoring()
    copies = [RULES_FILE] + [name for name in rendered if name.startswith(DASHBOARDS_DIR)]
    for name in copies:
        copy = CHART_FILES / name
        text = copy.read_text() if copy.exists() else None
        assert text == rendered[name], f"{copy} is stale: run `make monitoring`"
    shipped = {p.name for p in (CHART_FILES / DASHBOARDS_DIR).glob("*.json")}
    assert shipped == set(all_dashboards()), "a dashboard the chart ships is no longer rendered"


# ----------------------------------------------------------------------------- alerts


def test_promtool_accepts_the_rule_file() -> None:
    result = _promtool("check", "rules", str(COMPONENT / RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(OPERATOR_ALERTS)} rules found" in result.stdout


def test_promtool_unit_tests_of_every_alert_pass() -> None:
    result = _promtool("test", "rules", PROMTOOL_TESTS.name, cwd=PROMTOOL_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    tests = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == {alert.name for alert in OPERATOR_ALERTS}


@pytest.mark.parametrize("alert", OPERATOR_ALERTS, ids=lambda a: a.name)
def test_every_alert_has_a_severity_annotations_and_a_documented_runbook_url(
    alert: Any,
) -> None:
    rule = next(r for r in rule_groups()["groups"][0]["rules"] if r["alert"] == alert.name)
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    path, anchor = rule["annotations"]["runbook_url"].split("#")
    assert (REPO / path).exists()
    headings = re.findall(r"^#+ +(.+)$", MONITORING_DOC.read_text(), re.MULTILINE)
    assert anchor in {heading.strip().lower() for heading in headings}, (
        f"docs/monitoring.md has no heading {alert.name}"
    )


def _exported_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in ("", "_total", "_bucket", "_sum", "_count")}
    return names


def _operator_metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bincident_operator_[a-z_]+", expr))


def test_alerts_and_the_operator_dashboard_read_only_metrics_the_operator_exports() -> None:
    exprs = [alert.expr for alert in OPERATOR_ALERTS] + [
        target["expr"] for panel in operator_dashboard()["panels"] for target in _targets(panel)
    ]
    used = set().union(*(_operator_metric_names(expr) for expr in exprs))
    assert used
    assert used <= _exported_names(), used - _exported_names()


def test_build_info_names_the_versions_and_is_one() -> None:
    samples = [
        sample
        for family in REGISTRY.collect()
        if family.name == "incident_operator_build_info"
        for sample in family.samples
    ]
    assert len(samples) == 1
    assert samples[0].value == 1
    assert samples[0].labels["version"] == "0.1.0"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", samples[0].labels["python"])
    assert samples[0].labels["kopf"] != "unknown"


# ------------------------------------------------------------------------- dashboards


def _targets(panel: dict[str, Any]) -> list[dict[str, Any]]:
    return list(panel.get("targets", []))


def _panels_by_title(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in board["panels"] if panel["type"] != "row"}


@pytest.mark.parametrize("name", sorted(all_dashboards()))
def test_dashboard_json_is_well_formed(name: str) -> None:
    board = json.loads((COMPONENT / DASHBOARDS_DIR / name).read_text())
    assert board["uid"] == name.removesuffix(".json")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in board["templating"]["list"]}
    for panel in board["panels"]:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24
        for target in _targets(panel):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            used = set(re.findall(r"\$([a-z]\w*)", target["expr"]))
            assert used <= variables, f"{panel['title']} uses undefined {used - variables}"


@pytest.mark.parametrize("name", sorted(all_dashboards()))
def test_each_dashboard_fits_a_configmap_applied_client_side(name: str) -> None:
    # kubectl apply keeps the whole object in an annotation limited to 256 KiB.
    assert len((COMPONENT / DASHBOARDS_DIR / name).read_bytes()) < 200 * 1024


@pytest.mark.parametrize("board", RUNBOOK_DASHBOARDS, ids=lambda b: b.uid)
def test_runbook_panels_are_detections_queries_and_thresholds(board: Any) -> None:
    rendered = all_dashboards()[f"{board.uid}.json"]
    panels = [panel for panel in rendered["panels"] if panel["type"] != "row"]
    assert len(panels) == len(board.signals)
    for signal, panel in zip(board.signals, panels, strict=True):
        (target,) = _targets(panel)
        assert target["expr"] == signal_query(signal, "$namespace")
        thresholds = RUNBOOK_THRESHOLDS[signal]
        assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == threshold_steps(
            thresholds.warning, thresholds.critical, thresholds.direction
        )


def test_every_signal_is_on_the_overview_and_on_exactly_one_area_dashboard() -> None:
    assert sorted(SYSTEM_OVERVIEW.signals) == sorted(Signal)
    for signal in Signal:
        assert sum(signal in board.signals for board in RUNBOOK_AREAS) == 1, signal


def test_success_rate_is_red_below_its_critical_threshold() -> None:
    steps = threshold_steps(0.95, 0.80, RUNBOOK_THRESHOLDS[Signal.AGENT_SUCCESS_RATE].direction)
    assert steps == [
        {"color": "red", "value": None},
        {"color": "orange", "value": 0.80},
        {"color": "green", "value": 0.95},
    ]


def test_the_policys_default_dashboard_links_open_the_generated_dashboards() -> None:
    # The runbook appendix's Dashboard Links table, as written there.
    appendix = [
        ("System Overview", "/d/system-overview", "High-level system health"),
        ("Agent Execution", "/d/agent-execution", "Agent performance metrics"),
        ("API Performance", "/d/api-performance", "API latency and errors"),
        ("Infrastructure", "/d/infrastructure", "Resource utilization"),
    ]
    assert [(link.name, link.url, link.purpose) for link in DASHBOARD_LINKS] == appendix
    for link in DASHBOARD_LINKS:
        uid = link.url.removeprefix("/d/")
        board = json.loads((COMPONENT / DASHBOARDS_DIR / f"{uid}.json").read_text())
        assert board["title"] == link.name


def test_the_operator_dashboard_shows_what_the_issue_asks_for() -> None:
    titles = set(_panels_by_title(operator_dashboard()))
    for wanted in (
        "MTTA by severity (time range)",
        "MTTR by severity (time range)",
        "Open incidents by phase and severity",
        "Escalations",
        "Notifications by outcome",
        "Rollbacks and remediations",
        "Detection query health",
    ):
        assert wanted in titles
