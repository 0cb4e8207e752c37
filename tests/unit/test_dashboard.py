"""``kubectl incident dashboard`` without a cluster: its pages, its actions (the plugin's
commands), and its defences as a local server acting with the user's credentials."""

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import aiohttp
import pytest

from incident_operator.cli import main
from incident_operator.cli.cluster import Cluster, PluginError
from incident_operator.cli.dashboard import actions, views
from incident_operator.cli.dashboard.security import Guard, NotLoopback, loopback_address
from incident_operator.cli.dashboard.server import TEMPLATES, Dashboard, application, listen

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat()


INCIDENT: dict[str, Any] = {
    "metadata": {
        "name": "checkout-errors",
        "namespace": "shop",
        "resourceVersion": "7",
        "annotations": {"sre.agentos.io/acknowledged-by": "alice"},
    },
    "spec": {
        "title": "Checkout <script>alert(1)</script> errors",
        "severity": "P1",
        "state": "Investigating",
        "roles": {"commander": "alice"},
    },
    "status": {
        "id": "INC-0042",
        "phase": "Acknowledged",
        "acknowledgedAt": _at(-5),
        "responseDueAt": _at(-1),
        "resolutionDueAt": _at(-30),
        "nextUpdateDueAt": _at(20),
        "communication": {
            "draft": {"kind": "Progress", "subject": "Checkout update", "text": "We are on it."}
        },
        "rollback": {
            "phase": "Proposed",
            "target": {"kind": "Deployment", "name": "web"},
            "currentRevision": 2,
            "targetRevision": 1,
            "proposal": "9c8b41441f37",
            "diff": "container app: image shop:1.1.0 -> shop:1.0.0",
            "approverGroup": "incident-approvers",
        },
        "remediations": [
            {"id": "r1", "phase": "Proposed", "remediation": "restart", "proposal": "abc"}
        ],
        "checklist": [
            {
                "checklist": "preResolution",
                "key": "metricsNormal",
                "text": "Metrics back to normal",
                "done": False,
                "tickedBy": "operator",
                "required": True,
            }
        ],
        "timeline": [
            {"time": _at(-10), "type": "Detected", "actor": "operator", "message": "declared"},
            {"time": _at(-5), "type": "Acknowledged", "actor": "alice", "message": "ack"},
        ],
    },
}
CLOSED = {
    "metadata": {"name": "old", "namespace": "shop"},
    "spec": {"title": "Old", "severity": "P0"},
    "status": {"id": "INC-0001", "phase": "Closed"},
}
NEW = {
    "metadata": {"name": "new", "namespace": "shop"},
    "spec": {"title": "New", "severity": "P0"},
    "status": {},
}


# Clocks: met by acknowledging, overdue only while running.


@pytest.mark.parametrize(
    ("label", "relative", "overdue"),
    [
        ("Response", "met late", False),  # acknowledged now, a minute after it was due
        ("Resolution", "OVERDUE by 30m", True),
        ("Next update", "in 20m", False),
    ],
)
def test_the_clocks_count_down_and_stop(label: str, relative: str, overdue: bool) -> None:
    incident = copy.deepcopy(INCIDENT)
    incident["status"]["acknowledgedAt"] = _at(0) if label == "Response" else _at(-5)
    clock = next(c for c in views.clocks(incident, NOW) if c.label == label)
    assert (clock.relative, clock.overdue) == (relative, overdue)


def test_a_response_clock_met_in_time_says_met_and_an_unmet_one_is_overdue() -> None:
    incident = copy.deepcopy(INCIDENT)
    (response, *_) = views.clocks(incident, NOW)
    assert (response.relative, response.overdue, response.running) == ("met", False, False)
    del incident["status"]["acknowledgedAt"]
    (response, *_) = views.clocks(incident, NOW)
    assert (response.relative, response.overdue) == ("OVERDUE by 1m", True)


def test_a_resolved_incident_has_no_running_clock() -> None:
    incident = copy.deepcopy(INCIDENT)
    incident["status"]["phase"] = "Resolved"
    assert [c.running for c in views.clocks(incident, NOW)] == [False, False, False]


def test_the_list_leaves_closed_incidents_out_most_severe_first() -> None:
    shown = views.rows([INCIDENT, CLOSED, NEW], NOW)
    assert [(r.id, r.severity) for r in shown] == [("new", "P0"), ("INC-0042", "P1")]
    assert shown[1].overdue
    assert not shown[0].overdue
    assert [r.id for r in views.rows([CLOSED], NOW, closed=True)] == ["INC-0001"]


# Rendering: escaped, accessible structure, the forms carry the token.


