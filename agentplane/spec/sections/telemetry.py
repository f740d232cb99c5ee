"""Environment settings for OpenTelemetry (key `agentplane:telemetry`) and team-file additions."""

from __future__ import annotations

from agentplane.spec.base import StrictModel


class TelemetryConfig(StrictModel):
    pass


class TeamTelemetry(StrictModel):
    """Where a team's traces and metrics go; absent: the environment's default backend."""

    endpoint: str | None = None
