"""Gateway: agentgateway on Gateway API; models, MCP tools and egress with budgets and access control."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from agentplane import namespaces
from agentplane.builders import certificates as certificates_build
from agentplane.builders.gateway import platform as build
from agentplane.config.platform import PlatformSpec
from components.gateway.team import TeamGateway, TeamGatewayArgs
from components.gateway.token_budgets import TokenBudgets, TokenBudgetsArgs
from components.kube import helm_release, platform_namespace, register


@dataclass(frozen=True)
class GatewayArgs:
    spec: PlatformSpec
    issuer_url: str
    """The realm's issuer, what the gateway compares `iss` with (Identity.issuer_url)."""
    audience: str
    """The `aud` agent tokens carry (Identity.audience)."""
    issuer_name: str
    """The ClusterIssuer of the gateway's certificate (Certificates.issuer_name)."""
    ca_issuer: pulumi.Resource
    """That ClusterIssuer's resource, what the certificate waits for (Certificates.ca_issuer)."""
    root_ca_pem: pulumi.Input[str]
    """The platform root (Certificates.root_ca_pem): the JWKS backend trusts it when Keycloak's
    endpoint presents a platform-CA certificate."""
    otlp_grpc_endpoint: str
    """The collector's gateway-only OTLP/gRPC endpoint (Telemetry.otlp_grpc_endpoint)."""
    otlp_token: pulumi.Input[str]
    """The bearer token for that endpoint, a secret (Telemetry.gateway_token)."""
    tenant_namespaces: Mapping[str, pulumi.Resource]
    """Each team's namespace, by team name (Tenants.team_namespaces)."""


class Gateway(pulumi.ComponentResource):
    """The agentgateway controller and CRDs, the shared Gateway and backends, the token budgets,
    and one TeamGateway per team."""

    namespace: k8s.core.v1.Namespace
    """The gateway namespace."""
    resources: dict[tuple[str, str], pulumi.Resource]
    """The shared gateway objects, by (kind, name)."""
    gateway: pulumi.Resource
    """The Gateway every team's routes attach to."""
    budgets: TokenBudgets
    """The token-budget service."""
    teams: dict[str, TeamGateway]
    """One TeamGateway per team, by team name."""
    hostname: str
    """The gateway's public hostname."""

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:Gateway", name, None, opts)
        config = spec.env.gateway
        ident = build.identity(spec, args.issuer_url, args.audience)
        keep = pulumi.ResourceOptions(protect=spec.protect, retain_on_delete=spec.protect)

        self.namespace = platform_namespace(name, namespaces.GATEWAY, spec, pulumi.ResourceOptions(parent=self))
        in_namespace = [self.namespace]

        # CRDs first and protected: deleting a CRD deletes every object of its kind.
        # The agentgateway-crds chart holds only agentgateway.dev; Gateway API's standard CRDs
        # come from that project's pinned release manifest.
        gateway_api: list[pulumi.Resource] = []
        if spec.env.adopt.gateway_api_crds:
            pulumi.log.info(spec.env.adopt.messages()[0])
        else:
            gateway_api.append(
                k8s.yaml.v2.ConfigFile(
                    f"{name}-gateway-api-crds",
                    file=config.gateway_api_manifest,
                    opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(parent=self)),
                )
            )
        crds = helm_release(
            f"{name}-agentgateway-crds",
            config.crds_chart,
            namespaces.GATEWAY,
            {},
            pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(parent=self, depends_on=in_namespace)),
        )
        controller = helm_release(
            f"{name}-agentgateway",
            config.chart,
            namespaces.GATEWAY,
            build.controller_values(spec),
            pulumi.ResourceOptions(parent=self, depends_on=[*in_namespace, crds, *gateway_api]),
        )
        with_crds = [*in_namespace, crds, *gateway_api, controller]

        # The platform root, for the JWKS backend when Keycloak's endpoint is platform-CA signed.
        trust = (
            [
                register(
                    name,
                    certificates_build.ca_bundle(namespaces.GATEWAY, args.root_ca_pem),
                    pulumi.ResourceOptions(parent=self, depends_on=in_namespace),
                )
            ]
            if ident.jwks_ca is not None
            else []
        )
        self.resources = {}
        for obj in build.platform_objects(spec, ident, args.issuer_name, args.otlp_grpc_endpoint):
            depends_on = list(with_crds)
            if obj["kind"] == "AgentgatewayBackend":
                depends_on += trust
            if obj["kind"] == "Certificate":
                depends_on.append(args.ca_issuer)
            if obj["kind"] == "Secret" and obj["metadata"]["name"] == build.OTLP_TOKEN_SECRET:
                # The collector's token for its gateway-only port, from the telemetry piece.
                obj = {**obj, "stringData": {"Authorization": args.otlp_token}}
            elif obj["kind"] == "Secret":
                obj = self._with_key(obj, spec)
                if obj is None:
                    continue
            self.resources[(obj["kind"], obj["metadata"]["name"])] = register(
                name, obj, pulumi.ResourceOptions(parent=self, depends_on=depends_on)
            )
        self.gateway = self.resources[("Gateway", build.GATEWAY_NAME)]

        self.budgets = TokenBudgets(
            f"{name}-budgets", TokenBudgetsArgs(spec, depends_on=in_namespace), pulumi.ResourceOptions(parent=self)
        )

        # What every team's routes and policies refer to: the Gateway, the signing-key backends,
        # the model backends and the budget service.
        shared = [
            *with_crds,
            *(r for (kind, _), r in self.resources.items() if kind in ("Gateway", "AgentgatewayBackend")),
            self.budgets.service,
        ]
        self.teams = {
            team.name: TeamGateway(
                f"{name}-{team.name}",
                # Offboarding removes the team's routes before its namespace goes.
                TeamGatewayArgs(team, spec, ident, depends_on=[*shared, args.tenant_namespaces[team.name]]),
                pulumi.ResourceOptions(parent=self),
            )
            for team in spec.teams
        }
        self.hostname = config.hostname
        self.register_outputs(
            {
                "hostname": config.hostname,
                "inClusterUrl": f"http://{build.GATEWAY_NAME}.{namespaces.GATEWAY}.svc.cluster.local"
                if config.http_listener
                else None,
                "teams": sorted(self.teams),
            }
        )

    @staticmethod
    def _with_key(obj: dict, spec: PlatformSpec) -> dict | None:
        """A provider Secret with its key as a Pulumi secret; none when no key is configured, so
        nothing fake is ever deployed (the missing key is reported before `pulumi up`)."""
        provider = obj["metadata"]["name"].removeprefix("provider-")
        key = spec.env.gateway.provider_keys.get(provider)
        if key is None:
            return None
        return {**obj, "stringData": {"Authorization": pulumi.Output.secret(key.deploy_value)}}
