"""The platform realm as code: an explicit Keycloak provider, the realm, and per team its groups and agent clients."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_keycloak as keycloak

from agentplane.builders.identity import realm as build
from agentplane.builders.identity.urls import provider_endpoint, served_by_platform_ca
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import register, renamed_from

# Type tokens are agentplane:<piece>:<class>; this one was agentplane:team:RealmTeam.
TEAM_COMPONENT = "agentplane:identity:TeamRealm"


@dataclass(frozen=True)
class KeycloakLogin:
    """How the provider logs in: an admin user (password grant) or a client's service account."""

    realm: str
    client_id: str
    username: str | None = None
    password: pulumi.Input[str] | None = None
    client_secret: pulumi.Input[str] | None = None


# Seconds the provider waits for one Keycloak API call (the SDK's default is 5). A cold Keycloak
# can take longer to create a realm; a call that times out client-side still completes in
# Keycloak, and the next run would then conflict with a realm that is not in the state.
CLIENT_TIMEOUT = 120


def keycloak_provider(
    name: str,
    spec: PlatformSpec,
    login: KeycloakLogin,
    opts: pulumi.ResourceOptions,
    *,
    root_ca: pulumi.Input[str] | None = None,
) -> keycloak.Provider:
    """`root_ca` is the platform root, given (as the provider's `root_ca_certificate`) only
    when the admin endpoint presents a platform-CA certificate. It then replaces the system
    roots for this provider (a new pool holding only it: keycloak/terraform-provider-keycloak
    keycloak/keycloak_client.go, newHttpClient), so a publicly issued endpoint must not get it."""
    url, base_path = provider_endpoint(spec.env.identity)
    return keycloak.Provider(
        name,
        url=url,
        base_path=base_path,
        realm=login.realm,
        client_id=login.client_id,
        username=login.username,
        password=pulumi.Output.secret(login.password) if login.password is not None else None,
        client_secret=pulumi.Output.secret(login.client_secret) if login.client_secret is not None else None,
        # Log in on the first API call, not when the provider starts: a preview before Keycloak
        # exists (or while it is unreachable) must still work.
        initial_login=False,
        client_timeout=CLIENT_TIMEOUT,
        root_ca_certificate=root_ca if served_by_platform_ca(spec.env.identity, url) else None,
        opts=opts,
    )


@dataclass(frozen=True)
class TeamRealmArgs:
    team: TeamSpec
    spec: PlatformSpec
    realm_id: pulumi.Output[str]
    """The realm's name, an output of the realm: everything here waits for the realm."""
    provider: keycloak.Provider
    """The Keycloak provider the realm was created with."""
    tenant_namespace: pulumi.Resource
    """The team's namespace, where its agents' client Secrets go."""


class TeamRealm(pulumi.ComponentResource):
    """One team's part of the realm: its group, sub-groups, agent clients and their Secrets."""

    group: keycloak.Group
    """The team's group; the agents' service-account users are in it."""
    clients: dict[str, keycloak.openid.Client]
    """Each agent's OpenID client, by agent name."""

    def __init__(self, name: str, args: TeamRealmArgs, opts: pulumi.ResourceOptions | None = None):
        team, spec, realm_id = args.team, args.spec, args.realm_id
        super().__init__(
            TEAM_COMPONENT,
            name,
            {"team": team.name},
            pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:RealmTeam")),
        )
        in_keycloak = pulumi.ResourceOptions(parent=self, provider=args.provider)

        self.group = keycloak.Group(f"{name}-group", realm_id=realm_id, **build.team_group_args(team), opts=in_keycloak)
        for role, group in build.role_groups(team):
            keycloak.Group(
                f"{name}-{role}-{group}",
                realm_id=realm_id,
                parent_id=self.group.id,
                **build.role_group_args(team, role, group),
                opts=in_keycloak,
            )

        self.clients = {}
        for agent in team.agents:
            prefix = f"{name}-{agent.name}"
            client = keycloak.openid.Client(
                prefix, realm_id=realm_id, **build.client_args(team, agent), opts=in_keycloak
            )
            keycloak.openid.GroupMembershipProtocolMapper(
                f"{prefix}-groups",
                realm_id=realm_id,
                client_id=client.id,
                **build.groups_mapper_args(),
                opts=in_keycloak,
            )
            keycloak.openid.AudienceProtocolMapper(
                f"{prefix}-audience",
                realm_id=realm_id,
                client_id=client.id,
                **build.audience_mapper_args(spec),
                opts=in_keycloak,
            )
            # The agent's service-account user is in the team group, so its tokens say which team it is.
            keycloak.UserGroups(
                f"{prefix}-team",
                realm_id=realm_id,
                user_id=client.service_account_user_id,
                group_ids=[self.group.id],
                exhaustive=True,
                opts=in_keycloak,
            )
            register(
                name,
                build.client_secret_object(team, agent, spec, pulumi.Output.secret(client.client_secret)),
                pulumi.ResourceOptions(parent=self, depends_on=[args.tenant_namespace]),
            )
            self.clients[agent.name] = client
        self.register_outputs({"group": team.name, "clients": sorted(build.client_id(team, a) for a in team.agents)})


@dataclass(frozen=True)
class RealmArgs:
    spec: PlatformSpec
    login: KeycloakLogin
    """How the provider logs in to Keycloak."""
    ready: Sequence[pulumi.Resource]
    """What must exist before Keycloak answers (its Helm release); empty for an existing Keycloak."""
    tenant_namespaces: Mapping[str, pulumi.Resource]
    """Each team's namespace, by team name (Tenants.team_namespaces)."""
    root_ca: pulumi.Input[str] | None = None
    """The platform root, trusted by the provider when Keycloak's admin endpoint presents a platform-CA certificate."""


class Realm(pulumi.ComponentResource):
    """The environment's realm, the provider that manages it, and one TeamRealm per team."""

    provider: keycloak.Provider
    """The explicit Keycloak provider every realm object is managed with."""
    realm: keycloak.Realm
    """The platform realm."""
    teams: dict[str, TeamRealm]
    """One TeamRealm per team, by team name."""

    def __init__(self, name: str, args: RealmArgs, opts: pulumi.ResourceOptions | None = None):
        spec, ready = args.spec, list(args.ready)
        super().__init__("agentplane:identity:Realm", name, None, opts)
        self.provider = keycloak_provider(
            f"{name}-keycloak",
            spec,
            args.login,
            pulumi.ResourceOptions(parent=self, depends_on=ready),
            root_ca=args.root_ca,
        )
        self.realm = keycloak.Realm(
            f"{name}-realm",
            **build.realm_args(spec),
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=self.provider,
                # Keycloak before the realm, stated explicitly (the provider only logs in lazily).
                depends_on=ready,
                # The realm holds every team's clients and their secrets.
                protect=spec.protect,
                retain_on_delete=spec.protect,
            ),
        )
        self.teams = {
            team.name: TeamRealm(
                f"{name}-{team.name}",
                TeamRealmArgs(team, spec, self.realm.realm, self.provider, args.tenant_namespaces[team.name]),
                pulumi.ResourceOptions(parent=self),
            )
            for team in spec.teams
        }
        self.register_outputs({"realm": spec.env.identity.realm})
