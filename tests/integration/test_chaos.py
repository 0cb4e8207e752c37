"""Fault tests on the local control plane: the operator SIGKILLed again and again, the API
server restarted under a burst of incidents.

The guarantees under test (docs/escalation.md "Delivery guarantees", docs/rollback.md):

- no notification key recorded in ``status.notifications`` is lost: each reaches its
  receiver at least once;
- a key is delivered at most once more per crash that interrupts it, always with the same
  key, so no key is received more than 1 + (number of kills) times;
- a rollback patches its workload once, however many times the operator dies around it;
- an incident is initialised once (one ``Declared`` entry, one ID, IDs unique in the
  namespace), whatever the API server does in between.

The chaos is random but replayable: the delays between kills come from a seeded
``random.Random`` (INCIDENT_OPERATOR_CHAOS_SEED fixes the seed, a failure prints it with
every kill's time). INCIDENT_OPERATOR_CHAOS_KILLS sets the number of kills (10 by
default; ``make chaos`` runs 100). The delays are the chaos itself; every wait for a
state is a ``wait_until`` with a deadline.

Half the runs, the receivers hold their answers until the kill, so sends are in flight
when it comes. Accounting at the receivers: every kill records how many calls the
receivers had received once the process was dead, and every start how many once it was
ready, so each call is placed before or after each kill. Beyond the bound above, the
test checks the guarantee delivery by delivery: two deliveries of one key have a kill
between them. The report (printed with ``-s``, and in every failure) gives the maximum
deliveries of one key and how many keys were delivered more than once.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from tests.harness.cluster import ClusterInfo
from tests.harness.incidents import PRE_RESOLUTION_TICKED
from tests.harness.operator import OperatorProcess
from tests.harness.wait import wait_until
from tests.integration.rollback_support import (
    approve,
    build_history,
    let_approve,
    manifest,
    rollback_of,
    timeline_types,
    wait_rollback,
)
from tests.integration.rollback_support import get as get_object
from tests.integration.rollback_support import incident as rollback_incident
from tests.support.escalation_env import (
    EscalationEnv,
    escalation,
    escalation_env,  # noqa: F401 (the fixture env)
    first_step_only,
    incident,
    records,
)
from tests.support.receivers import Call

KILLS = int(os.environ.get("INCIDENT_OPERATOR_CHAOS_KILLS", "10"))
SEED = os.environ.get("INCIDENT_OPERATOR_CHAOS_SEED")
# A claim's lease is the send timeout + 5 s: short leases let a restarted operator take
# over interrupted sends within the test.
SEND_TIMEOUT = "2"
# The longest random run of the operator between its readiness and its kill.
MAX_DELAY = 4.0
# Half the runs the receivers hold their answers (a slow receiver), so sends are in
# flight when the kill comes; such a run is shorter than the send timeout, so no send
# times out and is retried within the run.
HOLD_CHANCE = 0.5
MAX_HELD_DELAY = 1.5
ACKNOWLEDGED_BY = "sre.agentos.io/acknowledged-by"
WEB = ("Deployment", "web")
REVISION = "deployment.kubernetes.io/revision"
FINAL = ("Sent", "Failed")
# Escalation steps due soon after detection, so they fall due while the operator dies.
STEPS: list[dict[str, Any]] = [
    {"severities": ["P1"], "after": "0s", "targets": [{"name": "Primary", "method": "pager"}]},
    {"severities": ["P1"], "after": "5s", "targets": [{"name": "Secondary", "method": "pager"}]},
    {
        "severities": ["P1"],
        "after": "10s",
        "targets": [{"name": "Manager", "method": "chat"}],
        "channel": "webhook",
    },
    {"severities": ["P2"], "after": "0s", "targets": [{"name": "Primary", "method": "chat"}]},
    {"severities": ["P2"], "after": "8s", "targets": [{"name": "Team Lead", "method": "chat"}]},
]
STEPS_OF = {"P1": 3, "P2": 2}
# The API server gets this long to stop after SIGTERM before SIGKILL: an abrupt restart.
RESTART_GRACE = 1.0

pytestmark = pytest.mark.timeout(240 + 10 * KILLS)


# ------------------------------------------------------------------------------- chaos


@dataclass(frozen=True)
class Kill:
    """One SIGKILL of the operator."""

    # Seconds since the chaos began, when the process was dead.
    at: float
    # How long the run lived after its readiness (the random delay).
    delay: float
    # Calls the receivers had received once it was dead: later calls are later runs'.
    calls: int
    # What the test had just done before the delay.
    after: str
    # Whether the receivers held their answers during the run.
    held: bool


@dataclass
class Chaos:
    """The operator runs, their kills, and the report a failure prints."""

    env: EscalationEnv
    seed: int
    rng: random.Random = field(init=False)
    started: float = field(default_factory=time.monotonic)
    kills: list[Kill] = field(default_factory=list)
    runs: list[OperatorProcess] = field(default_factory=list)
    # Calls the receivers had received when each run was ready.
    ready_at: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def current(self) -> OperatorProcess:
        return self.runs[-1]

    def start(self) -> OperatorProcess:
        """Starts the next run (one log file each) and waits for its readiness."""
        path = self.env.directory / f"operator-{len(self.runs):03d}.log"
        self.env.logs.append(path)
        extra = ("--namespace", self.env.namespace, "--send-timeout", SEND_TIMEOUT)
        process = OperatorProcess(self.env.cluster.kubeconfig, path, extra_args=extra)
        self.runs.append(process)
        process.start()
        self.ready_at.append(len(self.env.http.received()))
        return process

    def run_then_kill(self, act: Callable[[], str]) -> None:
        """Does ``act`` (it says what it did), lets the current run live a random while,
        then SIGKILLs it; the receivers may hold their answers meanwhile."""
        held = self.rng.random() < HOLD_CHANCE
        delay = self.rng.uniform(0, MAX_HELD_DELAY if held else MAX_DELAY)
        began = time.monotonic()
        if held:
            self.env.http.hold()
        after = act()
        # The chaos itself, not a wait for a state (counted from the hold: a held send
        # must not time out).
        time.sleep(max(0.0, began + delay - time.monotonic()))
        process = self.current.process
        assert process is not None
        assert process.poll() is None, (
            f"the operator died on its own\n{self.report()}\n{self.current.log_tail(40)}"
        )
        self.current.stop(kill=True)
        calls = len(self.env.http.received())
        self.kills.append(Kill(time.monotonic() - self.started, delay, calls, after, held))
        if held:
            self.env.http.release()

    def stop(self) -> None:
        for process in self.runs:
            process.stop(kill=True)

    def crash_between(self, first: int, then: int) -> bool:
        """Whether a kill lies between the receivers' calls number ``first`` and ``then``.

        A call is counted after a kill when the receivers had not recorded it once the
        process was dead, and before it when they had recorded it by the time the next
        run was ready: the receivers may record a request of the dying process a moment
        after its death, and the next run may send before its readiness answers.
        """
        return any(
            first < self.ready_at[number + 1] and then >= kill.calls
            for number, kill in enumerate(self.kills)
        )

    def report(self) -> str:
        lines = [
            f"seed {self.seed} (INCIDENT_OPERATOR_CHAOS_SEED={self.seed} replays the delays), "
            f"{len(self.kills)} kills:"
        ]
        lines += [
            f"  kill {n + 1:3d} at {k.at:6.1f}s, {k.delay:4.2f}s after readiness"
            f"{', answers held' if k.held else ''}, {k.calls} calls received "
            f"({self.ready_at[n + 1] if n + 1 < len(self.ready_at) else '?'} at the restart); "
            f"after: {k.after}"
            for n, k in enumerate(self.kills)
        ]
        return "\n".join(lines)

    def log_excerpt(self, words: set[str], lines: int = 8) -> str:
        """The lines of every run's log that mention one of ``words``."""
        parts = []
        for number, process in enumerate(self.runs):
            if not process.log_path.exists():
                continue
            text = process.log_path.read_text(errors="replace").splitlines()
            found = [line for line in text if any(w in line for w in words)][-lines:]
            if found:
                parts.append(f"--- run {number} ({process.log_path.name}):\n" + "\n".join(found))
        return "\n".join(parts)


