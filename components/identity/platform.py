"""Identity: Keycloak (with its Postgres) and the platform realm, a group per team, a client per agent.

Managed mode installs CloudNativePG + a Postgres `Cluster`, then Keycloak, then manages the
realm in it. With `identity.existing` only the realm is managed, in a Keycloak run elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi

from agentplane import namespaces
from agentplane.builders.identity import urls as build
from agentplane.config.base import Secret
from agentplane.config.platform import PlatformSpec
from components.identity.keycloak import Keycloak, KeycloakArgs
from components.identity.postgres import Postgres, PostgresArgs
from components.identity.realm import KeycloakLogin, Realm, RealmArgs
from components.kube import platform_namespace


@dataclass(frozen=True)
class IdentityArgs:
    spec: PlatformSpec
    root_ca_pem: pulumi.Input[str]
    """The platform root (Certificates.root_ca_pem), for the Keycloak provider."""
    issuer_dependencies: Mapping[str, Sequence[pulumi.Resource]]
    """Per ClusterIssuer name, what a Certificate from it waits for (Certificates.issuer_dependencies)."""
    tenant_namespaces: Mapping[str, pulumi.Resource]
    """Each team's namespace, by team name (Tenants.team_namespaces)."""


class Identity(pulumi.ComponentResource):
    """Keycloak with its Postgres (managed mode) and the platform realm."""

    issuer_url: str
    """What token validators (the gateway) compare `iss` with."""
    jwks_url: str
    """Where token validators fetch the realm's signing keys."""
    token_url: str
    """The realm's token endpoint."""
    audience: str
    """The `aud` every agent token carries (identity.gatewayAudience)."""
    database: Postgres | None
    """Keycloak's database; None with `identity.existing`."""
    keycloak: Keycloak | None
    """Keycloak; None with `identity.existing`."""
    realm: Realm
    """The platform realm, its groups and agent clients."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:Identity", name, None, opts)
        config = spec.env.identity
        self.issuer_url = build.issuer_url(config)
        self.jwks_url = build.jwks_url(config)
        self.token_url = build.token_url(config)
        self.audience = config.gateway_audience
        child = pulumi.ResourceOptions(parent=self)

        self.database = None
        self.keycloak = None
        if config.existing is None:
            namespace = platform_namespace(name, namespaces.IDENTITY, spec, child)
            self.database = Postgres(f"{name}-postgres", PostgresArgs(spec, namespace), child)
            self.keycloak = Keycloak(
                f"{name}-keycloak",
                KeycloakArgs(
                    spec,
                    namespace,
                    issuer_dependencies=args.issuer_dependencies,
                    database_cluster=self.database.cluster,
                    database_credentials=self.database.credentials,
                ),
                child,
            )
            login = KeycloakLogin(
                realm="master",
                client_id="admin-cli",
                username=self.keycloak.admin_username,
                password=self.keycloak.admin_password,
            )
            ready: list[pulumi.Resource] = [self.keycloak.release]
        else:
            login = _existing_login(spec)
            ready = []
        self.realm = Realm(
            f"{name}-realm",
            RealmArgs(spec, login, ready, tenant_namespaces=args.tenant_namespaces, root_ca=args.root_ca_pem),
            child,
        )
        self.register_outputs({"issuerUrl": self.issuer_url, "jwksUrl": self.jwks_url, "audience": self.audience})


def _existing_login(spec: PlatformSpec) -> KeycloakLogin:
    existing = spec.env.identity.existing
    assert existing is not None

    def value(secret: Secret | None) -> str | None:
        # The stand-in (plan, preview) is registered as a secret like the real value.
        return secret.deploy_value if secret is not None else None

    if existing.uses_client_credentials:
        return KeycloakLogin(
            realm=existing.realm, client_id=existing.client_id, client_secret=value(existing.client_secret)
        )
    return KeycloakLogin(
        realm=existing.realm,
        client_id=existing.client_id,
        username=existing.admin_username,
        password=value(existing.admin_password),
    )
