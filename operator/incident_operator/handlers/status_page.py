"""The public status page's start and stop (runtime/status_page.py): it runs while the
operator runs, so only on the replica holding the leader Lease, as the intake receiver."""

from typing import Any

import kopf

from incident_operator.adapters.status_page_server import StatusPageServer
from incident_operator.config import Settings
from incident_operator.runtime.lifetime import stop_within
from incident_operator.runtime.status_page import start_status_page


@kopf.on.startup()
async def start_page(memo: kopf.Memo, **_: Any) -> None:
    memo["status_page"] = await start_status_page(memo.get("settings") or Settings())


@kopf.on.cleanup()
async def stop_page(memo: kopf.Memo, **_: Any) -> None:
    server: StatusPageServer | None = memo.get("status_page")
    if server is not None:
        await stop_within("the status page", server.stop())
