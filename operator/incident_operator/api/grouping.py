"""``EscalationPolicy.spec.grouping``: which signals join one open incident.

Without it every (rule, workload) and every alert opens its own incident, as before.
With it, a signal whose grouping keys equal those of an open incident of the same policy,
within ``window`` of that incident's opening and while it holds fewer than
``maxSignals``, joins that incident (docs/grouping.md).
"""

from typing import Annotated

from pydantic import Field

from incident_operator.api.base import ApiModel, Duration, Within
from incident_operator.api.incident import SIGNAL_LIMIT

# A label name (an optional DNS prefix and a name), or ``namespace``.
GroupingKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=317,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$",
    ),
]


class Grouping(ApiModel):
    """How signals of this policy are grouped into one incident."""

    by: Annotated[list[GroupingKey], Field(max_length=8)] = Field(
        default=["namespace"],
        description="Label names whose values must be equal: `namespace`, a workload label "
        "(app.kubernetes.io/part-of) or an alert label. A signal without one of them "
        "joins no incident by labels.",
    )
    same_rollout: bool = Field(
        default=False,
        description="Also require the signal's workload to have changed revision within "
        "spec.rollback.proposalWindow, as one of the incident's workloads did: one change.",
    )
    window: Annotated[Duration, Within("1s", "24h")] = Field(
        default="10m", description="How long after an incident opened signals may join it."
    )
    max_signals: Annotated[int, Field(ge=1, le=SIGNAL_LIMIT)] = Field(
        default=50, description="The most signals one incident takes; the next opens its own."
    )
