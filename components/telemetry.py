"""Telemetry: the OpenTelemetry operator, the gateway collector with per-tenant routing, instrumentation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from agentplane.builders import telemetry as build
from agentplane.config.platform import PlatformSpec, TeamSpec
from components.kube import helm_release, platform_namespace, register, renamed_from

# Type tokens are agentplane:<piece>:<class>; this one was agentplane:team:Telemetry.
TEAM_COMPONENT = "agentplane:telemetry:TeamTelemetry"


def _register_secret(prefix: str, obj: dict, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    # Header values are credentials: keep them Pulumi secrets (encrypted in state, redacted in plans).
    return register(prefix, {**obj, "stringData": pulumi.Output.secret(obj["stringData"])}, opts)


@dataclass(frozen=True)
class TeamTelemetryArgs:
    team: TeamSpec
    spec: PlatformSpec
    tenant_namespace: pulumi.Resource
    """The team's namespace, where its Instrumentation goes."""
    telemetry_namespace: pulumi.Resource
    """The telemetry namespace, where the team's header Secret goes."""
    operator: pulumi.Resource
    """The OpenTelemetry operator release (its CRDs and webhook)."""


class TeamTelemetry(pulumi.ComponentResource):
    """One team's telemetry objects: its Instrumentation and, for its own backend, its header Secret."""

    instrumentation: pulumi.Resource
    """The team's Instrumentation (what the injected SDKs are configured by)."""
    headers_secret: pulumi.Resource | None
    """The Secret with the headers for the team's own backend; None without one."""

    def __init__(self, name: str, args: TeamTelemetryArgs, opts: pulumi.ResourceOptions | None = None):
        team, spec = args.team, args.spec
        super().__init__(
            TEAM_COMPONENT,
            name,
            {"team": team.name},
            pulumi.ResourceOptions.merge(opts, renamed_from("agentplane:team:Telemetry")),
        )
        # The operator's CRDs and webhook must exist before an Instrumentation is accepted.
        self.instrumentation = register(
            name,
            build.instrumentation(team, spec),
            pulumi.ResourceOptions(parent=self, depends_on=[args.tenant_namespace, args.operator]),
        )
        self.headers_secret = None
        secret = build.tenant_headers_secret(team, spec)
        if secret is not None:
            self.headers_secret = _register_secret(
                name, secret, pulumi.ResourceOptions(parent=self, depends_on=[args.telemetry_namespace])
            )
        self.register_outputs({"instrumentation": build.INSTRUMENTATION_NAME})


@dataclass(frozen=True)
class TelemetryArgs:
    spec: PlatformSpec
    tenant_namespaces: Mapping[str, pulumi.Resource]
    """Each team's namespace, by team name (Tenants.team_namespaces)."""


class Telemetry(pulumi.ComponentResource):
    """Everything under `agentplane-telemetry`, plus one TeamTelemetry per team."""

    otlp_grpc_endpoint: str
    """Receives the agent gateway's own traces and access logs (OTLP/gRPC), only with `gateway_token`."""
    otlp_http_endpoint: str
    """The same over OTLP/HTTP."""
    gateway_token: pulumi.Output[str]
    """The bearer token the gateway sends to those endpoints (a secret)."""
    tenant_attribute: str
    """The attribute each gateway span or log record names its tenant in (records without one
    go to the platform pipeline)."""
    workload_otlp_grpc_endpoint: str
    """Where tenant workloads send (what each Instrumentation points the injected SDKs at), OTLP/gRPC."""
    workload_otlp_http_endpoint: str
    """The same over OTLP/HTTP."""
    namespace: k8s.core.v1.Namespace
    """The telemetry namespace."""
    operator: pulumi.Resource
    """The OpenTelemetry operator Helm release (it installs the CRDs)."""
    teams: dict[str, TeamTelemetry]
    """One TeamTelemetry per team, by team name."""
    collector: pulumi.Resource
    """The gateway collector (an OpenTelemetryCollector)."""

    def __init__(self, name: str, args: TelemetryArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:index:Telemetry", name, None, opts)
        self.otlp_grpc_endpoint = build.GATEWAY_OTLP_GRPC_ENDPOINT
        self.otlp_http_endpoint = build.GATEWAY_OTLP_HTTP_ENDPOINT
        self.tenant_attribute = build.TENANT_ATTRIBUTE
        self.workload_otlp_grpc_endpoint = build.WORKLOAD_OTLP_GRPC_ENDPOINT
        self.workload_otlp_http_endpoint = build.WORKLOAD_OTLP_HTTP_ENDPOINT

        child = pulumi.ResourceOptions(parent=self)
        self.namespace = platform_namespace(name, build.NAMESPACE, spec, child)
        # The chart installs the CRDs: protected where data is, so deleting it fails safely.
        # The Helm release name is the Pulumi name (helm_release), prefixed like every child.
        self.operator = helm_release(
            f"{name}-opentelemetry-operator",
            spec.env.telemetry.chart,
            build.NAMESPACE,
            build.operator_values(spec),
            pulumi.ResourceOptions(
                parent=self, depends_on=[self.namespace], protect=spec.protect, retain_on_delete=spec.protect
            ),
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        access = [register(name, obj, in_namespace) for obj in build.collector_rbac()]
        register(name, build.collector_network_policy(), in_namespace)
        # The gateway's credential for 4319/4320: the collector reads it from a file, the
        # gateway (its own Secret, in its own namespace) sends it as a bearer token.
        token = random.RandomPassword(
            f"{name}-gateway-otlp-token",
            length=build.GATEWAY_TOKEN_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.gateway_token = pulumi.Output.secret(token.result)
        secrets: list[pulumi.Resource] = [register(name, build.gateway_token_secret(self.gateway_token), in_namespace)]
        platform_secret = build.platform_headers_secret(spec)
        if platform_secret is not None:
            secrets.append(_register_secret(name, platform_secret, in_namespace))

        self.teams = {
            team.name: TeamTelemetry(
                f"{name}-{team.name}",
                TeamTelemetryArgs(team, spec, args.tenant_namespaces[team.name], self.namespace, self.operator),
                child,
            )
            for team in spec.teams
        }
        secrets += [t.headers_secret for t in self.teams.values() if t.headers_secret is not None]
        # The collector pods mount the header Secrets and need the k8s_attributes RBAC to start.
        self.collector = register(
            name,
            build.collector(spec),
            pulumi.ResourceOptions(parent=self, depends_on=[self.operator, *access, *secrets]),
        )
        self.register_outputs(
            {
                "otlpGrpcEndpoint": self.otlp_grpc_endpoint,
                "otlpHttpEndpoint": self.otlp_http_endpoint,
                "workloadOtlpHttpEndpoint": self.workload_otlp_http_endpoint,
            }
        )
