"""Helpers for the escalation and notification tests on the local control plane.

A test gets real receivers (tests/support/receivers.py), a Secret holding their
credentials, a policy whose channels point at them, and an operator process that
watches only the test's namespace (so operators of other tests leave it alone).

``EscalationEnv`` bundles what every such test repeats: the namespace, the HTTP
recorder, the policy and its Secret, the operator runs (each with its own log) and the
check that no secret leaked. A test module that imports the fixture function
``escalation_env`` gets it as the fixture ``env``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.harness.cluster import ClusterInfo
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


# Slack channels with a webhook of their own (path /slack/<key>/...), by chatChannel.
SLACK_WEBHOOK_CHANNELS = {
    "monitoring": "#monitoring",
    "all": "#incident-all",
    "sre-team": "#sre-team",
}


def create_secret(api: k8s.ApiClient, namespace: str, recorder: HttpRecorder, **extra: str) -> None:
    """The channels' Secret; ``extra`` adds keys (an SMTP CA bundle, say)."""
    data = {
        "slack-url": f"{recorder.url}/slack/{SECRETS['slack-path']}",
        # One incoming webhook per runbook channel, as Slack apps need: /slack/<channel>/.
        **{
            f"slack-{channel}-url": f"{recorder.url}/slack/{channel}/{SECRETS['slack-path']}"
            for channel in SLACK_WEBHOOK_CHANNELS
        },
        "routing-key": SECRETS["routing-key"],
        "token": SECRETS["token"],
        "smtp-password": SECRETS["smtp-password"],
        **extra,
    }
    k8s.CoreV1Api(api).create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name=SECRET_NAME),
            data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
        ),
    )


def channels(recorder: HttpRecorder, *names: str) -> list[dict[str, Any]]:
    """The channels named (slack-critical, slack-high, slack-warning, pagerduty, webhook,
    and slack-monitoring, slack-all, slack-sre-team, each with a webhook URL of its own)."""
    ref = lambda key: {"name": SECRET_NAME, "key": key}  # noqa: E731
    known: dict[str, dict[str, Any]] = {
        **{
            f"slack-{channel}": {
                "type": "slack",
                "chatChannel": chat,
                "secretRef": ref(f"slack-{channel}-url"),
            }
            for channel, chat in SLACK_WEBHOOK_CHANNELS.items()
        },
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


def assert_no_secret(*texts: str, also: dict[str, str] | None = None) -> None:
    """No value of SECRETS (nor of ``also``, label to value) in any of ``texts``."""
    for text in texts:
        for label, value in {**SECRETS, **(also or {})}.items():
            assert value not in text, f"the {label} secret leaked"


def time_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def first_step_only(channel: str | None = None, method: str = "pager") -> dict[str, Any]:
    """An escalation of one P1 step at 0s, to Primary by ``method`` (through ``channel``)."""
    step: dict[str, Any] = {
        "severities": ["P1"],
        "after": "0s",
        "targets": [{"name": "Primary", "method": method}],
    }
    if channel:
        step["channel"] = channel
    return {"steps": [step]}


@dataclass
class EscalationEnv:
    """One test's namespace, HTTP recorder and operator runs."""

    cluster: ClusterInfo
    kubectl: Kubectl
    api: k8s.ApiClient
    namespace: str
    http: HttpRecorder
    # Where the operators' logs go, one file a run.
    directory: Path
    logs: list[Path] = field(default_factory=list)

    def create_secret(self, **extra: str) -> None:
        create_secret(self.api, self.namespace, self.http, **extra)

    def apply(self, body: dict[str, Any]) -> None:
        apply(self.kubectl, self.namespace, body)

    def apply_policy(self, name: str = "team", **spec: Any) -> None:
        self.apply(policy(name, **spec))

    def setup(self, *channel_names: str, name: str = "team", **spec: Any) -> None:
        """The channels' Secret and a policy with the channels named (see ``channels``)."""
        self.create_secret()
        self.apply_policy(name, channels=channels(self.http, *channel_names), **spec)

    def get(self, name: str, kind: str = "incident") -> dict[str, Any]:
        return get(self.kubectl, self.namespace, kind, name)

    def wait_for(
        self, name: str, check: Callable[[dict[str, Any]], Any], what: str, *args: Any, **kw: Any
    ) -> dict[str, Any]:
        """``wait_for`` in this namespace (``operator``, ``timeout``, ``kind`` follow)."""
        return wait_for(self.kubectl, self.namespace, name, check, what, *args, **kw)

    def events(self) -> list[dict[str, Any]]:
        return events(self.kubectl, self.namespace)

    def start_operator(self, log: str = "operator.log") -> OperatorProcess:
        path = self.directory / log
        self.logs.append(path)
        return OperatorProcess(
            self.cluster.kubeconfig, path, extra_args=("--namespace", self.namespace)
        ).start()

    @contextmanager
    def operator(self, log: str = "operator.log") -> Iterator[OperatorProcess]:
        process = self.start_operator(log)
        try:
            yield process
        finally:
            process.stop()

    def assert_no_secret(self, *names: str, also: dict[str, str] | None = None) -> None:
        """No secret in the status of the incidents named, the Events or any operator log."""
        assert_no_secret(
            *(json.dumps(self.get(name)) for name in names),
            json.dumps(self.events()),
            *(log.read_text(errors="replace") for log in self.logs if log.exists()),
            also=also,
        )


@pytest.fixture(name="env")
def escalation_env(
    cluster: ClusterInfo,
    kubectl: Kubectl,
    k8s_api: k8s.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> Iterator[EscalationEnv]:
    """The fixture ``env``: a test module imports ``escalation_env`` to use it."""
    recorder = HttpRecorder().start()
    yield EscalationEnv(cluster, kubectl, k8s_api, namespace, recorder, tmp_path)
    recorder.close()
