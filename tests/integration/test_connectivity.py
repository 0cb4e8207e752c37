"""Real-world connectivity, one operator for the module: detection queries the local
Prometheus through a gateway that wants a bearer token and a tenant header over TLS
with a private CA (as Mimir, Cortex or a kube-rbac-proxy would), all from a Secret; and
notifications go through the HTTP_PROXY the operator runs with, except where NO_PROXY
says otherwise."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.harness.certs import Certificates, generate
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import conditions, policy_manifest, wait_for_condition
from tests.harness.operator import OperatorProcess
from tests.harness.protocols import Kubectl
from tests.support.escalation_env import apply, incident, records, wait_for
from tests.support.proxies import ForwardProxy, GatewayProxy
from tests.support.receivers import HttpRecorder

# Its own namespace, whatever ran in this cluster before.
NAMESPACE = f"connectivity-{uuid.uuid4().hex[:6]}"
SECRET = "prometheus-access"
TENANT = "tenant-a"
RIGHT_TOKEN = "right-token-0123456789"
TIMEOUT = 60.0

pytestmark = pytest.mark.timeout(180)


def _secret_data(token: str, ca: str) -> dict[str, str]:
    return {
        "token": base64.b64encode(token.encode()).decode(),
        "ca.crt": base64.b64encode(ca.encode()).decode(),
    }


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return generate(tmp_path_factory.mktemp("gateway-certs"))


@pytest.fixture(scope="module")
def gateway(prometheus_url: str, certs: Certificates) -> Iterator[GatewayProxy]:
    proxy = GatewayProxy(
        upstream=prometheus_url,
        authorization=f"Bearer {RIGHT_TOKEN}",
        tenant=TENANT,
        certificate=(str(certs.serving_cert), str(certs.serving_key)),
    ).start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy().start()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder().start()
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def space(k8s_api: k8s.ApiClient, certs: Certificates) -> Iterator[str]:
    """The module's namespace, with the access Secret holding a wrong token at first."""
    core = k8s.CoreV1Api(k8s_api)
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=NAMESPACE)))
    core.create_namespaced_secret(
        NAMESPACE,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET),
            data=_secret_data("wrong-token", certs.ca_cert.read_text()),
        ),
    )
    yield NAMESPACE
    core.delete_namespace(NAMESPACE)


@pytest.fixture(scope="module")
def operator(
    cluster: ClusterInfo,
    space: str,
    gateway: GatewayProxy,
    forward_proxy: ForwardProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    log: Path = tmp_path_factory.mktemp("connectivity") / "operator.log"
    process = OperatorProcess(
        cluster.kubeconfig,
        log,
        extra_args=(
            "--namespace",
            space,
            "--prometheus-url",
            gateway.url,
            "--prometheus-bearer-token-secret",
            f"{space}/{SECRET}",
            "--prometheus-ca-secret",
            f"{space}/{SECRET}:ca.crt",
            "--prometheus-header",
            f"X-Scope-OrgID={TENANT}",
        ),
        # Only http:// goes through it: the API server and the gateway are https.
        env={"HTTP_PROXY": forward_proxy.url, "NO_PROXY": "localhost"},
    ).start()
    yield process
    process.stop()


def _metrics_available(kubectl: Kubectl, operator: OperatorProcess, status: str) -> dict[str, Any]:
    body = wait_for_condition(
        kubectl,
        NAMESPACE,
        "detection",
        "MetricsAvailable",
        status,
        kind="escalationpolicy",
        timeout=TIMEOUT,
        detail=operator.log_tail,
    )
    found: dict[str, Any] = conditions(body)["MetricsAvailable"]
    return found


def test_detection_through_an_authenticating_gateway_names_a_refusal_and_follows_rotation(
    operator: OperatorProcess,
    gateway: GatewayProxy,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    certs: Certificates,
) -> None:
    manifest = policy_manifest(
        "detection",
        selector={"matchLabels": {"tier": "backend"}},
        detection={
            "interval": "1s",
            "rules": [{"name": "restarts", "signal": "podRestarts", "window": "5m"}],
        },
    )
    kubectl("apply", "-n", NAMESPACE, "-f", "-", input=manifest)

    refused = _metrics_available(kubectl, operator, "False")
    assert refused["reason"] == "QueryFailed"
    assert refused["message"].startswith(
        f"rule restarts: Prometheus at {gateway.url} answered HTTP 401 Unauthorized"
    ), refused["message"]
    assert f"check the token in Secret {NAMESPACE}/{SECRET} key 'token'" in refused["message"]
    assert "wrong-token" not in json.dumps(refused)

    # Rotated in place: read again after the next refusal, no restart.
    k8s.CoreV1Api(k8s_api).patch_namespaced_secret(
        SECRET, NAMESPACE, {"data": _secret_data(RIGHT_TOKEN, certs.ca_cert.read_text())}
    )
    _metrics_available(kubectl, operator, "True")
    # Prometheus answered through the gateway: with the token, the tenant and over TLS.
    assert 200 in gateway.statuses()
    assert 403 not in gateway.statuses()


def test_webhooks_go_through_http_proxy_except_hosts_in_no_proxy(
    operator: OperatorProcess,
    forward_proxy: ForwardProxy,
    receiver: HttpRecorder,
    kubectl: Kubectl,
) -> None:
    proxied = f"{receiver.url}/hooks/proxied"
    direct = proxied.replace("127.0.0.1", "localhost").replace("/proxied", "/direct")
    step = {"severities": ["P1"], "targets": [{"name": "Primary", "method": "pager"}]}
    policy = json.loads(
        policy_manifest(
            "paging",
            default=True,
            channels=[
                {"name": "via-proxy", "type": "webhook", "url": proxied},
                {"name": "direct", "type": "webhook", "url": direct},
            ],
            escalation={
                "steps": [
                    {**step, "after": "0s", "channel": "via-proxy"},
                    {**step, "after": "1s", "channel": "direct"},
                ]
            },
        )
    )
    apply(kubectl, NAMESPACE, policy)
    apply(kubectl, NAMESPACE, incident("checkout", "P1"))

    sent = wait_for(
        kubectl,
        NAMESPACE,
        "checkout",
        lambda b: len(records(b)) >= 2 and all(r["state"] == "Sent" for r in records(b)),
        "both webhooks sent",
        operator,
    )
    assert receiver.received("/hooks/proxied"), sent
    assert receiver.received("/hooks/direct"), sent
    # Through the proxy: 127.0.0.1's webhook; NO_PROXY=localhost kept the other direct.
    assert set(forward_proxy.seen()) == {proxied}
