"""A team file: stacks/teams/<team>.yaml, changed by pull request."""

from __future__ import annotations

from pydantic import Field

from agentplane.spec.base import DnsLabel, GroupName, Quota, StrictModel, TeamName, TokenBudget
from agentplane.spec.environment import EgressPattern
from agentplane.spec.sections.gateway import McpServer
from agentplane.spec.sections.telemetry import TeamTelemetry


class TeamEnvironment(StrictModel):
    tier: DnsLabel
    quota: Quota | None = None


class Agent(StrictModel):
    name: DnsLabel
    # environment -> tier; absent environments run the agent at the lowest tier.
    promote: dict[str, DnsLabel] = {}
    # groups (or other agents, see the gateway docs) that may call this agent; absent: owners only.
    access: tuple[GroupName, ...] | None = None
    daily_token_budget: TokenBudget | None = None
    # Zero-code OpenTelemetry instrumentation; an agent can opt out.
    instrumentation: bool = Field(default=True, strict=True)


class TeamFile(StrictModel):
    name: TeamName
    owners: tuple[GroupName, ...] = Field(min_length=1)
    members: tuple[GroupName, ...] = ()
    environments: dict[str, TeamEnvironment] = Field(min_length=1)
    agents: tuple[Agent, ...] = ()
    # Absent: every model the team's tier allows.
    models: tuple[str, ...] | None = None
    egress: tuple[EgressPattern, ...] = ()
    # Absent: the tier's default.
    daily_token_budget: TokenBudget | None = None
    mcp_servers: tuple[McpServer, ...] = ()
    telemetry: TeamTelemetry | None = None
    # Offboarding: lifts protection so that removing the file in a later change deletes the team.
    offboard: bool = Field(default=False, strict=True)
