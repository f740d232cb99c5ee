"""Tenants: a namespace per team per environment, with quota, limits, network policy, RBAC and agents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_kubernetes as k8s

from agentplane.builders import certificates as certificates_build
from agentplane.builders import tenants as build
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import register, renamed_from

# Type tokens are agentplane:<piece>:<class>; this one was agentplane:team:Tenant.
TEAM_COMPONENT = "agentplane:tenants:Tenant"


@dataclass(frozen=True)
class TenantArgs:
    team: TeamSpec
    spec: PlatformSpec
    ca_certificate: pulumi.Input[str] | None = None
    """The platform root, published into the namespace as ConfigMap agentplane-ca-bundle."""


class Tenant(pulumi.ComponentResource):
    """One team's namespace and everything in it. `team` is an input so plans can group by team."""

    namespace: k8s.core.v1.Namespace
    """The team's namespace: what every per-team object of the other pieces waits for."""
    service_accounts: dict[str, pulumi.Resource]
    """The team's ServiceAccounts by name."""

    def __init__(self, name: str, args: TenantArgs, opts: pulumi.ResourceOptions | None = None):
        team, spec = args.team, args.spec
        super().__init__(
            TEAM_COMPONENT,
            name,
            {"team": team.name},
            pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:Tenant")),
        )
        namespace_obj, *namespaced = build.tenant_objects(team, spec)
        # Protected environments keep namespaces (and the data in them) when a team file is
        # deleted by accident: `pulumi up` fails instead. Offboarding lifts this on purpose.
        keep = spec.protect and not team.offboard
        self.namespace = cast(
            k8s.core.v1.Namespace,
            register(name, namespace_obj, pulumi.ResourceOptions(parent=self, protect=keep, retain_on_delete=keep)),
        )
        self.service_accounts = {}
        for obj in namespaced:
            resource = register(name, obj, pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]))
            if obj["kind"] == "ServiceAccount":
                self.service_accounts[obj["metadata"]["name"]] = resource
        if args.ca_certificate is not None:
            # The platform root for the team's workloads: the gateway's HTTPS listener and
            # Keycloak's in-cluster token endpoint present platform-CA certificates. Mount
            # ConfigMap agentplane-ca-bundle (key ca.crt), e.g. as SSL_CERT_FILE.
            register(
                name,
                certificates_build.ca_bundle(team.namespace, args.ca_certificate),
                pulumi.ResourceOptions(parent=self, depends_on=[self.namespace]),
            )
        self.register_outputs({"namespace": team.namespace})


@dataclass(frozen=True)
class TenantsArgs:
    spec: PlatformSpec
    ca_certificate: pulumi.Input[str] | None = None
    """The platform root, published into every tenant namespace."""


class Tenants(pulumi.ComponentResource):
    """The cluster-wide tenant roles and guard, and one Tenant per team."""

    cluster_objects: list[pulumi.Resource]
    """The tenant roles and the tenant guard, which every Tenant waits for."""
    teams: dict[str, Tenant]
    """One Tenant per team, by team name."""
    team_namespaces: dict[str, k8s.core.v1.Namespace]
    """Each team's namespace, by team name: what the other pieces' per-team objects wait for."""

    def __init__(self, name: str, args: TenantsArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:Tenants", name, None, opts)
        # The tenant roles and the tenant guard (a ValidatingAdmissionPolicy and its binding)
        # exist before any team is bound to them or any tenant namespace is created.
        self.cluster_objects = []
        for obj in build.cluster_objects(spec):
            self.cluster_objects.append(
                register(name, obj, pulumi.ResourceOptions(parent=self, depends_on=list(self.cluster_objects)))
            )
        self.teams = {
            team.name: Tenant(
                f"{name}-{team.name}",
                TenantArgs(team, spec, ca_certificate=args.ca_certificate),
                pulumi.ResourceOptions(parent=self, depends_on=self.cluster_objects),
            )
            for team in spec.teams
        }
        self.team_namespaces = {team: tenant.namespace for team, tenant in self.teams.items()}
        self.register_outputs({"namespaces": sorted(t.namespace for t in spec.teams)})
