"""The snapshot keeper's start and stop (runtime/config_history.py): it runs while the
operator runs, so only on the replica holding the leader Lease."""

from typing import Any

import kopf

from incident_operator.config import Settings
from incident_operator.runtime.config_history import ConfigHistoryKeeper
from incident_operator.runtime.lifetime import stop_within


@kopf.on.startup()
async def start_config_history(memo: kopf.Memo, **_: Any) -> None:
    settings: Settings = memo.get("settings") or Settings()
    keeper = memo["config_history"] = ConfigHistoryKeeper(every=settings.config_snapshot_interval)
    keeper.start()


@kopf.on.cleanup()
async def stop_config_history(memo: kopf.Memo, **_: Any) -> None:
    keeper: ConfigHistoryKeeper | None = memo.get("config_history")
    if keeper is not None:
        await stop_within("the config history keeper", keeper.stop())
