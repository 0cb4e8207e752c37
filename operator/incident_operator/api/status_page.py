"""The public status page's part of an EscalationPolicy: the components customers see.

Each component covers workloads of the policy's namespace and/or signals (detection rule
names, Alertmanager alertnames); its state is derived from the open incidents covering
it and the maintenance windows holding it (domain/status_page.py, docs/status-page.md).
Only what people publish on an incident (spec.customerMessages) is ever shown; titles,
internal updates and names never are.
"""

from typing import Annotated, Final, Self

from pydantic import ConfigDict, Field, model_validator

from incident_operator.api.base import ApiModel, cel, unique_by
from incident_operator.api.incident import WorkloadReference

# The most components one policy declares (the page shows every policy's).
COMPONENT_LIMIT: Final = 50
_COVERS = "set workloads or signals: the component must cover something"

ComponentName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
SignalName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class StatusComponent(ApiModel):
    """A component on the public status page, e.g. "API" or "Agent execution"."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel(
                    "(has(self.workloads) && size(self.workloads) > 0) || "
                    "(has(self.signals) && size(self.signals) > 0)",
                    _COVERS,
                )
            ]
        }
    )

    name: ComponentName = Field(description="The name customers read, unique on the page.")
    description: Annotated[str, Field(max_length=512)] = Field(
        default="", description="One line customers read under the name."
    )
    group: ComponentName | None = Field(
        default=None, description="Components with the same group are shown together."
    )
    workloads: Annotated[list[WorkloadReference], Field(max_length=50)] = Field(
        default=[],
        description="Workloads of the policy's namespace this component covers: an open "
        "incident affecting one degrades the component.",
    )
    signals: Annotated[list[SignalName], Field(max_length=50)] = Field(
        default=[],
        description="Detection rule names or Alertmanager alertnames this component covers: "
        "an open incident with such a signal degrades the component.",
    )

    @model_validator(mode="after")
    def _covers_something(self) -> Self:
        if not self.workloads and not self.signals:
            raise ValueError(_COVERS)
        return self


class StatusPageSettings(ApiModel):
    """The components this policy shows on the public status page (docs/status-page.md)."""

    components: Annotated[
        list[StatusComponent],
        Field(
            max_length=COMPONENT_LIMIT,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
            },
        ),
        unique_by("name"),
    ] = []
