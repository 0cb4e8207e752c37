"""The chart's monitoring values: the PrometheusRule and the Grafana dashboard ConfigMaps.

Rendered whenever enabled, with or without the Prometheus Operator's API in the cluster
(`helm template` asks no cluster), and never when disabled (the default).
"""

import json

import pytest
import yaml

from incident_operator.api.monitoring import render_monitoring
from incident_operator.domain.dashboards import all_dashboards
from incident_operator.domain.operator_alerts import rule_groups
from tests.helm import CHART, by_kind, one, render, run_helm

PROMETHEUS_RULE_API = "monitoring.coreos.com/v1/PrometheusRule"
ENABLED = ["--set", "monitoring.prometheusRule.enabled=true"]
DASHBOARDS = ["--set", "monitoring.dashboards.enabled=true"]


WITH_AND_WITHOUT_THE_API = pytest.mark.parametrize(
    "api", [[], ["--api-versions", PROMETHEUS_RULE_API]], ids=["no-api", "api"]
)


@WITH_AND_WITHOUT_THE_API
def test_nothing_is_rendered_by_default(api: list[str]) -> None:
    manifests = render(*api)
    assert not by_kind(manifests, "PrometheusRule")
    assert not by_kind(manifests, "ConfigMap")


@WITH_AND_WITHOUT_THE_API
def test_the_prometheus_rule_holds_the_operators_alerts(api: list[str]) -> None:
    rule = one(
        render(*ENABLED, "--set", "monitoring.prometheusRule.labels.release=kps", *api),
        "PrometheusRule",
    )
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == "incident-operator"
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["metadata"]["labels"]["app.kubernetes.io/instance"] == "incident-operator"
    assert rule["spec"] == rule_groups()


def test_a_runbook_base_url_goes_in_front_of_each_runbook_url() -> None:
    base = "https://git.example/sre/incident-operator/blob/main/"
    rule = one(
        render(*ENABLED, "--set", f"monitoring.prometheusRule.runbookBaseUrl={base}"),
        "PrometheusRule",
    )
    urls = [r["annotations"]["runbook_url"] for r in rule["spec"]["groups"][0]["rules"]]
    expected = [
        base.rstrip("/") + "/" + r["annotations"]["runbook_url"]
        for r in rule_groups()["groups"][0]["rules"]
    ]
    assert urls == expected


def test_one_dashboard_configmap_each_with_the_sidecars_label() -> None:
    configmaps = by_kind(render(*DASHBOARDS), "ConfigMap")
    assert len(configmaps) == len(all_dashboards())
    for configmap in configmaps:
        assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = configmap["data"].items()
        assert json.loads(text) == all_dashboards()[name]
        assert configmap["metadata"]["name"] == f"incident-operator-dashboard-{name[:-5]}"


def test_the_dashboard_label_annotations_and_namespace_are_configurable() -> None:
    configmaps = by_kind(
        render(
            *DASHBOARDS,
            "--set",
            "monitoring.dashboards.label=example.com/dashboard",
            "--set",
            "monitoring.dashboards.labelValue=incidents",
            "--set",
            "monitoring.dashboards.annotations.grafana_folder=Incidents",
            "--set",
            "monitoring.dashboards.namespace=grafana",
        ),
        "ConfigMap",
    )
    assert configmaps
    for configmap in configmaps:
        metadata = configmap["metadata"]
        assert metadata["labels"]["example.com/dashboard"] == "incidents"
        assert "grafana_dashboard" not in metadata["labels"]
        assert metadata["annotations"] == {"grafana_folder": "Incidents"}
        assert metadata["namespace"] == "grafana"


def test_the_chart_lints_with_monitoring_on() -> None:
    result = run_helm("lint", "--strict", str(CHART), *ENABLED, *DASHBOARDS)
    assert "0 chart(s) failed" in result.stdout, result.stdout


def test_a_bad_runbook_base_url_is_refused_by_the_schema() -> None:
    result = run_helm(
        "template",
        str(CHART),
        "--set",
        "monitoring.prometheusRule.runbookBaseUrl=git.example/no-scheme",
        check=False,
    )
    assert result.returncode != 0
    assert "runbookBaseUrl" in result.stderr


def test_the_kustomize_components_rule_is_the_charts() -> None:
    component = yaml.safe_load(render_monitoring()["prometheusrule.yaml"])
    assert component["spec"] == one(render(*ENABLED), "PrometheusRule")["spec"]
