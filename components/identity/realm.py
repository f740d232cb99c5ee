"""The platform realm as code: an explicit Keycloak provider, the realm, and per team its groups and agent clients."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_keycloak as keycloak

from agentplane.builders.identity import realm as build
from agentplane.builders.identity.keycloak import provider_endpoint, served_by_platform_ca
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import register, renamed_from
from components.tenants import Tenant, Tenants

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
    name: str, spec: PlatformSpec, login: KeycloakLogin, opts: pulumi.ResourceOptions, *, root_ca: pulumi.Input[str] | None = None
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


class TeamRealm(pulumi.ComponentResource):
    """One team's part of the realm: its group, sub-groups, agent clients and their Secrets."""

    def __init__(
        self,
        name: str,
        team: TeamSpec,
        spec: PlatformSpec,
        realm: keycloak.Realm,
        provider: keycloak.Provider,
        tenant: Tenant,
        opts: pulumi.ResourceOptions,
    ):
        super().__init__(TEAM_COMPONENT, name, {"team": team.name}, pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:RealmTeam")))
        in_keycloak = pulumi.ResourceOptions(parent=self, provider=provider)
        realm_id = realm.realm  # the realm's name; an output, so everything here waits for the realm

        self.group = keycloak.Group(f"{name}-group", realm_id=realm_id, **build.team_group_args(team), opts=in_keycloak)
        for role, group in build.role_groups(team):
            keycloak.Group(
                f"{name}-{role}-{group}",
                realm_id=realm_id,
                parent_id=self.group.id,
                **build.role_group_args(team, role, group),
                opts=in_keycloak,
            )

        self.clients: dict[str, keycloak.openid.Client] = {}
        for agent in team.agents:
            prefix = f"{name}-{agent.name}"
            client = keycloak.openid.Client(prefix, realm_id=realm_id, **build.client_args(team, agent), opts=in_keycloak)
            keycloak.openid.GroupMembershipProtocolMapper(
                f"{prefix}-groups", realm_id=realm_id, client_id=client.id, **build.groups_mapper_args(), opts=in_keycloak
            )
            keycloak.openid.AudienceProtocolMapper(
                f"{prefix}-audience", realm_id=realm_id, client_id=client.id, **build.audience_mapper_args(spec), opts=in_keycloak
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
                pulumi.ResourceOptions(parent=self, depends_on=[tenant.namespace]),
            )
            self.clients[agent.name] = client
        self.register_outputs({"group": team.name, "clients": sorted(build.client_id(team, a) for a in team.agents)})


class Realm(pulumi.ComponentResource):
    """The environment's realm. `ready` is what must exist before Keycloak answers (its Helm release)."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        tenants: Tenants,
        login: KeycloakLogin,
        ready: list[pulumi.Resource],
        opts: pulumi.ResourceOptions,
        *,
        root_ca: pulumi.Input[str] | None = None,
    ):
        super().__init__("agentplane:identity:Realm", name, None, opts)
        self.provider = keycloak_provider(
            f"{name}-keycloak", spec, login, pulumi.ResourceOptions(parent=self, depends_on=ready), root_ca=root_ca
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
                f"{name}-{team.name}", team, spec, self.realm, self.provider, tenants.teams[team.name],
                pulumi.ResourceOptions(parent=self),
            )
            for team in spec.teams
        }
        self.register_outputs({"realm": spec.env.identity.realm})
