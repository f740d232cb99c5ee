"""`agentplane onboard`: a valid, commented starter team file, so a team's first pull request is small."""

from __future__ import annotations

import json
import re

# The editor schema, relative to stacks/teams/<team>.yaml (python -m agentplane.schema --write).
SCHEMA_LINE = "# yaml-language-server: $schema=../../schemas/team.schema.json"
EXAMPLE_AGENT = "assistant"
_PLAIN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _scalar(value: str) -> str:
    """A YAML scalar for `value`: plain when it is a simple name, else double-quoted (JSON is YAML)."""
    return value if _PLAIN.match(value) else json.dumps(value)


def starter_team(team: str, owner: str, environment: str, tier: str) -> str:
    name, group, env, tier_name = (_scalar(v) for v in (team, owner, environment, tier))
    return f"""{SCHEMA_LINE}
# Team {team}: changed by pull request and reviewed by the platform team. Reference: docs/teams.md.
# Check it before opening the pull request:
#   agentplane validate --stack {environment}
#   agentplane plan --stack {environment}

# Must equal the file name (a DNS label, at most 40 characters).
name: {name}
# Identity-provider groups that administer the team's namespace, and groups that may edit in it.
owners: [{group}]
members: []
# Only these environments get the team; the tier is the team's ceiling there.
environments:
  {env}: {{tier: {tier_name}}}
# Each agent is a ServiceAccount of that name in the team's namespace: its workload identity.
# Rename it, and run the agent's pods with `serviceAccountName: {EXAMPLE_AGENT}`.
agents:
  - name: {EXAMPLE_AGENT}
    # New agents run at the environment's lowest tier until promoted (never above the team's tier):
    # promote: {{{environment}: {tier}}}
    # Who may call the agent (absent: the owners only), and its own daily token budget:
    # access: [{team}-devs]
    # dailyTokenBudget: 100000
# Absent: every model the team's tier allows.
# models: [gpt-4o-mini]
# External domains; only agents at a tier with egress reach them.
# egress: [api.example.com]
# Absent: the tier's default.
# dailyTokenBudget: 1000000
"""
