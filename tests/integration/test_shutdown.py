"""SIGTERM stops the operator within its documented bound, whatever it is doing."""

from __future__ import annotations

import signal
import time

from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.support.escalation_env import (
    EscalationEnv,
    escalation_env,  # noqa: F401 (the fixture env)
    incident,
    records,
)

# runtime/lifetime.py: kopf's 5 s for its tasks, 8 s for the services, 10 s for the Lease.
SHUTDOWN_BOUND = 23.0


def test_sigterm_stops_within_its_bound_with_a_send_hanging(env: EscalationEnv) -> None:
    env.setup("slack-high")
    # The chat receiver takes each request and never answers it.
    env.http.hold()
    log = env.directory / "operator.log"
    env.logs.append(log)
    identity = "stopping-replica"
    operator = OperatorProcess(
        env.cluster.kubeconfig,
        log,
        extra_args=(
            "--namespace",
            env.namespace,
            "--leader-elect",
            "--lease-namespace",
            env.namespace,
            "--identity",
            identity,
        ),
    ).start()
    try:
        env.apply(incident("outage", "P1"))
        env.wait_for(
            "outage",
            lambda body: any(r["state"] == "Sending" for r in records(body)),
            "a notification in flight",
            operator,
        )
        wait_until(
            lambda: env.http.received("/slack"),
            what="the held request at the receiver",
            timeout=30,
            detail=operator.log_tail,
        )
        assert operator.process is not None
        stopped_at = time.monotonic()
        operator.process.send_signal(signal.SIGTERM)
        code = operator.process.wait(timeout=SHUTDOWN_BOUND + 15)
        took = time.monotonic() - stopped_at
        assert code == 0, operator.log_tail()
        assert took < SHUTDOWN_BOUND, f"stopped after {took:.1f} s\n{operator.log_tail()}"
        # The Lease is given up on the way out, so a standby takes over at once.
        holder = env.kubectl(
            "get",
            "lease",
            "incident-operator",
            "-n",
            env.namespace,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ).stdout
        assert holder == ""
        # The send cut short stays Sending: the next operator sends it again after its lease.
        body = env.get("outage")
        assert any(r["state"] == "Sending" for r in records(body))
    finally:
        env.http.release()
        operator.stop(kill=True)
