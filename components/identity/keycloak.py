"""Keycloak (codecentric keycloakx chart): admin credentials, its TLS certificate, the Helm release."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_random as random

from agentplane import namespaces
from agentplane.builders.identity import keycloak as build
from agentplane.builders.identity import urls
from agentplane.config.platform import PlatformSpec
from components.identity.postgres import PASSWORD_LENGTH
from components.kube import helm_release, register


@dataclass(frozen=True)
class KeycloakArgs:
    spec: PlatformSpec
    namespace: pulumi.Resource
    """The identity namespace."""
    issuer_dependencies: Mapping[str, Sequence[pulumi.Resource]]
    """Per ClusterIssuer name, what a Certificate from it waits for (Certificates.issuer_dependencies)."""
    database_cluster: pulumi.Resource
    """The Postgres `Cluster` Keycloak stores its data in."""
    database_credentials: pulumi.Resource
    """The Secret with Keycloak's database login."""


class Keycloak(pulumi.ComponentResource):
    """Keycloak's admin credentials, its certificates and its Helm release."""

    admin_username: str
    """The bootstrap admin's user name: the provider's login."""
    admin_password: pulumi.Output[str]
    """The bootstrap admin's password (a secret)."""
    release: pulumi.Resource
    """The Helm release: what the realm waits for."""

    def __init__(self, name: str, args: KeycloakArgs, opts: pulumi.ResourceOptions | None = None):
        spec, namespace = args.spec, args.namespace
        super().__init__("agentplane:identity:Keycloak", name, None, opts)
        config = spec.env.identity
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        # The bootstrap admin is created from this Secret on Keycloak's first start only; keep the
        # generated password where Keycloak's data is kept, or the stored one would no longer match.
        password = random.RandomPassword(
            f"{name}-admin-password",
            length=PASSWORD_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, retain_on_delete=spec.protect),
        )
        self.admin_username = build.ADMIN_USERNAME
        self.admin_password = pulumi.Output.secret(password.result)
        admin_secret = register(name, build.admin_credentials(self.admin_password), in_namespace)

        # cert-manager (its CRDs) and the signing ClusterIssuer before each Certificate.
        certificate_objects = [build.keycloak_certificate(spec)]
        public = build.public_certificate(spec)
        if public is not None:
            certificate_objects.append(public)
        certificates_ = [
            register(
                name,
                obj,
                pulumi.ResourceOptions(
                    parent=self, depends_on=[namespace, *args.issuer_dependencies[obj["spec"]["issuerRef"]["name"]]]
                ),
            )
            for obj in certificate_objects
        ]

        self.release = helm_release(
            name,  # the release is the component's one Helm release: `helm ls` shows it as such
            config.charts.keycloakx,
            namespaces.IDENTITY,
            build.keycloak_values(spec),
            # Postgres before Keycloak: the chart's pods need the database, its login and the certificate.
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[namespace, args.database_cluster, args.database_credentials, admin_secret, *certificates_],
            ),
        )
        self.register_outputs({"publicUrl": urls.public_url(config), "internalUrl": urls.internal_url(config)})