@pytest.fixture
def seed() -> int:
    return int(SEED) if SEED else random.SystemRandom().randrange(2**32)


@pytest.fixture
def chaos(env: EscalationEnv, seed: int) -> Iterator[Chaos]:
    chaos = Chaos(env, seed)
    yield chaos
    chaos.stop()


# ------------------------------------------------------------------ the people's side


@dataclass
class Step:
    """A lifecycle action; ``act`` returns False when it cannot happen yet."""

    what: str
    act: Callable[[], bool]


class People:
    """What responders do to the incidents while the operator keeps dying."""

    def __init__(self, env: EscalationEnv, me: str) -> None:
        self.env = env
        self.me = me
        self.updates: dict[str, list[dict[str, str]]] = {}
        self.acknowledged: set[str] = set()
        self.resolved: set[str] = set()
        self.severity: dict[str, str] = {}

    def declare(self, name: str, severity: str) -> bool:
        self.env.apply(incident(name, severity))
        self.severity[name] = severity
        return True

    def declare_rollback(self, name: str) -> bool:
        rollback_incident(self.env.kubectl, self.env.namespace, name, target=WEB)
        self.severity[name] = "P1"
        return True

    def acknowledge(self, name: str) -> bool:
        self.env.kubectl(
            "annotate", "incident", name, "-n", self.env.namespace,
            f"{ACKNOWLEDGED_BY}={self.me}",
        )  # fmt: skip
        self.acknowledged.add(name)
        return True

    def update(self, name: str, message: str) -> bool:
        posted = self.updates.setdefault(name, [])
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        posted.append({"message": message, "author": self.me, "time": now})
        self._patch(name, {"updates": posted})
        return True

    def resolve(self, name: str) -> bool:
        self._patch(name, {"state": "Resolved", "checklist": PRE_RESOLUTION_TICKED})
        self.resolved.add(name)
        return True

    def approve(self, name: str) -> bool:
        """Approves once the rollback is Proposed (an earlier approval would be dropped)."""
        if rollback_of(self.env.kubectl, self.env.namespace, name).get("phase") != "Proposed":
            return False
        approve(self.env.kubectl, self.env.namespace, name, user="alice")
        return True

    def _patch(self, name: str, spec: dict[str, Any]) -> None:
        self.env.kubectl(
            "patch", "incident", name, "-n", self.env.namespace, "--type=merge",
            "-p", json.dumps({"spec": spec}),
        )  # fmt: skip

    def script(self) -> list[Step]:
        return [
            Step("declare alpha (P1)", lambda: self.declare("alpha", "P1")),
            Step("declare outage (P1, rollback)", lambda: self.declare_rollback("outage")),
            Step("declare bravo (P1)", lambda: self.declare("bravo", "P1")),
            Step("acknowledge alpha", lambda: self.acknowledge("alpha")),
            Step("declare charlie (P2)", lambda: self.declare("charlie", "P2")),
            Step("update alpha", lambda: self.update("alpha", "Rolling back the deploy")),
            Step("approve the rollback of outage", lambda: self.approve("outage")),
            Step("acknowledge bravo", lambda: self.acknowledge("bravo")),
            Step("update bravo", lambda: self.update("bravo", "Failing over the database")),
            Step("resolve alpha", lambda: self.resolve("alpha")),
            Step("update charlie", lambda: self.update("charlie", "Looking at the queue")),
            Step("acknowledge outage", lambda: self.acknowledge("outage")),
            Step("declare delta (P1)", lambda: self.declare("delta", "P1")),
            Step("acknowledge charlie", lambda: self.acknowledge("charlie")),
            Step("update outage", lambda: self.update("outage", "Rollback approved")),
            Step("resolve charlie", lambda: self.resolve("charlie")),
            Step("update bravo again", lambda: self.update("bravo", "Failover done")),
            Step("resolve bravo", lambda: self.resolve("bravo")),
            Step("acknowledge delta", lambda: self.acknowledge("delta")),
        ]

    def settled(self, body: dict[str, Any]) -> bool:
        """Everything the incident's story asks for is recorded, and every record final."""
        name = body["metadata"]["name"]
        found = records(body)
        kinds = Counter(r["kind"] for r in found)
        if not found or any(r["state"] not in FINAL for r in found):
            return False
        if name in self.resolved:
            ended = kinds["Resolution"] > 0
        else:
            ended = escalation(body).get("level") == STEPS_OF[self.severity[name]]
        acknowledged = (
            name not in self.acknowledged
            or self.severity[name] != "P1"
            or any(r["kind"] == "Acknowledgement" for r in found)
        )
        updated = kinds["StatusUpdate"] >= len(self.updates.get(name, []))
        return ended and acknowledged and updated


