"""The environment config: `config: agentplane:*` in stacks/Pulumi.<stack>.yaml."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from agentplane.spec.base import DnsLabel, Quantity, Quota, StrictModel, TokenBudget
from agentplane.spec.sections.adopt import AdoptConfig
from agentplane.spec.sections.certificates import CertificatesConfig
from agentplane.spec.sections.gateway import GatewayConfig
from agentplane.spec.sections.identity import IdentityConfig
from agentplane.spec.sections.images import ImagesConfig
from agentplane.spec.sections.provenance import ProvenanceConfig
from agentplane.spec.sections.spire import SpireConfig
from agentplane.spec.sections.telemetry import TelemetryConfig

# The providers agentgateway's AgentgatewayBackend `spec.ai.provider` can front.
ModelProvider = Literal["openai", "anthropic", "azureopenai", "bedrock", "gemini", "vertexai"]

_DOMAIN_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN_PATTERN = re.compile(rf"^(\*\.)?{_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})+$")


def _egress_pattern(value: str) -> str:
    if value == "*" or not _DOMAIN_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a domain pattern: use a lowercase host name such as api.github.com, "
            "or *.example.com for its subdomains (no scheme, port, path or bare '*')"
        )
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
    kubeconfig: str | None = Field(default=None, min_length=1)


class Model(StrictModel):
    name: Annotated[str, Field(strict=True, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
    provider: ModelProvider


class Tier(StrictModel):
    name: DnsLabel
    quota: Quota
    egress: bool = Field(strict=True)
    models: tuple[str, ...] = ()
    provenance: Literal["audit", "enforce"]
    daily_token_budget: TokenBudget


class ContainerDefaults(StrictModel):
    """LimitRange defaults so a pod that declares no resources is still admitted under the quota."""

    cpu_request: Quantity = "100m"
    memory_request: Quantity = "128Mi"
    cpu_limit: Quantity = "500m"
    memory_limit: Quantity = "512Mi"


class TenancyConfig(StrictModel):
    # Kubernetes sees OIDC groups with the API server's --oidc-groups-prefix; RoleBindings must match it.
    group_prefix: str = ""
    container_defaults: ContainerDefaults = ContainerDefaults()


class EnvironmentConfig(StrictModel):
    cluster: ClusterConfig = ClusterConfig()
    protect: bool = Field(default=False, strict=True)
    models: tuple[Model, ...] = ()
    egress: tuple[EgressPattern, ...] = ()
    tiers: tuple[Tier, ...] = Field(min_length=1)
    tenancy: TenancyConfig = TenancyConfig()
    certificates: CertificatesConfig = CertificatesConfig()
    identity: IdentityConfig = IdentityConfig()
    spire: SpireConfig = SpireConfig()
    gateway: GatewayConfig = GatewayConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    provenance: ProvenanceConfig = ProvenanceConfig()
    images: ImagesConfig = ImagesConfig()
    adopt: AdoptConfig = AdoptConfig()

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def tier_rank(self, name: str) -> int:
        return [t.name for t in self.tiers].index(name)
