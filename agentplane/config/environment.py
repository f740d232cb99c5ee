"""The environment config: `config: agentplane:*` in stacks/Pulumi.<stack>.yaml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from agentplane.config.addresses import host_problem
from agentplane.config.base import DnsLabel, Quota, StrictModel, TokenBudget
from agentplane.config.sections.adopt import AdoptConfig
from agentplane.config.sections.certificates import CertificatesConfig
from agentplane.config.sections.gateway import GatewayConfig
from agentplane.config.sections.identity import IdentityConfig
from agentplane.config.sections.images import ImagesConfig
from agentplane.config.sections.provenance import ProvenanceConfig
from agentplane.config.sections.telemetry import TelemetryConfig
from agentplane.config.sections.tenants import TenancyConfig
from agentplane.config.sections.workload_identity import WorkloadIdentityConfig

# The providers agentgateway's AgentgatewayBackend `spec.ai.provider` can front.
ModelProvider = Literal["openai", "anthropic", "azureopenai", "bedrock", "gemini", "vertexai"]

_DOMAIN_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_PATTERN = re.compile(rf"^(\*\.)?{_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})+$")


def _egress_pattern(value: str) -> str:
    if value == "*" or len(value) > 253 or not _DOMAIN_PATTERN.match(value):
        shown = repr(value) if value.isascii() and value.isprintable() and len(value) <= 80 else "the value"
        raise ValueError(
            f"{shown} is not a domain pattern: use a lowercase host name such as api.github.com, "
            "or *.example.com for its subdomains (no scheme, port, path, IP address or bare '*')"
        )
    # Egress leaves through the gateway, past every NetworkPolicy: never to the cluster, the
    # node, a metadata service or a private network.
    if problem := host_problem(value.removeprefix("*."), own_namespace=None):
        raise ValueError(f"{value!r}: {problem}")
    return value


EgressPattern = Annotated[str, Field(strict=True), AfterValidator(_egress_pattern)]


def egress_covers(allowed: str, requested: str) -> bool:
    """Whether the environment pattern `allowed` admits the team's pattern `requested`."""
    if allowed == requested:
        return True
    if allowed.startswith("*."):
        suffix = allowed[1:]  # ".stripe.com"
        return requested.endswith(suffix) and len(requested) > len(suffix)
    return False


class ClusterConfig(StrictModel):
    context: str | None = Field(default=None, min_length=1)
    """Kubeconfig context of this stack's cluster. Default: the kubeconfig's current context."""
    kubeconfig: str | None = Field(default=None, min_length=1)
    """Kubeconfig file. Default: the ambient one ($KUBECONFIG or ~/.kube/config)."""


# A model name is a segment of the gateway's route path /llm/<team>/<model> and of a CEL
# string: '/'-separated segments of letters, digits and ._:- (no '.' or '..' segment, no '//').
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*(/[A-Za-z0-9][A-Za-z0-9._:-]*)*$")


def _model_name(value: str) -> str:
    # Segments start with a letter or digit, so none is '.' or '..' and none is empty.
    if len(value) > 128 or not _MODEL_NAME.match(value):
        raise ValueError(
            "a model name is 1-128 characters: '/'-separated segments of letters, digits and ._:-, each starting "
            "with a letter or digit (it becomes part of the gateway route /llm/<team>/<model>)"
        )
    return value


class Model(StrictModel):
    name: Annotated[str, Field(strict=True), AfterValidator(_model_name)]
    """The provider's model name, e.g. gpt-4o-mini."""
    provider: ModelProvider
    """The provider agentgateway fronts it with."""


class Tier(StrictModel):
    name: DnsLabel
    """The tier's name (a DNS label); team files and promotions name it."""
    quota: Quota
    """The ceiling of a team's ResourceQuota at this tier (`{cpu, memory, pods}`)."""
    egress: bool = Field(strict=True)
    """Whether agents at this tier may reach the external domains their team lists."""
    models: tuple[str, ...] = ()
    """Models (of `agentplane:models`) agents at this tier may call."""
    provenance: Literal["audit", "enforce"]
    """`audit` reports pods whose images fail verification; `enforce` rejects them."""
    daily_token_budget: TokenBudget
    """A team's default daily token budget at this tier, and the ceiling of what it may ask for."""


class EnvironmentConfig(StrictModel):
    cluster: ClusterConfig = ClusterConfig()
    """The cluster of this stack, passed to the stack's one explicit Kubernetes provider. Default: the ambient
    kubeconfig's current context."""
    protect: bool = Field(default=False, strict=True)
    """Protect namespaces, CRD-bearing releases and databases from deletion."""
    models: tuple[Model, ...] = ()
    """Models approved in this environment."""
    egress: tuple[EgressPattern, ...] = ()
    """External domains teams may ask for: `api.github.com` or `*.stripe.com` (no scheme, port, path, or bare `*`)."""
    tiers: tuple[Tier, ...] = Field(min_length=1)
    """The promotion tiers, lowest first (at least one); see the tier table below."""
    tenancy: TenancyConfig = TenancyConfig()
    """Tenant namespaces: RoleBinding group prefix and container defaults."""
    certificates: CertificatesConfig = CertificatesConfig()
    """cert-manager and the platform CA; see [certificates](#agentplanecertificates)."""
    identity: IdentityConfig = IdentityConfig()
    """Keycloak and its database; see [identity](#agentplaneidentity)."""
    spire: WorkloadIdentityConfig = WorkloadIdentityConfig()
    """SPIRE workload identity; see [spire](#agentplanespire)."""
    gateway: GatewayConfig = GatewayConfig()
    """agentgateway: providers, budgets, listeners; see [gateway](#agentplanegateway)."""
    telemetry: TelemetryConfig = TelemetryConfig()
    """The OpenTelemetry operator and collector; see [telemetry](#agentplanetelemetry)."""
    provenance: ProvenanceConfig = ProvenanceConfig()
    """Image signature and SLSA provenance verification; see [provenance](#agentplaneprovenance)."""
    images: ImagesConfig = ImagesConfig()
    """Digests of images the charts run by tag; see [images](#agentplaneimages)."""
    adopt: AdoptConfig = AdoptConfig()
    """Cluster-wide pieces the cluster already runs (Gateway API CRDs, cert-manager); see [adopt](#agentplaneadopt)."""

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def tier_rank(self, name: str) -> int:
        return [t.name for t in self.tiers].index(name)
