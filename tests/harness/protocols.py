"""Types of the integration fixtures, for test signatures."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import Protocol


class Kubectl(Protocol):
    """The ``kubectl`` fixture: the real kubectl against the test cluster.

    Raises ClusterError on a non-zero exit unless ``check=False``. ``as_user`` and
    ``as_groups`` become ``--as`` and ``--as-group`` (impersonation by the admin).
    """

    def __call__(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float = 60,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[str]: ...