def _render(template: str, **values: Any) -> str:
    return TEMPLATES.get_template(template).render(
        user="alice", scope="namespace shop", token="TOKEN", token_field="token", **values
    )


def test_the_list_page_shows_the_incident_its_clocks_and_overdue_in_words() -> None:
    html = _render("list.html", rows=views.rows([INCIDENT], NOW), namespaces=False)
    assert '<html lang="en">' in html
    assert html.count("<h1") == 1
    assert "<main" in html
    assert "<header" in html
    assert "INC-0042" in html
    assert 'href="/incidents/shop/checkout-errors"' in html
    assert "<script>alert(1)</script>" not in html
    assert "Checkout &lt;script&gt;alert(1)&lt;/script&gt; errors" in html
    assert "OVERDUE by 30m" in html
    assert "⚠" in html
    assert 'data-due="2026-03-01T11:30:00Z"' in html
    assert "2026-03-01 11:30:00Z" in html  # the absolute time, for readers without JS


def test_the_incident_page_has_every_section_and_form() -> None:
    result = actions.Outcome(False, "only members of group incident-approvers may approve")
    html = _render("incident.html", d=views.detail(INCIDENT, NOW), result=result)
    for heading in (
        "Summary",
        "SLA clocks",
        "Roles",
        "Rollback",
        "Remediations",
        "Resolution checklist",
        "Conditions",
        "Signals",
        "Timeline",
        "Actions",
    ):
        assert f">{heading}</h2>" in html, heading
    assert 'role="alert"' in html
    assert "only members of group incident-approvers" in html
    assert "by alice" in html  # who acknowledged
    assert "container app: image shop:1.1.0 -&gt; shop:1.0.0" in html
    for action in ("ack", "update", "state", "publish", "approve-rollback", "approve-remediation"):
        assert f'action="/incidents/shop/checkout-errors/{action}"' in html, action
    assert html.count('name="token" value="TOKEN"') == 6
    assert ">We are on it.</textarea>" in html  # the draft, prefilled
    assert '<option value="progress" selected>' in html
    assert 'value="Checkout update"' in html


# Actions: the plugin's own commands, their printed line or their error line.


