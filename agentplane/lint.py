"""Warnings for configurations that validate but do nothing: what a team asks for that none of its agents gets.

A team file may list egress domains and models its tier allows, while every one of its agents
runs at a tier that allows neither (agents start at the environment's lowest tier until the
team file promotes them). That is valid, and a no-op: `validate` says so instead of passing silently.
"""

from __future__ import annotations

from agentplane.config.platform import PlatformSpec


def ineffective_settings(spec: PlatformSpec) -> list[str]:
    warnings = []
    for team in spec.teams:
        where = f"{team.file}: team {team.name} in {spec.stack}"
        if not team.agents:
            if team.egress or team.models:
                warnings.append(f"{where}: has no agents, so its models and egress are used by nobody")
            continue
        if team.egress and not any(agent.egress for agent in team.agents):
            tiers = sorted({agent.tier.name for agent in team.agents})
            warnings.append(
                f"{where}: egress {', '.join(team.egress)} is unused: none of its agents' tiers "
                f"({', '.join(tiers)}) allows external egress; promote an agent (agents[].promote) "
                f"to a tier with egress, or drop the egress list"
            )
        used = {model for agent in team.agents for model in agent.models}
        unused = [model for model in team.models if model not in used]
        if unused:
            warnings.append(
                f"{where}: model(s) {', '.join(unused)} are unused: no agent's tier allows them; "
                f"promote an agent (agents[].promote) to a tier that lists them, or drop them from models"
            )
    return warnings
