"""The token-budget service: Envoy's ratelimit and its Redis store, in the gateway namespace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from agentplane.builders.gateway import token_budgets as build
from agentplane.config.platform import PlatformSpec
from components.kube import register


@dataclass(frozen=True)
class TokenBudgetsArgs:
    spec: PlatformSpec
    depends_on: Sequence[pulumi.Resource]
    """What every object here waits for: the gateway namespace."""


class TokenBudgets(pulumi.ComponentResource):
    """Deployments, Services, NetworkPolicies and the per-team budget ConfigMap."""

    resources: dict[tuple[str, str], pulumi.Resource]
    """Every object, by (kind, name)."""
    service: pulumi.Resource
    """The ratelimit Service: what gateway policies call."""
    config: pulumi.Resource
    """The per-team budget ConfigMap."""

    def __init__(self, name: str, args: TokenBudgetsArgs, opts: pulumi.ResourceOptions | None = None):
        spec = args.spec
        super().__init__("agentplane:gateway:TokenBudgets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        self.resources = {
            (obj["kind"], obj["metadata"]["name"]): register(name, obj, child) for obj in build.service_objects(spec)
        }
        self.service = self.resources[("Service", build.SERVICE)]
        self.config = self.resources[("ConfigMap", build.CONFIG_MAP)]
        self.register_outputs({"service": build.SERVICE, "domains": sorted(build.domain(t) for t in spec.teams)})
