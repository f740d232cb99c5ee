"""`agentplane onboard`: a valid starter team file, so a team's first pull request is small."""

from __future__ import annotations

import yaml


def starter_team(team: str, owner: str, environment: str, tier: str) -> str:
    body = {
        "name": team,
        "owners": [owner],
        "members": [],
        "environments": {environment: {"tier": tier}},
        "agents": [{"name": f"{team}-agent"[:63]}],
    }
    header = (
        f"# Team {team}: reviewed by the platform team. See docs/teams.md.\n"
        "# New agents run at the lowest tier until `promote` lifts them (never above the team's tier).\n"
    )
    # Field order as people read a team file: who, where, what.
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
