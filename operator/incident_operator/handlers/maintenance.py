"""MaintenanceWindow events: keep the window registry the signal router's gate reads.

An event handler on purpose, as for policies: kopf's create/update handlers would keep a
diff-base annotation on objects people own. The gate and the end task are
runtime/maintenance.py; detection plugs the gate into its router.
"""

import asyncio
from typing import Any

import kopf

from incident_operator.api import GROUP, VERSION
from incident_operator.config import Settings
from incident_operator.runtime.lifetime import stop_within
from incident_operator.runtime.maintenance import (
    MAINTENANCE,
    WINDOWS,
    seed_windows,
    window_event,
    write_invalid,
)


@kopf.on.startup()
async def start_window_listing(memo: kopf.Memo, **_: Any) -> None:
    settings = memo.get("settings") or Settings()
    # The gate waits for this listing, so no signal passes a window not yet read.
    listing = seed_windows(WINDOWS, settings.namespaces)
    memo["window_seeding"] = asyncio.create_task(listing, name="window-listing")


@kopf.on.event(GROUP, VERSION, "maintenancewindows")
async def on_window(body: kopf.Body, type: str | None, **_: Any) -> None:
    raw = dict(body)
    window_event(WINDOWS, raw, deleted=type == "DELETED")
    if type != "DELETED":
        await write_invalid(raw)


@kopf.on.cleanup()
async def stop_maintenance(**_: Any) -> None:
    await stop_within("maintenance windows", MAINTENANCE.stop())
