"""Where a Helm chart comes from. Overridable per environment for air-gapped mirrors."""

from __future__ import annotations

from pydantic import Field

from agentplane.config.base import StrictModel


class ChartSource(StrictModel):
    repository: str = Field(
        min_length=1,
        description=(
            "Where the chart comes from: an `https://` chart repository or an `oci://` registry path "
            "(e.g. an air-gapped mirror)."
        ),
    )
    chart: str = Field(min_length=1)
    """The chart's name; may be omitted where the platform pins the chart, and if given must be the pinned one."""
    version: str = Field(
        min_length=1,
        description=(
            "The exact chart version (no ranges); may be omitted where the platform pins the chart, "
            "and if given must be the pinned one."
        ),
    )
