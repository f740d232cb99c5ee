"""Postgres for Keycloak: the CloudNativePG operator (its chart brings the CRDs) and one `Cluster`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random

from agentplane import namespaces
from agentplane.builders.identity import postgres as build
from agentplane.config.platform import PlatformSpec
from components.kube import helm_release, platform_namespace, register

# Generated credentials: long, and without symbols so no connection string needs escaping.
PASSWORD_LENGTH = 32


@dataclass(frozen=True)
class PostgresArgs:
    spec: PlatformSpec
    namespace: pulumi.Resource
    """The identity namespace, where the database and its Secrets live."""


class Postgres(pulumi.ComponentResource):
    """The CloudNativePG operator and Keycloak's database."""

    operator: pulumi.Resource
    """The CloudNativePG Helm release (its CRDs and webhooks)."""
    credentials: pulumi.Resource
    """The basic-auth Secret both the database and Keycloak read."""
    cluster: pulumi.Resource
    """The Postgres `Cluster`: what Keycloak waits for."""

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None):
        spec, namespace = args.spec, args.namespace
        super().__init__("agentplane:identity:Postgres", name, None, opts)

        # Where data lives (and CRDs whose removal would delete every Cluster): kept in protected
        # environments, so an accidental change fails `pulumi up` instead of dropping the database.
        def kept(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, depends_on=list(depends_on), protect=spec.protect, retain_on_delete=spec.protect
            )

        operator_namespace = platform_namespace(
            name, namespaces.DATABASE_OPERATOR, spec, pulumi.ResourceOptions(parent=self)
        )
        self.operator = helm_release(
            f"{name}-operator",
            spec.env.identity.charts.cloudnative_pg,
            namespaces.DATABASE_OPERATOR,
            build.cnpg_values(spec),
            kept(operator_namespace),
        )
        # Replacing the password would not change it inside an existing database: keep it too.
        password = random.RandomPassword(f"{name}-password", length=PASSWORD_LENGTH, special=False, opts=kept())
        self.credentials = register(
            name,
            build.database_credentials(pulumi.Output.secret(password.result)),
            pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        # The operator's CRDs and webhooks first; initdb reads the credentials Secret, WAL
        # archiving the backup credentials.
        backup = spec.env.identity.database.backup
        cluster_needs = [self.operator, self.credentials, namespace]
        keys = backup.s3 if backup is not None else None
        # Without keys nothing fake is deployed: `pulumi up` reports them missing first.
        if (
            backup is not None
            and keys is not None
            and keys.access_key_id is not None
            and keys.secret_access_key is not None
        ):
            secret = build.backup_credentials(
                backup,
                pulumi.Output.secret(keys.access_key_id.deploy_value),
                pulumi.Output.secret(keys.secret_access_key.deploy_value),
            )
            if secret is not None:
                cluster_needs.append(
                    register(name, secret, pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
                )
        self.cluster = register(name, build.postgres_cluster(spec), kept(*cluster_needs))
        scheduled = build.scheduled_backup(spec)
        if scheduled is not None:
            register(name, scheduled, pulumi.ResourceOptions(parent=self, depends_on=[self.cluster]))
        self.register_outputs(
            {"host": f"{build.DB_SERVICE}.{namespaces.IDENTITY}.svc", "instances": build.postgres_instances(spec)}
        )
