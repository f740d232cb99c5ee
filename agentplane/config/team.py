"""A team file: stacks/teams/<team>.yaml, changed by pull request."""

from __future__ import annotations

from pydantic import Field

from agentplane.config.base import AgentName, DnsLabel, GroupName, Quota, StrictModel, TeamName, TokenBudget
from agentplane.config.environment import EgressPattern
from agentplane.config.sections.gateway import AccessEntry, McpServer
from agentplane.config.sections.telemetry import TeamTelemetryConfig


class TeamEnvironment(StrictModel):
    tier: DnsLabel
    """The team's tier in this environment: its ceiling."""
    quota: Quota | None = None
    """`{cpu, memory, pods}`, at most the tier's quota. Default: the tier's quota."""


class Agent(StrictModel):
    name: AgentName
    """The agent's name: its ServiceAccount in the team's namespace, and its workload identity."""
    # environment -> tier; absent environments run the agent at the lowest tier.
    promote: dict[str, DnsLabel] = {}
    """`{<env>: <tier>}`: the agent's tier per environment, at most the team's. Absent environments run it at the lowest
    tier."""
    # Who may call this agent; absent: the team's owners. Entries: a group of this team
    # (`payments-devs`), another team's group (`support/support-engineers`) or an agent
    # (`agent:support/ticket-router`).
    access: tuple[AccessEntry, ...] | None = None
    """Who may call this agent: a group of this team (`devs`), another team's group (`support/engineers`) or an agent
    (`agent:<team>/<agent>`). Default: the team's owners."""
    daily_token_budget: TokenBudget | None = None
    """The agent's own share of the team's daily token budget, at most the team's. Default: it shares the team's."""
    # Zero-code OpenTelemetry instrumentation; an agent can opt out.
    instrumentation: bool = Field(default=True, strict=True)
    """Zero-code OpenTelemetry instrumentation of the agent's pods; `false` opts out."""


class TeamFile(StrictModel):
    name: TeamName
    """Equals the file name; lowercase ASCII letters, digits and `-`, a letter first, at most 40 characters; not
    `default`, `kube-*`, `agentplane-*`, a platform namespace or one of `agentplane:tenancy.reservedNamespaces`."""
    owners: tuple[GroupName, ...] = Field(min_length=1)
    """The team's groups bound to `agentplane-tenant-owner` in the namespace ([what it
    grants](components/tenants.md#rbac)), at least one. Tokens and RoleBindings carry them by path, `/<team>/<group>`,
    so they never clash with another team's, an admin or a `system:` group; a group name still belongs to one team, and
    no team is named like a group or an `adminGroups` entry."""
    members: tuple[GroupName, ...] = ()
    """Groups bound to `agentplane-tenant-member` in the namespace (same rules)."""
    environments: dict[str, TeamEnvironment] = Field(min_length=1)
    """`{<env>: {tier, quota?}}`: only these environments get the team (at least one)."""
    agents: tuple[Agent, ...] = ()
    """The team's agents; see the agent fields below."""
    # Absent: every model the team's tier allows.
    models: tuple[str, ...] | None = None
    """A subset of the environment's approved models allowed by the team's tier, each once. Default: every model the
    tier allows."""
    egress: tuple[EgressPattern, ...] = ()
    """Domains covered by the environment's `agentplane:egress`, each once; reached only by agents at tiers with
    egress."""
    # Absent: the tier's default.
    daily_token_budget: TokenBudget | None = None
    """Non-negative integer, at most the tier's. Default: the tier's."""
    mcp_servers: tuple[McpServer, ...] = ()
    """MCP tool servers the team registers with the gateway, optionally with per-tool `tools` grants
    ([gateway](components/gateway.md#an-mcp-tool-server))."""
    telemetry: TeamTelemetryConfig | None = None
    """The team's own telemetry backend ([telemetry](components/telemetry.md#pointing-a-team-at-its-own-backend)).
    Default: the environment's."""
    # Offboarding: lifts protection so that removing the file in a later change deletes the team.
    offboard: bool = Field(default=False, strict=True)
    """`true` lifts protection so the team can be removed by a later change."""
