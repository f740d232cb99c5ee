"""Keycloak (codecentric keycloakx chart): admin credentials, its TLS certificate, the Helm release."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from agentplane import namespaces
from agentplane.builders.identity import keycloak as build
from agentplane.config.platform import PlatformSpec
from components.certificates import Certificates
from components.identity.postgres import PASSWORD_LENGTH, Postgres
from components.kube import helm_release, register


class Keycloak(pulumi.ComponentResource):
    """`release` is what the realm waits for; `admin_password` the provider's login (a secret)."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        namespace: pulumi.Resource,
        certificates: Certificates,
        database: Postgres,
        opts: pulumi.ResourceOptions,
    ):
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
                    parent=self, depends_on=[namespace, *certificates.issuer_dependencies(obj["spec"]["issuerRef"]["name"])]
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
                parent=self, depends_on=[namespace, database.cluster, database.credentials, admin_secret, *certificates_]
            ),
        )
        self.register_outputs({"publicUrl": build.public_url(config), "internalUrl": build.internal_url(config)})
