"""The resolved, immutable platform spec every builder reads. Nothing downstream guesses defaults."""

from __future__ import annotations

from dataclasses import dataclass

from agentplane.config.base import Quota
from agentplane.config.environment import EnvironmentConfig, Tier
from agentplane.config.sections.gateway import McpServer
from agentplane.config.sections.telemetry import TeamTelemetryConfig


@dataclass(frozen=True)
class AgentSpec:
    name: str
    tier: Tier
    promoted: bool
    # Who may call the agent (owners when the team file says nothing): group paths as tokens
    # carry them (`/payments/payments-devs`) and agent references (`agent:<team>/<agent>`).
    access: tuple[str, ...]
    # The team's models that this agent's tier allows.
    models: tuple[str, ...]
    # The team's egress domains, or none when the agent's tier has no external egress.
    egress: tuple[str, ...]
    daily_token_budget: int | None
    instrumentation: bool


@dataclass(frozen=True)
class TeamSpec:
    name: str
    file: str
    namespace: str
    tier: Tier
    quota: Quota
    # Group paths as tokens carry them and Kubernetes sees them (after the OIDC group prefix):
    # `/<team>/<group>` (spec.base.group_path).
    owners: tuple[str, ...]
    members: tuple[str, ...]
    agents: tuple[AgentSpec, ...]
    models: tuple[str, ...]
    egress: tuple[str, ...]
    daily_token_budget: int
    mcp_servers: tuple[McpServer, ...]
    telemetry: TeamTelemetryConfig | None
    offboard: bool


@dataclass(frozen=True)
class PlatformSpec:
    stack: str
    env: EnvironmentConfig
    teams: tuple[TeamSpec, ...]
    # Things `plan` can live without but `pulumi up` cannot (e.g. provider credentials).
    warnings: tuple[str, ...] = ()

    @property
    def protect(self) -> bool:
        return self.env.protect

    @property
    def lowest_tier(self) -> Tier:
        return self.env.tiers[0]

    def team(self, name: str) -> TeamSpec:
        return next(t for t in self.teams if t.name == name)
