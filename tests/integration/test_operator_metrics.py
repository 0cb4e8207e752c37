"""The operator's own /metrics, /healthz and /readyz, and Prometheus scraping them."""

import json
import urllib.request
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families
from tests.harness.cluster import ClusterInfo
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.harness.wait import wait_until


def _samples(operator: OperatorProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_incidents_and_time_to_acknowledge(
    cluster: ClusterInfo, kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    for name, severity in (("a", "P1"), ("b", "P1"), ("c", "P3")):
        body = {
            "apiVersion": "sre.agentos.io/v1alpha1",
            "kind": "Incident",
            "metadata": {"name": name},
            "spec": {"title": name, "severity": severity},
        }
        kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(body))

    def counted() -> bool:
        samples = _samples(operator)
        p1 = samples.get(
            ("incident_operator_incidents", (("phase", "Detected"), ("severity", "P1"))), 0
        )
        return p1 >= 2

    wait_until(
        counted, timeout=30, what="two detected P1 incidents in /metrics", detail=operator.log_tail
    )
    key = ("incident_operator_time_to_acknowledge_seconds_count", (("severity", "P1"),))
    # Read before acknowledging: read after, it may already count this acknowledgement.
    before = _samples(operator).get(key, 0)
    kubectl("annotate", "incident", "a", "-n", namespace, "sre.agentos.io/acknowledged-by=admin")
    wait_until(
        lambda: _samples(operator).get(key, 0) >= before + 1,
        timeout=30,
        what="time to acknowledge observed",
        detail=operator.log_tail,
    )
    samples = _samples(operator)
    assert samples[("incident_operator_leader", ())] == 1
    (build,) = [labels for name, labels in samples if name == "incident_operator_build_info"]
    assert dict(build)["version"] == "0.1.0"
    assert samples[("incident_operator_build_info", build)] == 1


def test_probes_and_prometheus_scrape(cluster: ClusterInfo, operator: OperatorProcess) -> None:
    base = operator.metrics_url.rsplit("/", 1)[0]
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(base + path, timeout=5) as response:
            assert response.status == 200
    if not cluster.controllable:
        return
    cluster.add_scrape_target("incident-operator", urlsplit(base).netloc)

    def scraped() -> bool:
        return bool(
            cluster.prometheus_query('incident_operator_leader{job="incident-operator"} == 1')
        )

    wait_until(scraped, timeout=60, what="Prometheus to scrape the operator")
