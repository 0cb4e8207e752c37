"""Operator-wide kopf settings."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf

from incident_operator.adapters.kubernetes import CALLS_IN_PARALLEL
from incident_operator.api.annotations import OPERATOR_PREFIX

# Objects whose events are handled at the same time, per resource kind.
WORKER_LIMIT = 50


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The thread pool every blocking API call runs in (asyncio.to_thread).
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=CALLS_IN_PARALLEL, thread_name_prefix="api")
    )
    # Our own prefix instead of kopf.zalando.org, and annotations rather than status, so
    # the progress kopf keeps is neither pruned by our schema nor mixed into our status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=OPERATOR_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=OPERATOR_PREFIX, key="last-handled-configuration"
    )
    # kopf's own log lines become Events only from warnings up; handlers post
    # their Events explicitly with kopf.event, which this level does not filter.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # kopf starts one worker per object with events, without limit. Thousands of new
    # incidents at once (a cluster-wide outage, a restart over a full list) would then
    # all be in flight together, and CPython keeps the memory of that peak for good:
    # 5,000 incidents left the process at 680 MiB (at 3,000: 78 MiB live in 387 MiB of
    # arenas). Bounded, the watch waits for a free worker instead, and the same 5,000
    # settle no slower in about 175 MiB (bench/scale.py).
    settings.queueing.worker_limit = WORKER_LIMIT
    # An object's worker waits this long for its next event before freeing its slot.
    settings.queueing.idle_timeout = 0.5