def _calls_by_key(calls: list[Call]) -> dict[str, list[int]]:
    """The receivers' call numbers, grouped by the key each carried."""
    grouped: dict[str, list[int]] = {}
    for index, call in enumerate(calls):
        key = call.headers.get("Idempotency-Key") or ""
        grouped.setdefault(key, []).append(index)
    return grouped


def _keys(bodies: list[dict[str, Any]], final_only: bool = False) -> set[str]:
    """Every record's key as the receivers see it (``<uid>/<key>``)."""
    return {
        f"{body['metadata']['uid']}/{record['key']}"
        for body in bodies
        for record in records(body)
        if record["state"] in FINAL or not final_only
    }


def _template(workload: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = workload["spec"]["template"]["spec"]["containers"][0]
    # Defaulting turns an absent field into an empty one: both are None here.
    return {k: container.get(k) or None for k in ("image", "env", "args", "resources")}


def test_the_operator_killed_again_and_again_loses_nothing_and_rolls_back_once(
    env: EscalationEnv,
    chaos: Chaos,
    admission_policies: None,
) -> None:
    kubectl, namespace, http = env.kubectl, env.namespace, env.http
    env.setup("slack-high", "pagerduty", "webhook", escalation={"steps": STEPS})
    build_history(kubectl, env.api, "Deployment", namespace, "web", revisions=2)
    before = get_object(kubectl, "Deployment", namespace, "web")
    let_approve(kubectl, namespace, "alice")
    me = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout
    people = People(env, me)
    script = people.script()
    steps = len(script)
    # The steps spread over the kills; a step that cannot happen yet waits for the next.
    waiting: list[Step] = []
    chaos.start()
    for kill in range(KILLS):
        due = steps * (kill + 1) // KILLS - steps * kill // KILLS
        waiting += [script.pop(0) for _ in range(due)]

        def act() -> str:
            nonlocal waiting
            done = [step for step in list(waiting) if step.act()]
            waiting = [step for step in waiting if step not in done]
            return ", ".join(step.what for step in done) or "nothing"

        chaos.run_then_kill(act)
        chaos.start()
    operator = chaos.current
    report = chaos.report

    # The last run: what could not happen yet happens now, then everything settles.
    for step in [*waiting, *script]:
        wait_until(step.act, what=step.what, timeout=90, detail=lambda: report())
    names = sorted(people.severity)

    def bodies() -> list[dict[str, Any]]:
        return [env.get(name) for name in names]

    def unsettled() -> str:
        states = {b["metadata"]["name"]: Counter(r["state"] for r in records(b)) for b in bodies()}
        return f"{report()}\nrecords by state: {states}\n{operator.log_tail(40)}"

    def settled() -> list[dict[str, Any]] | None:
        found = bodies()
        return found if all(people.settled(b) for b in found) else None

    first = wait_until(settled, what="every incident settled", timeout=150, detail=unsettled)
    rollback = wait_rollback(kubectl, namespace, "outage", "Succeeded", unsettled)
    # Read in this order, a key sent between the reads is in the second status only.
    calls = http.received()
    second = bodies()
    chaos.stop()

    # The rollback: one patch, to revision 1's template.
    after = get_object(kubectl, "Deployment", namespace, "web")
    kinds = timeline_types(kubectl, namespace, "outage")
    replica_sets = json.loads(kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    assert (rollback["currentRevision"], rollback["targetRevision"]) == (2, 1), report()
    assert after["metadata"]["annotations"][REVISION] == "3", f"rolled back once\n{report()}"
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1, report()
    assert kinds.count("RollbackStarted") == 1, f"{kinds}\n{report()}"
    assert kinds.count("RolledBack") == 1, f"{kinds}\n{report()}"
    assert len(replica_sets) == 2, "the old ReplicaSet was reused, no third one made"
    assert _template(after) == _template(manifest("Deployment", "web", revision=1)), report()

    # The notifications: none lost, none sent more than the kills explain, none unknown.
    by_key = _calls_by_key(calls)
    recorded, known = _keys(first, final_only=True), _keys(second)
    lost = recorded - set(by_key)
    unknown = set(by_key) - known
    counts = {key: len(numbers) for key, numbers in by_key.items()}
    most = max(counts.values())
    repeated = {key: n for key, n in counts.items() if n > 1}
    # The documented guarantee, per delivery: a key goes out again only after a crash.
    unexplained = {
        key: numbers
        for key, numbers in by_key.items()
        if not all(chaos.crash_between(a, b) for a, b in itertools.pairwise(numbers))
    }
    failed = [r["key"] for b in second for r in records(b) if r["state"] == "Failed"]
    summary = (
        f"{report()}\n{len(recorded)} keys recorded, {len(calls)} calls received; "
        f"most deliveries of one key: {most}; keys delivered more than once: {len(repeated)} "
        f"{sorted(repeated.items())}; delivered again with no crash in between: "
        f"{sorted(unexplained)}; "
        f"Failed records: {failed}"
    )
    print(f"\n{summary}")
    assert not lost, (
        f"keys recorded and never received: {sorted(lost)}\n{summary}\n"
        f"{chaos.log_excerpt({k.split('/', 1)[1] for k in lost})}"
    )
    assert not unknown, f"calls whose key no record has: {sorted(unknown)}\n{summary}"
    too_many = {key: n for key, n in counts.items() if n > 1 + len(chaos.kills)}
    assert not too_many, (
        f"delivered more often than once + once per crash: {too_many}\n{summary}\n"
        f"{chaos.log_excerpt({k.split('/', 1)[1] for k in too_many})}"
    )
    assert not unexplained, (
        f"delivered again with no crash in between (calls {unexplained})\n{summary}\n"
        f"{chaos.log_excerpt({k.split('/', 1)[1] for k in unexplained})}"
    )
    assert len(chaos.kills) == KILLS


def test_an_api_server_restart_during_a_burst_declares_each_incident_once(
    env: EscalationEnv, cluster: ClusterInfo, chaos: Chaos
) -> None:
    if not cluster.controllable:
        pytest.skip("the API server can be restarted only on a cluster the harness started")
    burst, restart_after = 50, 15
    env.setup("webhook", escalation=first_step_only("webhook"))
    operator = chaos.start()
    objects = k8s.CustomObjectsApi(env.api)
    created: list[str] = []
    errors: list[BaseException] = []
    refused: list[str] = []

    def create(name: str) -> bool:
        body = incident(name, "P1")
        try:
            objects.create_namespaced_custom_object(
                "sre.agentos.io", "v1alpha1", env.namespace, "incidents", body
            )
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an attempt whose answer was lost
                refused.append(name)
                raise
        except Exception:
            refused.append(name)
            raise
        return True

    def declare_all() -> None:
        try:
            for number in range(burst):
                name = f"burst-{number:02d}"
                # Refused or unanswered while the API server is down: tried again.
                wait_until(functools.partial(create, name), what=f"{name} created", timeout=120)
                created.append(name)
        except BaseException as exc:  # shown by the main thread
            errors.append(exc)

    declaring = threading.Thread(target=declare_all, daemon=True)
    declaring.start()
    wait_until(
        lambda: len(created) >= restart_after or errors,
        what=f"{restart_after} incidents created",
        timeout=60,
    )
    restarted_at = len(created)
    began = time.monotonic()
    cluster.restart_api_server(grace=RESTART_GRACE)
    restart = time.monotonic() - began
    declaring.join(timeout=150)
    assert not declaring.is_alive(), "the burst did not finish"
    assert not errors, errors

    def declared(name: str) -> dict[str, Any] | None:
        body = env.get(name)
        status = body.get("status") or {}
        done = status.get("id") and len(records(body)) == 2
        return body if done and all(r["state"] in FINAL for r in records(body)) else None

    def all_declared() -> list[dict[str, Any]] | None:
        found = [declared(name) for name in created]
        return [b for b in found if b] if all(found) else None

    def pending() -> str:
        ready = sum(1 for name in created if declared(name))
        return f"{ready} of {len(created)} declared\n{operator.log_tail(40)}"

    bodies = wait_until(all_declared, what="every incident declared", timeout=180, detail=pending)
    declarations = {
        b["metadata"]["name"]: [e for e in b["status"]["timeline"] if e["type"] == "Declared"]
        for b in bodies
    }
    ids = [b["status"]["id"] for b in bodies]
    twice = {name: entries for name, entries in declarations.items() if len(entries) != 1}
    assert not twice, f"initialised more than once: {twice}"
    assert len(set(ids)) == len(ids) == burst, sorted(Counter(ids).items())
    by_key = _calls_by_key(env.http.received())
    lost = _keys(bodies) - set(by_key)
    counts = Counter(len(numbers) for numbers in by_key.values())
    print(
        f"\nAPI server restart ({restart:.1f}s) begun after {restarted_at} of {burst} "
        f"incidents; {len(set(refused))} creates refused and tried again; IDs "
        f"{min(ids)}..{max(ids)}; deliveries per key: {dict(sorted(counts.items()))}"
    )
    assert not lost, f"keys recorded and never received: {sorted(lost)}"
    assert max(counts) == 1, f"no crash, yet keys delivered more than once: {counts}"
