"""The related runbooks and dashboards of the governing policy in the messages it sends,
through a real receiver. Its own module: it runs its own operator on its namespace (the
escalation tests' way), which the module-wide operator of test_postmortem.py would double."""

from tests.support.escalation_env import (
    EscalationEnv,
    all_sent,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
)


def test_the_declaration_and_the_escalation_carry_the_policy_links(env: EscalationEnv) -> None:
    links = {
        "dashboardBaseUrl": "https://grafana.example",
        "runbooks": [{"name": "Checkout", "url": "https://wiki.example/checkout"}],
    }
    env.setup("webhook", escalation=first_step_only("webhook"), links=links)
    with env.operator() as operator:
        env.apply(incident("api", "P1"))
        env.wait_for("api", lambda b: all_sent(b, 2), "declaration and escalation sent", operator)
    texts = {call.body["kind"]: call.body["text"] for call in env.http.received("/webhook")}
    assert set(texts) == {"Declaration", "Escalation"}
    for text in texts.values():
        assert (
            "\nDashboards:\n"
            "- System Overview: https://grafana.example/d/system-overview\n"
            "- Agent Execution: https://grafana.example/d/agent-execution\n"
            "- API Performance: https://grafana.example/d/api-performance\n"
            "- Infrastructure: https://grafana.example/d/infrastructure\n"
            "Runbooks:\n"
            "- Checkout: https://wiki.example/checkout\n"
        ) in text
