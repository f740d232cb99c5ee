"""Where a Helm chart comes from. Overridable per environment for air-gapped mirrors."""

from __future__ import annotations

from pydantic import Field

from agentplane.spec.base import StrictModel


class ChartSource(StrictModel):
    repository: str = Field(min_length=1, description="https:// chart repository or oci:// registry path")
    chart: str = Field(min_length=1)
    version: str = Field(min_length=1, description="an exact chart version; ranges are not accepted")
