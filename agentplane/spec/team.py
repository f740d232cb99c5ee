"""A team file: stacks/teams/<team>.yaml, changed by pull request."""

from __future__ import annotations

from pydantic import Field

from agentplane.spec.base import AgentName, DnsLabel, GroupName, Quota, StrictModel, TeamName, TokenBudget
from agentplane.spec.environment import EgressPattern
from agentplane.spec.sections.gateway import AccessEntry, McpServer
from agentplane.spec.sections.telemetry import TeamTelemetry


class TeamEnvironment(StrictModel):
    tier: DnsLabel
    quota: Quota | None = None


class Agent(StrictModel):
    name: AgentName
    # environment -> tier; absent environments run the agent at the lowest tier.
    promote: dict[str, DnsLabel] = {}
    # Who may call this agent; absent: the team's owners. Entries: a group of this team
    # (`payments-devs`), another team's group (`support/support-engineers`) or an agent
    # (`agent:support/ticket-router`).
    access: tuple[AccessEntry, ...] | None = None
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