@dataclasses.dataclass
class _Cluster(Cluster):
    """The plugin's Cluster with the API calls answered here; writes are kept."""

    written: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    refusal: str | None = None

    def find(self, reference: str) -> dict[str, Any]:
        return copy.deepcopy(INCIDENT)

    def whoami(self) -> str:
        return "bob"

    def patch(self, incident: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        if self.refusal:
            raise PluginError(self.refusal)
        self.written.append({"namespace": self.namespace, **body})
        return {**incident, **body}

    def patch_from(
        self, incident: dict[str, Any], build: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> dict[str, Any]:
        return self.patch(incident, build(incident))


def _cluster(refusal: str | None = None) -> _Cluster:
    return _Cluster(
        api=cast(Any, None), namespace="default", source=cast(Any, None), refusal=refusal
    )


def test_approve_is_approve_rollback_in_the_incidents_namespace() -> None:
    cluster = _cluster()
    outcome = actions.run(cluster, "shop", "checkout-errors", "approve-rollback", {})
    assert outcome.ok
    assert outcome.message.endswith(
        "approved rolling back Deployment/web from revision 2 to revision 1 as bob"
    )
    (written,) = cluster.written
    assert written["namespace"] == "shop"
    assert written["metadata"]["annotations"]["sre.agentos.io/approve-rollback-proposal"] == (
        "9c8b41441f37"
    )


def test_the_api_servers_refusal_is_the_outcome_verbatim() -> None:
    refusal = "only members of group incident-approvers may approve rollbacks of this incident"
    outcome = actions.run(_cluster(refusal), "shop", "checkout-errors", "approve-rollback", {})
    assert outcome == actions.Outcome(False, refusal)


@pytest.mark.parametrize(
    ("action", "form", "spec"),
    [
        ("update", {"message": "rolled back"}, "updates"),
        ("state", {"state": "Mitigating"}, "state"),
        (
            "publish",
            {"kind": "progress", "message": "Fixed soon", "subject": ""},
            "customerMessages",
        ),
    ],
)
def test_forms_run_the_commands(action: str, form: dict[str, str], spec: str) -> None:
    cluster = _cluster()
    outcome = actions.run(cluster, "shop", "checkout-errors", action, form)
    assert outcome.ok, outcome.message
    (written,) = cluster.written
    assert spec in written["spec"]


@pytest.mark.parametrize(
    ("action", "form", "message"),
    [
        ("state", {"state": "Gone"}, "nothing was done: state 'Gone' is not one of"),
        ("update", {"message": "  "}, "nothing was done: message is empty"),
        ("delete", {}, "no action 'delete'"),
    ],
)
def test_bad_forms_do_nothing(action: str, form: dict[str, str], message: str) -> None:
    cluster = _cluster()
    outcome = actions.run(cluster, "shop", "checkout-errors", action, form)
    assert not outcome.ok
    assert outcome.message.startswith(message)
    assert cluster.written == []


# Defences.


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses_are_accepted(address: str) -> None:
    assert loopback_address(address)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_other_addresses_are_refused(address: str) -> None:
    with pytest.raises(NotLoopback, match="is not a loopback address"):
        loopback_address(address)


def test_the_command_refuses_a_non_loopback_address_as_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main.main(["dashboard", "--address", "0.0.0.0"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --address: 0.0.0.0 is not a loopback address: the dashboard acts" in error


def test_the_guard() -> None:
    guard = Guard(port=8765, token="s3cret")
    assert guard.refusal("GET", "127.0.0.1:8765", None) is None
    assert guard.refusal("POST", "localhost:8765", "http://localhost:8765") is None
    assert "DNS rebinding" in str(guard.refusal("GET", "evil.example:8765", None))
    assert "DNS rebinding" in str(guard.refusal("GET", "127.0.0.1:9999", None))
    assert "DNS rebinding" in str(guard.refusal("GET", None, None))
    assert "Origin" in str(guard.refusal("POST", "127.0.0.1:8765", "http://evil.example"))
    assert "Origin" in str(guard.refusal("POST", "127.0.0.1:8765", "null"))
    assert "not allowed" in str(guard.refusal("DELETE", "127.0.0.1:8765", None))
    assert guard.token_matches("s3cret")
    assert not guard.token_matches("s3cre")
    assert not guard.token_matches(None)
    assert Guard(port=1).token != Guard(port=1).token


class _Reading(_Cluster):
    def list_incidents(self, all_namespaces: bool = False) -> list[dict[str, Any]]:
        return [copy.deepcopy(INCIDENT)]


@asynccontextmanager
async def _serving(cluster: Cluster) -> AsyncIterator[tuple[str, Dashboard]]:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    dashboard = Dashboard(cluster, False, "bob", Guard(port=port, token="s3cret"))
    runner = aiohttp.web.AppRunner(application(dashboard))
    await runner.setup()
    await aiohttp.web.SockSite(runner, sock).start()
    try:
        yield f"http://127.0.0.1:{port}", dashboard
    finally:
        await runner.cleanup()


def test_the_server_refuses_foreign_hosts_origins_and_tokenless_posts() -> None:
    cluster = _Reading(api=cast(Any, None), namespace="shop", source=cast(Any, None))
    action = "/incidents/shop/checkout-errors/ack"

    async def scenario() -> None:
        async with _serving(cluster) as (base, _), aiohttp.ClientSession() as http:
            async with http.get(base + "/") as page:
                assert page.status == 200
                assert page.headers["X-Frame-Options"] == "DENY"
                assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
                assert "Access-Control-Allow-Origin" not in page.headers
                assert "INC-0042" in await page.text()
            async with http.get(base + "/fragments/list") as fragment:
                text = await fragment.text()
                assert "INC-0042" in text
                assert "<html" not in text
            async with http.get(base + "/", headers={"Host": "evil.example"}) as rebound:
                assert rebound.status == 403
                assert rebound.headers["X-Frame-Options"] == "DENY"
            async with http.get(base + action) as read:
                assert read.status == 405  # GET never acts
            async with http.post(base + action, data={}, allow_redirects=False) as tokenless:
                assert tokenless.status == 403
            async with http.post(
                base + action, data={"token": "guess"}, allow_redirects=False
            ) as guessed:
                assert guessed.status == 403
            async with http.post(
                base + action,
                data={"token": "s3cret"},
                headers={"Origin": "http://evil.example"},
                allow_redirects=False,
            ) as foreign:
                assert foreign.status == 403
            async with http.get(base + "/incidents/other/checkout-errors") as elsewhere:
                assert elsewhere.status == 404
            assert cluster.written == []
            async with http.post(
                base + action,
                data={"token": "s3cret"},
                headers={"Origin": base},
                allow_redirects=False,
            ) as accepted:
                assert accepted.status == 303
                location = accepted.headers["Location"]
                assert location.startswith("/incidents/shop/checkout-errors?result=")
            async with http.get(base + location) as shown:
                assert "already acknowledged by alice" in await shown.text()

    asyncio.run(scenario())
