"""Identity: Keycloak (with its Postgres) and the platform realm, a group per team, a client per agent.

Managed mode installs CloudNativePG + a Postgres `Cluster`, then Keycloak, then manages the
realm in it. With `identity.existing` only the realm is managed, in a Keycloak run elsewhere.
"""

from __future__ import annotations

import pulumi

from agentplane import namespaces
from agentplane.builders.identity import keycloak as build
from agentplane.config.base import Secret
from agentplane.config.platform import PlatformSpec
from components.certificates import Certificates
from components.identity.postgres import Postgres
from components.identity.keycloak import Keycloak
from components.kube import platform_namespace
from components.identity.realm import KeycloakLogin, Realm
from components.tenants import Tenants


class Identity(pulumi.ComponentResource):
    """`issuer_url` is what token validators (the gateway) compare `iss` with; `jwks_url` where they fetch keys."""

    def __init__(self, name: str, spec: PlatformSpec, certificates: Certificates, tenants: Tenants, opts: pulumi.ResourceOptions):
        super().__init__("agentplane:index:Identity", name, None, opts)
        config = spec.env.identity
        self.issuer_url = build.issuer_url(config)
        self.jwks_url = build.jwks_url(config)
        self.token_url = build.token_url(config)
        self.audience = config.gateway_audience
        child = pulumi.ResourceOptions(parent=self)

        self.database: Postgres | None = None
        self.keycloak: Keycloak | None = None
        if config.existing is None:
            namespace = platform_namespace(name, namespaces.IDENTITY, spec, child)
            self.database = Postgres(f"{name}-postgres", spec, namespace, child)
            self.keycloak = Keycloak(f"{name}-keycloak", spec, namespace, certificates, self.database, child)
            login = KeycloakLogin(
                realm="master", client_id="admin-cli",
                username=self.keycloak.admin_username, password=self.keycloak.admin_password,
            )
            ready: list[pulumi.Resource] = [self.keycloak.release]
        else:
            login = _existing_login(spec)
            ready = []
        self.realm = Realm(f"{name}-realm", spec, tenants, login, ready, child, root_ca=certificates.root_ca_pem)
        self.register_outputs({"issuerUrl": self.issuer_url, "jwksUrl": self.jwks_url, "audience": self.audience})


def _existing_login(spec: PlatformSpec) -> KeycloakLogin:
    existing = spec.env.identity.existing
    assert existing is not None

    def value(secret: Secret | None) -> str | None:
        # The stand-in (plan, preview) is registered as a secret like the real value.
        return secret.deploy_value if secret is not None else None

    if existing.uses_client_credentials:
        return KeycloakLogin(realm=existing.realm, client_id=existing.client_id, client_secret=value(existing.client_secret))
    return KeycloakLogin(
        realm=existing.realm, client_id=existing.client_id,
        username=existing.admin_username, password=value(existing.admin_password),
    )
