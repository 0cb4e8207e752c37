"""Incident events: the one handler. Each goes to detection's index of incidents and to
the one incident pipeline (runtime/incidents.py).

Level-triggered on purpose: every event (spec, annotations, status written by detection
or by people's tools) and every deadline leads to the same decision from the whole
object, and only the difference is written. kopf's event handler writes nothing of its
own to the object (no diff-base annotation, no finalizer).
"""

import asyncio
from typing import Any

import kopf

from incident_operator.api import GROUP, VERSION
from incident_operator.config import Settings
from incident_operator.runtime.detection_state import INCIDENTS
from incident_operator.runtime.incidents import IncidentPipeline
from incident_operator.runtime.lifetime import stop_within
from incident_operator.runtime.policies import POLICIES, seed_policies


@kopf.on.startup()
async def start_incident_pipeline(memo: kopf.Memo, **_: Any) -> None:
    settings = memo.get("settings") or Settings()
    pipeline = memo["incidents"] = IncidentPipeline(settings)
    pipeline.start()
    # Incidents wait for this listing, so none is decided before its policy is known.
    seeding = seed_policies(POLICIES, settings.namespaces)
    memo["policy_seeding"] = asyncio.create_task(seeding, name="policy-listing")


@kopf.on.event(GROUP, VERSION, "incidents")
async def on_incident(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    pipeline: IncidentPipeline = memo["incidents"]
    namespace, name = str(body.meta.namespace), str(body.meta.name)
    if type == "DELETED":
        INCIDENTS.remove(namespace, name)
        pipeline.on_deleted((namespace, name))
    else:
        # Detection's index first: what it knows of the incident is never older than what
        # the pipeline decides from.
        INCIDENTS.put_raw(dict(body))
        await pipeline.on_event(dict(body))


@kopf.on.cleanup()
async def stop_incident_pipeline(memo: kopf.Memo, **_: Any) -> None:
    seeding = memo.get("policy_seeding")
    if seeding is not None:
        seeding.cancel()
    pipeline: IncidentPipeline | None = memo.get("incidents")
    if pipeline is not None:
        await stop_within("the incident pipeline", pipeline.stop())
