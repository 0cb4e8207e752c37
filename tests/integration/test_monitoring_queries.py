"""The shipped monitoring against the real tools: Prometheus evaluates every dashboard and
alert expression, and kustomize builds the monitoring component.

promtool has no PromQL checker for dashboards, so each panel's query is sent to the local
Prometheus (/api/v1/query), Grafana's variables replaced by what Grafana would put there;
a query Prometheus cannot parse is an HTTP 400 and fails the test.
"""

import json
import os
from pathlib import Path
from typing import Any

import yaml
from tests.harness.cluster import ClusterInfo

from incident_operator.domain.dashboards import all_dashboards
from incident_operator.domain.operator_alerts import OPERATOR_ALERTS

REPO = Path(__file__).resolve().parents[2]
# What Grafana substitutes for its variables, as in a dashboard over the last hour.
GRAFANA_VARIABLES = {
    "$namespace": "monitoring-queries",
    "$__rate_interval": "2m",
    "$__range": "1h",
    "$__interval": "30s",
}


def _grafana_substituted(expr: str) -> str:
    for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace('"$1"', ""), f"an unknown variable is left in {expr}"
    return expr


def _dashboard_exprs() -> list[tuple[str, str]]:
    return [
        (f"{name}: {panel['title']}", target["expr"])
        for name, board in all_dashboards().items()
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def test_prometheus_accepts_every_dashboard_and_alert_expression(
    cluster: ClusterInfo, prometheus_url: str
) -> None:
    exprs = _dashboard_exprs() + [(alert.name, alert.expr) for alert in OPERATOR_ALERTS]
    refused: list[str] = []
    for what, expr in exprs:
        try:
            cluster.prometheus_query(_grafana_substituted(expr))
        except RuntimeError as error:
            refused.append(f"{what}: {error}")
    assert not refused, "\n".join(refused)
    assert len(exprs) > 20


def test_the_kustomize_component_adds_the_rule_and_the_dashboards(
    cluster: ClusterInfo, tmp_path: Path
) -> None:
    manifests = os.path.relpath(REPO / "manifests", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [manifests],
                "components": [f"{manifests}/components/monitoring"],
            }
        )
    )
    built: list[dict[str, Any]] = [
        doc for doc in yaml.safe_load_all(cluster.kubectl("kustomize", str(tmp_path)).stdout) if doc
    ]
    dashboards = {
        doc["metadata"]["name"]: doc
        for doc in built
        if doc["kind"] == "ConfigMap" and doc["metadata"]["labels"].get("grafana_dashboard") == "1"
    }
    assert set(dashboards) == {
        f"incident-operator-dashboard-{name.removesuffix('.json')}" for name in all_dashboards()
    }
    for configmap in dashboards.values():
        ((name, text),) = configmap["data"].items()
        assert json.loads(text) == all_dashboards()[name]
        assert configmap["metadata"]["namespace"] == "incident-operator"
    (rule,) = [doc for doc in built if doc["kind"] == "PrometheusRule"]
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} == {
        alert.name for alert in OPERATOR_ALERTS
    }
    # The component adds to the install; it changes nothing of it.
    assert any(doc["kind"] == "Deployment" for doc in built)
