"""The platform realm as data: realm settings, a group per team, a client per agent (pure functions).

The component turns each of these argument dicts into a pulumi-keycloak resource; tests read
them without Pulumi. Group design: a team group `/<team>` whose sub-groups are the team file's
own groups (`/payments/payments-admins`), each tagged owner or member in an attribute. The
groups claim carries the full path, so a token says `/payments/payments-admins`: the name the
team's RoleBindings (with the API server's group prefix) and the gateway's `access` checks use
(spec.base.group_path). A team names only groups under its own path, so it can never produce
another team's group, an admin group or a Kubernetes `system:` group, whatever it writes.
"""

from __future__ import annotations

from typing import Any

from agentplane.builders.identity.urls import issuer_url, token_url
from agentplane.config.base import agent_client_id, group_leaf
from agentplane.config.platform import AgentSpec, PlatformSpec, TeamSpec
from agentplane.manifest import LABEL_AGENT, labels, metadata

ATTR_TEAM = "agentplane.io/team"
ATTR_ROLE = "agentplane.io/role"
GROUPS_CLAIM = "groups"

# Keys of the Secret an agent mounts (also valid environment variable names, for envFrom).
SECRET_CLIENT_ID = "OIDC_CLIENT_ID"
SECRET_CLIENT_SECRET = "OIDC_CLIENT_SECRET"
SECRET_ISSUER = "OIDC_ISSUER_URL"
SECRET_TOKEN_URL = "OIDC_TOKEN_URL"
SECRET_AUDIENCE = "OIDC_AUDIENCE"


def realm_args(spec: PlatformSpec) -> dict[str, Any]:
    return {
        "realm": spec.env.identity.realm,
        "display_name": f"agentplane ({spec.stack})",
        "enabled": True,
        # TLS for every client outside private networks (Keycloak's own default, stated explicitly).
        "ssl_required": "external",
    }


def team_group_args(team: TeamSpec) -> dict[str, Any]:
    return {"name": team.name, "attributes": {ATTR_TEAM: team.name}}


def role_groups(team: TeamSpec) -> list[tuple[str, str]]:
    """(role, sub-group name) for every group of the team file; validation made them unique.
    The spec holds groups by path (`/payments/payments-admins`); Keycloak names the sub-group
    by its last segment under the team group."""
    return [("owner", group_leaf(g)) for g in team.owners] + [("member", group_leaf(g)) for g in team.members]


def role_group_args(team: TeamSpec, role: str, group: str) -> dict[str, Any]:
    return {"name": group, "attributes": {ATTR_TEAM: team.name, ATTR_ROLE: role}}


def client_id(team: TeamSpec, agent: AgentSpec) -> str:
    return agent_client_id(team.name, agent.name)


def client_args(team: TeamSpec, agent: AgentSpec) -> dict[str, Any]:
    """A confidential client for machine use: client credentials and token exchange only."""
    return {
        "client_id": client_id(team, agent),
        "name": f"{team.name}/{agent.name}",
        "description": f"agent {agent.name} of team {team.name} (managed by agentplane)",
        "access_type": "CONFIDENTIAL",
        "service_accounts_enabled": True,
        "standard_flow_enabled": False,
        "implicit_flow_enabled": False,
        "direct_access_grants_enabled": False,
        # Keycloak 26's standard token exchange (RFC 8693): the agent may trade a caller's token
        # for one addressed to the gateway or another agent.
        "standard_token_exchange_enabled": True,
        # Only roles the client is explicitly given end up in its tokens.
        "full_scope_allowed": False,
    }


def groups_mapper_args() -> dict[str, Any]:
    return {
        "name": "groups",
        "claim_name": GROUPS_CLAIM,
        # `/<team>/<group>`: unambiguous across teams (a leaf name could be claimed by any team).
        "full_path": True,
        "add_to_access_token": True,
        "add_to_id_token": True,
        "add_to_userinfo": True,
    }


def audience_mapper_args(spec: PlatformSpec) -> dict[str, Any]:
    return {
        "name": "gateway-audience",
        "included_custom_audience": spec.env.identity.gateway_audience,
        "add_to_access_token": True,
        "add_to_id_token": False,
    }


def client_secret_name(agent: AgentSpec) -> str:
    return f"{agent.name}-oidc"


def client_secret_object(team: TeamSpec, agent: AgentSpec, spec: PlatformSpec, secret: Any) -> dict:
    """The Secret in the team's namespace an agent mounts; `secret` is Keycloak's client secret."""
    config = spec.env.identity
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        # Platform-owned: the tenant guard refuses tenant changes (the team reads it, mounts it).
        "metadata": metadata(
            client_secret_name(agent),
            team.namespace,
            labels(tenant=team.name, platform_owned=True, extra={LABEL_AGENT: agent.name}),
        ),
        "type": "Opaque",
        "stringData": {
            SECRET_CLIENT_ID: client_id(team, agent),
            SECRET_CLIENT_SECRET: secret,
            SECRET_ISSUER: issuer_url(config),
            SECRET_TOKEN_URL: token_url(config),
            SECRET_AUDIENCE: config.gateway_audience,
        },
    }
