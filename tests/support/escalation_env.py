"""Helpers for the escalation and notification tests on the local control plane.

A test gets real receivers (tests/support/receivers.py), a Secret holding their
credentials, a policy whose channels point at them, and an operator process that
watches only the test's namespace (so operators of other tests leave it alone).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from kubernetes import client as k8s

from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.support.receivers import HttpRecorder

Kubectl = Callable[..., CompletedProcess[str]]
SECRET_NAME = "incident-channels"
# Values that must never appear in status, Events or logs.
SECRETS = {
    "slack-path": "T0SECRET/B0SECRET/xoxSlackSecretPath",
    "routing-key": "R0UTINGKEYsecret0123456789abcdef",
    "token": "b3arer-secret-token-value",
    "smtp-password": "smtp-secret-pa55word",
}


def create_secret(api: k8s.ApiClient, namespace: str, recorder: HttpRecorder) -> None:
    data = {
        "slack-url": f"{recorder.url}/slack/{SECRETS['slack-path']}",
        "routing-key": SECRETS["routing-key"],
        "token": SECRETS["token"],
        "smtp-password": SECRETS["smtp-password"],
    }
    k8s.CoreV1Api(api).create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET_NAME),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )


def channels(recorder: HttpRecorder, *names: str) -> list[dict[str, Any]]:
    """The channels named (slack-critical, slack-high, slack-warning, pagerduty, webhook)."""
    ref = lambda key: {"name": SECRET_NAME, "key": key}  # noqa: E731
    known: dict[str, dict[str, Any]] = {
        "slack-critical": {
            "type": "slack",
            "chatChannel": "#incident-critical",
            "secretRef": ref("slack-url"),
        },
        "slack-high": {
            "type": "slack",
            "chatChannel": "#incident-high",
            "secretRef": ref("slack-url"),
        },
        "slack-warning": {
            "type": "slack",
            "chatChannel": "#incident-warning",
            "secretRef": ref("slack-url"),
        },
        "pagerduty": {
            "type": "pagerduty",
            "url": f"{recorder.url}/pagerduty",
            "secretRef": ref("routing-key"),
        },
        "webhook": {
            "type": "webhook",
            "url": f"{recorder.url}/webhook/ops",
            "secretRef": ref("token"),
        },
    }
    return [{"name": name, **known[name]} for name in names]


def apply(kubectl: Kubectl, namespace: str, body: dict[str, Any]) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=json.dumps(body))


def policy(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "EscalationPolicy",
        "metadata": {"name": name},
        "spec": {"default": True, **spec},
    }


def incident(name: str, severity: str = "P1", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "sre.agentos.io/v1alpha1",
        "kind": "Incident",
        "metadata": {"name": name},
        "spec": {"title": f"{name} is failing", "severity": severity, **spec},
    }


def get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    )
    return body


def wait_for(
    kubectl: Kubectl,
    namespace: str,
    name: str,
    check: Callable[[dict[str, Any]], Any],
    what: str,
    operator: OperatorProcess | None = None,
    timeout: float = 60,
    kind: str = "incident",
) -> dict[str, Any]:
    """Waits until ``check(object)`` is truthy; returns the object."""

    def ready() -> dict[str, Any] | None:
        body = get(kubectl, namespace, kind, name)
        return body if check(body) else None

    found: dict[str, Any] = wait_until(
        ready,
        timeout=timeout,
        what=what,
        detail=(lambda: _detail(kubectl, namespace, name, kind, operator)),
    )
    return found


def _detail(
    kubectl: Kubectl, namespace: str, name: str, kind: str, operator: OperatorProcess | None
) -> str:
    status = get(kubectl, namespace, kind, name).get("status", {})
    shown = {k: status.get(k) for k in ("escalation", "notifications", "conditions")}
    log = operator.log_tail(40) if operator else ""
    return f"status: {json.dumps(shown, indent=1)[:6000]}\n{log}"


def escalation(body: dict[str, Any]) -> dict[str, Any]:
    return dict((body.get("status") or {}).get("escalation") or {})


def records(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list((body.get("status") or {}).get("notifications") or [])


def all_sent(body: dict[str, Any], at_least: int = 1) -> bool:
    found = records(body)
    return len(found) >= at_least and all(r["state"] == "Sent" for r in found)


def events(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    listed = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)
    items: list[dict[str, Any]] = listed["items"]
    return items


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for label, value in SECRETS.items():
            assert value not in text, f"the {label} secret leaked"


def time_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@contextmanager
def operator_for(kubeconfig: Path, namespace: str, log: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, log, extra_args=("--namespace", namespace)).start()
    try:
        yield process
    finally:
        process.stop()
