"""Resolution: a validated team file, placed in one stack, as the builders read it (TeamSpec).

Defaults are filled from the team's tier, promotions are applied per agent, and `access` entries
become the group paths and agent references the gateway compares.
"""

from __future__ import annotations

from typing import Any

from agentplane.config.base import group_path
from agentplane.config.environment import EnvironmentConfig
from agentplane.config.platform import AgentSpec, TeamSpec
from agentplane.config.sections.gateway import McpServer, resolve_access
from agentplane.config.team import TeamFile


def _resolved_server(server: McpServer, team: str) -> McpServer:
    """An MCP server with its `access` entries and tool grants' callers as the gateway compares them."""
    update: dict[str, Any] = {}
    if server.access is not None:
        update["access"] = tuple(resolve_access(e, team) for e in server.access)
    if server.tools is not None:
        update["tools"] = tuple(
            g.model_copy(update={"callers": tuple(resolve_access(c, team) for c in g.callers)}) for g in server.tools
        )
    return server.model_copy(update=update) if update else server


def resolve_team(team: TeamFile, file: str, env: EnvironmentConfig, stack: str) -> TeamSpec:
    placement = team.environments[stack]
    tier = env.tier(placement.tier)
    assert tier is not None  # checked above
    models = tuple(team.models) if team.models is not None else tier.models
    agents = []
    for agent in team.agents:
        promoted_to = agent.promote.get(stack)
        agent_tier = env.tier(promoted_to) if promoted_to else env.tiers[0]
        assert agent_tier is not None
        agents.append(
            AgentSpec(
                name=agent.name,
                tier=agent_tier,
                promoted=promoted_to is not None,
                access=tuple(
                    resolve_access(e, team.name) for e in (agent.access if agent.access is not None else team.owners)
                ),
                models=tuple(m for m in models if m in agent_tier.models),
                egress=tuple(team.egress) if agent_tier.egress else (),
                daily_token_budget=agent.daily_token_budget,
                instrumentation=agent.instrumentation,
            )
        )
    return TeamSpec(
        name=team.name,
        file=file,
        namespace=team.name,
        tier=tier,
        quota=placement.quota or tier.quota,
        owners=tuple(group_path(team.name, g) for g in team.owners),
        members=tuple(group_path(team.name, g) for g in team.members),
        agents=tuple(agents),
        models=models,
        egress=tuple(team.egress),
        daily_token_budget=team.daily_token_budget if team.daily_token_budget is not None else tier.daily_token_budget,
        mcp_servers=tuple(_resolved_server(server, team.name) for server in team.mcp_servers),
        telemetry=team.telemetry,
        offboard=team.offboard,
    )
